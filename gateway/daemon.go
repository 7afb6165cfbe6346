package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/logging"
	"webrtcgw/options"
	"webrtcgw/version"
)

// ErrInvalidOptions wraps the error of a start-up with options that do not
// validate (the daemon exits 2 for it).
var ErrInvalidOptions = errors.New("invalid options")

// Config is what the command line says.
type Config struct {
	ConfigFile  string        // local mode: the INI file
	LCAPort     int           // -lca-port when given; 0: not given
	StopTimeout time.Duration // how long Stop may drain; 0: 30 s
}

// Deps are the daemon's outside dependencies.
type Deps struct {
	Logging *logging.Logging
	// Hangup delivers SIGHUP: reload the options and reopen log files.
	Hangup <-chan os.Signal
	// OnReload, when set, is told the result of every reload after start-up
	// (tests; later the LCA and Configuration Server reports).
	OnReload func(Result)
}

// fileSettle is how long the configuration file must stay quiet after a
// change before it is read: editors and tools write it in several steps.
const fileSettle = 150 * time.Millisecond

// Run runs the gateway in local mode until ctx is cancelled:
//
//  1. read and validate the options file (invalid → ErrInvalidOptions);
//  2. start the subsystems in apply order (log first);
//  3. reload on SIGHUP and whenever the file changes;
//  4. when ctx is done, stop the subsystems in reverse order, each within
//     StopTimeout.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	log := deps.Logging.Logger()
	rlog := log.Named("reload")
	path, err := filepath.Abs(cfg.ConfigFile)
	if err != nil {
		return err
	}
	set, warnings, err := LoadFile(path)
	if err != nil {
		return err
	}
	logProblems(rlog, hclog.Warn, "option warning", warnings)

	parts := []Part{{Owner: options.OwnerLog, Sub: newLogSubsystem(deps.Logging, set)}}
	reloader := NewReloader(rlog, set, parts)
	var started []Part
	for _, p := range reloader.Parts() {
		if err := p.Sub.Start(ctx); err != nil {
			stopParts(log, started, cfg.StopTimeout)
			return fmt.Errorf("start %s: %w", p.Owner, err)
		}
		started = append(started, p)
	}
	log.Info("started", "version", version.Version, "mode", "local", "config", path, "pid", os.Getpid())

	if cfg.LCAPort != 0 {
		log.Warn("-lca-port is ignored: this version does not connect to a Local Control Agent yet", "lca_port", cfg.LCAPort)
	}

	watcher, changes, err := watchFile(path)
	if err != nil {
		log.Warn("configuration file is not watched; reload with SIGHUP", "config", path, "error", err)
	} else {
		defer watcher.Close()
	}

	reload := func(trigger string) {
		res := reloadFile(ctx, rlog, reloader, path, trigger)
		if deps.OnReload != nil {
			deps.OnReload(res)
		}
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping")
			stopParts(log, started, cfg.StopTimeout)
			log.Info("stopped")
			return nil
		case <-deps.Hangup:
			if err := deps.Logging.Reopen(); err != nil {
				log.Error("reopen log files", "error", err)
			}
			reload("SIGHUP")
		case <-changes:
			reload("file change")
		}
	}
}

// LoadFile reads and validates an options file. The error wraps
// ErrInvalidOptions and a *options.Error when values are invalid.
func LoadFile(path string) (*options.Set, []options.Problem, error) {
	sections, iniWarnings, err := options.LoadINI(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	set, err := options.Parse(sections)
	if err != nil {
		var perr *options.Error
		if errors.As(err, &perr) {
			perr.Warnings = append(iniWarnings, perr.Warnings...)
		}
		return nil, nil, fmt.Errorf("%w in %s: %w", ErrInvalidOptions, path, err)
	}
	return set, append(iniWarnings, set.Warnings()...), nil
}

// reloadFile is one pass of the reload pipeline for local mode.
func reloadFile(ctx context.Context, log hclog.Logger, r *Reloader, path, trigger string) Result {
	res := Result{Source: path}
	set, warnings, err := LoadFile(path)
	if err != nil {
		res.Err = err
		var perr *options.Error
		if errors.As(err, &perr) {
			logProblems(log, hclog.Error, "option rejected", perr.Problems)
			log.Error("options rejected; the running options are kept", "source", path, "trigger", trigger, "problems", len(perr.Problems))
		} else {
			log.Error("options not read; the running options are kept", "source", path, "trigger", trigger, "error", err)
		}
		return res
	}
	delta, err := r.Apply(ctx, set)
	if err != nil {
		res.Err = err
		log.Error("options rejected by a subsystem; the running options are kept", "source", path, "trigger", trigger, "error", err)
		return res
	}
	res.Changed = delta
	if delta.Empty() {
		log.Debug("options unchanged", "source", path, "trigger", trigger)
		return res
	}
	logProblems(log, hclog.Warn, "option warning", warnings)
	for _, g := range delta.Groups {
		for _, c := range g.Changes {
			log.Info("option changed", "option", c.Def.Key(), "old", display(c.Def, c.Old), "new", display(c.Def, c.New), "subsystem", g.Owner, "takes_effect", g.Effect)
		}
	}
	log.Info("options applied", "source", path, "trigger", trigger, "changes", len(delta.Changes("")))
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

// watchFile watches the directory of path (editors replace files by
// renaming, which a watch on the file itself would lose) and sends on the
// returned channel once the file has been quiet for fileSettle after a change.
func watchFile(path string) (*fsnotify.Watcher, <-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, err
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return nil, nil, err
	}
	out := make(chan struct{}, 1)
	// The goroutine ends when w.Close closes its Events channel.
	go func() {
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					timer.Stop()
					return
				}
				if filepath.Clean(ev.Name) == path && !ev.Has(fsnotify.Chmod) {
					timer.Reset(fileSettle)
				}
			case _, ok := <-w.Errors:
				if !ok {
					timer.Stop()
					return
				}
			case <-timer.C:
				select {
				case out <- struct{}{}:
				default: // a reload is already pending
				}
			}
		}
	}()
	return w, out, nil
}
