package web

import (
	"context"
	"testing"
	"time"
)

// TestStopTellsBrowsers: what is queued for a browser when the gateway
// stops (the BYE of its call) is
// still delivered to its next /wait, and a /wait hanging then is answered
// 204 — the browser learns its session is over — before the listener
// closes. (Before, the listener closed first: the BYE was never delivered
// and the hanging /wait got an empty 200, then a refused connection.)
func TestStopTellsBrowsers(t *testing.T) {
	ts := startServer(t, map[string]string{"polling-timeout": "20"}, func(s *Server) { s.flushWait = flushWait })
	inCall := ts.signIn("7001", "secret")
	idle := ts.signIn("7002", "secret")

	hanging := make(chan int, 1)
	go func() {
		res, body := ts.do("GET", "/wait?id="+idle, "", nil)
		if body != "" {
			t.Errorf("hanging /wait at the stop: body %q, want none", body)
		}
		hanging <- res.StatusCode
	}()
	waitFor(t, func() bool {
		s := ts.srv.sessions.get(idle)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.waiting == 1
	}, "the /wait is held")

	// The browser in a call polls; its call is hung up while it is between
	// two polls.
	ts.srv.sessions.get(inCall).Deliver("5000", []byte("EVENT-TALK"))
	if res, body := ts.do("GET", "/wait?id="+inCall, "", nil); body != "EVENT-TALK" {
		t.Fatalf("/wait = %d %q, want EVENT-TALK", res.StatusCode, body)
	}
	ts.srv.sessions.get(inCall).Deliver("5000", []byte("BYE"))
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- ts.srv.Stop(ctx)
	}()

	// The browser in a call comes back for its /wait, once the stop is
	// under way, and gets the BYE.
	waitFor(t, func() bool {
		select {
		case <-ts.srv.sweepDone:
			return true
		default:
			return false
		}
	}, "the stop began")
	res, body := ts.do("GET", "/wait?id="+inCall, "", nil)
	if res.StatusCode != 200 || body != "BYE" || res.Header.Get("Pragma") != "5000" {
		t.Errorf("/wait of the browser in a call during the stop = %d %q (Pragma %q), want BYE from 5000",
			res.StatusCode, body, res.Header.Get("Pragma"))
	}
	// It comes back at once, and learns its session is over.
	if res, body := ts.do("GET", "/wait?id="+inCall, "", nil); res.StatusCode != 204 {
		t.Errorf("/wait of the browser after its BYE = %d %q, want 204", res.StatusCode, body)
	}
	select {
	case status := <-hanging:
		if status != 204 {
			t.Errorf("hanging /wait at the stop = %d, want 204 (the session is over)", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hanging /wait was not answered")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	if got := ts.engine.ended(); len(got) != 2 {
		t.Errorf("engine sign-outs = %v, want both sessions", got)
	}
}
