package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/options"
)

// TestAnonymousFlood, at the HTTP layer: one address
// signs in anonymously thousands of times, as fast as it can; it is stopped
// by its rate and its share of sessions, not by max-sessions, and an agent
// from another address (through a trusted proxy) still gets in. The same
// flood without the limits fills max-sessions (the defect it fixes).
func TestAnonymousFlood(t *testing.T) {
	for _, tc := range []struct {
		name      string
		limits    map[string]string
		agentGets int
	}{
		{"limits off", map[string]string{"sign-in-rate": "0", "max-anonymous-per-client": "0", "max-sessions-per-client": "0", "max-anonymous-sessions": "0"}, 503},
		{"default limits", nil, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := map[string]string{"max-sessions": "300", "trusted-proxies": "127.0.0.1"}
			for k, v := range tc.limits {
				web[k] = v
			}
			ts := startServer(t, web)
			var (
				mu       sync.Mutex
				statuses = map[int]int{}
				wg       sync.WaitGroup
			)
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 60; i++ {
						res, _ := ts.do("GET", fmt.Sprintf("/sign_in?anon%d_%d", w, i), "", map[string]string{"X-Forwarded-For": "198.51.100.7"})
						mu.Lock()
						statuses[res.StatusCode]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			t.Logf("flood of 480 anonymous sign-ins from one address: %v; sessions %d", statuses, ts.srv.Sessions())
			res, body := ts.do("POST", "/sign_in", "7001:secret", map[string]string{"X-Forwarded-For": "203.0.113.9"})
			if res.StatusCode != tc.agentGets {
				t.Errorf("agent from another address after the flood: %d %q, want %d", res.StatusCode, body, tc.agentGets)
			}
			if tc.limits != nil {
				return
			}
			if statuses[200] > 50 || statuses[429] == 0 {
				t.Errorf("flood from one address: %v; want at most sign-in-burst (50) admitted, the rest 429", statuses)
			}
		})
	}
}

func TestSignInLimits(t *testing.T) {
	ts := startServer(t, map[string]string{"trusted-proxies": "127.0.0.1", "sign-in-rate": "1", "sign-in-burst": "3",
		"max-anonymous-per-client": "2", "max-sessions-per-client": "3", "max-anonymous-sessions": "4"})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	check := func(what string, res *http.Response, body string, status int, msg string) {
		t.Helper()
		if res.StatusCode != status || !strings.Contains(body, msg) {
			t.Errorf("%s: %d %q, want %d %q", what, res.StatusCode, body, status, msg)
		}
	}
	// Anonymous: two from one address, the third refused.
	res, body := ts.do("GET", "/sign_in?anonA1", "", from("192.0.2.1"))
	check("anonymous 1", res, body, 200, "anonA1=")
	res, body = ts.do("GET", "/sign_in?anonA2", "", from("192.0.2.1"))
	check("anonymous 2", res, body, 200, "anonA2=")
	res, body = ts.do("GET", "/sign_in?anonA3", "", from("192.0.2.1"))
	check("anonymous 3 (max-anonymous-per-client 2)", res, body, 429, "too many anonymous sessions")
	// The burst of 3 is used up: the next sign-in waits for the rate.
	res, body = ts.do("POST", "/sign_in", "7001:secret", from("192.0.2.1"))
	check("fourth sign-in at once (burst 3)", res, body, 429, "too many sign-ins")
	if ra, _ := strconv.Atoi(res.Header.Get("Retry-After")); ra < 1 {
		t.Errorf("rate-limited sign-in: Retry-After %q, want a number of seconds", res.Header.Get("Retry-After"))
	}
	// An IPv6 client counts by its /64.
	res, body = ts.do("GET", "/sign_in?anonB1", "", from("2001:db8:1:2::1"))
	check("anonymous from IPv6", res, body, 200, "anonB1=")
	res, body = ts.do("GET", "/sign_in?anonB2", "", from("2001:db8:1:2::2"))
	check("anonymous from the same /64", res, body, 200, "anonB2=")
	res, body = ts.do("GET", "/sign_in?anonB3", "", from("2001:db8:1:2::3"))
	check("third anonymous from one IPv6 /64", res, body, 429, "too many anonymous")
	// max-anonymous-sessions 4 in all: A1, A2, B1, B2.
	res, body = ts.do("GET", "/sign_in?anonC1", "", from("192.0.2.50"))
	check("anonymous beyond max-anonymous-sessions", res, body, 503, "no more anonymous sessions")
	// Registered sessions from another address are not held back.
	res, body = ts.do("POST", "/sign_in", "7002:secret", from("192.0.2.60"))
	check("agent from another address", res, body, 200, "7002=")
	// Signing out gives the share back.
	id := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(body, "\n", 2)[0], "7002="))
	ts.do("GET", "/sign_out?id="+id, "", nil)
	if got := ts.srv.admission.tracked(); got == 0 {
		t.Error("no client tracked")
	}
}

func TestAllowAnonymousOff(t *testing.T) {
	ts := startServer(t, map[string]string{"allow-anonymous": "false"})
	if res, body := ts.do("GET", "/sign_in?anon123", "", nil); res.StatusCode != 403 || !strings.Contains(body, "allow-anonymous") {
		t.Errorf("anonymous sign-in with allow-anonymous off = %d %q, want 403", res.StatusCode, body)
	}
	ts.signIn("7001", "secret")
	reload(t, ts, map[string]string{"allow-anonymous": "true"})
	ts.signIn("anon123", "")
}

// TestAnonymousExpiry: an anonymous session that stops polling expires
// after anonymous-session-timeout; a registered one lives session-timeout.
func TestAnonymousExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ts := startServer(t, map[string]string{"polling-timeout": "1", "session-timeout": "60", "anonymous-session-timeout": "10"},
		func(s *Server) { s.now = clock.now })
	anon := ts.signIn("anon1", "")
	agent := ts.signIn("7001", "secret")
	clock.advance(11 * time.Second)
	waitFor(t, func() bool { return ts.srv.sessions.get(anon) == nil }, "idle anonymous session expired")
	if ts.srv.sessions.get(agent) == nil {
		t.Error("registered session expired after the anonymous timeout")
	}
	// The client's share was given back: its count is 1 (the agent).
	ts.srv.admission.mu.Lock()
	c := ts.srv.admission.clients[clientKey(netip.MustParseAddr("127.0.0.1"))]
	sessions, anonymous := c.sessions, c.anonymous
	ts.srv.admission.mu.Unlock()
	if sessions != 1 || anonymous != 0 {
		t.Errorf("after expiry the client counts %d sessions, %d anonymous; want 1, 0", sessions, anonymous)
	}
}

// TestAdmissionBounded: a flood of addresses signing in once each leaves
// bounded state.
func TestAdmissionBounded(t *testing.T) {
	a := newAdmission(hclog.NewNullLogger())
	a.maxIdle = 1000
	w := options.Web{SignInRate: 1, SignInBurst: 1}
	now := time.Now()
	for i := 0; i < 100_000; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if r := a.allow(ip, w, now); r != nil {
			t.Fatalf("first sign-in of %s refused: %+v", ip, r)
		}
	}
	if n := a.tracked(); n > 1000 {
		t.Errorf("tracked %d addresses, want at most 1000", n)
	}
	// A client with a session is never forgotten.
	a.admit(netip.MustParseAddr("192.0.2.1"), false, w, now)
	for i := 0; i < 5000; i++ {
		a.allow(netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}), w, now)
	}
	if a.clients[clientKey(netip.MustParseAddr("192.0.2.1"))] == nil {
		t.Error("a client with a session was forgotten")
	}
}
