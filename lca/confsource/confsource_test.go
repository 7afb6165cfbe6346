package confsource_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/agent"
	"webrtcgw/lca/confsource"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
	"webrtcgw/logging/loggingtest"
)

// The tests run the real Configuration Server (confservtest), the agent
// and the source in process (under the race detector), and testapp as the
// supervised application.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// lca is an agent fed by a confsource.Source.
type lca struct {
	ag     *agent.Agent
	log    *loggingtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startLCA(t *testing.T, dataDir, listen, url, token string) *lca {
	t.Helper()
	l := &lca{log: &loggingtest.Buffer{}, done: make(chan error, 1)}
	log := hclog.New(&hclog.LoggerOptions{Name: "lca", Output: l.log, Level: hclog.Debug})
	cl, err := client.New(client.Config{URL: url, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	src := confsource.New(confsource.Config{CacheFile: filepath.Join(dataDir, "confserv-apps.json"), WatchTimeout: 2 * time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, confsource.Deps{Log: log.Named("confserv"), Client: cl})
	l.ag = agent.New(agent.Config{Listen: listen, DataDir: dataDir, ControlToken: "tok", RestartDelay: 50 * time.Millisecond,
		KillGrace: 500 * time.Millisecond, StopTimeout: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond},
		agent.Deps{Log: log.Named("agent"), OnStatus: src.OnStatus})
	if err := l.ag.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { l.done <- src.Run(ctx, l.ag.Apply) }()
	t.Cleanup(func() {
		l.stop(t)
		if t.Failed() {
			t.Logf("lca log:\n%s", l.log.String())
		}
	})
	return l
}

func (l *lca) stop(t *testing.T) {
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	if err := <-l.done; err != nil {
		t.Errorf("source Run = %v", err)
	}
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.ag.Stop(c)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// status is the status confserv shows for app.
func status(t *testing.T, admin *client.Client, app string) api.AppStatus {
	a, err := admin.App(ctxT(t), app)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status == nil {
		return api.AppStatus{}
	}
	return *a.Status
}

// TestConfservSource: the applications of the host come from confserv
// (not those of other hosts), with [sml] defaults for what the annex lacks;
// autostart; statuses reach confserv; an annex change reaches the LCA at
// once; an LCA started while confserv is down runs from its cache and
// catches up; an application moved to another host is let go.
func TestConfservSource(t *testing.T) {
	csDir := t.TempDir()
	cs := confservtest.Start(t, csDir, 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	for _, h := range []string{"h1", "h2"} {
		if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: h}, Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := t.TempDir()
	t.Cleanup(func() { lcatest.KillApps(dataDir) })
	port := fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t, testpeers.NetTCP)) // testapp's arguments name it
	hang := filepath.Join(t.TempDir(), "hang")
	gw1, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway", Host: "h1",
		WorkingDir: t.TempDir(), CommandLine: lcatest.App(t), AutoRestart: true,
		Args:  []string{"-lca", port, "-app", "gw1", "-hang-file", hang, "-max-life", "2m"},
		Annex: api.Sections{"sml": {"autostart": "true", "hangup-restart": "false"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw2"}, Template: "WebRTC_Gateway", Host: "h2",
		CommandLine: "/bin/false"}); err != nil {
		t.Fatal(err)
	}
	token, err := admin.NewHostCredential(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}

	l := startLCA(t, dataDir, port, cs.URL, token)
	ctl := lcatest.Dial(t, port, "tok")
	_, events, err := ctl.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := lcatest.WaitStatus(t, events, 20*time.Second, "gw1", wire.Running)
	if st.Host != "h1" || !st.Managed || !st.AutoRestart {
		t.Errorf("gw1 = %+v", st)
	}
	if apps := l.ag.List(); len(apps) != 1 {
		t.Errorf("the LCA of h1 has %+v; want gw1 only", apps)
	}
	eventually(t, "Running in confserv", func() bool {
		s := status(t, admin, "gw1")
		return s.Status == "Running" && s.PID == st.PID && s.Managed && !s.Started.IsZero()
	})

	// The annex had no heartbeat-period (default 0: off), so a hang goes
	// unnoticed; the new period reaches the LCA and the hang is found.
	os.WriteFile(hang, nil, 0o600)
	gw1, _ = admin.App(ctx, "gw1")
	gw1.Annex["sml"]["heartbeat-period"] = "1"
	if gw1, err = admin.UpdateApp(ctx, gw1); err != nil {
		t.Fatal(err)
	}
	if s := lcatest.WaitStatus(t, events, 20*time.Second, "gw1", wire.Unknown); s.Detail != "no heartbeat for 1 s" || s.PID != st.PID {
		t.Errorf("hung = %+v", s)
	}
	eventually(t, "Unknown in confserv", func() bool {
		s := status(t, admin, "gw1")
		return s.Status == "Unknown" && s.Detail == "no heartbeat for 1 s"
	})
	os.Remove(hang)
	lcatest.WaitStatus(t, events, 20*time.Second, "gw1", wire.Running)

	// The LCA stops; confserv goes down; an LCA starts from its cache and
	// adopts the running gw1; confserv comes back and gets its status.
	ctl.Close()
	l.stop(t)
	cs.Stop()
	l2 := startLCA(t, dataDir, port, cs.URL, token)
	eventually(t, "gw1 from the cache, adopted", func() bool {
		apps := l2.ag.List()
		return len(apps) == 1 && apps[0].Name == "gw1" && apps[0].Status == wire.Running && apps[0].PID == st.PID && !apps[0].Managed
	})
	if !strings.Contains(l2.log.String(), "starting with the cached application list") {
		t.Error("the cache was not said to be used")
	}
	cs2 := confservtest.Start(t, csDir, cs.Port)
	admin = cs2.Client("", "")
	eventually(t, "the adopted status in confserv", func() bool {
		s := status(t, admin, "gw1")
		return s.Status == "Running" && !s.Managed && s.PID == st.PID
	})

	// gw1 moves to h2: no event the host sees, but the next list drops it;
	// it runs on until it stops, then the LCA forgets it.
	gw1, _ = admin.App(ctx, "gw1")
	gw1.Host = "h2"
	if _, err := admin.UpdateApp(ctx, gw1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gw1 let go", func() bool { return strings.Contains(l2.log.String(), "removed from the host's definitions") })
	if _, err := l2.ag.StartApp("gw1"); !errors.Is(err, agent.ErrNoApp) {
		t.Errorf("start of a moved application = %v", err)
	}
	// It can still be stopped, and is forgotten when it ends.
	if _, err := l2.ag.StopApp("gw1", false); err != nil {
		t.Errorf("stop of a moved application = %v", err)
	}
	eventually(t, "gw1 forgotten", func() bool { return len(l2.ag.List()) == 0 })
}

// TestRefusedCredential: a credential confserv refuses, or one that is not
// a host's, ends Run with a *agent.ConfigError.
func TestRefusedCredential(t *testing.T) {
	cs := confservtest.Start(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "h1"}, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway", Host: "h1"}); err != nil {
		t.Fatal(err)
	}
	appToken, err := admin.NewCredential(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	hostToken, err := admin.NewHostCredential(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, token, host, want string
	}{
		{"unknown token", "gwhost_h1_nope", "", "refused by the Configuration Server"},
		{"application token", appToken, "", `the credential is application "gw1"'s, not a host's`},
		{"other host", hostToken, "h2", "h2, but the credential is host h1's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, _ := client.New(client.Config{URL: cs.URL, Token: c.token})
			src := confsource.New(confsource.Config{Host: c.host}, confsource.Deps{Client: cl})
			err := src.Run(ctx, func(agent.Defs) { t.Error("applied") })
			var ce *agent.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Run = %v; want a *ConfigError containing %q", err, c.want)
			}
		})
	}
}
