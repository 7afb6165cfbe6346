package gateway

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/options"
)

// Result says what one reload did.
type Result struct {
	Source  string        // where the options came from: a file path, later a confserv revision
	Changed options.Delta // what was applied; empty when nothing changed or on error
	Err     error         // non-nil: the new set was rejected and the running one kept
}

// Applied reports whether the reload changed the running options.
func (r Result) Applied() bool { return r.Err == nil && !r.Changed.Empty() }

// Reloader owns the running option set and applies new sets to the parts,
// one at a time. It never leaves the parts on a mix of two sets: when a part
// refuses a change, the parts already changed are reloaded back.
type Reloader struct {
	log   hclog.Logger
	parts []Part // in options.ApplyOrder

	mu      sync.Mutex // held for a whole reload: one at a time
	current *options.Set
}

// NewReloader returns a Reloader whose running set is current. Parts are
// applied in options.ApplyOrder whatever order they are given in.
func NewReloader(log hclog.Logger, current *options.Set, parts []Part) *Reloader {
	var ordered []Part
	for _, owner := range options.ApplyOrder {
		for _, p := range parts {
			if p.Owner == owner {
				ordered = append(ordered, p)
			}
		}
	}
	return &Reloader{log: log, parts: ordered, current: current}
}

// Current returns the running set.
func (r *Reloader) Current() *options.Set {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Parts returns the parts in apply order.
func (r *Reloader) Parts() []Part { return r.parts }

// Apply makes next the running set:
//
//  1. unchanged (Diff empty) → nothing happens;
//  2. otherwise each part with changed options is reloaded, in apply order;
//  3. if one fails, the parts already reloaded are reloaded back to the
//     running set, in reverse order, and the error is returned.
func (r *Reloader) Apply(ctx context.Context, next *options.Set) (options.Delta, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delta := options.Diff(r.current, next)
	if delta.Empty() {
		return delta, nil
	}
	changed := map[options.Owner]bool{}
	for _, o := range delta.Owners() {
		changed[o] = true
	}
	var done []Part
	for _, p := range r.parts {
		if !changed[p.Owner] {
			continue
		}
		if err := p.Sub.Reload(ctx, next); err != nil {
			r.rollbackLocked(ctx, done)
			return options.Delta{}, fmt.Errorf("reload %s: %w", p.Owner, err)
		}
		done = append(done, p)
	}
	r.current = next
	return delta, nil
}

func (r *Reloader) rollbackLocked(ctx context.Context, done []Part) {
	for i := len(done) - 1; i >= 0; i-- {
		if err := done[i].Sub.Reload(ctx, r.current); err != nil {
			r.log.Error("rollback failed: subsystem runs on the rejected options", "subsystem", done[i].Owner, "error", err)
		}
	}
}
