package netns_test

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"webrtcgw/internal/netns"
	"webrtcgw/internal/testpeers"
)

const marker = "NETNS_TEST_CHILD"

// TestMain: the re-executed child checks where it runs and answers with
// its exit code.
func TestMain(m *testing.M) {
	if parent := os.Getenv(marker); parent != "" {
		switch {
		case netns.Current() == parent:
			os.Exit(5) // still in the parent's namespace
		case netns.Private():
			os.Exit(6) // lo is down in a new namespace: nothing is up yet
		}
		if err := netns.LoopbackUp(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if !netns.Private() {
			os.Exit(4)
		}
		os.Exit(7)
	}
	os.Exit(m.Run())
}

func TestReexec(t *testing.T) {
	code, err := netns.Reexec([]string{"-test.run=^$"}, marker, netns.Current())
	if errors.Is(err, netns.ErrUnavailable) {
		testpeers.SkipOrFail(t, "%v", err)
	}
	if err != nil || code != 7 {
		t.Fatalf("Reexec = %d, %v; want 7 (a new namespace with only lo, up)", code, err)
	}
}
