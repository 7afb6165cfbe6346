package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/options"
)

// update is a new option text from the source, or why it could not be read.
type update struct {
	sections options.Sections
	warnings []options.Problem // found while reading (INI)
	source   string            // the file, or "confserv application gw1 revision 14"
	revision uint64            // the application's revision (Configuration Server mode)
	err      error
}

// source is where the options come from: a local file or the Configuration
// Server. It feeds the reload pipeline and hears what became of each update.
type source interface {
	// first returns the options to start with.
	first(ctx context.Context) update
	// run delivers later updates on updates() until ctx is done.
	run(ctx context.Context)
	updates() <-chan update
	// reread asks for the options again (SIGHUP).
	reread()
	// report says whether u was applied (err nil) or rejected.
	report(ctx context.Context, u update, err error)
	// sipFallback is the SIP Server to use when sip/sip-server is empty.
	sipFallback() options.HostPort
	// close releases what first took (after run has returned, or when
	// it never ran).
	close()
}

// fileSource reads an INI file, watches it, and rereads it on SIGHUP.
type fileSource struct {
	path string
	log  hclog.Logger
	out  chan update
	hup  chan struct{}
	w    *fsnotify.Watcher // nil: not watched (SIGHUP only)
}

func newFileSource(path string, log hclog.Logger) (*fileSource, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return &fileSource{path: abs, log: log, out: make(chan update, 1), hup: make(chan struct{}, 1)}, nil
}

func (f *fileSource) read() update {
	sections, warnings, err := options.LoadINI(f.path)
	return update{sections: sections, warnings: warnings, source: f.path, err: err}
}

// first starts watching the file's directory (editors replace files by
// renaming, which a watch on the file itself would lose), then reads it:
// a change made once the gateway has read its options is never missed,
// however late run starts.
func (f *fileSource) first(context.Context) update {
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(f.path)); err != nil {
			w.Close()
		}
	}
	if err != nil {
		f.log.Warn("configuration file is not watched; reload with SIGHUP", "config", f.path, "error", err)
	} else {
		f.w = w
	}
	return f.read()
}

func (f *fileSource) close() {
	if f.w != nil {
		f.w.Close()
	}
}

func (f *fileSource) updates() <-chan update { return f.out }
func (f *fileSource) sipFallback() options.HostPort {
	return options.HostPort{}
}
func (f *fileSource) report(context.Context, update, error) {}

func (f *fileSource) reread() {
	select {
	case f.hup <- struct{}{}:
	default:
	}
}

// run reads the file once it has been quiet for fileSettle after a change,
// or at once on SIGHUP.
func (f *fileSource) run(ctx context.Context) {
	var changes <-chan fsnotify.Event
	if f.w != nil {
		changes = f.w.Events
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if filepath.Clean(ev.Name) == f.path && !ev.Has(fsnotify.Chmod) {
				timer.Reset(fileSettle)
			}
		case <-timer.C:
			f.send(ctx, f.read())
		case <-f.hup:
			f.send(ctx, f.read())
		}
	}
}

func (f *fileSource) send(ctx context.Context, u update) {
	select {
	case f.out <- u:
	case <-ctx.Done():
	}
}

// ConfservConfig says how to reach the Configuration Server.
type ConfservConfig struct {
	URL    string // http(s)://host:port
	Token  string // the application's credential
	App    string
	CAFile string
}

// confservSource follows the application in the Configuration Server and
// reports back what became of each revision.
type confservSource struct {
	cfg      ConfservConfig
	log      hclog.Logger
	client   *client.Client
	follower *client.Follower
	out      chan update
	snap     atomic.Pointer[client.Snapshot]
	startAt  client.Snapshot
}

func newConfservSource(cfg ConfservConfig, dataDir string, log hclog.Logger) (*confservSource, error) {
	c, err := client.New(client.Config{URL: cfg.URL, Token: cfg.Token, CAFile: cfg.CAFile})
	if err != nil {
		return nil, err
	}
	s := &confservSource{cfg: cfg, log: log, client: c, out: make(chan update, 1)}
	s.follower = client.NewFollower(client.FollowConfig{Client: c, App: cfg.App, Log: log,
		CacheFile: filepath.Join(dataDir, "confserv-cache-"+cfg.App+".json")})
	return s, nil
}

func (s *confservSource) first(ctx context.Context) update {
	snap, fromCache, err := s.follower.Start(ctx)
	if err != nil {
		return update{source: "configuration server " + s.cfg.URL, err: fmt.Errorf("application %s: %w", s.cfg.App, err)}
	}
	s.startAt = snap
	u := s.toUpdate(snap)
	if fromCache {
		u.source += " (cached)"
	}
	return u
}

func (s *confservSource) toUpdate(snap client.Snapshot) update {
	s.snap.Store(&snap)
	sections := options.Sections{}
	for name, opts := range snap.App.Options {
		sections[name] = opts
	}
	for name, opts := range snap.App.Annex {
		sections[name] = opts
	}
	return update{sections: sections, revision: snap.App.Revision,
		source: "configuration server application " + s.cfg.App + " revision " + strconv.FormatUint(snap.App.Revision, 10)}
}

func (s *confservSource) run(ctx context.Context) {
	go s.follower.Run(ctx, s.startAt)
	for {
		select {
		case <-ctx.Done():
			return
		case snap := <-s.follower.Updates():
			select {
			case s.out <- s.toUpdate(snap):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (s *confservSource) updates() <-chan update { return s.out }

// reread does nothing: changes arrive as they are made.
func (s *confservSource) reread() {}

// close does nothing: the follower ends with run's context.
func (s *confservSource) close() {}

func (s *confservSource) report(ctx context.Context, u update, err error) {
	if u.revision == 0 {
		return
	}
	r := api.Report{Revision: u.revision, Status: api.ReportApplied}
	if err != nil {
		r.Status, r.Error = api.ReportRejected, err.Error()
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.client.Report(rctx, s.cfg.App, r); err != nil {
		s.log.Warn("report to the configuration server failed", "revision", u.revision, "error", err)
	}
}

// sipFallback is the SIP Server application the gateway connects to: its
// host's address and its port "default" (or "sip"), 5060 when it has none.
func (s *confservSource) sipFallback() options.HostPort {
	snap := s.snap.Load()
	if snap == nil {
		return options.HostPort{}
	}
	for _, c := range snap.Connections {
		if c.Type != "SIP_Server" {
			continue
		}
		h, ok := snap.Hosts[c.Host]
		if !ok {
			continue
		}
		port := c.Ports["default"]
		if port == 0 {
			port = c.Ports["sip"]
		}
		return options.HostPort{Host: h.Address, Port: port}
	}
	return options.HostPort{}
}
