package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"webrtcgw/gateway/ban"
	"webrtcgw/options"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoEngine is the Engine of these tests, which exercise the HTTP layer on
// its own: sign-in succeeds with password "secret" (or without a password for
// DNs starting with 9), "PING" is answered "PONG" from the peer, and "BAD" is
// refused. The real engine (gateway/calls) is tested end to end with real
// SIP peers.
type echoEngine struct {
	mu       sync.Mutex
	signOuts []string
}

func (e *echoEngine) SignIn(_ context.Context, s *Session, req SignIn) error {
	switch {
	case req.Anonymous, req.Password == "secret", !req.HasPassword && strings.HasPrefix(s.Name, "9"):
		return nil
	case s.Name == "down":
		return Errorf(ErrUnavailable, "SIP Server unreachable")
	}
	return Errorf(ErrLoginRefused, "registration refused: wrong DN or password")
}

func (e *echoEngine) Message(_ context.Context, s *Session, to string, body []byte) error {
	switch string(body) {
	case "PING":
		s.Deliver(to, []byte("PONG"))
		return nil
	case "BAD":
		return Errorf(ErrInvalid, "bad message")
	}
	return nil
}

func (e *echoEngine) SignOut(s *Session, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.signOuts = append(e.signOuts, s.Name+": "+reason)
}

func (e *echoEngine) ended() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.signOuts...)
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type testServer struct {
	t       *testing.T
	srv     *Server
	engine  *echoEngine
	bans    *ban.Bans
	dataDir string
	base    string // https://127.0.0.1:port
	client  *http.Client
}

// startServer runs a Server on 127.0.0.1 with the given [web] options (the
// ports are filled in) and a client trusting its certificate.
func startServer(t *testing.T, web map[string]string, configure ...func(*Server)) *testServer {
	t.Helper()
	sections := options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(freePort(t))}}
	for k, v := range web {
		sections["web"][k] = v
	}
	set, err := options.Parse(sections)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, engine: &echoEngine{}, dataDir: t.TempDir()}
	ts.bans = ban.New(ban.Config{MaxFailures: 3, FindTime: time.Minute, BanTime: time.Minute}, hclog.NewNullLogger(), nil)
	ts.srv = New(set, Deps{Log: hclog.NewNullLogger(), Engine: ts.engine, Bans: ts.bans, DataDir: ts.dataDir})
	// The stop's wait for browsers between two polls is TestStopTellsBrowsers'
	// subject; the other tests' browsers are not coming back.
	ts.srv.flushWait = 100 * time.Millisecond
	for _, c := range configure {
		c(ts.srv)
	}
	if err := ts.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Stop(ctx)
		ts.client.CloseIdleConnections()
	})
	ts.base = ts.srv.Addrs()[0]
	ts.client = ts.newClient()
	return ts
}

// newClient returns an HTTP client that trusts the server's self-signed
// certificate and no other.
func (ts *testServer) newClient() *http.Client {
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(filepath.Join(ts.dataDir, "tls", "self-signed.crt")); err == nil {
		pool.AppendCertsFromPEM(pem)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 20 * time.Second}
}

func (ts *testServer) do(method, path, body string, header map[string]string) (*http.Response, string) {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.base+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

// signIn signs in and returns the session id.
func (ts *testServer) signIn(dn, password string) string {
	ts.t.Helper()
	var res *http.Response
	var body string
	if password == "" {
		res, body = ts.do("GET", "/sign_in?"+dn, "", nil)
	} else {
		res, body = ts.do("POST", "/sign_in", dn+":"+password, nil)
	}
	if res.StatusCode != 200 {
		ts.t.Fatalf("sign_in %s: %d %q", dn, res.StatusCode, body)
	}
	line, _, _ := strings.Cut(body, "\n")
	name, id, ok := strings.Cut(line, "=")
	if !ok || name != dn {
		ts.t.Fatalf("sign_in body %q, want %s=<id>", body, dn)
	}
	return id
}

func TestSignIn(t *testing.T) {
	ts := startServer(t, nil)
	res, body := ts.do("POST", "/sign_in", "7001:secret", nil)
	if res.StatusCode != 200 {
		t.Fatalf("POST /sign_in = %d %q", res.StatusCode, body)
	}
	line, _, _ := strings.Cut(body, "\n")
	id := strings.TrimPrefix(line, "7001=")
	if len(id) != 43 || strings.ContainsAny(id, "=+/&?% ") {
		t.Errorf("session id %q: want 43 URL-safe characters without '='", id)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == cookieName {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != id || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteNoneMode {
		t.Errorf("cookie = %+v, want the session id, HttpOnly, Secure, SameSite=None", cookie)
	}
	if other := ts.signIn("anon123", ""); other == id {
		t.Error("two sessions got the same id")
	}
	ts.signIn("9001", "") // register without password
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/sign_in", "7001", 400, "body must be dn:password"},
		{"POST", "/sign_in", ":secret", 400, "1 to 64 characters"},
		{"POST", "/sign_in", "70 01:secret", 400, "printable ASCII"},
		{"POST", "/sign_in", "7001:se\r\ncret", 400, "control character"},
		{"GET", "/sign_in?%ZZ", "", 400, "malformed"},
		{"GET", "/sign_in?anon=", "", 400, "must not contain '='"},
		{"POST", "/sign_in", "7=1:secret", 400, "must not contain '='"},
		{"GET", "/sign_in?" + strings.Repeat("1", 65), "", 400, "1 to 64"},
		{"POST", "/sign_in", "down:secret2", 503, "SIP Server unreachable"},
		{"PUT", "/sign_in", "", 405, "method not allowed"},
	} {
		res, body := ts.do(tc.method, tc.path, tc.body, nil)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s %q = %d %q, want %d %q", tc.method, tc.path, tc.body, res.StatusCode, body, tc.status, tc.msg)
		}
	}
}

// TestBan checks SECURITY-CASES 9: after ban-max-failures failed logins the
// address is refused, even with the right password.
func TestBan(t *testing.T) {
	ts := startServer(t, nil)
	for i := 0; i < 3; i++ {
		if res, body := ts.do("POST", "/sign_in", "7001:wrong", nil); res.StatusCode != 403 || !strings.Contains(body, "wrong DN or password") {
			t.Fatalf("wrong password %d: %d %q, want 403", i+1, res.StatusCode, body)
		}
	}
	res, body := ts.do("POST", "/sign_in", "7001:secret", nil)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "too many failed logins") {
		t.Fatalf("right password while banned: %d %q Retry-After %q, want 429", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	ts.bans.SetConfig(ban.Config{MaxFailures: 3, FindTime: time.Minute, BanTime: 0})
	// Bans in progress keep their end time; a new Bans stands for expiry.
	if banned, _ := ts.bans.Banned(netip.MustParseAddr("127.0.0.1")); !banned {
		t.Fatal("ban lifted by a config change")
	}
}

func TestWaitAndMessage(t *testing.T) {
	ts := startServer(t, map[string]string{"polling-timeout": "1"})
	id := ts.signIn("7001", "secret")

	// Nothing queued: an empty 200 after polling-timeout.
	start := time.Now()
	res, body := ts.do("GET", "/wait?id="+id, "", nil)
	if res.StatusCode != 200 || body != "" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("/wait with nothing queued = %d %q after %v, want an empty 200 after ~1 s", res.StatusCode, body, time.Since(start))
	}
	// A message is delivered with its peer in Pragma.
	if res, body := ts.do("POST", "/message?from="+id+"&to=5000", "PING", nil); res.StatusCode != 200 {
		t.Fatalf("/message = %d %q", res.StatusCode, body)
	}
	res, body = ts.do("GET", "/wait?id="+id, "", nil)
	if res.StatusCode != 200 || body != "PONG" || res.Header.Get("Pragma") != "5000" {
		t.Fatalf("/wait = %d %q Pragma %q, want PONG from 5000", res.StatusCode, body, res.Header.Get("Pragma"))
	}
	// A /wait held when a message arrives returns it at once.
	got := make(chan string, 1)
	go func() {
		_, body := ts.do("GET", "/wait?id="+id, "", nil)
		got <- body
	}()
	time.Sleep(100 * time.Millisecond) // let the /wait reach the server (the outcome does not depend on it)
	ts.do("POST", "/message?from="+id+"&to=5001", "PING", nil)
	if b := <-got; b != "PONG" {
		t.Fatalf("held /wait = %q, want PONG", b)
	}

	for _, tc := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{"/message?from=nosuch&to=1", "PING", 204, ""},
		{"/message?from=" + id + "&to=1", "BAD", 400, "bad message"},
		{"/message?from=" + id + "&to=1", strings.Repeat("x", 70<<10), 413, "too large"},
		{"/message?from=" + id + "&to=a%0Db", "PING", 400, "malformed to"},
	} {
		res, body := ts.do("POST", tc.path, tc.body, nil)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("POST %s = %d %q, want %d %q", truncate(tc.path, 40), res.StatusCode, body, tc.status, tc.msg)
		}
	}
	// An unknown session is over: 204, which the Genesys library takes for
	// "signed out" (a 404 it would retry every 3 s forever).
	if res, body := ts.do("GET", "/wait?id=nosuch", "", nil); res.StatusCode != 204 || body != "" {
		t.Errorf("/wait unknown session = %d %q, want 204", res.StatusCode, body)
	}
}

// TestNewerWaitSupersedes: a browser that aborted its /wait and polls again
// gets the message on the new request; the old one ends empty.
func TestNewerWaitSupersedes(t *testing.T) {
	ts := startServer(t, map[string]string{"polling-timeout": "20"})
	id := ts.signIn("7001", "secret")
	first := make(chan string, 1)
	go func() {
		_, body := ts.do("GET", "/wait?id="+id, "", nil)
		first <- body
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := ts.srv.sessions.get(id)
		s.mu.Lock()
		w := s.waiting
		s.mu.Unlock()
		if w == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first /wait never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := make(chan string, 1)
	go func() {
		_, body := ts.do("GET", "/wait?id="+id, "", nil)
		second <- body
	}()
	select {
	case b := <-first:
		if b != "" {
			t.Fatalf("superseded /wait = %q, want empty", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the older /wait was not released")
	}
	ts.do("POST", "/message?from="+id+"&to=5000", "PING", nil)
	if b := <-second; b != "PONG" {
		t.Fatalf("newer /wait = %q, want PONG", b)
	}
}

func TestSignOutAndExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ts := startServer(t, map[string]string{"polling-timeout": "1", "session-timeout": "5"}, func(s *Server) { s.now = clock.now })
	id := ts.signIn("7001", "secret")
	if res, _ := ts.do("GET", "/sign_out?id="+id, "", nil); res.StatusCode != 200 {
		t.Fatalf("/sign_out = %d", res.StatusCode)
	}
	if res, _ := ts.do("GET", "/wait?id="+id, "", nil); res.StatusCode != 204 {
		t.Errorf("/wait after sign-out = %d, want 204 (the client then signs out)", res.StatusCode)
	}
	if res, _ := ts.do("GET", "/sign_out?id="+id, "", nil); res.StatusCode != 200 {
		t.Errorf("second /sign_out = %d, want 200", res.StatusCode)
	}

	idle := ts.signIn("7002", "secret")
	polling := ts.signIn("7003", "secret")
	clock.advance(4 * time.Second)
	ts.do("GET", "/wait?id="+polling, "", nil) // 7003 polls, 7002 does not
	clock.advance(2 * time.Second)
	waitFor(t, func() bool { return ts.srv.sessions.get(idle) == nil }, "idle session expired")
	if ts.srv.sessions.get(polling) == nil {
		t.Error("a polling session expired")
	}
	want := []string{"7001: signed out", "7002: session expired"}
	if got := ts.engine.ended(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("engine sign-outs = %v, want %v", got, want)
	}
}

func TestMaxSessions(t *testing.T) {
	ts := startServer(t, map[string]string{"max-sessions": "2"})
	ts.signIn("7001", "secret")
	ts.signIn("7002", "secret")
	if res, body := ts.do("POST", "/sign_in", "7003:secret", nil); res.StatusCode != 503 || !strings.Contains(body, "full") {
		t.Errorf("third sign-in = %d %q, want 503", res.StatusCode, body)
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
