package testpeers_test

import (
	"net/netip"
	"os"
	"testing"

	"go.uber.org/goleak"

	"webrtcgw/internal/testpeers"
)

func TestMain(m *testing.M) {
	os.Exit(testpeers.RunInNetns(m))
}

// checkLeaks fails t if goroutines that t started outlive it. Call it first
// in a test: its cleanup then runs last, after the peers have stopped.
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
