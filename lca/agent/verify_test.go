package agent_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"webrtcgw/lca/agent"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// startForeign starts a process the agent has nothing to do with, leading
// a process group of its own, and kills and reaps it when the test ends.
func startForeign(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
	})
	return cmd
}

// TestForeignPidRefused: a local user who can reach the LCA's port cannot
// register a configured application with the pid of a process of someone
// else (here root's, leading its own process group) to have the LCA signal
// it. The registration is refused with an error that says why; the
// application stays as it was; its later start and stop never touch that
// process. Refused whether or not the user may register applications.
func TestForeignPidRefused(t *testing.T) {
	u := lcatest.User(t)
	e := start(t, fast())
	def := e.app("gw1")
	foreign := startForeign(t, "sleep", "600")
	pid := foreign.Process.Pid
	for _, c := range []struct {
		name  string
		users []uint32 // [lca] app-users
		want  string
	}{
		{"user not allowed", nil, "register gw1: its connection belongs to user " + u.Name + " (uid " + strconv.Itoa(int(u.UID)) + "), who may not register applications"},
		{"user allowed", []uint32{u.UID}, "register gw1: pid " + strconv.Itoa(pid) + " does not hold this connection"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.ag.Apply(agent.Defs{Host: "h1", Apps: []agent.AppDef{def}, AppUsers: c.users})
			m := lcatest.Register(t, u.Credential(), e.addr, "gw1", pid)
			if m.Op != wire.OpError || !strings.Contains(m.Error, c.want) {
				t.Errorf("answer = %+v; want an error containing %q", m, c.want)
			}
			if got := e.state("gw1"); got.Status != wire.Unknown || got.PID != 0 {
				t.Errorf("gw1 after the refusal = %+v; want Unknown without a process", got)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(e.dir, "processes", "gw1.json")); err == nil {
		t.Error("the foreign process was remembered as gw1's")
	}
	if _, err := e.ctl.Stop(ctx(t), "gw1", true); err == nil || !strings.Contains(err.Error(), "gw1 is not running (Unknown)") {
		t.Errorf("stop after the refusals = %v; want not running", err)
	}
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil || st.PID == pid {
		t.Fatalf("start after the refusals = %+v, %v", st, err)
	}
	e.wait("gw1", wire.Running)
	if _, err := e.ctl.Stop(ctx(t), "gw1", true); err != nil {
		t.Fatal(err)
	}
	lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if !alive(pid) {
		t.Errorf("the foreign process %d was killed", pid)
	}
	if log := e.log.String(); strings.Contains(log, "adopted") || strings.Contains(log, "pid="+strconv.Itoa(pid)+" signal=") {
		t.Errorf("the LCA adopted or signalled the foreign process:\n%s", log)
	}
}

// TestAdoptedSignalledByPid: a process the LCA did not start registers with
// its own pid (proven) and is adopted; it leads a process group of its own,
// with a child. Stopping the application signals the process, not its
// group: the LCA did not create the group, and the child lives on.
func TestAdoptedSignalledByPid(t *testing.T) {
	e := start(t, fast())
	childFile := filepath.Join(t.TempDir(), "child.pid")
	e.apply(e.app("gw1"))
	app := startForeign(t, lcatest.App(t), "-lca", e.addr, "-app", "gw1", "-max-life", "2m", "-ignore-stop", "-child-pid-file", childFile)
	st := e.wait("gw1", wire.Running)
	if st.PID != app.Process.Pid || st.Managed {
		t.Fatalf("registered = %+v; want pid %d adopted", st, app.Process.Pid)
	}
	data, err := os.ReadFile(childFile)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(string(data))
	if g, err := syscall.Getpgid(child); err != nil || g != st.PID {
		t.Fatalf("child %d in group %d, %v; want %d", child, g, err, st.PID)
	}
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })

	if _, err := e.ctl.Stop(ctx(t), "gw1", true); err != nil {
		t.Fatal(err)
	}
	var details []string
	lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		if s.Name == "gw1" {
			details = append(details, string(s.Status)+": "+s.Detail)
		}
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if !slices.Contains(details, "StopPending: SIGTERM sent") {
		t.Errorf("stop = %q; want SIGTERM sent", details)
	}
	if !alive(child) {
		t.Error("the child of the adopted process was killed: its group was signalled")
	}
	if !strings.Contains(e.log.String(), "group=false") {
		t.Errorf("no signal to the pid alone in the log:\n%s", e.log.String())
	}
}

// TestRegisterIPv6: the registering process is found over IPv6 loopback
// too (/proc/net/tcp6).
func TestRegisterIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	cfg := fast()
	cfg.Listen = "[::1]:0"
	e := start(t, cfg)
	e.apply(e.app("gw1"))
	app := startForeign(t, lcatest.App(t), "-lca", e.addr, "-app", "gw1", "-max-life", "2m")
	if st := e.wait("gw1", wire.Running); st.PID != app.Process.Pid {
		t.Errorf("registered = %+v; want pid %d", st, app.Process.Pid)
	}
	other := startForeign(t, "sleep", "600").Process.Pid
	m := lcatest.Register(t, nil, e.addr, "gw1", other)
	if want := "pid " + strconv.Itoa(other) + " does not hold this connection"; m.Op != wire.OpError || !strings.Contains(m.Error, want) {
		t.Errorf("register with another pid = %+v; want %q", m, want)
	}
}

// TestOldRecordSignalledByPid: a process remembered by an older LCA with
// "group": true (which it also wrote for a process that registered leading
// a group of its own) gets signals to its pid only: only "lca_group", which
// the LCA writes for the processes it started in a group it created, is
// trusted.
func TestOldRecordSignalledByPid(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(t.TempDir(), "child.pid")
	old := startForeign(t, lcatest.App(t), "-no-lca", "-max-life", "2m", "-child-pid-file", childFile)
	var child int
	eventually(t, "the child started", func() bool {
		data, _ := os.ReadFile(childFile)
		child, _ = strconv.Atoi(string(data))
		return child > 0
	})
	t.Cleanup(func() { syscall.Kill(child, syscall.SIGKILL) })
	os.MkdirAll(filepath.Join(dir, "processes"), 0o700)
	record := fmt.Sprintf(`{"pid":%d,"start_ticks":%d,"started":"2026-01-02T03:04:05Z","group":true}`, old.Process.Pid, startTicks(t, old.Process.Pid))
	if err := os.WriteFile(filepath.Join(dir, "processes", "gw1.json"), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fast()
	cfg.DataDir = dir
	e := start(t, cfg)
	e.apply(e.app("gw1"))
	if st := e.state("gw1"); st.PID != old.Process.Pid || st.Status != wire.Unknown {
		t.Fatalf("remembered = %+v; want pid %d", st, old.Process.Pid)
	}
	if _, err := e.ctl.Stop(ctx(t), "gw1", true); err != nil {
		t.Fatal(err)
	}
	lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if !alive(child) {
		t.Error("the child of the remembered process was killed: its group was signalled")
	}
}

// startTicks reads the start time of pid in clock ticks after boot
// (/proc/PID/stat, field 22), as the LCA remembers it.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return ticks
}

// TestUnidentifiedRecordNotSignalled: a remembered process without its
// start time could be a later process reusing the pid: it is never
// signalled, and a stop says it still runs.
func TestUnidentifiedRecordNotSignalled(t *testing.T) {
	dir := t.TempDir()
	other := startForeign(t, "sleep", "600")
	os.MkdirAll(filepath.Join(dir, "processes"), 0o700)
	record := fmt.Sprintf(`{"pid":%d,"started":"2026-01-02T03:04:05Z","lca_group":true}`, other.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "processes", "gw1.json"), []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fast()
	cfg.DataDir = dir
	e := start(t, cfg)
	e.apply(e.app("gw1"))
	if _, err := e.ctl.Stop(ctx(t), "gw1", true); err != nil {
		t.Fatal(err)
	}
	if got := e.waitDetail("gw1", wire.Unknown, "still running after SIGKILL"); got.PID != other.Process.Pid {
		t.Errorf("after the stop = %+v", got)
	}
	if !alive(other.Process.Pid) {
		t.Error("the process was signalled")
	}
	if !strings.Contains(e.log.String(), "signal not sent: the process cannot be told from a later one reusing its pid") {
		t.Errorf("the refused signal is not logged:\n%s", e.log.String())
	}
}
