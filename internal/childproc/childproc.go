// Package childproc starts helper processes (test peers, the soak
// harness's daemons) that must not outlive the process that started them.
//
// Each child runs in a process group of its own, so that stopping it also
// reaches its own children, and the kernel kills it (SIGKILL) if its parent
// dies. Pdeathsig fires when the OS thread that started the child exits,
// not the Go process (https://go.dev/issue/27505), so a goroutine locked to
// its thread starts the child and waits for it; it lives exactly as long as
// the child.
package childproc

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a child started by [Start].
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the child has exited and was reaped
	err  error         // the result of cmd.Wait; read only after done
}

// Start starts cmd in a process group of its own, killed by the kernel if
// this process dies. name is used in errors.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// Name is the name given to Start.
func (p *Process) Name() string { return p.name }

// Pid is the child's process id (and its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the result of waiting for the child; nil while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitCode is the exit status of an exited child: -1 while it runs or when
// a signal killed it.
func (p *Process) ExitCode() int {
	if !p.Exited() || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the child (not its group); nothing once it exited.
func (p *Process) Signal(sig syscall.Signal) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Stop sends SIGTERM, waits up to grace for the child to exit, then kills
// what is left of its process group. It reports whether the child ended
// within grace, and the result of waiting for it.
func (p *Process) Stop(grace time.Duration) (clean bool, err error) {
	clean = true
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			clean = false
		}
	}
	p.Kill()
	return clean, p.err
}

// Kill sends SIGKILL to the whole process group and waits for the child.
// Children that outlived the leader are still in its group (Setpgid: the
// group id is the leader's pid).
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}
