package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/options"
)

// recorder is a Subsystem that records the calls it gets; fail makes Reload
// refuse sets for which it returns true. The real subsystems arrive with
// later issues; the pipeline's ordering and rollback are tested on this.
type recorder struct {
	name  options.Owner
	calls *[]string
	mu    *sync.Mutex
	fail  func(*options.Set) bool
	cur   *options.Set
}

func (r *recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.calls = append(*r.calls, string(r.name)+":"+s)
}

func (r *recorder) Start(context.Context) error { r.record("start"); return nil }
func (r *recorder) Stop(context.Context) error  { r.record("stop"); return nil }
func (r *recorder) Reload(_ context.Context, next *options.Set) error {
	if r.fail != nil && r.fail(next) {
		r.record("refuse")
		return errors.New("refused")
	}
	r.cur = next
	r.record("reload " + next.Web().TLSMinVersion + "/" + next.Media().DTLSRole + "/" + next.Log().Verbose)
	return nil
}

func parse(t *testing.T, s options.Sections) *options.Set {
	t.Helper()
	set, err := options.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newRecorders(owners ...options.Owner) ([]Part, *[]string, map[options.Owner]*recorder) {
	calls := &[]string{}
	mu := &sync.Mutex{}
	var parts []Part
	byOwner := map[options.Owner]*recorder{}
	for _, o := range owners {
		r := &recorder{name: o, calls: calls, mu: mu}
		byOwner[o] = r
		parts = append(parts, Part{Owner: o, Sub: r})
	}
	return parts, calls, byOwner
}

func TestReloaderNoOpOnIdenticalSet(t *testing.T) {
	parts, calls, _ := newRecorders(options.OwnerWeb, options.OwnerLog)
	base := parse(t, options.Sections{"web": {"demo-page": "yes"}})
	r := NewReloader(hclog.NewNullLogger(), base, parts)
	// Same values, other spellings: no change, no reload.
	delta, err := r.Apply(context.Background(), parse(t, options.Sections{"web": {"demo-page": "true"}}))
	if err != nil || !delta.Empty() || len(*calls) != 0 {
		t.Fatalf("Apply(identical) = %+v, %v; calls %v; want nothing", delta, err, *calls)
	}
	if r.Current() != base {
		t.Error("Current() changed on a no-op reload")
	}
}

func TestReloaderOrderAndScope(t *testing.T) {
	// Given out of order; applied log → media → sip → web.
	parts, calls, _ := newRecorders(options.OwnerWeb, options.OwnerSIP, options.OwnerMedia, options.OwnerLog)
	r := NewReloader(hclog.NewNullLogger(), options.Defaults(), parts)
	next := parse(t, options.Sections{"web": {"tls-min-version": "1.3"}, "media": {"dtls-role": "client"}, "log": {"verbose": "debug"}})
	delta, err := r.Apply(context.Background(), next)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"log:reload 1.3/client/debug", "media:reload 1.3/client/debug", "web:reload 1.3/client/debug"}
	if diff := cmp.Diff(want, *calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff) // sip has no change: not reloaded
	}
	if len(delta.Changes("")) != 3 || r.Current() != next {
		t.Errorf("delta %+v, Current %p; want 3 changes and next running", delta, r.Current())
	}
}

func TestReloaderRollback(t *testing.T) {
	parts, calls, recs := newRecorders(options.OwnerLog, options.OwnerMedia, options.OwnerWeb)
	recs[options.OwnerWeb].fail = func(s *options.Set) bool { return s.Web().TLSMinVersion == "1.3" }
	base := options.Defaults()
	r := NewReloader(hclog.NewNullLogger(), base, parts)
	next := parse(t, options.Sections{"web": {"tls-min-version": "1.3"}, "media": {"dtls-role": "server"}, "log": {"verbose": "trace"}})
	_, err := r.Apply(context.Background(), next)
	if err == nil || !strings.Contains(err.Error(), "reload web: refused") {
		t.Fatalf("Apply error = %v, want the web subsystem's refusal", err)
	}
	want := []string{
		"log:reload 1.3/server/trace", "media:reload 1.3/server/trace", "web:refuse",
		// rolled back in reverse order to the running set
		"media:reload 1.2/auto/standard", "log:reload 1.2/auto/standard",
	}
	if diff := cmp.Diff(want, *calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if r.Current() != base {
		t.Error("Current() is not the running set after a refused reload")
	}
}
