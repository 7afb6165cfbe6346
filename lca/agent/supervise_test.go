package agent_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// collect reads app's statuses (consecutive repeats folded) until until
// returns true for an event.
func (e *env) collect(app string, until func(wire.AppState) bool) []wire.Status {
	e.t.Helper()
	var seq []wire.Status
	deadline := time.After(20 * time.Second)
	for {
		select {
		case st, ok := <-e.events:
			if !ok {
				e.t.Fatalf("event stream ended after %v", seq)
			}
			if st.Name != app {
				continue
			}
			if len(seq) == 0 || seq[len(seq)-1] != st.Status {
				seq = append(seq, st.Status)
			}
			if until(st) {
				return seq
			}
		case <-deadline:
			e.t.Fatalf("%s: sequence so far %v", app, seq)
		}
	}
}

// TestStatusSequence: a real process through the LCA, from start to a
// graceful stop: StartPending → Initializing → Running → StopPending →
// Suspending → Suspended → StopPending → Stopped, reaped, output in
// LOGS/NAME.log.
func TestStatusSequence(t *testing.T) {
	e := start(t, fast())
	sessionFile := filepath.Join(t.TempDir(), "session-done")
	os.WriteFile(sessionFile, nil, 0o600) // the session ends at once when suspended
	e.apply(e.app("gw1", "-init", "200ms", "-session-file", sessionFile))
	if st := e.wait("gw1", wire.Unknown); st.Host != "h1" || st.Managed || st.PID != 0 {
		t.Errorf("defined, never started = %+v", st)
	}
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil || st.Status != wire.StartPending || st.PID == 0 || !st.Managed || st.Started.IsZero() {
		t.Fatalf("Start = %+v, %v; want StartPending with a pid", st, err)
	}
	pid := st.PID
	seq := e.collect("gw1", func(st wire.AppState) bool { return st.Status == wire.Running })
	if diff := cmp.Diff([]wire.Status{wire.StartPending, wire.Initializing, wire.Running}, seq); diff != "" {
		t.Errorf("start sequence (-want +got):\n%s", diff)
	}
	if got := e.state("gw1"); got.PID != pid || got.Restarts != 0 || !got.Managed {
		t.Errorf("running = %+v", got)
	}
	if _, err := e.ctl.Stop(ctx(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	seq = e.collect("gw1", func(st wire.AppState) bool { return st.Status == wire.Stopped && st.PID == 0 })
	want := []wire.Status{wire.StopPending, wire.Suspending, wire.Suspended, wire.StopPending, wire.Stopped}
	if diff := cmp.Diff(want, seq); diff != "" {
		t.Errorf("stop sequence (-want +got):\n%s", diff)
	}
	got := e.state("gw1")
	if got.Status != wire.Stopped || got.Detail != "stopped by command; exit code 0" || got.PID != 0 {
		t.Errorf("stopped = %+v", got)
	}
	if alive(pid) {
		t.Errorf("pid %d still alive (or not reaped)", pid)
	}
	logData, _ := os.ReadFile(filepath.Join(e.dir, "logs", "gw1.log"))
	for _, s := range []string{"lca: starting gw1", "testapp gw1 pid " + strconv.Itoa(pid) + ": started", "command suspend", "command stop", "ended: exit code 0"} {
		if !strings.Contains(string(logData), s) {
			t.Errorf("gw1.log lacks %q:\n%s", s, logData)
		}
	}
}

// TestKillRestart: a managed application killed with SIGKILL is restarted
// after the first backoff delay; the restart is counted.
func TestKillRestart(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	def.AutoRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	kill(t, st.PID, syscall.SIGKILL)
	down := e.waitDetail("gw1", wire.Stopped, "killed by SIGKILL; restarting in 50ms")
	if down.PID != 0 || down.Restarts != 0 {
		t.Errorf("down = %+v", down)
	}
	again := e.wait("gw1", wire.StartPending)
	if again.PID == 0 || again.PID == st.PID || again.Restarts != 1 || !again.Managed {
		t.Errorf("restarted = %+v; want a new pid and restarts 1", again)
	}
	e.wait("gw1", wire.Running)
	if alive(st.PID) {
		t.Errorf("the killed process %d was not reaped", st.PID)
	}
}

// TestFlapping: an application that keeps dying is restarted with a delay
// doubling up to the maximum, at most 5 times in the window; then it is
// Stopped "flapping" until a start, which restarts the count.
func TestFlapping(t *testing.T) {
	cfg := fast()
	cfg.RestartDelay, cfg.MaxRestartDelay = 10*time.Millisecond, 40*time.Millisecond
	e := start(t, cfg)
	def := e.app("gw1", "-exit-after", "30ms", "-exit-code", "3")
	def.AutoRestart = true
	e.apply(def)
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	var details []string
	final := lcatest.WaitFor(t, e.events, 20*time.Second, func(st wire.AppState) bool {
		if st.Name == "gw1" && st.Status == wire.Stopped {
			details = append(details, st.Detail)
		}
		return st.Name == "gw1" && st.Status == wire.Stopped && st.Detail == "flapping"
	})
	want := []string{
		"exit code 3; restarting in 10ms", "exit code 3; restarting in 20ms", "exit code 3; restarting in 40ms",
		"exit code 3; restarting in 40ms", "exit code 3; restarting in 40ms", "flapping",
	}
	if diff := cmp.Diff(want, details); diff != "" {
		t.Errorf("Stopped details (-want +got):\n%s", diff)
	}
	if final.Restarts != 5 || final.PID != 0 {
		t.Errorf("flapping = %+v; want 5 restarts", final)
	}
	// It stays down: nothing to stop; a start starts it, and the backoff
	// over.
	if _, err := e.ctl.Stop(ctx(t), "gw1", false); err == nil || !strings.Contains(err.Error(), "gw1 is not running (Stopped)") {
		t.Errorf("stop of a flapping application = %v", err)
	}
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatalf("start after flapping: %v", err)
	}
	e.wait("gw1", wire.StartPending)
	next := e.waitDetail("gw1", wire.Stopped, "restarting")
	if next.Detail != "exit code 3; restarting in 10ms" || next.Restarts != 5 {
		t.Errorf("after a start the backoff starts over: %+v", next)
	}
}

// TestStopCancelsRestart: a stop of an application waiting for its
// automatic restart cancels the restart.
func TestStopCancelsRestart(t *testing.T) {
	cfg := fast()
	cfg.RestartDelay = 10 * time.Second
	e := start(t, cfg)
	def := e.app("gw1", "-exit-after", "30ms")
	def.AutoRestart = true
	e.apply(def)
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	e.waitDetail("gw1", wire.Stopped, "exit code 3; restarting in 10s")
	st, err := e.ctl.Stop(ctx(t), "gw1", false)
	if err != nil || st.Status != wire.Stopped || st.Detail != "automatic restart cancelled by a stop" {
		t.Errorf("Stop = %+v, %v", st, err)
	}
	if _, err := e.ctl.Stop(ctx(t), "gw1", false); err == nil {
		t.Error("a second stop succeeded")
	}
}

// TestBackoffReset: an application that stayed up longer than StableAfter
// is restarted after the first delay again.
func TestBackoffReset(t *testing.T) {
	cfg := fast()
	cfg.RestartDelay, cfg.MaxRestartDelay, cfg.StableAfter = 10*time.Millisecond, 40*time.Millisecond, 100*time.Millisecond
	e := start(t, cfg)
	def := e.app("gw1", "-exit-after", "300ms")
	def.AutoRestart = true
	e.apply(def)
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		st := e.waitDetail("gw1", wire.Stopped, "restarting")
		if st.Detail != "exit code 3; restarting in 10ms" {
			t.Errorf("death %d: %q; want the first delay each time", i+1, st.Detail)
		}
	}
}

// TestHangRestart: an application that stops heartbeating (its connection
// open) is found hung after heartbeat-period, killed and restarted; the
// restart is counted.
func TestHangRestart(t *testing.T) {
	e := start(t, fast())
	hang := filepath.Join(t.TempDir(), "hang")
	def := e.app("gw1", "-hang-file", hang)
	def.SML.HeartbeatPeriod = time.Second
	def.SML.HangupRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	os.WriteFile(hang, nil, 0o600)
	hung := e.wait("gw1", wire.Unknown)
	if hung.Detail != "no heartbeat for 1 s" || hung.PID != st.PID {
		t.Errorf("hung = %+v", hung)
	}
	os.Remove(hang) // the next process must be able to register
	down := e.waitDetail("gw1", wire.Stopped, "restarting")
	// testapp exits 0 on SIGTERM, after a Stopped "signal terminated"
	// that the LCA may or may not have heard.
	if !strings.HasSuffix(down.Detail, "exit code 0; restarting in 50ms") {
		t.Errorf("down = %q", down.Detail)
	}
	again := e.wait("gw1", wire.Running)
	if again.Restarts != 1 || again.PID == st.PID {
		t.Errorf("after the hang = %+v; want a new process, restarts 1", again)
	}
}

// TestHangReportOnly: with hangup-restart false the hang is only reported;
// the next heartbeat restores the status.
func TestHangReportOnly(t *testing.T) {
	e := start(t, fast())
	hang := filepath.Join(t.TempDir(), "hang")
	def := e.app("gw1", "-hang-file", hang)
	def.SML.HeartbeatPeriod = time.Second
	def.SML.HangupRestart = false
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	os.WriteFile(hang, nil, 0o600)
	if hung := e.wait("gw1", wire.Unknown); hung.Detail != "no heartbeat for 1 s" {
		t.Errorf("hung = %+v", hung)
	}
	os.Remove(hang)
	back := e.wait("gw1", wire.Running)
	if back.PID != st.PID || back.Restarts != 0 || !alive(st.PID) {
		t.Errorf("back = %+v; want the same process, not restarted", back)
	}
	// Hang detection goes on after the recovery.
	os.WriteFile(hang, nil, 0o600)
	e.wait("gw1", wire.Unknown)
	os.Remove(hang)
	e.wait("gw1", wire.Running)
}

// TestHeartbeatPeriodChange: a new heartbeat period counts from the moment
// the application is told of it, not from its last heartbeat. Switching
// heartbeats on (0 → 1 s) after a quiet while, as an operator does in the
// [sml] annex, leaves a healthy application running (it used to be taken
// for hung at once and killed).
func TestHeartbeatPeriodChange(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	def.SML.HeartbeatPeriod = 0
	def.SML.HangupRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	time.Sleep(1500 * time.Millisecond) // longer than the new period: nothing is heard meanwhile
	def.SML.HeartbeatPeriod = time.Second
	e.apply(def)
	// The application heartbeats every third of a second from now on.
	quiet := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-e.events:
			if ev.Name == "gw1" && ev.Status != wire.Running {
				t.Fatalf("after the period change: %+v; want it running", ev)
			}
		case <-quiet:
			done = true
		}
	}
	if got := e.state("gw1"); got.Status != wire.Running || got.PID != st.PID || got.Restarts != 0 {
		t.Errorf("after the period change = %+v; want the same process running", got)
	}
}

// TestSuspendSession: suspend leaves the application Suspending while its
// session runs, Suspended once it finished, and up; a stop then skips the
// suspend.
func TestSuspendSession(t *testing.T) {
	e := start(t, fast())
	session := filepath.Join(t.TempDir(), "session-done")
	e.apply(e.app("gw1", "-session-file", session))
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	if _, err := e.ctl.Suspend(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	if got := e.wait("gw1", wire.Suspending); got.Detail != "1 session active" {
		t.Errorf("suspending = %+v", got)
	}
	// Still Suspending while the session runs: the LCA waits for the
	// application, not for a timer.
	time.Sleep(300 * time.Millisecond)
	if got := e.state("gw1"); got.Status != wire.Suspending {
		t.Errorf("before the session ended: %+v", got)
	}
	os.WriteFile(session, nil, 0o600)
	e.wait("gw1", wire.Suspended)
	if got := e.state("gw1"); got.PID != st.PID || !alive(st.PID) {
		t.Errorf("suspended = %+v; want it up", got)
	}
	if _, err := e.ctl.Stop(ctx(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	seq := e.collect("gw1", func(st wire.AppState) bool { return st.Status == wire.Stopped && st.PID == 0 })
	if diff := cmp.Diff([]wire.Status{wire.StopPending, wire.Stopped}, seq); diff != "" {
		t.Errorf("stop of a suspended application (-want +got):\n%s", diff)
	}
}

// TestSuspendTimeout: a graceful stop waits suspending-wait-timeout for
// Suspended, then sends stop.
func TestSuspendTimeout(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1", "-session-file", filepath.Join(t.TempDir(), "never"))
	def.SML.SuspendingWaitTimeout = 300 * time.Millisecond
	e.apply(def)
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	if _, err := e.ctl.Stop(ctx(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	seq := e.collect("gw1", func(st wire.AppState) bool { return st.Status == wire.Stopped && st.PID == 0 })
	if diff := cmp.Diff([]wire.Status{wire.StopPending, wire.Suspending, wire.StopPending, wire.Stopped}, seq); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}
	if !strings.Contains(e.log.String(), "not Suspended within suspending-wait-timeout") {
		t.Error("the timeout was not logged")
	}
}

// TestStopEscalation: an application that ignores stop and SIGTERM gets
// SIGKILL, and so do the children of its process group; one that ignores
// stop only ends with SIGTERM. force skips the suspend.
func TestStopEscalation(t *testing.T) {
	e := start(t, fast())
	childPid := filepath.Join(t.TempDir(), "child.pid")
	e.apply(e.app("stubborn", "-ignore-stop", "-ignore-term", "-child-pid-file", childPid), e.app("deaf", "-ignore-stop"))
	st, err := e.ctl.Start(ctx(t), "stubborn")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("stubborn", wire.Running)
	data, err := os.ReadFile(childPid)
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(string(data))
	if !alive(child) {
		t.Fatalf("child %d not running", child)
	}
	if _, err := e.ctl.Stop(ctx(t), "stubborn", true); err != nil {
		t.Fatal(err)
	}
	var details []string
	end := lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		if s.Name == "stubborn" && (s.Status == wire.StopPending || s.Status == wire.Stopped) {
			details = append(details, s.Detail)
		}
		return s.Name == "stubborn" && s.Status == wire.Stopped
	})
	want := []string{"forced stop", "stop command sent", "SIGTERM sent", "SIGKILL sent", "killed by SIGKILL"}
	if diff := cmp.Diff(want, details); diff != "" {
		t.Errorf("escalation (-want +got):\n%s", diff)
	}
	if end.PID != 0 || alive(st.PID) {
		t.Errorf("end = %+v", end)
	}
	// The child was in the process group: SIGKILL reached it (its parent
	// died, so init reaps it).
	eventually(t, "the child killed", func() bool { return !alive(child) })

	if _, err := e.ctl.Start(ctx(t), "deaf"); err != nil {
		t.Fatal(err)
	}
	e.wait("deaf", wire.Running)
	if _, err := e.ctl.Stop(ctx(t), "deaf", true); err != nil {
		t.Fatal(err)
	}
	details = nil
	end = lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		if s.Name == "deaf" {
			details = append(details, string(s.Status)+": "+s.Detail)
		}
		return s.Name == "deaf" && s.Status == wire.Stopped && s.PID == 0
	})
	want = []string{"StopPending: forced stop", "StopPending: stop command sent", "StopPending: SIGTERM sent", "Stopped: signal terminated", "Stopped: signal terminated; exit code 0"}
	if diff := cmp.Diff(want, details); diff != "" {
		t.Errorf("SIGTERM (-want +got):\n%s", diff)
	}
}

// TestStopUnregistered: an application that never registers is stopped by
// signal; a stop of an application waiting to restart cancels the restart.
func TestStopUnregistered(t *testing.T) {
	e := start(t, fast())
	e.apply(e.app("silent", "-no-lca"))
	if _, err := e.ctl.Start(ctx(t), "silent"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.Suspend(ctx(t), "silent"); err == nil || !strings.Contains(err.Error(), "silent is not registered (StartPending)") {
		t.Errorf("suspend of an unregistered application = %v", err)
	}
	e.wait("silent", wire.StartPending)
	e.waitLog("silent", ": running") // its SIGTERM handler is in place
	if _, err := e.ctl.Stop(ctx(t), "silent", false); err != nil {
		t.Fatal(err)
	}
	var details []string
	lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool {
		if s.Name == "silent" {
			details = append(details, string(s.Status)+": "+s.Detail)
		}
		return s.Name == "silent" && s.Status == wire.Stopped
	})
	want := []string{"StopPending: graceful stop", "StopPending: SIGTERM sent", "Stopped: exit code 0"}
	if diff := cmp.Diff(want, details); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAutostart: applications with [sml] autostart start when the agent
// learns of them; the others wait for a start.
func TestAutostart(t *testing.T) {
	e := start(t, fast())
	auto := e.app("auto")
	auto.SML.Autostart = true
	e.apply(auto, e.app("manual"))
	e.wait("auto", wire.Running)
	if got := e.state("manual"); got.Status != wire.Unknown || got.PID != 0 {
		t.Errorf("manual = %+v; want not started", got)
	}
	// A changed definition does not start it again.
	auto.AutoRestart = true
	e.apply(auto, e.app("manual"))
	if got := e.state("auto"); got.Restarts != 0 || got.Status != wire.Running || !got.AutoRestart {
		t.Errorf("auto after a change = %+v", got)
	}
}

// TestAdoptAfterRestart: after the agent restarts on the same data
// directory, a running application is not autostarted twice: it registers
// again, is adopted (managed false) with its status, and can be stopped.
func TestAdoptAfterRestart(t *testing.T) {
	cfg := fast()
	cfg.Listen = "127.0.0.1:0"
	e := start(t, cfg)
	def := e.app("gw1")
	def.SML.Autostart = true
	e.apply(def)
	first := e.wait("gw1", wire.Running)
	port := e.addr
	e.stopAgent()

	cfg.DataDir, cfg.Listen = e.dir, port
	e2 := start(t, cfg)
	e2.apply(def)
	st := e2.wait("gw1", wire.Running)
	if st.PID != first.PID || st.Managed || !st.Started.Equal(first.Started) {
		t.Errorf("adopted = %+v; first %+v", st, first)
	}
	if _, err := e2.ctl.Start(ctx(t), "gw1"); err == nil || !strings.Contains(err.Error(), "gw1 is already Running (pid "+strconv.Itoa(first.PID)+")") {
		t.Errorf("start of the adopted application = %v", err)
	}
	if _, err := e2.ctl.Stop(ctx(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	lcatest.WaitFor(t, e2.events, 20*time.Second, func(s wire.AppState) bool {
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if alive(first.PID) {
		t.Errorf("pid %d still runs", first.PID)
	}
}

// TestRemovedWhileRunning: an application removed from the definitions
// keeps running until it stops, then it is forgotten.
func TestRemovedWhileRunning(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	def.AutoRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	e.apply()
	if got := e.state("gw1"); got.PID != st.PID {
		t.Errorf("removed but running = %+v", got)
	}
	if _, err := e.ctl.Start(ctx(t), "gw1"); err == nil || !strings.Contains(err.Error(), `no such application: "gw1" on host h1`) {
		t.Errorf("start of a removed application = %v", err)
	}
	kill(t, st.PID, syscall.SIGKILL)
	e.wait("gw1", wire.Stopped)
	eventually(t, "forgotten", func() bool { return len(e.ag.List()) == 0 })
}

// TestStoppedByItself: an application that reports Stopped before it ends
// stopped on purpose: it is not restarted, even with auto-restart.
func TestStoppedByItself(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	def.AutoRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	kill(t, st.PID, syscall.SIGTERM) // testapp: Stopped "signal terminated", exit 0
	end := lcatest.WaitFor(t, e.events, 20*time.Second, func(s wire.AppState) bool { return s.Name == "gw1" && s.PID == 0 })
	if end.Status != wire.Stopped || end.Detail != "signal terminated; exit code 0" {
		t.Errorf("end = %+v", end)
	}
	time.Sleep(300 * time.Millisecond) // longer than the restart delay
	if got := e.state("gw1"); got.Status != wire.Stopped || got.PID != 0 || got.Restarts != 0 {
		t.Errorf("restarted: %+v", got)
	}
}
