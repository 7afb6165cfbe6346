// Package agent is the Local Control Agent (docs/lca-protocol.md,
// docs/lca.md): the registry of the host's applications and their status,
// the TCP listener that serves application and control connections on one
// port, and the supervisor that starts processes, restarts them when they
// die or hang, and stops them gracefully.
//
// Locking: one mutex (Agent.mu) guards the registry, every application's
// state and the set of connections and subscribers. Methods named …Locked
// expect it held. Nothing that can block for long runs under it: messages to
// connections go through buffered channels (a peer that does not read is
// dropped), and the OnStatus hook must not block.
//
// Goroutines: the accept loop; two per connection (reader, writer); one per
// stop sequence; the poller of adopted processes. Stop ends them all. One
// more per process the agent started waits for it (reaping it); those end
// when their process does — the applications keep running when the LCA
// stops, by design (docs/lca.md).
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/gateway/ban"
	"webrtcgw/lca/wire"
)

// Config is how the agent runs. Zero durations take their defaults.
type Config struct {
	// Listen is the address of the TCP port (default 127.0.0.1:4999).
	Listen string
	// Host is the host's name when the Source gives none (default: the
	// system's host name).
	Host string
	// DataDir keeps what survives a restart of the LCA: the processes it
	// started (DATA/processes). Empty: nothing is kept.
	DataDir string
	// LogDir receives each application's stdout and stderr, appended to
	// LOGS/NAME.log (default DataDir/logs, else the working directory).
	LogDir string
	// ControlToken is what control clients must present in hello. Empty
	// refuses every control connection.
	ControlToken string
	// AppUsers are the uids, besides root and the LCA's own, whose
	// processes may register applications (-app-users). Not nil: it
	// replaces what the Source says (Defs.AppUsers, [lca] app-users).
	AppUsers []uint32

	// StopTimeout is how long a stop waits for the process to end after the
	// stop command, before SIGTERM (default 30 s).
	StopTimeout time.Duration
	// KillGrace is how long SIGTERM has before SIGKILL (default 10 s).
	KillGrace time.Duration
	// RestartDelay is the first delay of an automatic restart; it doubles up
	// to MaxRestartDelay while the application keeps dying within
	// StableAfter of starting (defaults 1 s, 60 s, 1 min).
	RestartDelay, MaxRestartDelay, StableAfter time.Duration
	// FlapLimit restarts within FlapWindow are allowed; one more is
	// flapping: the application is left Stopped (defaults 5, 5 min).
	FlapLimit  int
	FlapWindow time.Duration
	// LostGrace is how long the process of a connection that dropped
	// without Stopped has to end before it is reported as running
	// unregistered (default 2 s).
	LostGrace time.Duration
	// PollInterval is how often processes the agent did not start (adopted)
	// are checked for their end (default 1 s).
	PollInterval time.Duration
	// FirstMessageTimeout bounds the wait for register or hello (default 10 s).
	FirstMessageTimeout time.Duration
	// MaxConns bounds concurrent connections (default 256).
	MaxConns int
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(wire.DefaultPort))
	}
	if c.LogDir == "" && c.DataDir != "" {
		c.LogDir = filepath.Join(c.DataDir, "logs")
	}
	def(&c.StopTimeout, 30*time.Second)
	def(&c.KillGrace, 10*time.Second)
	def(&c.RestartDelay, time.Second)
	def(&c.MaxRestartDelay, 60*time.Second)
	def(&c.StableAfter, time.Minute)
	def(&c.FlapWindow, 5*time.Minute)
	def(&c.LostGrace, 2*time.Second)
	def(&c.PollInterval, time.Second)
	def(&c.FirstMessageTimeout, 10*time.Second)
	if c.FlapLimit <= 0 {
		c.FlapLimit = 5
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 256
	}
}

// Deps are the agent's collaborators.
type Deps struct {
	Log hclog.Logger
	// OnStatus, when set, receives every change of an application's state
	// (the Configuration Server reporter). It is called with the agent's
	// lock held, in order: it must not block and must not call the agent.
	OnStatus func(wire.AppState)
}

// Agent is the Local Control Agent.
type Agent struct {
	cfg      Config
	log      hclog.Logger
	onStatus func(wire.AppState)
	bans     *ban.Bans
	quit     chan struct{} // closed by Stop
	wg       sync.WaitGroup

	ln net.Listener

	uid uint32 // the agent's effective user: its processes may register

	mu       sync.Mutex
	closed   bool
	host     string
	appUsers []uint32 // Config.AppUsers, else the Source's
	apps     map[string]*app
	records  map[string]procRecord // processes remembered from a previous run, not yet matched
	conns    map[*conn]struct{}
	subs     map[*conn]struct{}
}

// New returns an agent; Start binds its port.
func New(cfg Config, deps Deps) *Agent {
	cfg.defaults()
	log := deps.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	// Failed control logins are logged in the gateway's fixed format
	// (gateway/ban) for fail2ban; the token is 256 random bits, so there
	// is no in-process ban to guess against.
	return &Agent{cfg: cfg, log: log, onStatus: deps.OnStatus, bans: ban.New(ban.Config{}, log.Named("ban"), nil),
		quit: make(chan struct{}), uid: uint32(os.Geteuid()), host: cfg.Host, appUsers: slices.Clone(cfg.AppUsers),
		apps: map[string]*app{}, records: map[string]procRecord{}, conns: map[*conn]struct{}{}, subs: map[*conn]struct{}{}}
}

// Start binds the port and starts serving. Applications become known with
// Apply.
func (ag *Agent) Start(ctx context.Context) error {
	if ag.host == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("host name: %w", err)
		}
		ag.host = h
	}
	if ag.cfg.LogDir != "" {
		if err := os.MkdirAll(ag.cfg.LogDir, 0o750); err != nil {
			return fmt.Errorf("log directory: %w", err)
		}
	}
	ag.records = ag.readRecords()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", ag.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	ag.ln = ln
	ag.wg.Add(2)
	go ag.accept()
	go ag.poll()
	return nil
}

// Addr is the address the agent listens on.
func (ag *Agent) Addr() net.Addr { return ag.ln.Addr() }

// Stop stops serving: 1. no new connections, 2. timers and stop sequences
// under way are abandoned, 3. every connection is closed, 4. the goroutines
// end (or ctx does). The applications keep running; they register again
// with the next LCA.
func (ag *Agent) Stop(ctx context.Context) error {
	ag.mu.Lock()
	if ag.closed {
		ag.mu.Unlock()
		return nil
	}
	ag.closed = true
	for _, a := range ag.apps {
		a.stopTimers()
	}
	conns := make([]*conn, 0, len(ag.conns))
	for c := range ag.conns {
		conns = append(conns, c)
	}
	ag.mu.Unlock()
	close(ag.quit)
	if ag.ln != nil {
		ag.ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	done := make(chan struct{})
	go func() { ag.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the LCA: it starts an agent on cfg, feeds it the definitions of
// src, and stops it when ctx ends (the applications keep running). It
// returns src's error, if any.
func Run(ctx context.Context, cfg Config, deps Deps, src Source) error {
	ag := New(cfg, deps)
	if err := ag.Start(ctx); err != nil {
		return err
	}
	ag.log.Info("started", "address", ag.Addr().String(), "host", ag.Host())
	srcCtx, cancel := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	go func() { srcDone <- src.Run(srcCtx, ag.Apply) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-srcDone:
		if err == nil {
			<-ctx.Done()
		}
	}
	cancel()
	if err == nil {
		err = <-srcDone
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	if serr := ag.Stop(stopCtx); serr != nil {
		ag.log.Warn("stop", "error", serr)
	}
	ag.log.Info("stopped; the applications keep running")
	return err
}

// userAllowed reports whether processes of uid may register applications:
// root, the agent's own user, and AppUsers.
func (ag *Agent) userAllowed(uid uint32) bool {
	if uid == 0 || uid == ag.uid {
		return true
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return slices.Contains(ag.appUsers, uid)
}

// Host is the host's name.
func (ag *Agent) Host() string {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return ag.host
}

// List returns every application's state, by name.
func (ag *Agent) List() []wire.AppState {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return ag.listLocked()
}

func (ag *Agent) listLocked() []wire.AppState {
	out := make([]wire.AppState, 0, len(ag.apps))
	for _, a := range ag.apps {
		out = append(out, a.st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Apply makes defs the host's applications: new ones are added (and
// started when [sml] autostart is true), changed ones take their new
// definition (a new heartbeat period at once, the rest at their next
// start), removed ones are forgotten once they stop.
func (ag *Agent) Apply(defs Defs) {
	if err := checkDefs(defs); err != nil {
		ag.log.Error("definitions refused", "error", err)
		return
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.closed {
		return
	}
	if defs.Host != "" && defs.Host != ag.host {
		ag.log.Info("host name", "host", defs.Host, "was", ag.host)
		ag.host = defs.Host
		for _, a := range ag.apps {
			ag.publishLocked(a)
		}
	}
	if ag.cfg.AppUsers == nil && !slices.Equal(ag.appUsers, defs.AppUsers) {
		// Registrations already taken stay: users are checked when a
		// process registers.
		ag.appUsers = slices.Clone(defs.AppUsers)
		ag.log.Info("users who may register applications", "app_users", fmt.Sprint(ag.appUsers))
	}
	now := time.Now().UTC()
	want := map[string]bool{}
	var added []*app
	for _, d := range defs.Apps {
		want[d.Name] = true
		a, ok := ag.apps[d.Name]
		if !ok {
			a = &app{def: d, changed: make(chan struct{}),
				st: wire.AppState{Name: d.Name, Status: wire.Unknown, Since: now}}
			ag.apps[d.Name] = a
			if r, ok := ag.records[d.Name]; ok {
				delete(ag.records, d.Name)
				if processAlive(r.PID, r.StartTicks) {
					ag.adoptRecordLocked(a, r)
				} else {
					ag.removeRecord(d.Name)
				}
			}
			ag.log.Info("application", "app", d.Name, "command_line", d.CommandLine, "args", JoinArgs(d.Args),
				"auto_restart", d.AutoRestart, "autostart", d.SML.Autostart)
			ag.publishLocked(a)
			added = append(added, a)
			continue
		}
		if a.removed {
			a.removed = false
			ag.log.Info("application defined again", "app", d.Name)
		}
		if a.def.equal(d) {
			continue
		}
		old := a.def
		a.def = d
		ag.log.Info("application changed", "app", d.Name)
		if old.SML.HeartbeatPeriod != d.SML.HeartbeatPeriod {
			if a.conn != nil {
				a.conn.send(wire.Message{Op: wire.OpConfig, HeartbeatPeriod: int(d.SML.HeartbeatPeriod / time.Second)})
				// The new period counts from now, when the application
				// is told of it: its last heartbeat (none at all while the
				// period was 0) was due under the old one.
				a.lastHeard = time.Now()
			}
			ag.armHangLocked(a)
		}
		ag.publishLocked(a)
	}
	for name, a := range ag.apps {
		if want[name] {
			continue
		}
		if a.pid == 0 {
			a.stopTimers()
			ag.setStatusLocked(a, wire.Stopped, "no longer an application of this host")
			delete(ag.apps, name)
			ag.log.Info("application removed", "app", name)
			continue
		}
		if !a.removed {
			a.removed = true
			ag.log.Warn("application removed from the host's definitions; it keeps running until it stops", "app", name, "pid", a.pid)
		}
	}
	// Autostart applies to an application the first time the agent learns
	// of it: at the LCA's start, or later when the definitions come late.
	sort.Slice(added, func(i, j int) bool { return added[i].def.Name < added[j].def.Name })
	for _, a := range added {
		if a.def.SML.Autostart && a.pid == 0 {
			ag.log.Info("autostart", "app", a.def.Name)
			if err := ag.startLocked(a); err != nil {
				ag.startFailedLocked(a, err)
			}
		}
	}
}

// ErrNoApp is the error of a request for an application the host does not
// have.
var ErrNoApp = errors.New("no such application")

// appLocked finds an application. One no longer defined but still running
// is found only for a stop or a suspend (removed).
func (ag *Agent) appLocked(name string, removed bool) (*app, error) {
	if name == "" {
		return nil, errors.New(`"app" is missing`)
	}
	a, ok := ag.apps[name]
	if !ok || (a.removed && !removed) {
		return nil, fmt.Errorf("%w: %q on host %s", ErrNoApp, name, ag.host)
	}
	return a, nil
}

// StartApp starts an application that does not run. It returns once the
// process runs (StartPending). A start also ends flapping.
func (ag *Agent) StartApp(name string) (wire.AppState, error) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	a, err := ag.appLocked(name, false)
	if err != nil {
		return wire.AppState{}, err
	}
	if a.pid != 0 {
		return a.st, alreadyRunning(a)
	}
	if a.restartTimer != nil {
		a.restartTimer.Stop()
		a.restartTimer = nil
	}
	a.restartTimes, a.backoff = nil, 0
	if err := ag.startLocked(a); err != nil {
		ag.setStatusLocked(a, wire.Stopped, "start: "+err.Error())
		return a.st, fmt.Errorf("%s cannot start: %w", name, err)
	}
	return a.st, nil
}

func alreadyRunning(a *app) error {
	switch a.st.Status {
	case wire.Initializing, wire.Running, wire.ServiceUnavailable, wire.Suspending, wire.Suspended:
		return fmt.Errorf("%s is already %s (pid %d)", a.def.Name, a.st.Status, a.pid)
	}
	return fmt.Errorf("%s is already running (pid %d, %s)", a.def.Name, a.pid, a.st.Status)
}

// StopApp starts the graceful stop of an application (force: without the
// suspend) and returns once it is under way (StopPending). For an
// application waiting for an automatic restart, it cancels the restart.
func (ag *Agent) StopApp(name string, force bool) (wire.AppState, error) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	a, err := ag.appLocked(name, true)
	if err != nil {
		return wire.AppState{}, err
	}
	if a.pid == 0 {
		if a.restartTimer != nil {
			a.restartTimer.Stop()
			a.restartTimer = nil
			ag.setStatusLocked(a, wire.Stopped, "automatic restart cancelled by a stop")
			return a.st, nil
		}
		return a.st, fmt.Errorf("%s is not running (%s)", name, a.st.Status)
	}
	if a.stopGen == a.gen {
		return a.st, fmt.Errorf("%s is already stopping (pid %d)", name, a.pid)
	}
	a.stopGen = a.gen
	a.hangKill = false // a hang kill under way becomes this stop: no restart
	how := "graceful stop"
	if force {
		how = "forced stop"
	}
	ag.log.Info("stopping", "app", name, "pid", a.pid, "how", how)
	ag.setStatusLocked(a, wire.StopPending, how)
	ag.wg.Add(1)
	go ag.stopSequence(a, a.gen, force)
	return a.st, nil
}

// SuspendApp sends suspend to a registered application.
func (ag *Agent) SuspendApp(name string) (wire.AppState, error) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	a, err := ag.appLocked(name, true)
	if err != nil {
		return wire.AppState{}, err
	}
	switch {
	case a.pid == 0:
		return a.st, fmt.Errorf("%s is not running (%s)", name, a.st.Status)
	case a.stopGen == a.gen:
		return a.st, fmt.Errorf("%s is stopping", name)
	case a.conn == nil:
		return a.st, fmt.Errorf("%s is not registered (%s): it cannot take commands", name, a.st.Status)
	}
	ag.log.Info("suspend", "app", name, "pid", a.pid)
	a.conn.send(wire.Message{Op: wire.OpCommand, Command: wire.CommandSuspend})
	return a.st, nil
}
