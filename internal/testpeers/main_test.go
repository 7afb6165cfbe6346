package testpeers_test

import (
	"log/slog"
	"net/netip"
	"os"
	"testing"

	"github.com/emiago/sipgo/sip"

	"go.uber.org/goleak"

	"webrtcgw/internal/testpeers"
)

func TestMain(m *testing.M) {
	// sipgo warns about its connection reference counts on every close.
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
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
