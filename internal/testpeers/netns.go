package testpeers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
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
		if self, _ := os.Readlink("/proc/self/ns/net"); self == os.Getenv(envNetns) {
			netnsErr = fmt.Errorf("%s is set but the network namespace is the parent's", envNetns)
		} else if err := loopbackUp(); err != nil {
			netnsErr = fmt.Errorf("bring up lo in the new network namespace: %w", err)
		}
		return m.Run()
	case InPrivateNetns():
		return m.Run()
	}
	code, err := runInNewNetns()
	if err == nil {
		return code
	}
	netnsErr = err
	fmt.Fprintf(os.Stderr, "testpeers: %v; running the tests in place without network isolation\n", err)
	return m.Run()
}

// InPrivateNetns reports whether the process runs in a network namespace in
// which no interface but loopback is up, so that no packet can leave the
// machine.
func InPrivateNetns() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	loUp := false
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			// Down interfaces (such as the sit0 or tunl0 fallback
			// devices that tunnel modules add to every namespace)
			// carry no traffic.
			continue
		}
		if ifc.Flags&net.FlagLoopback == 0 {
			return false
		}
		loUp = true
	}
	return loUp
}

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

// runInNewNetns re-executes the test binary in a new network namespace and
// returns its exit code. It returns an error only when the child could not
// be started.
func runInNewNetns() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("find the test binary: %w", err)
	}
	// Pdeathsig fires when the starting thread exits: keep this goroutine
	// on its thread until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var cmd *exec.Cmd
	attempts := []bool{false, true} // without, then with a user namespace
	if os.Geteuid() != 0 {
		attempts = []bool{true}
	}
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		parentNS = "unknown"
	}
	var errs []error
	for _, userns := range attempts {
		cmd = exec.Command(exe, os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), envNetns+"="+parentNS)
		cmd.SysProcAttr = netnsAttr(userns)
		if err = cmd.Start(); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if err != nil {
		return 0, fmt.Errorf("create a network namespace: %w", errors.Join(errs...))
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()

	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode(), nil
	default:
		fmt.Fprintf(os.Stderr, "testpeers: test process in the network namespace: %v\n", err)
		return 1, nil
	}
}

// netnsAttr returns the attributes that start a child in a new network
// namespace; with userns, in a new user namespace as well, mapping the
// current user to root in it (as `unshare -rn`).
func netnsAttr(userns bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
	}
	if userns {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	return attr
}

// loopbackUp sets the IFF_UP flag of lo, as `ip link set lo up` does; a new
// network namespace starts with lo down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("get flags of lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
