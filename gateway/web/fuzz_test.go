package web

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/gateway/ban"
	"webrtcgw/options"
)

// signInEngine is the trivial Engine of FuzzSignIn: anonymous sessions
// and the password "secret" are admitted, "down" is unavailable, the rest
// is refused. It checks what reaches it and records it.
type signInEngine struct {
	mu       sync.Mutex
	calls    int
	name     string
	req      SignIn
	badInput string // what reached the engine that should not have
}

func (e *signInEngine) SignIn(_ context.Context, s *Session, req SignIn) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	e.name, e.req = s.Name, req
	if msg := checkName(s.Name); msg != "" {
		e.badInput = fmt.Sprintf("the engine got name %q: %s", s.Name, msg)
	}
	if strings.ContainsAny(req.Password, "\x00\r\n") {
		e.badInput = fmt.Sprintf("the engine got a password with a control character: %q", req.Password)
	}
	switch {
	case req.Anonymous, req.Password == "secret":
		return nil
	case s.Name == "down":
		return Errorf(ErrUnavailable, "SIP Server unreachable")
	}
	return Errorf(ErrLoginRefused, "registration refused: wrong DN or password")
}

func (e *signInEngine) Message(context.Context, *Session, string, []byte) error { return nil }
func (e *signInEngine) SignOut(*Session, string)                                {}

// take returns what the engine saw since the last take.
func (e *signInEngine) take() (calls int, name string, req SignIn, bad string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	calls, name, req, bad = e.calls, e.name, e.req, e.badInput
	e.calls, e.name, e.req, e.badInput = 0, "", SignIn{}, ""
	return calls, name, req, bad
}

// signInStatuses are the answers a sign-in may get (PROTOCOL.md: 200 with
// the session, or an error status the library reports).
var signInStatuses = map[int]bool{200: true, 400: true, 403: true, 413: true, 429: true, 503: true}

// FuzzSignIn drives the real handler with GET /sign_in?<query> and POST
// /sign_in with a "dn:password" body (from a client address of its own each
// time, so that per-address limits and bans stay out of the way). The
// answer is one of signInStatuses, never a panic or a 500; a 200 carries
// exactly "name=<session id>\n" — the name the request gave (the query's
// first &-separated part, URL-decoded; the body's part before the first
// colon), a session id without '=' that is URL-safe, the same id in the
// cookie — and the session signs out; a refusal is a one-line text that
// says why, and leaves no session. Only a valid name, and a password
// without CR, LF or NUL, reach the engine.
func FuzzSignIn(f *testing.F) {
	for _, s := range []string{"anon1234", "anon", "9001", "7001", "anon%0d%0aX-Injected:%201", "anon%3Cx%3E", "%zz", "a=b&c", "anon+1", "",
		"%E2%80%A8", strings.Repeat("9", 65), "anon1234&extra=1", "down", "7001 7002"} {
		f.Add(s, []byte(nil), false)
	}
	for _, s := range []string{"7001:secret", "7001:wrong", "7001:p#ss:word", "7001", ":secret", "down:x", "7001:sec\r\nret", "7001:secret\r\n",
		"José:secret", "7001:" + strings.Repeat("x", 2000), "anon1:secret", "\x00:secret"} {
		f.Add("", []byte(s), true)
	}
	e := &signInEngine{}
	srv := startFuzzServer(f, e)
	var client atomic.Uint32
	f.Fuzz(func(t *testing.T, query string, body []byte, post bool) {
		var req *http.Request
		if post {
			req = httptest.NewRequest(http.MethodPost, "/sign_in", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(http.MethodGet, "/sign_in", nil)
			req.URL.RawQuery = query
		}
		n := client.Add(1)
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", byte(n>>16), byte(n>>8), byte(n))
		before := srv.Sessions()
		rec := httptest.NewRecorder()
		srv.handler.ServeHTTP(rec, req)
		res := rec.Result()
		text := rec.Body.String()
		calls, name, got, bad := e.take()
		if bad != "" {
			t.Fatal(bad)
		}
		if !signInStatuses[res.StatusCode] {
			t.Fatalf("sign-in answered %d %q", res.StatusCode, text)
		}
		if res.StatusCode != http.StatusOK {
			if !strings.HasSuffix(text, "\n") || strings.Count(text, "\n") != 1 || len(strings.TrimSpace(text)) == 0 {
				t.Fatalf("refusal %d is not one line saying why: %q", res.StatusCode, text)
			}
			if srv.Sessions() != before {
				t.Fatalf("a refused sign-in (%d %q) left a session", res.StatusCode, text)
			}
			return
		}
		wantName, wantPassword := expectedSignIn(query, body, post)
		if name != wantName || calls != 1 {
			t.Fatalf("sign-in of %q: the engine saw %d calls, name %q", wantName, calls, name)
		}
		line, rest, _ := strings.Cut(text, "\n")
		parts := strings.Split(line, "=")
		if len(parts) != 2 || rest != "" || parts[0] != wantName {
			t.Fatalf("sign-in of %q answered %q", wantName, text)
		}
		// The library keeps what follows the first '=' of line 1.
		id := parts[1]
		if post && (!got.HasPassword || got.Password != wantPassword) {
			t.Fatalf("the engine got password %q (has %v), want %q", got.Password, got.HasPassword, wantPassword)
		}
		if id == "" || strings.Contains(id, "=") || url.QueryEscape(id) != id {
			t.Fatalf("session id %q is not URL-safe without '='", id)
		}
		cookieOK := false
		for _, c := range res.Cookies() {
			cookieOK = cookieOK || (c.Name == cookieName && c.Value == id)
		}
		if !cookieOK {
			t.Fatalf("no %s cookie with the session id %q: %v", cookieName, id, res.Header.Values("Set-Cookie"))
		}
		if srv.Sessions() != before+1 {
			t.Fatalf("sessions: %d after a sign-in, %d before", srv.Sessions(), before)
		}
		out := httptest.NewRequest(http.MethodGet, "/sign_out?id="+id, nil)
		out.RemoteAddr = req.RemoteAddr
		rec = httptest.NewRecorder()
		srv.handler.ServeHTTP(rec, out)
		if rec.Code != http.StatusOK || srv.Sessions() != before {
			t.Fatalf("sign-out: %d, %d sessions left (%d before)", rec.Code, srv.Sessions(), before)
		}
	})
}

// expectedSignIn is the name (and password) a sign-in request gives, as
// PROTOCOL.md defines it.
func expectedSignIn(query string, body []byte, post bool) (name, password string) {
	if post {
		b := string(bytes.TrimRight(body, "\r\n"))
		name, password, _ = strings.Cut(b, ":")
		return name, password
	}
	raw, _, _ := strings.Cut(query, "&")
	name, _ = url.QueryUnescape(raw)
	return name, ""
}

// startFuzzServer runs a Server with engine e on a loopback HTTP port (the
// fuzz target calls its handler directly).
func startFuzzServer(f *testing.F, e Engine) *Server {
	ln := freePortF(f)
	set, err := options.Parse(options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": "0", "http-port": strconv.Itoa(ln)}})
	if err != nil {
		f.Fatal(err)
	}
	bans := ban.New(ban.Config{MaxFailures: 3, FindTime: time.Minute, BanTime: time.Minute}, hclog.NewNullLogger(), nil)
	srv := New(set, Deps{Log: hclog.NewNullLogger(), Engine: e, Bans: bans, DataDir: f.TempDir()})
	if err := srv.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return srv
}

// freePortF returns a TCP port free on 127.0.0.1.
func freePortF(f *testing.F) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
