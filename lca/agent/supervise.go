package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"webrtcgw/lca/wire"
)

// app is one application of the host and what the agent knows of it. Every
// field is guarded by Agent.mu.
type app struct {
	def     AppDef
	removed bool // no longer defined: forgotten once it stops

	st      wire.AppState // what List shows
	emitted wire.AppState // the last state published
	changed chan struct{} // closed and replaced on every change: stop sequences wait on it

	// The process. gen counts processes (started or adopted): timers and
	// waiters of an older one find it changed and do nothing.
	gen        uint64
	pid        int // 0: no process
	startTicks uint64
	group      bool      // pid leads a process group the agent created: signals go to the group
	cmd        *exec.Cmd // the agent started it (managed) and reaps it
	lost       bool      // its connection dropped without Stopped

	conn        *conn // its registration
	reported    wire.Status
	reportedMsg string
	saidStopped bool // it reported Stopped: its end is not a death
	lastHeard   time.Time
	hung        bool
	hangKill    bool // killed because it hung: restarted when it ends

	stopGen uint64 // == gen while a stop sequence runs for this process

	hangTimer, lostTimer, killTimer, restartTimer *time.Timer
	backoff                                       time.Duration
	restartTimes                                  []time.Time // automatic restarts within the flapping window
}

func (a *app) stopTimers() {
	for _, t := range []**time.Timer{&a.hangTimer, &a.lostTimer, &a.killTimer, &a.restartTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
}

// setStatusLocked changes an application's status and publishes it.
func (ag *Agent) setStatusLocked(a *app, s wire.Status, detail string) {
	if a.st.Status != s {
		a.st.Since = time.Now().UTC()
	}
	a.st.Status, a.st.Detail = s, detail
	ag.publishLocked(a)
}

// publishLocked sends the application's state to subscribers and OnStatus
// when it changed, and wakes whoever waits for a change.
func (ag *Agent) publishLocked(a *app) {
	a.st.Host = ag.host
	a.st.AutoRestart = a.def.AutoRestart
	if a.st != a.emitted {
		if a.st.Status != a.emitted.Status || a.st.Detail != a.emitted.Detail {
			ag.log.Info("status", "app", a.st.Name, "status", a.st.Status, "detail", a.st.Detail, "pid", a.st.PID)
		}
		a.emitted = a.st
		ev := a.st
		for c := range ag.subs {
			c.send(wire.Message{Op: wire.OpEvent, Event: &ev})
		}
		if ag.onStatus != nil {
			ag.onStatus(ev)
		}
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// command resolves the program of d: absolute; relative to the working
// directory when it holds a '/'; else from PATH.
func command(d AppDef) (path, dir string, err error) {
	dir = d.WorkingDir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return "", "", err
		}
	}
	path = d.CommandLine
	switch {
	case filepath.IsAbs(path):
	case strings.ContainsRune(path, '/'):
		path = filepath.Join(dir, path)
	default:
		if path, err = exec.LookPath(path); err != nil {
			return "", "", err
		}
	}
	return path, dir, nil
}

// childEnv is the LCA's environment without its own secrets.
func childEnv() []string { return filterEnv(os.Environ()) }

// notInherited are the variables of the LCA's own environment that describe
// the LCA, not its applications: its credential, and what systemd set for
// its unit — its notification socket and watchdog (an application that
// spoke to them would speak for the LCA), passed sockets, and its state and
// logs directories (which name the LCA's, several of them at once).
var notInherited = []string{"LCA_TOKEN", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC",
	"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "STATE_DIRECTORY", "LOGS_DIRECTORY",
	"CACHE_DIRECTORY", "RUNTIME_DIRECTORY", "CONFIGURATION_DIRECTORY", "CREDENTIALS_DIRECTORY"}

// filterEnv returns env without the notInherited variables.
func filterEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(notInherited, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (ag *Agent) logFile(name string) string {
	return filepath.Join(ag.cfg.LogDir, name+".log")
}

// appLog appends one line of the LCA to an application's log file.
func (ag *Agent) appLog(name, format string, args ...any) {
	f, err := os.OpenFile(ag.logFile(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s lca: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(format, args...))
}

// startLocked starts an application's process in its own process group,
// with stdout and stderr appended to LOGS/NAME.log.
func (ag *Agent) startLocked(a *app) error {
	path, dir, err := command(a.def)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(ag.logFile(a.def.Name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer out.Close() // the child has its own copy
	fmt.Fprintf(out, "%s lca: starting %s: %s %s (in %s)\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		a.def.Name, path, JoinArgs(a.def.Args), dir)
	cmd := &exec.Cmd{Path: path, Args: append([]string{path}, a.def.Args...), Dir: dir, Env: childEnv(),
		Stdout: out, Stderr: out, SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(out, "%s lca: start failed: %v\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), err)
		return err
	}
	now := time.Now().UTC()
	a.gen++
	a.pid, a.cmd, a.group = cmd.Process.Pid, cmd, true
	a.startTicks = processStartTicks(a.pid)
	a.lost, a.saidStopped, a.hung, a.hangKill = false, false, false, false
	a.reported, a.reportedMsg = "", ""
	a.st.PID, a.st.Started, a.st.Managed = a.pid, now, true
	ag.writeRecord(a.def.Name, procRecord{PID: a.pid, StartTicks: a.startTicks, Started: now, OwnGroup: true})
	ag.log.Info("started", "app", a.def.Name, "pid", a.pid, "command_line", path, "args", JoinArgs(a.def.Args), "working_dir", dir)
	ag.setStatusLocked(a, wire.StartPending, "")
	gen, name := a.gen, a.def.Name
	go func() {
		// Not in ag.wg: the process may outlive the agent's Stop.
		err := cmd.Wait()
		ag.processExited(a, name, gen, cmd, err)
	}()
	return nil
}

// startFailedLocked handles a start that did not run: like a death.
func (ag *Agent) startFailedLocked(a *app, err error) {
	ag.log.Error("start failed", "app", a.def.Name, "error", err)
	detail := "start: " + err.Error()
	if a.def.AutoRestart && !a.removed {
		ag.scheduleRestartLocked(a, detail, 0)
		return
	}
	ag.setStatusLocked(a, wire.Stopped, detail)
}

// exitDetail says how a process ended.
func exitDetail(state *os.ProcessState, err error) string {
	if state == nil {
		return "ended: " + err.Error()
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit code %d", state.ExitCode())
}

// processExited is the end of a process the agent started.
func (ag *Agent) processExited(a *app, name string, gen uint64, cmd *exec.Cmd, err error) {
	detail := exitDetail(cmd.ProcessState, err)
	// What the process sent before it ended (Stopped, typically) is still
	// in its socket: let the reader take it first, so that the end is
	// judged by it. The connection reaches EOF at once, as the process's
	// socket closed with it; a descendant holding the socket open cannot
	// delay the verdict much.
	ag.mu.Lock()
	var c *conn
	if a.gen == gen {
		c = a.conn
	}
	ag.mu.Unlock()
	if c != nil {
		select {
		case <-c.read:
		case <-time.After(500 * time.Millisecond):
		case <-ag.quit:
		}
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.closed {
		return // the agent stopped: it writes nothing more
	}
	ag.appLog(name, "%s (pid %d) ended: %s", name, cmd.Process.Pid, detail)
	if a.gen != gen || a.cmd != cmd {
		return
	}
	ag.processEndedLocked(a, detail)
}

// processEndedLocked is the end of an application's process, however it
// was noticed: Stopped, and restarted when that is wanted.
func (ag *Agent) processEndedLocked(a *app, detail string) {
	name := a.def.Name
	uptime := time.Since(a.st.Started)
	ag.log.Info("process ended", "app", name, "pid", a.pid, "detail", detail)
	ag.removeRecord(name)
	a.pid, a.cmd, a.startTicks, a.group = 0, nil, 0, false
	a.st.PID = 0
	for _, t := range []**time.Timer{&a.hangTimer, &a.lostTimer, &a.killTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
	if c := a.conn; c != nil {
		a.conn = nil
		c.close()
	}
	stopping := a.stopGen == a.gen && a.stopGen != 0
	a.stopGen = 0
	if a.saidStopped && a.reportedMsg != "" {
		detail = a.reportedMsg + "; " + detail // its own words first
	}
	switch {
	case a.removed:
		ag.setStatusLocked(a, wire.Stopped, detail)
		a.stopTimers()
		delete(ag.apps, name)
		ag.log.Info("application removed", "app", name)
	case stopping:
		ag.setStatusLocked(a, wire.Stopped, detail)
	case a.hangKill:
		a.hangKill = false
		ag.scheduleRestartLocked(a, detail, uptime)
	case a.saidStopped:
		ag.setStatusLocked(a, wire.Stopped, detail)
	case a.def.AutoRestart:
		ag.scheduleRestartLocked(a, detail, uptime)
	default:
		ag.setStatusLocked(a, wire.Stopped, detail)
	}
}

// scheduleRestartLocked restarts an application that died after the
// backoff delay, unless it is flapping.
func (ag *Agent) scheduleRestartLocked(a *app, detail string, uptime time.Duration) {
	now := time.Now()
	if a.backoff == 0 || uptime >= ag.cfg.StableAfter {
		a.backoff = ag.cfg.RestartDelay
	}
	kept := a.restartTimes[:0]
	for _, t := range a.restartTimes {
		if now.Sub(t) < ag.cfg.FlapWindow {
			kept = append(kept, t)
		}
	}
	a.restartTimes = kept
	if len(a.restartTimes) >= ag.cfg.FlapLimit {
		ag.log.Error("flapping: no more automatic restarts until it is started", "app", a.def.Name,
			"restarts", len(a.restartTimes), "window", ag.cfg.FlapWindow.String(), "last_end", detail)
		ag.appLog(a.def.Name, "%s is flapping (%d restarts within %s): not restarted", a.def.Name, len(a.restartTimes), ag.cfg.FlapWindow)
		ag.setStatusLocked(a, wire.Stopped, "flapping")
		return
	}
	delay := a.backoff
	a.backoff = min(2*a.backoff, ag.cfg.MaxRestartDelay)
	ag.log.Warn("restarting", "app", a.def.Name, "in", delay.String(), "after", detail)
	ag.setStatusLocked(a, wire.Stopped, fmt.Sprintf("%s; restarting in %s", detail, delay))
	gen := a.gen
	if a.restartTimer != nil {
		a.restartTimer.Stop()
	}
	a.restartTimer = time.AfterFunc(delay, func() { ag.restart(a, gen) })
}

func (ag *Agent) restart(a *app, gen uint64) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.closed || a.gen != gen || a.pid != 0 || a.removed || a.restartTimer == nil {
		return
	}
	a.restartTimer = nil
	a.restartTimes = append(a.restartTimes, time.Now())
	a.st.Restarts++
	if err := ag.startLocked(a); err != nil {
		ag.startFailedLocked(a, err)
	}
}

// signalLocked sends sig to an application's process: to its process group
// when the agent created that group (it started the process, in this run or
// a previous one), else to its pid only. A process the agent did not start
// in this run is checked first, so that a reused pid is never signalled;
// without its start time (not Linux, or an unreadable /proc) it cannot be,
// and it is not signalled at all.
func (ag *Agent) signalLocked(a *app, sig syscall.Signal) {
	if a.pid <= 0 {
		return
	}
	if a.cmd == nil && a.startTicks == 0 {
		ag.log.Warn("signal not sent: the process cannot be told from a later one reusing its pid", "app", a.def.Name, "pid", a.pid, "signal", unix.SignalName(sig))
		return
	}
	if a.cmd == nil && !processAlive(a.pid, a.startTicks) {
		return
	}
	target := a.pid
	if a.group {
		target = -a.pid
	}
	if err := syscall.Kill(target, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		ag.log.Warn("signal", "app", a.def.Name, "pid", a.pid, "signal", unix.SignalName(sig), "error", err)
		return
	}
	ag.log.Info("signal sent", "app", a.def.Name, "pid", a.pid, "signal", unix.SignalName(sig), "group", a.group)
	ag.appLog(a.def.Name, "%s sent to %s (pid %d)", unix.SignalName(sig), a.def.Name, a.pid)
}

// terminateLocked sends SIGTERM, and SIGCONT so that a stopped process
// gets it.
func (ag *Agent) terminateLocked(a *app) {
	ag.signalLocked(a, syscall.SIGTERM)
	ag.signalLocked(a, syscall.SIGCONT)
}

// waitFor waits until cond (called with the lock held) is true, at most d.
func (ag *Agent) waitFor(a *app, d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		ag.mu.Lock()
		if ag.closed {
			ag.mu.Unlock()
			return false
		}
		if cond() {
			ag.mu.Unlock()
			return true
		}
		ch := a.changed
		ag.mu.Unlock()
		select {
		case <-ch:
		case <-ag.quit:
			return false
		case <-timer.C:
			ag.mu.Lock()
			ok := !ag.closed && cond()
			ag.mu.Unlock()
			return ok
		}
	}
}

// stopSequence is the graceful stop of process gen (docs/lca-protocol.md):
// 1. suspend, and wait up to [sml] suspending-wait-timeout for Suspended
// (skipped when forced or not registered); 2. stop, and wait up to
// StopTimeout for the end (skipped when not registered); 3. SIGTERM, and
// wait up to KillGrace; 4. SIGKILL. The end of the process (or the agent's
// Stop) ends the sequence at any step.
func (ag *Agent) stopSequence(a *app, gen uint64, force bool) {
	defer ag.wg.Done()
	name := a.def.Name
	gone := func() bool { return a.gen != gen || a.pid == 0 }
	step := func(f func() (wait time.Duration, ok bool)) (done bool) {
		ag.mu.Lock()
		if ag.closed || gone() {
			ag.mu.Unlock()
			return true
		}
		wait, ok := f()
		ag.mu.Unlock()
		if !ok {
			return false
		}
		return ag.waitFor(a, wait, gone)
	}

	if !force {
		ag.mu.Lock()
		suspend := !gone() && a.conn != nil && a.reported != wire.Suspended
		timeout := a.def.SML.SuspendingWaitTimeout
		if suspend {
			a.conn.send(wire.Message{Op: wire.OpCommand, Command: wire.CommandSuspend})
		}
		ag.mu.Unlock()
		if suspend && !ag.waitFor(a, timeout, func() bool { return gone() || a.st.Status == wire.Suspended }) {
			ag.log.Warn("not Suspended within suspending-wait-timeout; stopping it", "app", name, "timeout", timeout.String())
		}
	}
	if step(func() (time.Duration, bool) {
		if a.conn == nil {
			return 0, false
		}
		a.conn.send(wire.Message{Op: wire.OpCommand, Command: wire.CommandStop})
		ag.setStatusLocked(a, wire.StopPending, "stop command sent")
		return ag.cfg.StopTimeout, true
	}) {
		return
	}
	if step(func() (time.Duration, bool) {
		ag.log.Warn("sending SIGTERM", "app", name, "pid", a.pid)
		ag.terminateLocked(a)
		ag.setStatusLocked(a, wire.StopPending, "SIGTERM sent")
		return ag.cfg.KillGrace, true
	}) {
		return
	}
	if step(func() (time.Duration, bool) {
		ag.log.Warn("sending SIGKILL", "app", name, "pid", a.pid)
		ag.signalLocked(a, syscall.SIGKILL)
		ag.setStatusLocked(a, wire.StopPending, "SIGKILL sent")
		return ag.cfg.KillGrace, true
	}) {
		return
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if !ag.closed && !gone() {
		ag.log.Error("still running after SIGKILL", "app", name, "pid", a.pid)
		a.stopGen = 0
		ag.setStatusLocked(a, wire.Unknown, "still running after SIGKILL")
	}
}

// armHangLocked (re)starts hang detection of a registered application:
// nothing heard for heartbeat-period seconds is a hang.
func (ag *Agent) armHangLocked(a *app) {
	if a.hangTimer != nil {
		a.hangTimer.Stop()
		a.hangTimer = nil
	}
	period := a.def.SML.HeartbeatPeriod
	if period <= 0 || a.pid == 0 || a.hung || a.lastHeard.IsZero() {
		return
	}
	gen := a.gen
	wait := max(period-time.Since(a.lastHeard), 0)
	a.hangTimer = time.AfterFunc(wait, func() { ag.hangCheck(a, gen) })
}

func (ag *Agent) hangCheck(a *app, gen uint64) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.closed || a.gen != gen || a.pid == 0 || a.hung {
		return
	}
	a.hangTimer = nil
	period := a.def.SML.HeartbeatPeriod
	if period <= 0 {
		return
	}
	if silent := time.Since(a.lastHeard); silent < period {
		a.hangTimer = time.AfterFunc(period-silent, func() { ag.hangCheck(a, gen) })
		return
	}
	a.hung = true
	detail := fmt.Sprintf("no heartbeat for %d s", int(period/time.Second))
	ag.log.Warn("application hung", "app", a.def.Name, "pid", a.pid, "detail", detail, "hangup_restart", a.def.SML.HangupRestart)
	ag.appLog(a.def.Name, "%s (pid %d) is hung: %s", a.def.Name, a.pid, detail)
	ag.setStatusLocked(a, wire.Unknown, detail)
	if a.stopGen == a.gen || !a.def.SML.HangupRestart {
		return // a stop under way escalates by itself
	}
	a.hangKill = true
	ag.terminateLocked(a)
	a.killTimer = time.AfterFunc(ag.cfg.KillGrace, func() {
		ag.mu.Lock()
		defer ag.mu.Unlock()
		if !ag.closed && a.gen == gen && a.pid != 0 && a.hangKill {
			ag.signalLocked(a, syscall.SIGKILL)
		}
	})
}

// heardLocked notes a message from a registered application: it is not
// hung (any more).
func (ag *Agent) heardLocked(a *app) {
	a.lastHeard = time.Now()
	if !a.hung {
		return
	}
	if a.hangKill {
		return // being killed for it
	}
	a.hung = false
	ag.log.Info("application alive again", "app", a.def.Name, "pid", a.pid)
	if a.reported != "" {
		ag.setStatusLocked(a, a.reported, a.reportedMsg)
	}
	ag.armHangLocked(a)
}

// adoptRecordLocked takes a process remembered from a previous run of the
// LCA for the application's: it is watched and waited for to register.
func (ag *Agent) adoptRecordLocked(a *app, r procRecord) {
	a.gen++
	a.pid, a.startTicks, a.group, a.cmd = r.PID, r.StartTicks, r.OwnGroup, nil
	a.st.PID, a.st.Started, a.st.Managed = r.PID, r.Started, false
	ag.log.Info("process still running from before the LCA started; waiting for it to register", "app", a.def.Name, "pid", r.PID)
	ag.setStatusLocked(a, wire.Unknown, fmt.Sprintf("running (pid %d) since before the LCA started; not registered yet", r.PID))
}

// poll notices the end of processes the agent did not start (it cannot
// wait for them).
func (ag *Agent) poll() {
	defer ag.wg.Done()
	tick := time.NewTicker(ag.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ag.quit:
			return
		case <-tick.C:
		}
		ag.mu.Lock()
		for _, a := range ag.apps {
			if a.pid != 0 && a.cmd == nil && !processAlive(a.pid, a.startTicks) {
				detail := "process ended"
				if a.lost {
					detail = "connection lost"
				}
				ag.processEndedLocked(a, detail)
			}
		}
		ag.mu.Unlock()
	}
}

// lostCheck runs LostGrace after a registration dropped without Stopped:
// the process ended (its end is handled), or it still runs unregistered.
func (ag *Agent) lostCheck(a *app, gen uint64) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.closed || a.gen != gen || a.pid == 0 || a.conn != nil {
		return
	}
	a.lostTimer = nil
	if !processAlive(a.pid, a.startTicks) {
		if a.cmd == nil {
			ag.processEndedLocked(a, "connection lost")
		}
		return // the agent's child: its waiter says how it ended
	}
	if a.stopGen == a.gen || a.hung {
		return
	}
	ag.setStatusLocked(a, wire.Unknown, fmt.Sprintf("connection lost; process %d still runs", a.pid))
}
