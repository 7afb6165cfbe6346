package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/store"
	"webrtcgw/gateway/ban"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConcurrentWritesAndWatches runs the server in process under the race
// detector: writers on several objects and watchers at once; each watcher
// sees every revision once, in order.
func TestConcurrentWritesAndWatches(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "cs.db"), 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := New(Deps{Log: hclog.NewNullLogger(), Store: st, Bans: ban.New(ban.Config{}, hclog.NewNullLogger(), nil)})
	password, err := srv.Bootstrap(nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	admin, _ := client.New(client.Config{URL: hs.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := admin.Login(ctx, "admin", password); err != nil {
		t.Fatal(err)
	}
	start := st.Revision()
	const writers, each, watchers = 4, 50, 3
	total := uint64(writers * each)
	var wg sync.WaitGroup
	results := make([][]uint64, watchers)
	for w := 0; w < watchers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			since := start
			for since < start+total && ctx.Err() == nil {
				res, err := admin.Watch(ctx, since, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range res.Events {
					results[w] = append(results[w], e.Revision)
				}
				since = res.Revision
			}
		}()
	}
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: fmt.Sprintf("h%d", i)}, Address: "10.0.0.1"})
			if err != nil {
				t.Error(err)
				return
			}
			for j := 1; j < each; j++ {
				h.LCAPort = j
				if h, err = admin.UpdateHost(ctx, h); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for w, revs := range results {
		if uint64(len(revs)) != total {
			t.Fatalf("watcher %d saw %d changes, want %d", w, len(revs), total)
		}
		for i, r := range revs {
			if r != start+1+uint64(i) {
				t.Fatalf("watcher %d: change %d is revision %d, want %d", w, i, r, start+1+uint64(i))
			}
		}
	}
	admin.Logout(ctx)
	hs.CloseClientConnections()
}
