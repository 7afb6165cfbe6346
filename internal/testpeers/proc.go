package testpeers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// process is a peer process started by this package.
//
// A goroutine started by startProcess starts the process, waits for it and
// closes done; it lives exactly as long as the process. That goroutine stays
// locked to its OS thread, because Pdeathsig fires when the thread that
// started the child exits, not the Go process (https://go.dev/issue/27505).
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and was reaped
	err  error         // the result of cmd.Wait; read it only after done
}

// startProcess starts cmd in a process group of its own (so that stop also
// reaches its children), killed by the kernel if the test binary dies.
func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
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

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process, waits up to grace for it to exit, then
// kills what is left of its process group. It returns the result of Wait.
func (p *process) stop(grace time.Duration) error {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	p.kill()
	return p.err
}

// kill sends SIGKILL to the whole process group and waits for the process.
func (p *process) kill() {
	// The group id is the pid of the leader (Setpgid); children that
	// outlived the leader are still in it.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// exitCode returns the exit status of an exited process, or -1 when it was
// killed by a signal.
func (p *process) exitCode() int {
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// openLog creates the file at path for a process's output.
func openLog(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create log %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// maxLogPrint bounds how much of a log printOnFailure prints.
const maxLogPrint = 64 << 10

// printOnFailure registers a cleanup that prints the files (the logs and
// traces of a peer) when t has failed. Register it before the cleanup that
// stops the peer: cleanups run last-in first-out, so the logs are complete.
func printOnFailure(t testing.TB, title string, paths ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range paths {
			t.Logf("--- %s: %s ---\n%s", title, p, readTail(p, maxLogPrint))
		}
	})
}

// readTail returns at most the last max bytes of the file at path, or a note
// saying why it cannot.
func readTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no file)"
		}
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var prefix string
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err == nil {
			prefix = fmt.Sprintf("(last %d of %d bytes)\n", max, fi.Size())
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return prefix + string(b)
}
