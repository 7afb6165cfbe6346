package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// envNetns marks the harness process that re-executed itself in a new
// network namespace.
const envNetns = "SOAK_NETNS"

// inChildNetns reports whether this process is the re-executed one.
func inChildNetns() bool { return os.Getenv(envNetns) != "" }

// runInNetns re-executes the harness with args in a new network namespace
// that has only loopback (a new user namespace too when not root, as
// `unshare -rn` does), passes stdin, stdout and stderr through, forwards
// SIGINT, SIGTERM and SIGHUP, and returns its exit code. The child is
// killed if this process dies.
func runInNetns(args []string) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	runtime.LockOSThread() // Pdeathsig fires when this thread exits
	defer runtime.UnlockOSThread()
	attempts := []bool{false, true}
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
		cmd.Env = append(os.Environ(), envNetns+"=1")
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		if userns {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
		cmd.SysProcAttr = attr
		if err = cmd.Start(); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if err != nil {
		return 0, fmt.Errorf("create a network namespace: %w", errors.Join(errs...))
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
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
	return 1, err
}

// loopbackUp sets lo up, as `ip link set lo up` does: a new network
// namespace starts with lo down.
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
