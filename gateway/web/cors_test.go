package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/options"
)

// TestCORS is SECURITY-CASES 1-5 against a real listener.
func TestCORS(t *testing.T) {
	ts := startServer(t, map[string]string{"domain-whitelist": "https://app.example.com, partner.example.org, *.agents.example.net"})
	self := ts.base // the demo page's own origin
	for _, tc := range []struct {
		origin  string
		allowed bool
	}{
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM:443", true}, // RFC 6454 serialisation
		{"https://partner.example.org:8443", true},
		{"http://partner.example.org", true},
		{"https://a.agents.example.net", true},
		{"https://b.c.agents.example.net", true},
		{self, true},
		{"https://app.example.com.evil.test", false}, // suffix
		{"https://evilapp.example.com", false},       // prefix
		{"http://app.example.com", false},            // other scheme
		{"https://app.example.com:8443", false},      // other port
		{"https://app-example.com", false},           // look-alike
		{"https://agents.example.net", false},        // the wildcard's parent itself
		{"https://xagents.example.net", false},
		{"null", false},
		{"https://" + strings.Repeat("a", 8<<10) + ".example.com", false},
		{"https://app.example.com/path", false},
		{"javascript://app.example.com", false},
	} {
		res, body := ts.do("GET", "/sign_in?anon1", "", map[string]string{"Origin": tc.origin})
		acao := res.Header.Get("Access-Control-Allow-Origin")
		if got := res.Header.Values("Vary"); !contains(got, "Origin") {
			t.Errorf("Origin %s: Vary = %v, want Origin", truncate(tc.origin, 40), got)
		}
		switch {
		case tc.allowed && tc.origin == self:
			if res.StatusCode != 200 || acao != "" {
				t.Errorf("same origin: %d ACAO %q, want 200 and no CORS header", res.StatusCode, acao)
			}
		case tc.allowed:
			if res.StatusCode != 200 || acao != tc.origin || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("Origin %s: %d ACAO %q ACAC %q, want 200 echoing the origin with credentials", tc.origin, res.StatusCode, acao, res.Header.Get("Access-Control-Allow-Credentials"))
			}
		default:
			if res.StatusCode != 403 || acao != "" || res.Header.Get("Access-Control-Allow-Credentials") != "" || strings.Contains(body, "example") {
				t.Errorf("Origin %s: %d ACAO %q body %q, want 403 with no CORS header", truncate(tc.origin, 40), res.StatusCode, acao, body)
			}
		}
	}
	// Two Origin headers are refused, neither reflected.
	req, _ := http.NewRequest("GET", ts.base+"/sign_in?anon2", nil)
	req.Header.Add("Origin", "https://app.example.com")
	req.Header.Add("Origin", "https://evil.test")
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("two Origin headers: %d ACAO %q, want 403", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	// No Origin (not a cross-origin browser request): served, Vary still set.
	res, _ = ts.do("GET", "/sign_in?anon3", "", nil)
	if res.StatusCode != 200 || !contains(res.Header.Values("Vary"), "Origin") {
		t.Errorf("no Origin: %d Vary %v", res.StatusCode, res.Header.Values("Vary"))
	}
}

func TestPreflight(t *testing.T) {
	ts := startServer(t, map[string]string{"domain-whitelist": "https://app.example.com"})
	allowed := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
	res, _ := ts.do("OPTIONS", "/message?from=x&to=y", "", allowed)
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		res.Header.Get("Access-Control-Allow-Methods") != "GET, POST" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight = %d %v", res.StatusCode, res.Header)
	}
	withHeaders := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type, X-Custom"}
	res, _ = ts.do("OPTIONS", "/sign_in", "", withHeaders)
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Headers") != "content-type, x-custom" {
		t.Errorf("preflight with headers = %d %q", res.StatusCode, res.Header.Get("Access-Control-Allow-Headers"))
	}
	// SECURITY-CASES 6: a huge Access-Control-Request-Headers is refused.
	huge := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": strings.Repeat("x-a,", 3000)}
	res, _ = ts.do("OPTIONS", "/sign_in", "", huge)
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("huge preflight = %d ACAO %q, want 403", res.StatusCode, res.Header.Get("Access-Control-Allow-Origin"))
	}
	res, _ = ts.do("OPTIONS", "/sign_in", "", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"})
	if res.StatusCode != 403 {
		t.Errorf("preflight for DELETE = %d, want 403", res.StatusCode)
	}
	res, _ = ts.do("OPTIONS", "/sign_in", "", map[string]string{"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"})
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a refused origin = %d", res.StatusCode)
	}
}

// TestWhitelistReload is SECURITY-CASES 5: an origin removed from the
// whitelist is refused on the very next request; an empty list allows all.
func TestWhitelistReload(t *testing.T) {
	ts := startServer(t, map[string]string{"domain-whitelist": "https://app.example.com"})
	origin := map[string]string{"Origin": "https://app.example.com"}
	if res, _ := ts.do("GET", "/sign_in?anon1", "", origin); res.StatusCode != 200 {
		t.Fatalf("listed origin = %d", res.StatusCode)
	}
	reload(t, ts, map[string]string{"domain-whitelist": "https://other.example.com"})
	if res, _ := ts.do("GET", "/sign_in?anon2", "", origin); res.StatusCode != 403 {
		t.Errorf("removed origin = %d, want 403 at once", res.StatusCode)
	}
	reload(t, ts, map[string]string{"domain-whitelist": ""})
	if res, _ := ts.do("GET", "/sign_in?anon3", "", map[string]string{"Origin": "https://anything.test"}); res.StatusCode != 200 {
		t.Errorf("empty whitelist = %d, want every origin allowed", res.StatusCode)
	}
}

// reload applies [web] options on top of the running listener's ports.
func reload(t *testing.T, ts *testServer, web map[string]string) {
	t.Helper()
	cur := ts.srv.cfg.Load().web
	sections := options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(cur.HTTPSPort)}}
	for k, v := range web {
		sections["web"][k] = v
	}
	set, err := options.Parse(sections)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(context.Background(), set); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

// TestSlowHeaders is SECURITY-CASES 7: a client sending its headers a byte
// at a time is cut off; others are still served meanwhile.
func TestSlowHeaders(t *testing.T) {
	ts := startServer(t, nil, func(s *Server) { s.headerTimeout = time.Second })
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.base, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		for _, c := range []byte("GET /sign_in?anon1 HTTP/1.1\r\nHost: x\r\nX-Slow: ") {
			if _, err := conn.Write([]byte{c}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for {
			if _, err := conn.Write([]byte("a")); err != nil {
				cut <- time.Since(start)
				return
			}
			time.Sleep(50 * time.Millisecond)
			if time.Since(start) > 10*time.Second {
				cut <- 0
				return
			}
		}
	}()
	if res, _ := ts.do("GET", "/sign_in?anon2", "", nil); res.StatusCode != 200 {
		t.Errorf("another client during a slow one = %d", res.StatusCode)
	}
	if d := <-cut; d == 0 {
		t.Fatal("the slow client was never cut off")
	}
	// The server closed the connection: reading gets EOF or a reset, not a response.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil && strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Errorf("the slow client was served: %q", line)
	}
}

func TestNotFoundAndHealth(t *testing.T) {
	ts := startServer(t, nil)
	if res, body := ts.do("GET", "/nope", "", nil); res.StatusCode != 404 || body != "not found\n" {
		t.Errorf("/nope = %d %q", res.StatusCode, body)
	}
	if res, body := ts.do("GET", "/health", "", nil); res.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/health = %d %q", res.StatusCode, body)
	}
	if res, _ := ts.do("GET", "/js/webrtc-gateway.js", "", nil); res.StatusCode != 200 && res.StatusCode != 404 {
		t.Errorf("/js/webrtc-gateway.js = %d", res.StatusCode)
	}
}

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]origin{
		"https://a.example.com":      {"https", "a.example.com", 443},
		"HTTP://A.EXAMPLE.COM:80":    {"http", "a.example.com", 80},
		"https://[2001:DB8::1]:8443": {"https", "2001:db8::1", 8443},
		"http://127.0.0.1:8080":      {"http", "127.0.0.1", 8080},
	} {
		got, err := parseOrigin(in)
		if err != nil || got != want {
			t.Errorf("parseOrigin(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "null", "https://", "https://a.com:0", "https://a.com:65536", "https://a.com:+80",
		"https://a.com/", "https://u@a.com", "https://[::1", "https://[fe80::1%25eth0]", "file:///etc", "https://a b"} {
		if got, err := parseOrigin(in); err == nil {
			t.Errorf("parseOrigin(%q) = %+v, want an error", in, got)
		}
	}
}

// FuzzParseOrigin: the Origin parser takes outside input.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://a.example.com", "HTTP://A:80", "https://[::1]:1", "null", "https://a.com:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOrigin(s)
		if err != nil {
			return
		}
		if o.port < 1 || o.port > 65535 || o.host == "" || (o.scheme != "http" && o.scheme != "https") {
			t.Fatalf("parseOrigin(%q) = %+v", s, o)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == s {
				return true
			}
		}
	}
	return false
}
