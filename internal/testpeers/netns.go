package testpeers

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"webrtcgw/internal/netns"
)

// envNetns marks the test process that RunInNetns re-executed inside a new
// network namespace, so that it runs the tests instead of re-executing again.
// Its value names the parent's namespace (as /proc/self/ns/net links it).
const envNetns = "TESTPEERS_NETNS"

// netnsErr says why this process runs its tests outside a private network
// namespace. RunInNetns sets it before the tests start and nothing writes it
// afterwards.
var netnsErr error

// RunInNetns runs the tests of m inside a fresh network namespace that has
// only the loopback interface, and returns the exit code for os.Exit. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) {
//		os.Exit(testpeers.RunInNetns(m))
//	}
//
// Unless the process already is in such a namespace, RunInNetns re-executes
// the test binary with the same arguments in a new network namespace (a new
// user namespace too when not root, as `unshare -rn` does), brings lo up
// there (as `ip link set lo up`), passes stdin, stdout and stderr through,
// forwards SIGINT, SIGTERM, SIGQUIT and SIGHUP, and returns the child's exit
// code. The child is killed if this process dies.
//
// When no namespace can be created, it says why on stderr and runs the tests
// in place; [InPrivateNetns] is then false and [RequirePrivateNetns] (so
// [StartBrowser]) skips, or fails under E2E_REQUIRED=1.
func RunInNetns(m *testing.M) int {
	switch {
	case os.Getenv(envNetns) != "":
		// The re-executed child. Touch lo only in a namespace of our own.
		if netns.Current() == os.Getenv(envNetns) {
			netnsErr = fmt.Errorf("%s is set but the network namespace is the parent's", envNetns)
		} else if err := netns.LoopbackUp(); err != nil {
			netnsErr = fmt.Errorf("bring up lo in the new network namespace: %w", err)
		}
		return m.Run()
	case InPrivateNetns():
		return m.Run()
	}
	code, err := netns.Reexec(os.Args[1:], envNetns, netns.Current())
	switch {
	case err == nil:
		return code
	case !errors.Is(err, netns.ErrUnavailable):
		fmt.Fprintf(os.Stderr, "testpeers: %v\n", err)
		return code
	}
	netnsErr = err
	fmt.Fprintf(os.Stderr, "testpeers: %v; running the tests in place without network isolation\n", err)
	return m.Run()
}

// InPrivateNetns reports whether the process runs in a network namespace in
// which no interface but loopback is up, so that no packet can leave the
// machine.
func InPrivateNetns() bool { return netns.Private() }

// RequirePrivateNetns skips t (or fails it under E2E_REQUIRED=1) unless the
// process runs in a private network namespace (see [InPrivateNetns]).
func RequirePrivateNetns(t testing.TB) {
	t.Helper()
	if InPrivateNetns() {
		return
	}
	reason := "not in a private network namespace with only lo: call testpeers.RunInNetns from TestMain, or run the test binary under `unshare --net` with lo up"
	if netnsErr != nil {
		reason += " (" + netnsErr.Error() + ")"
	}
	SkipOrFail(t, "%s", reason)
}
