// Package lcatest runs the real Local Control Agent for tests, like
// confserv/confservtest: cmd/lca built once per test binary, started on a
// loopback port with its data in a directory of the test's, stopped when the
// test ends. It also builds testapp, the small supervised daemon the tests
// start through the LCA, and waits for statuses.
package lcatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles cmd/lca and testapp once. Without -race: the agent's
// concurrency is race-tested in process (lca/agent runs it under the race
// detector with the same real processes); the binaries here are what an
// operator runs, and a race build would only slow every start. Other users
// may run them (User): the tests of who may register run them as another
// user.
func build() (string, error) {
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "lcatest")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/lca", "./lca/lcatest/testapp")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build lca and testapp: %v\n%s", err, out)
		}
	})
	return binDir, buildErr
}

// Binary returns the path of the built lca.
func Binary(t testing.TB) string {
	t.Helper()
	dir, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "lca")
}

// App returns the path of the built testapp (flags: lca/lcatest/testapp).
func App(t testing.TB) string {
	t.Helper()
	dir, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "testapp")
}

// LCA is a running lca process.
type LCA struct {
	t    testing.TB
	Dir  string // -data
	Logs string // -logs
	Port int
	Addr string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	exit chan struct{}
}

// Start runs lca with its data in dir (logs in dir/logs) on port (0: a
// free one) and waits until it serves. Extra arguments are appended (the
// source: -config FILE, or -confserv-…). When the test ends, the LCA is
// stopped with SIGTERM and every application process it remembers in dir
// is killed.
func Start(t testing.TB, dir string, port int, extra ...string) *LCA {
	t.Helper()
	return StartAs(t, nil, dir, port, extra...)
}

// StartAs is Start with the LCA running as the user of cred (nil: the
// test's); dir must be that user's.
func StartAs(t testing.TB, cred *syscall.Credential, dir string, port int, extra ...string) *LCA {
	t.Helper()
	bin := Binary(t)
	if port == 0 {
		port = testpeers.FreePort(t, testpeers.NetTCP)
	}
	l := &LCA{t: t, Dir: dir, Logs: filepath.Join(dir, "logs"), Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), exit: make(chan struct{})}
	args := append([]string{"-listen", "127.0.0.1", "-port", strconv.Itoa(port), "-data", dir, "-logs", l.Logs}, extra...)
	l.cmd = exec.Command(bin, args...)
	l.cmd.Stdout, l.cmd.Stderr = l, l
	if cred != nil {
		l.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.cmd.Wait(); close(l.exit) }()
	t.Cleanup(func() {
		l.Stop()
		KillApps(dir)
		if t.Failed() {
			t.Logf("lca output:\n%s", l.Output())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(l.Output(), "started") {
		select {
		case <-l.exit:
			t.Fatalf("lca exited at start:\n%s", l.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("lca did not start:\n%s", l.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return l
}

// Write collects the process's output.
func (l *LCA) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

// Output returns what the process printed.
func (l *LCA) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// WaitOutput waits until the output contains s.
func (l *LCA) WaitOutput(s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(l.Output(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// Pid is the LCA's process id.
func (l *LCA) Pid() int { return l.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (l *LCA) Exited() <-chan struct{} { return l.exit }

// ExitCode is the exit code once Exited is closed.
func (l *LCA) ExitCode() int { return l.cmd.ProcessState.ExitCode() }

// Stop ends the process with SIGTERM (idempotent).
func (l *LCA) Stop() {
	select {
	case <-l.exit:
		return
	default:
	}
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exit:
	case <-time.After(15 * time.Second):
		l.cmd.Process.Kill()
		<-l.exit
	}
}

// Kill ends the process with SIGKILL.
func (l *LCA) Kill() {
	select {
	case <-l.exit:
		return
	default:
	}
	l.cmd.Process.Kill()
	<-l.exit
}

// Token reads the control token of the data directory.
func (l *LCA) Token() string {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.Dir, "control-token"))
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// Control returns a control client, closed when the test ends.
func (l *LCA) Control() *control.Client {
	l.t.Helper()
	return Dial(l.t, l.Addr, l.Token())
}

// Dial returns a control client of the LCA at addr, closed when the test
// ends.
func Dial(t testing.TB, addr, token string) *control.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := control.Dial(ctx, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// KillApps kills the process group of every application process the LCA
// of data directory dir remembers (DATA/processes), if it still runs, and
// waits (a few seconds at most) until they are gone: tests leave nothing
// behind, even after the LCA was killed. The test's own process (a test
// that registered as an application itself) is spared.
func KillApps(dir string) {
	entries, _ := filepath.Glob(filepath.Join(dir, "processes", "*.json"))
	var pids []int
	defer func() {
		deadline := time.Now().Add(5 * time.Second)
		for _, pid := range pids {
			for running(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	for _, path := range entries {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var r struct {
			PID int `json:"pid"`
		}
		json.Unmarshal(data, &r)
		if pid := r.PID; pid > 0 && pid != os.Getpid() && running(pid) {
			pids = append(pids, pid)
			if g, err := syscall.Getpgid(pid); err == nil && g == pid {
				syscall.Kill(-pid, syscall.SIGKILL)
			} else {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// running reports whether pid is a process that is not a zombie.
func running(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] != 'Z'
}

// WaitFor reads events until one satisfies ok, and returns it; it fails the
// test after timeout.
func WaitFor(t testing.TB, events <-chan wire.AppState, timeout time.Duration, ok func(wire.AppState) bool) wire.AppState {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatal("the event stream ended")
			}
			if ok(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no matching event within %s", timeout)
			return wire.AppState{}
		}
	}
}

// WaitStatus waits for app to reach status, and returns its state.
func WaitStatus(t testing.TB, events <-chan wire.AppState, timeout time.Duration, app string, status wire.Status) wire.AppState {
	t.Helper()
	deadline := time.After(timeout)
	var last wire.AppState
	for {
		select {
		case ev, open := <-events:
			if !open {
				t.Fatalf("the event stream ended waiting for %s %s (last %+v)", app, status, last)
			}
			if ev.Name != app {
				continue
			}
			last = ev
			if ev.Status == status {
				return ev
			}
		case <-deadline:
			t.Fatalf("%s did not reach %s within %s; last %+v", app, status, timeout, last)
			return wire.AppState{}
		}
	}
}

// TestUser is an unprivileged user that exists for one test.
type TestUser struct {
	Name     string
	UID, GID uint32
}

// Credential runs a process as the user.
func (u TestUser) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.UID, Gid: u.GID}
}

// User creates an unprivileged system user (lcatest-RANDOM, no home, no
// shell) and removes it when the test ends. It takes root: without it the
// test is skipped, or fails under E2E_REQUIRED=1.
func User(t testing.TB) TestUser {
	t.Helper()
	if os.Geteuid() != 0 {
		testpeers.SkipOrFail(t, "creating a user for the test takes root")
	}
	testpeers.Require(t, "useradd", "userdel")
	var b [4]byte
	rand.Read(b[:])
	name := "lcatest-" + hex.EncodeToString(b[:])
	// useradd waits for nobody: another useradd or userdel on the host
	// (other test packages run at the same time) holds /etc/passwd's lock
	// for moments.
	var out []byte
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err = exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		var out []byte
		var err error
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			out, err = exec.Command("userdel", name).CombinedOutput()
			if err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s: uid %q, gid %q", name, u.Uid, u.Gid)
	}
	return TestUser{Name: name, UID: uint32(uid), GID: uint32(gid)}
}

// Register runs testapp -register-pid as the user of cred (nil: the
// test's): one connection to the LCA at addr, a register of app with pid
// (not testapp's own), and the LCA's answer, which it returns.
func Register(t testing.TB, cred *syscall.Credential, addr, app string, pid int) wire.Message {
	t.Helper()
	cmd := exec.Command(App(t), "-lca", addr, "-app", app, "-register-pid", strconv.Itoa(pid))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testapp -register-pid: %v\n%s", err, out)
	}
	_, answer, ok := bytes.Cut(out, []byte("answer "))
	var m wire.Message
	if !ok || json.Unmarshal(answer, &m) != nil {
		t.Fatalf("testapp -register-pid printed %q", out)
	}
	return m
}
