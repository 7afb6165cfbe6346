package sipua

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/internal/testpeers"
)

// fastTiming shortens the user agent's timers for tests.
var fastTiming = Timing{
	Debounce:         500 * time.Millisecond,
	Probe:            500 * time.Millisecond,
	ProbeDown:        250 * time.Millisecond,
	ProbeTimeout:     time.Second,
	RetryMin:         250 * time.Millisecond,
	RetryMax:         time.Second,
	RefusalHold:      2 * time.Second,
	MalformedSummary: time.Second,
}

// changeLog records what Deps.Reachability is told.
type changeLog struct {
	mu  sync.Mutex
	ups []bool
}

func (c *changeLog) record(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ups = append(c.ups, up)
}

func (c *changeLog) get() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.ups...)
}

// waitFor waits until n changes were reported, at most timeout.
func (c *changeLog) waitFor(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); len(c.get()) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("reported changes = %v after %v, want %d", c.get(), timeout, n)
		}
	}
}

// observe watches the reported changes for window (the flapping this
// guards against shows only over time) and checks they are want.
func (c *changeLog) observe(t *testing.T, window time.Duration, want []bool) {
	t.Helper()
	time.Sleep(window)
	if diff := cmp.Diff(want, c.get()); diff != "" {
		t.Fatalf("reported changes (-want +got):\n%s", diff)
	}
}

// TestRefusedRefreshesKeepUnavailable: a SIP Server that answers 503 to
// every REGISTER and 404 to OPTIONS, with a DN whose refreshes keep
// failing, is reported unavailable once and stays so — it flapped with
// every probe answer and every failed refresh. Once it accepts
// registrations again, it is reported available once.
func TestRefusedRefreshesKeepUnavailable(t *testing.T) {
	port := testpeers.FreePort(t, testpeers.NetSIP)
	accepting := testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}, MaxExpires: 2, Port: port}
	refusing := accepting
	refusing.RegisterStatus, refusing.OptionsStatus = 503, 404
	k := testpeers.StartKamailio(t, accepting)
	var changes changeLog
	u := startUAWith(t, k.Addr(), nil, Deps{Reachability: changes.record, Timing: fastTiming})
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	k.Stop()
	k = testpeers.StartKamailio(t, refusing)

	// Refreshes fail every RetryMax at most, probes are answered 404
	// every ProbeDown: many chances to flap.
	changes.observe(t, 12*time.Second, []bool{false})
	log := k.Log()
	for _, want := range []string{"request REGISTER", "request OPTIONS"} {
		if n := strings.Count(log, want); n < 5 {
			t.Errorf("the refusing SIP Server saw %d %q, want a window full of them", n, want)
		}
	}
	if u.Registered("7001") == nil {
		t.Fatal("the registration was dropped while the server refuses it; it must be retried")
	}
	if u.Reachable() {
		t.Error("Reachable() = true while registrations are refused")
	}

	k.Stop()
	testpeers.StartKamailio(t, accepting)
	changes.waitFor(t, 2, 15*time.Second)
	changes.observe(t, 4*fastTiming.Debounce, []bool{false, true})
	if !u.Reachable() {
		t.Error("Reachable() = false once registrations succeed again")
	}
}

// TestRefusedSignInsDoNotFlap: with no DN registered, sign-ins refused
// with 503 and probes answered 200 in between: unavailable once — the
// probes do not bring it back while sign-ins keep failing; they do once
// none failed for RefusalHold.
func TestRefusedSignInsDoNotFlap(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}, RegisterStatus: 503})
	var changes changeLog
	u := startUAWith(t, k.Addr(), nil, Deps{Reachability: changes.record, Timing: fastTiming})
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(fastTiming.RefusalHold / 4) {
		if _, err := u.Register(context.Background(), "7001", "secret", nil); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Register against a server that answers 503 = %v, want ErrUnreachable", err)
		}
	}
	if diff := cmp.Diff([]bool{false}, changes.get()); diff != "" {
		t.Fatalf("reported changes while sign-ins fail (-want +got):\n%s", diff)
	}
	changes.waitFor(t, 2, fastTiming.RefusalHold+10*time.Second)
	changes.observe(t, 4*fastTiming.Debounce, []bool{false, true})
}

// TestProbeAnsweredWithoutOptionsSupport: a SIP Server that answers 405 to
// OPTIONS is alive — no DN registered, nothing reported. When it goes
// silent it is reported unavailable, and available again once it answers
// (405 still).
func TestProbeAnsweredWithoutOptionsSupport(t *testing.T) {
	port := testpeers.FreePort(t, testpeers.NetSIP)
	cfg := testpeers.KamailioConfig{OptionsStatus: 405, Port: port}
	k := testpeers.StartKamailio(t, cfg)
	var changes changeLog
	u := startUAWith(t, k.Addr(), nil, Deps{Reachability: changes.record, Timing: fastTiming})
	changes.observe(t, 3*time.Second, nil)
	if n := strings.Count(k.Log(), "request OPTIONS"); n < 3 {
		t.Errorf("the SIP Server saw %d OPTIONS, want the probes", n)
	}
	k.Stop()
	changes.waitFor(t, 1, 10*time.Second)
	testpeers.StartKamailio(t, cfg)
	changes.waitFor(t, 2, 10*time.Second)
	changes.observe(t, 4*fastTiming.Debounce, []bool{false, true})
	if !u.Reachable() {
		t.Error("Reachable() = false with the server answering")
	}
}
