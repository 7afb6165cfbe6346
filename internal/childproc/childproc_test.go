package childproc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	p, err := Start("sh", exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if code := p.ExitCode(); code != 3 {
		t.Errorf("ExitCode = %d, want 3", code)
	}
	var exitErr *exec.ExitError
	if !errors.As(p.Err(), &exitErr) {
		t.Errorf("Err = %v, want the exit error", p.Err())
	}
}

func TestStartFails(t *testing.T) {
	_, err := Start("nothing", exec.Command(filepath.Join(t.TempDir(), "no-such-binary")))
	if err == nil || !strings.HasPrefix(err.Error(), "start nothing: ") {
		t.Errorf("Start of a missing binary = %v, want an error naming it", err)
	}
}

// TestStopTerm: a child that exits on SIGTERM ends cleanly within grace.
func TestStopTerm(t *testing.T) {
	p, err := Start("sleep", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() || p.ExitCode() != -1 || p.Err() != nil {
		t.Fatalf("a running child: Exited %v, ExitCode %d, Err %v", p.Exited(), p.ExitCode(), p.Err())
	}
	clean, _ := p.Stop(5 * time.Second)
	if !clean || !p.Exited() {
		t.Errorf("Stop of sleep: clean %v, exited %v", clean, p.Exited())
	}
}

// TestStopKillsGroup: a child that ignores SIGTERM is killed after grace,
// and so is the grandchild it left in its process group.
func TestStopKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `trap '' TERM; sleep 60 & echo $! > ` + pidFile + `; wait`
	p, err := Start("sh", exec.Command("sh", "-c", script))
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	for deadline := time.Now().Add(5 * time.Second); grandchild == 0; {
		b, _ := os.ReadFile(pidFile)
		grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if grandchild == 0 && time.Now().After(deadline) {
			t.Fatal("the script did not start its sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if clean, _ := p.Stop(200 * time.Millisecond); clean {
		t.Error("Stop says a child that ignores SIGTERM ended within grace")
	}
	// The grandchild was reparented and is reaped by init (or is a zombie
	// of ours for a moment): it must not run any more.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := syscall.Kill(grandchild, 0); errors.Is(err, syscall.ESRCH) || isZombie(grandchild) {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(grandchild, syscall.SIGKILL)
			t.Fatalf("the grandchild %d outlived Stop", grandchild)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
