// Package netns runs this program again inside a new network namespace
// that has only loopback, so that test peers, browsers and harnesses can
// open any port without a packet leaving the machine.
package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnavailable wraps the reasons a namespace could not be created (no
// privilege, user namespaces disabled, seccomp).
var ErrUnavailable = errors.New("cannot create a network namespace")

// Reexec runs this executable again with args in a new network namespace
// (a new user namespace too when not root, as `unshare -rn` does), with
// marker=value added to its environment so that the child knows it is the
// re-executed one. It passes stdin, stdout and stderr through, forwards
// SIGINT, SIGTERM, SIGQUIT and SIGHUP, and returns the child's exit code.
// The child is killed if this process dies. The error wraps ErrUnavailable
// when the child could not be started; otherwise it says why the child's
// exit status is unknown.
func Reexec(args []string, marker, value string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("%w: find this executable: %v", ErrUnavailable, err)
	}
	// Pdeathsig fires when the starting thread exits: keep this goroutine
	// on its thread until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	attempts := []bool{false, true} // without, then with a user namespace
	if os.Geteuid() != 0 {
		attempts = []bool{true}
	}
	var (
		cmd  *exec.Cmd
		errs []error
	)
	for _, userns := range attempts {
		cmd = exec.Command(exe, args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), marker+"="+value)
		cmd.SysProcAttr = attr(userns)
		if err = cmd.Start(); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(errs...))
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
	}
	return 1, fmt.Errorf("the process in the network namespace: %w", err)
}

// attr returns the attributes that start a child in a new network
// namespace; with userns, in a new user namespace as well, mapping the
// current user to root in it.
func attr(userns bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if userns {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	return a
}

// Current names this process's network namespace (as /proc/self/ns/net
// links it), "unknown" when it cannot be read.
func Current() string {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return "unknown"
	}
	return ns
}

// LoopbackUp sets the IFF_UP flag of lo, as `ip link set lo up` does; a new
// network namespace starts with lo down.
func LoopbackUp() error {
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

// Private reports whether the process runs in a network namespace in which
// no interface but loopback is up, so that no packet can leave the machine.
func Private() bool {
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
