package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/firewall"
	"webrtcgw/gateway/ban"
	"webrtcgw/gateway/calls"
	"webrtcgw/gateway/media"
	"webrtcgw/gateway/sipua"
	"webrtcgw/gateway/web"
	"webrtcgw/lca/wire"
	"webrtcgw/logging"
	"webrtcgw/options"
	"webrtcgw/version"
)

// ErrInvalidOptions wraps the error of a start-up with options that do not
// validate (the daemon exits 2 for it).
var ErrInvalidOptions = errors.New("invalid options")

// Config is what the command line says.
type Config struct {
	ConfigFile  string          // local mode: the INI file
	Confserv    *ConfservConfig // Configuration Server mode (instead of ConfigFile)
	DataDir     string          // state kept between runs (the self-signed certificate, the confserv cache)
	App         string          // the application's name (Configuration Server and LCA)
	LCAPort     int             // the Local Control Agent's port; 0: no LCA
	StopTimeout time.Duration   // how long each subsystem's Stop may take; 0: 30 s
}

// Deps are the daemon's outside dependencies.
type Deps struct {
	Logging *logging.Logging
	// Hangup delivers SIGHUP: reload the options and reopen log files.
	Hangup <-chan os.Signal
	// OnReload, when set, is told the result of every reload after start-up
	// (tests; later the LCA reports).
	OnReload func(Result)
}

// fileSettle is how long the configuration file must stay quiet after a
// change before it is read: editors and tools write it in several steps.
const fileSettle = 150 * time.Millisecond

// Run runs the gateway until ctx is cancelled or its LCA says stop:
//
//  1. register with the LCA (Initializing), waiting a moment for the
//     first attempt; an absent LCA is retried in the background;
//  2. read and validate the options — from the file (local mode) or the
//     Configuration Server (invalid → ErrInvalidOptions);
//  3. start the subsystems in start order (log first); Running, or
//     ServiceUnavailable while the SIP Server does not answer;
//  4. apply every later change through the reload pipeline: file changes and
//     SIGHUP in local mode, watched changes in Configuration Server mode
//     (each applied or rejected revision is reported back);
//  5. on the LCA's suspend: no new sessions or calls (Suspending), calls in
//     progress go on; Suspended when none is left;
//  6. when ctx is done or the LCA says stop: drain the same way for at most
//     [sml] suspending-wait-timeout (counted from the first suspend); hang
//     up the calls left, with BYE both ways (the browser's on its /wait);
//     then stop the subsystems in reverse order, each within StopTimeout:
//     web first (the browsers take their BYE, the hanging /wait are
//     answered, then the listeners close); Stopped.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	log := deps.Logging.Logger()
	rlog := log.Named("reload")
	lc := newLifecycle(log.Named("lca"), cfg.App, cfg.LCAPort)
	lcaCtx, stopLCA := context.WithCancel(context.Background())
	lcaDone := make(chan struct{})
	go func() { lc.run(lcaCtx); close(lcaDone) }()
	defer func() {
		lc.stopped()
		stopLCA()
		<-lcaDone
	}()
	lc.publish()
	lc.waitRegistered(ctx)

	var src source
	mode := "local"
	if cfg.Confserv != nil {
		cs, err := newConfservSource(*cfg.Confserv, cfg.DataDir, log.Named("confserv"))
		if err != nil {
			return err
		}
		src, mode = cs, "configuration server"
	} else {
		fs, err := newFileSource(cfg.ConfigFile, log)
		if err != nil {
			return err
		}
		src = fs
	}
	first := src.first(ctx)
	srcCtx, stopSource := context.WithCancel(ctx)
	var srcDone chan struct{} // closed when run returns; nil until it runs
	defer func() {
		stopSource()
		if srcDone != nil {
			<-srcDone
		}
		src.close()
	}()
	set, warnings, err := parseUpdate(first)
	if err != nil {
		src.report(ctx, first, err)
		return err
	}
	logProblems(rlog, hclog.Warn, "option warning", warnings)

	sys := newSystem(set, cfg, deps.Logging, src.sipFallback, lc.setSIPReachable)
	reloader := NewReloader(rlog, set, sys.parts)
	var started []Part
	for _, p := range sys.parts {
		if err := p.Sub.Start(ctx); err != nil {
			stopParts(log, started, cfg.StopTimeout)
			err = fmt.Errorf("start %s: %w", p.Owner, err)
			src.report(ctx, first, err)
			return err
		}
		started = append(started, p)
	}
	log.Info("started", "version", version.Version, "mode", mode, "options", first.source, "pid", os.Getpid())
	firewallState := filepath.Join(cfg.DataDir, firewall.StateFileName)
	firewall.WarnUncovered(log, set, firewallState)
	src.report(ctx, first, nil)
	lc.setStarted()

	srcDone = make(chan struct{})
	go func() { src.run(srcCtx); close(srcDone) }()
	// Often enough to prove progress within the shortest heartbeat period
	// (1 s) and to follow a drain.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var drainSince time.Time
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
		case cmd := <-lc.commands():
			if cmd == wire.CommandSuspend {
				if drainSince.IsZero() {
					drainSince = time.Now()
				}
				sys.drain(lc)
				continue
			}
			if cmd != wire.CommandStop {
				log.Warn("unknown command from the local control agent", "command", cmd)
				continue
			}
			log.Info("stopping: the local control agent said stop")
		case <-tick.C:
			lc.alive()
			if lc.draining() == suspending {
				sys.drain(lc)
			}
			continue
		case <-deps.Hangup:
			if err := deps.Logging.Reopen(); err != nil {
				log.Error("reopen log files", "error", err)
			}
			src.reread()
			continue
		case u := <-src.updates():
			res := applyUpdate(ctx, rlog, reloader, u)
			if res.Applied() {
				firewall.WarnUncovered(log, reloader.Current(), firewallState)
			}
			src.report(ctx, u, res.Err)
			if deps.OnReload != nil {
				deps.OnReload(res)
			}
			continue
		}
		break
	}
	// Stop: drain, then stop the subsystems.
	lc.stopping()
	stopSource()
	if drainSince.IsZero() {
		drainSince = time.Now()
	}
	grace := reloader.Current().SML().SuspendingWaitTimeout
	for sys.drain(lc) > 0 && time.Since(drainSince) < grace {
		lc.alive() // draining is progress: the LCA must not take it for a hang
		time.Sleep(100 * time.Millisecond)
	}
	if n := sys.engine.Calls(); n > 0 {
		log.Info("hanging up the calls left", "calls", n, "waited", time.Since(drainSince).Round(time.Millisecond))
		sys.engine.HangUpAll("the gateway is stopping")
	}
	stopParts(log, started, cfg.StopTimeout)
	log.Info("stopped")
	return nil
}

// parseUpdate validates an update's options. The error wraps
// ErrInvalidOptions and a *options.Error when values are invalid.
func parseUpdate(u update) (*options.Set, []options.Problem, error) {
	if u.err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidOptions, u.err)
	}
	set, err := options.Parse(u.sections)
	if err != nil {
		var perr *options.Error
		if errors.As(err, &perr) {
			perr.Warnings = append(u.warnings, perr.Warnings...)
		}
		return nil, nil, fmt.Errorf("%w from %s: %w", ErrInvalidOptions, u.source, err)
	}
	return set, append(u.warnings, set.Warnings()...), nil
}

// system is the gateway's subsystems, and what the daemon drives directly.
type system struct {
	parts  []Part
	engine *calls.Engine
	web    *web.Server
}

// newSystem builds the subsystems in start order: log, media, sip, call
// control, web, bans. They stop in the reverse order, after Run has hung up
// the calls left: web first (the browsers take what is queued for them,
// their sessions end, then the listeners close), then call control waits
// for the work it started (BYE, unregister), then SIP, then media.
func newSystem(set *options.Set, cfg Config, logs *logging.Logging, sipFallback func() options.HostPort, reachability func(up bool)) *system {
	log := logs.Logger()
	bans := ban.New(banConfig(set), log.Named("ban"), nil)
	m := media.New(set, media.Deps{Log: log.Named("media")})
	var engine *calls.Engine
	ua := sipua.New(set, sipua.Deps{Log: log.Named("sip"), ServerFallback: sipFallback, Reachability: reachability,
		Incoming: func(inc *sipua.Incoming) { engine.Incoming(inc) }})
	engine = calls.New(calls.Deps{Log: log.Named("calls"), UA: ua, Media: m})
	w := web.New(set, web.Deps{Log: log.Named("web"), Engine: engine, Bans: bans, DataDir: cfg.DataDir})
	return &system{engine: engine, web: w, parts: []Part{
		{Owner: options.OwnerLog, Sub: newLogSubsystem(logs, set)},
		{Owner: options.OwnerMedia, Sub: m},
		{Owner: options.OwnerSIP, Sub: ua},
		{Owner: "calls", Sub: callsPart{engine}},
		{Owner: options.OwnerWeb, Sub: w},
		{Owner: options.OwnerBan, Sub: banPart{bans}},
	}}
}

// drain refuses new sessions and calls (idempotent), tells lc how far the
// drain is, and returns the calls still in progress.
func (s *system) drain(lc *lifecycle) int {
	s.engine.Drain()
	n := s.engine.Calls()
	if n > 0 {
		s.web.SetUnavailable(fmt.Sprintf("suspending: %d calls in progress, no new sessions", n))
		lc.setDrain(suspending, n)
	} else {
		s.web.SetUnavailable("suspended: no new sessions")
		lc.setDrain(suspended, 0)
	}
	return n
}

// callsPart gives call control its place in the stop order: after the web
// subsystem signed every session out, wait for the calls to end.
type callsPart struct{ e *calls.Engine }

func (callsPart) Start(context.Context) error                { return nil }
func (callsPart) Reload(context.Context, *options.Set) error { return nil }
func (p callsPart) Stop(ctx context.Context) error {
	p.e.Close(ctx)
	return nil
}

// banPart applies the [security] options to the bans.
type banPart struct{ b *ban.Bans }

func banConfig(s *options.Set) ban.Config {
	sec := s.Security()
	return ban.Config{MaxFailures: sec.BanMaxFailures, FindTime: sec.BanFindTime, BanTime: sec.BanTime, Exempt: sec.BanExempt}
}

func (banPart) Start(context.Context) error { return nil }
func (p banPart) Reload(_ context.Context, next *options.Set) error {
	p.b.SetConfig(banConfig(next))
	return nil
}
func (banPart) Stop(context.Context) error { return nil }

// LoadFile reads and validates an options file (for -check). The error wraps
// ErrInvalidOptions and a *options.Error when values are invalid.
func LoadFile(path string) (*options.Set, []options.Problem, error) {
	sections, warnings, err := options.LoadINI(path)
	return parseUpdate(update{sections: sections, warnings: warnings, source: path, err: err})
}

// applyUpdate is one pass of the reload pipeline.
func applyUpdate(ctx context.Context, log hclog.Logger, r *Reloader, u update) Result {
	res := Result{Source: u.source}
	set, warnings, err := parseUpdate(u)
	if err != nil {
		res.Err = err
		var perr *options.Error
		if errors.As(err, &perr) {
			logProblems(log, hclog.Error, "option rejected", perr.Problems)
			log.Error("options rejected; the running options are kept", "source", u.source, "problems", len(perr.Problems))
		} else {
			log.Error("options not read; the running options are kept", "source", u.source, "error", u.err)
		}
		return res
	}
	delta, err := r.Apply(ctx, set)
	if err != nil {
		res.Err = err
		log.Error("options rejected by a subsystem; the running options are kept", "source", u.source, "error", err)
		return res
	}
	res.Changed = delta
	if delta.Empty() {
		log.Debug("options unchanged", "source", u.source)
		return res
	}
	logProblems(log, hclog.Warn, "option warning", warnings)
	for _, g := range delta.Groups {
		for _, c := range g.Changes {
			log.Info("option changed", "option", c.Def.Key(), "old", display(c.Def, c.Old), "new", display(c.Def, c.New), "subsystem", g.Owner, "takes_effect", g.Effect)
		}
	}
	log.Info("options applied", "source", u.source, "changes", len(delta.Changes("")))
	return res
}

func display(d *options.Def, text string) string {
	if d.Type == options.TypeSecret && text != "" {
		return "********"
	}
	return text
}

func logProblems(log hclog.Logger, level hclog.Level, msg string, problems []options.Problem) {
	for _, p := range problems {
		log.Log(level, msg, "option", p.Key(), "problem", p.Msg)
	}
}

// stopParts stops parts in reverse order, giving each at most timeout.
func stopParts(log hclog.Logger, parts []Part, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	for i := len(parts) - 1; i >= 0; i-- {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := parts[i].Sub.Stop(ctx); err != nil {
			log.Error("stop subsystem", "subsystem", parts[i].Owner, "error", err)
		}
		cancel()
	}
}
