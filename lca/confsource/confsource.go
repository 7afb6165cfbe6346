// Package confsource connects the Local Control Agent to the Configuration
// Server: with the host's credential it reads the applications whose host
// is this one, follows their changes with the watch long poll, and writes
// every status change of the agent back (PUT /apps/{name}/status) so the UI
// shows live status.
//
// Goroutines: Run is the follower; it starts the reporter and waits for it
// before it returns. OnStatus never blocks: it keeps the latest state of
// each application for the reporter.
package confsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/lca/agent"
	"webrtcgw/lca/wire"
)

// Config is how the source follows the Configuration Server.
type Config struct {
	// Host is the name of this host's object. Empty: the name the host
	// credential belongs to (whoami); when set, it must be that name.
	Host string
	// CacheFile keeps the last application list, so that the LCA can start
	// with it while the Configuration Server is down. Empty: none.
	CacheFile string
	// WatchTimeout is the long poll's length (default 25 s).
	WatchTimeout time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while the server is
	// unreachable (defaults 500 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
}

// Deps are the source's collaborators.
type Deps struct {
	Log hclog.Logger
	// Client is a Configuration Server client holding the host credential.
	Client *client.Client
	// Hangup (SIGHUP) makes the source read the applications again at once.
	Hangup <-chan os.Signal
}

// Source is the Configuration Server as a source of application
// definitions (agent.Source) and the receiver of status changes.
type Source struct {
	cfg    Config
	log    hclog.Logger
	cl     *client.Client
	hangup <-chan os.Signal

	mu      sync.Mutex
	pending map[string]wire.AppState // latest unsent state by application
	wake    chan struct{}
}

// New returns a source; Run follows the server.
func New(cfg Config, deps Deps) *Source {
	if cfg.WatchTimeout <= 0 {
		cfg.WatchTimeout = 25 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	log := deps.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Source{cfg: cfg, log: log, cl: deps.Client, hangup: deps.Hangup,
		pending: map[string]wire.AppState{}, wake: make(chan struct{}, 1)}
}

// OnStatus records a status change for the server (agent.Deps.OnStatus).
// It never blocks.
func (s *Source) OnStatus(st wire.AppState) {
	s.mu.Lock()
	s.pending[st.Name] = st
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// refused tells a credential the server does not take.
func refused(err error) bool {
	return client.HasStatus(err, http.StatusUnauthorized) || client.HasStatus(err, http.StatusForbidden)
}

// Run implements agent.Source: it identifies the host, then lists its
// applications after every watch answer (an application moved to another
// host is no event a host may see), until ctx ends. A credential refused at
// the start is a *agent.ConfigError; later failures are retried.
func (s *Source) Run(ctx context.Context, apply func(agent.Defs)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel() // before the Wait: the reporter ends with Run
	wg.Add(1)
	go func() { defer wg.Done(); s.report(rctx) }()

	backoff := s.cfg.MinBackoff
	var (
		host   string
		cached bool
		quiet  bool
	)
	for host == "" {
		w, err := s.cl.Whoami(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case refused(err):
			return &agent.ConfigError{Key: "host credential", Msg: "refused by the Configuration Server: " + err.Error()}
		case err != nil:
			if !quiet {
				s.log.Warn("configuration server unreachable; retrying", "error", err)
				quiet = true
			}
			if !cached {
				cached = true
				if defs, ok := s.readCache(); ok {
					s.log.Warn("starting with the cached application list", "file", s.cfg.CacheFile, "applications", len(defs.Apps))
					apply(defs)
				}
			}
			if !s.sleep(ctx, &backoff) {
				return nil
			}
			continue
		case w.Role != api.RoleHost:
			return &agent.ConfigError{Key: "host credential", Msg: fmt.Sprintf("the credential is %s %q's, not a host's", w.Role, w.Name)}
		case s.cfg.Host != "" && w.Name != s.cfg.Host:
			return &agent.ConfigError{Key: "-host-name", Msg: fmt.Sprintf("%s, but the credential is host %s's", s.cfg.Host, w.Name)}
		}
		host = w.Name
	}
	s.log.Info("following the configuration server", "host", host)

	var (
		since   uint64
		last    *agent.Defs
		failing bool
	)
	backoff = s.cfg.MinBackoff
	fail := func(what string, err error) bool {
		if !failing {
			s.log.Warn("configuration server: "+what+"; retrying", "error", err)
			failing = true
		} else {
			s.log.Debug("configuration server: "+what, "error", err)
		}
		return s.sleep(ctx, &backoff)
	}
	for ctx.Err() == nil {
		apps, err := s.cl.Apps(ctx)
		if err != nil {
			if ctx.Err() != nil || !fail("list the applications", err) {
				return nil
			}
			continue
		}
		defs := s.defs(host, apps)
		if last == nil || !reflect.DeepEqual(*last, defs) {
			apply(defs)
			s.writeCache(defs)
			last = &defs
		}
		for _, a := range apps {
			since = max(since, a.Revision)
		}
		if failing {
			s.log.Info("configuration server reachable again")
			failing, backoff = false, s.cfg.MinBackoff
			s.kick()
		}
		w, err := s.watch(ctx, since)
		if err != nil {
			if ctx.Err() != nil || !fail("watch", err) {
				return nil
			}
			continue
		}
		since = max(since, w.Revision)
	}
	return nil
}

// watch is one long poll; a hangup cuts it short (with no error).
func (s *Source) watch(ctx context.Context, since uint64) (api.Watch, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.hangup:
			s.log.Info("hangup: reading the applications again")
			cancel()
		case <-wctx.Done():
		}
	}()
	w, err := s.cl.Watch(wctx, since, s.cfg.WatchTimeout)
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		return api.Watch{Revision: since}, nil
	}
	return w, err
}

// sleep waits the backoff delay with jitter, and doubles it.
func (s *Source) sleep(ctx context.Context, backoff *time.Duration) bool {
	d := *backoff/2 + rand.N(*backoff/2+1)
	*backoff = min(*backoff*2, s.cfg.MaxBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// defs turns the host's application objects into definitions. The [sml]
// annex takes the catalog's defaults for what it lacks; an invalid value
// (which the server's validation should have refused) is logged and takes
// its default.
func (s *Source) defs(host string, apps []api.Application) agent.Defs {
	out := agent.Defs{Host: host, Apps: []agent.AppDef{}}
	for _, a := range apps {
		if a.Host != host {
			continue
		}
		if a.CommandLine == "" {
			s.log.Warn("application without a command line: the LCA cannot start it", "app", a.Name)
			continue
		}
		sml, problems := agent.SMLLenient(a.Annex["sml"])
		for _, p := range problems {
			s.log.Warn("invalid annex option: its default is used", "app", a.Name, "option", p.Key(), "problem", p.Msg)
		}
		out.Apps = append(out.Apps, agent.AppDef{Name: a.Name, Type: a.Type, WorkingDir: a.WorkingDir,
			CommandLine: a.CommandLine, Args: a.Args, AutoRestart: a.AutoRestart, SML: sml})
	}
	sort.Slice(out.Apps, func(i, j int) bool { return out.Apps[i].Name < out.Apps[j].Name })
	return out
}

func (s *Source) readCache() (agent.Defs, bool) {
	if s.cfg.CacheFile == "" {
		return agent.Defs{}, false
	}
	data, err := os.ReadFile(s.cfg.CacheFile)
	if err != nil {
		return agent.Defs{}, false
	}
	var defs agent.Defs
	if err := json.Unmarshal(data, &defs); err != nil {
		s.log.Warn("unreadable application cache", "file", s.cfg.CacheFile, "error", err)
		return agent.Defs{}, false
	}
	if s.cfg.Host != "" && defs.Host != s.cfg.Host {
		return agent.Defs{}, false
	}
	return defs, true
}

func (s *Source) writeCache(defs agent.Defs) {
	if s.cfg.CacheFile == "" {
		return
	}
	data, _ := json.MarshalIndent(defs, "", "  ")
	tmp := s.cfg.CacheFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tmp), 0o700); err == nil {
		if err = os.WriteFile(tmp, data, 0o600); err == nil {
			err = os.Rename(tmp, s.cfg.CacheFile)
		}
		if err == nil {
			return
		}
		s.log.Warn("cannot write the application cache", "file", s.cfg.CacheFile, "error", err)
	}
}

// kick wakes the reporter, so that what it could not send while
// the server was down goes now.
func (s *Source) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// report sends the pending states, the latest of each application, until
// ctx ends. A state the server refuses for good (the application is no
// longer on this host) is dropped; others are retried with backoff.
func (s *Source) report(ctx context.Context) {
	backoff := s.cfg.MinBackoff
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			batch := s.pending
			s.pending = map[string]wire.AppState{}
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			var retry []wire.AppState
			var lastErr error
			for _, st := range batch {
				err := s.cl.PutStatus(ctx, st.Name, toAPI(st))
				switch {
				case err == nil:
				case ctx.Err() != nil:
					return
				case client.HasStatus(err, http.StatusForbidden), client.HasStatus(err, http.StatusNotFound), client.HasStatus(err, http.StatusBadRequest):
					s.log.Debug("status not recorded", "app", st.Name, "error", err)
				default:
					retry = append(retry, st)
					lastErr = err
				}
			}
			if len(retry) == 0 {
				if failing {
					s.log.Info("statuses reach the configuration server again")
					failing, backoff = false, s.cfg.MinBackoff
				}
				continue
			}
			s.mu.Lock()
			for _, st := range retry {
				if _, newer := s.pending[st.Name]; !newer {
					s.pending[st.Name] = st
				}
			}
			s.mu.Unlock()
			if !failing {
				s.log.Warn("statuses not sent to the configuration server; retrying", "error", lastErr)
				failing = true
			}
			if !s.sleep(ctx, &backoff) {
				return
			}
		}
	}
}

func toAPI(st wire.AppState) api.AppStatus {
	return api.AppStatus{Status: string(st.Status), Detail: st.Detail, PID: st.PID, Since: st.Since,
		Started: st.Started, Restarts: st.Restarts, Managed: st.Managed}
}

// ErrNoCredential is the error of a source without a host credential.
var ErrNoCredential = errors.New("no host credential: -token-file FILE or $LCA_TOKEN (gwctl host credentials HOST makes one)")
