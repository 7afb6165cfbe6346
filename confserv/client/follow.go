package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/api"
)

// Snapshot is what a daemon needs of the configuration: its application,
// the applications it has connections to, and their hosts.
type Snapshot struct {
	Revision    uint64              `json:"revision"` // store revision the snapshot is current at
	App         api.Application     `json:"app"`
	Connections []api.Application   `json:"connections,omitempty"`
	Hosts       map[string]api.Host `json:"hosts,omitempty"`
}

// FollowConfig configures a Follower.
type FollowConfig struct {
	Client    *Client
	App       string
	CacheFile string // the last good snapshot, for a start while confserv is down
	Log       hclog.Logger
	// Backoff bounds between reconnection attempts (defaults 500 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// WatchTimeout is how long one watch is held (default 25 s).
	WatchTimeout time.Duration
}

// Follower keeps a daemon's snapshot current: it fetches it, then watches for
// changes and fetches it again after each one, reconnecting with exponential
// backoff and jitter; every good snapshot is written to the cache file.
type Follower struct {
	cfg     FollowConfig
	updates chan Snapshot
}

// NewFollower returns a follower; Start fetches the first snapshot.
func NewFollower(cfg FollowConfig) *Follower {
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.WatchTimeout == 0 {
		cfg.WatchTimeout = 25 * time.Second
	}
	return &Follower{cfg: cfg, updates: make(chan Snapshot, 1)}
}

// ErrNoCache means confserv could not be reached and no cached snapshot exists.
var ErrNoCache = errors.New("the configuration server cannot be reached and there is no cached configuration")

// Start returns the first snapshot: from confserv (a few quick attempts),
// else from the cache file (fromCache). Authentication and missing-object
// errors are returned at once: a cache would hide them.
func (f *Follower) Start(ctx context.Context) (snap Snapshot, fromCache bool, err error) {
	backoff := f.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		snap, err = f.fetch(ctx)
		if err == nil {
			f.writeCache(snap)
			return snap, false, nil
		}
		if HasStatus(err, 401) || HasStatus(err, 403) || HasStatus(err, 404) {
			return Snapshot{}, false, err
		}
		if attempt == 3 || ctx.Err() != nil {
			break
		}
		f.sleep(ctx, &backoff)
	}
	cached, cerr := f.readCache()
	if cerr != nil {
		return Snapshot{}, false, fmt.Errorf("%w (%v; cache: %v)", ErrNoCache, err, cerr)
	}
	f.cfg.Log.Warn("configuration server unreachable: starting from the cached configuration; changes will be applied once it answers again",
		"error", err, "cache", f.cfg.CacheFile, "cached_revision", cached.App.Revision)
	return cached, true, nil
}

// Updates delivers each new snapshot (the newest only, if the reader is slow).
func (f *Follower) Updates() <-chan Snapshot { return f.updates }

// Run watches from snap until ctx is done. It is the only writer of Updates.
func (f *Follower) Run(ctx context.Context, snap Snapshot) {
	since := snap.Revision
	backoff := f.cfg.MinBackoff
	down := false
	stale := snap.Revision == 0 // started from the cache: fetch at once when reachable
	for ctx.Err() == nil {
		if stale {
			next, err := f.fetch(ctx)
			if err != nil {
				down = f.failed(ctx, err, down, &backoff)
				continue
			}
			stale = false
			since = next.Revision
			if next.App.Revision != snap.App.Revision || changedConnections(snap, next) {
				snap = next
				f.writeCache(snap)
				f.publish(snap)
			}
			if down {
				f.cfg.Log.Info("configuration server reachable again", "revision", since)
				down = false
			}
			backoff = f.cfg.MinBackoff
		}
		w, err := f.cfg.Client.Watch(ctx, since, f.cfg.WatchTimeout)
		if err != nil {
			// The history is in the store: the next watch from since
			// misses nothing, even across a confserv restart.
			down = f.failed(ctx, err, down, &backoff)
			continue
		}
		if down {
			f.cfg.Log.Info("configuration server reachable again", "revision", w.Revision)
			down = false
		}
		backoff = f.cfg.MinBackoff
		switch {
		case w.Reset:
			stale = true
		case len(w.Events) > 0:
			stale = true // refetch the snapshot: simpler than applying events, and consistent
			since = w.Revision
		default:
			since = max(since, w.Revision)
		}
	}
}

// failed logs a lost connection once and waits the backoff.
func (f *Follower) failed(ctx context.Context, err error, down bool, backoff *time.Duration) bool {
	if ctx.Err() != nil {
		return down
	}
	if !down {
		f.cfg.Log.Warn("configuration server unreachable: keeping the current options and retrying", "error", err)
	}
	f.sleep(ctx, backoff)
	return true
}

// sleep waits backoff with ±25 % jitter, then doubles it up to the maximum.
func (f *Follower) sleep(ctx context.Context, backoff *time.Duration) {
	d := *backoff
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	select {
	case <-ctx.Done():
	case <-time.After(d + jitter):
	}
	*backoff = min(2*d, f.cfg.MaxBackoff)
}

func (f *Follower) publish(s Snapshot) {
	select {
	case <-f.updates: // drop an unread older snapshot
	default:
	}
	f.updates <- s
}

func changedConnections(a, b Snapshot) bool {
	if len(a.Connections) != len(b.Connections) {
		return true
	}
	for i := range a.Connections {
		if a.Connections[i].Revision != b.Connections[i].Revision {
			return true
		}
	}
	for name, h := range b.Hosts {
		if a.Hosts[name].Revision != h.Revision {
			return true
		}
	}
	return false
}

// fetch reads the snapshot: the application, its connections and their hosts.
func (f *Follower) fetch(ctx context.Context) (Snapshot, error) {
	c := f.cfg.Client
	app, rev, err := c.AppAt(ctx, f.cfg.App)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Revision: rev, App: app, Hosts: map[string]api.Host{}}
	for _, name := range app.Connections {
		conn, err := c.App(ctx, name)
		if err != nil {
			if HasStatus(err, 404) {
				continue // a dangling connection is not fatal
			}
			return Snapshot{}, err
		}
		s.Connections = append(s.Connections, conn)
		if conn.Host != "" {
			h, err := c.Host(ctx, conn.Host)
			if err != nil && !HasStatus(err, 404) {
				return Snapshot{}, err
			}
			if err == nil {
				s.Hosts[h.Name] = h
			}
		}
	}
	return s, nil
}

// writeCache keeps snap in the cache file: temporary file, fsync, rename,
// directory fsync, so the file is always a whole snapshot.
func (f *Follower) writeCache(snap Snapshot) {
	if f.cfg.CacheFile == "" {
		return
	}
	if err := writeFileAtomic(f.cfg.CacheFile, snap); err != nil {
		f.cfg.Log.Warn("configuration cache not written", "cache", f.cfg.CacheFile, "error", err)
	}
}

func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".cache-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (f *Follower) readCache() (Snapshot, error) {
	var s Snapshot
	if f.cfg.CacheFile == "" {
		return s, errors.New("no cache file configured")
	}
	data, err := os.ReadFile(f.cfg.CacheFile)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%s: %w", f.cfg.CacheFile, err)
	}
	if s.App.Name != f.cfg.App {
		return s, fmt.Errorf("%s holds application %q, not %q", f.cfg.CacheFile, s.App.Name, f.cfg.App)
	}
	s.Revision = 0 // unknown: fetch everything when confserv answers
	return s, nil
}
