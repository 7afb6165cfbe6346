package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
)

// The tests run the real confserv process on loopback with a real bbolt
// file (confserv/confservtest).

func startConfserv(t *testing.T, dir string, port int, extra ...string) *confservtest.Server {
	return confservtest.Start(t, dir, port, extra...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFirstStart(t *testing.T) {
	dir := t.TempDir()
	cs := startConfserv(t, dir, 0)
	st, err := os.Stat(filepath.Join(dir, "initial-admin-password"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("initial-admin-password: %v mode %v, want 0600", err, st.Mode().Perm())
	}
	if !strings.Contains(cs.Output(), "operator admin created with password") {
		t.Error("the initial password was not printed")
	}
	admin := cs.Client("", "")
	ctx := ctxT(t)
	tpl, err := admin.Template(ctx, "WebRTC_Gateway")
	if err != nil || tpl.Metadata == nil || len(tpl.Metadata.Sections) < 5 {
		t.Fatalf("shipped template: %+v %v", tpl, err)
	}
	// An application can be created at once, from the template's defaults.
	app, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"})
	if err != nil || app.Type != "WebRTC_Gateway" || app.Options["web"]["https-port"] != "8443" {
		t.Fatalf("CreateApp = %+v, %v", app, err)
	}
	// A second start does not create anything again.
	cs.Stop()
	cs2 := startConfserv(t, dir, 0)
	if strings.Contains(cs2.Output(), "operator admin created") {
		t.Error("a restart created the admin again")
	}
	if _, err := cs2.Client("", "").App(ctx, "gw1"); err != nil {
		t.Errorf("app after restart: %v", err)
	}
}

func TestRevisionsAndValidation(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	app, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"}); !client.HasStatus(err, 409) {
		t.Errorf("create twice = %v, want 409", err)
	}
	// 428 without If-Match.
	req, _ := http.NewRequest(http.MethodPut, cs.URL+"/api/v1/apps/gw1", strings.NewReader(`{"name":"gw1","template":"WebRTC_Gateway"}`))
	req.Header.Set("Authorization", "Bearer "+loginToken(t, cs))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 428 {
		t.Errorf("PUT without If-Match = %d, want 428", res.StatusCode)
	}
	// Two writers: the second, with the revision it read, gets 412.
	a1, a2 := app, app
	a1.Options["web"]["max-sessions"] = "500"
	if _, err := admin.UpdateApp(ctx, a1); err != nil {
		t.Fatal(err)
	}
	a2.Options["web"]["max-sessions"] = "600"
	_, err = admin.UpdateApp(ctx, a2)
	if !client.HasStatus(err, 412) {
		t.Fatalf("stale write = %v, want 412", err)
	}
	var se *client.StatusError
	errors.As(err, &se)
	if !strings.Contains(string(se.Body), `"max-sessions": "500"`) {
		t.Errorf("412 body does not show the current object: %s", se.Body)
	}
	// 422 names every bad option; nothing is written.
	cur, _ := admin.App(ctx, "gw1")
	bad := cur
	bad.Options["web"]["https-port"] = "99999"
	bad.Options["media"]["rtp-port-min"] = "abc"
	bad.Options["sip"]["sip-transport"] = "sctp"
	_, err = admin.UpdateApp(ctx, bad)
	if !client.HasStatus(err, 422) {
		t.Fatalf("invalid options = %v, want 422", err)
	}
	errors.As(err, &se)
	for _, want := range []string{"web/https-port", "media/rtp-port-min", "sip/sip-transport"} {
		found := false
		for _, p := range se.Problems {
			found = found || strings.HasPrefix(p, want+": ")
		}
		if !found {
			t.Errorf("422 problems %q do not name %s", se.Problems, want)
		}
	}
	// Rules between options are checked too.
	bad, _ = admin.App(ctx, "gw1")
	bad.Options["web"]["https-port"], bad.Options["web"]["http-port"] = "0", "0"
	if _, err := admin.UpdateApp(ctx, bad); !client.HasStatus(err, 422) {
		t.Errorf("both web ports 0 = %v, want 422", err)
	}
	if after, _ := admin.App(ctx, "gw1"); after.Revision != cur.Revision {
		t.Error("a refused write changed the application")
	}
	// Unknown options are kept, with a warning.
	w, _ := admin.App(ctx, "gw1")
	w.Options["web"]["colour"] = "blue"
	got, err := admin.UpdateApp(ctx, w)
	if err != nil || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "web/colour") {
		t.Errorf("unknown option: %+v, %v", got.Warnings, err)
	}
}

func loginToken(t *testing.T, cs *confservtest.Server) string {
	t.Helper()
	cl, _ := client.New(client.Config{URL: cs.URL})
	s, err := cl.Login(context.Background(), "admin", cs.AdminPassword())
	if err != nil {
		t.Fatal(err)
	}
	return s.Token
}

func TestRolesAndSecrets(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	for _, op := range []api.Operator{{Meta: api.Meta{Name: "olga"}, Role: api.RoleOperator, Password: "operator-pw"},
		{Meta: api.Meta{Name: "vic"}, Role: api.RoleViewer, Password: "viewer-pw1"}} {
		if _, err := admin.CreateOperator(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	olga, vic := cs.Client("olga", "operator-pw"), cs.Client("vic", "viewer-pw1")
	app, err := olga.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"})
	if err != nil {
		t.Fatalf("operator creates an app: %v", err)
	}
	app.Options["media"]["ice-servers"] = "turn:turn.example.com"
	app.Options["media"]["turn-username"] = "u"
	app.Options["media"]["turn-password"] = "s3cret-turn"
	app, err = olga.UpdateApp(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if app.Options["media"]["turn-password"] != api.Masked {
		t.Errorf("secret shown to an operator: %q", app.Options["media"]["turn-password"])
	}
	if _, err := vic.App(ctx, "gw1"); err != nil {
		t.Errorf("viewer reads: %v", err)
	}
	if _, err := vic.UpdateApp(ctx, app); !client.HasStatus(err, 403) {
		t.Errorf("viewer writes = %v, want 403", err)
	}
	if _, err := olga.Operators(ctx); !client.HasStatus(err, 403) {
		t.Errorf("operator lists operators = %v, want 403", err)
	}
	if _, err := olga.NewCredential(ctx, "gw1"); !client.HasStatus(err, 403) {
		t.Errorf("operator makes a credential = %v, want 403", err)
	}
	// Writing the mask back keeps the secret.
	app.Options["web"]["max-sessions"] = "700"
	if _, err := olga.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	// The daemon's credential reads the real value, and only its scope.
	token, err := admin.NewCredential(ctx, "gw1")
	if err != nil || !strings.HasPrefix(token, "gwapp_gw1_") {
		t.Fatalf("credential = %q, %v", token, err)
	}
	daemon, _ := client.New(client.Config{URL: cs.URL, Token: token})
	mine, err := daemon.App(ctx, "gw1")
	if err != nil || mine.Options["media"]["turn-password"] != "s3cret-turn" {
		t.Errorf("daemon reads its app: %q, %v", mine.Options["media"]["turn-password"], err)
	}
	olga.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "other"}, Template: "SIP_Server"})
	if _, err := daemon.App(ctx, "other"); !client.HasStatus(err, 403) {
		t.Errorf("daemon reads an unconnected app = %v, want 403", err)
	}
	if err := daemon.Report(ctx, "other", api.Report{Revision: 1, Status: api.ReportApplied}); !client.HasStatus(err, 403) {
		t.Errorf("daemon reports for another app = %v, want 403", err)
	}
	if err := daemon.Report(ctx, "gw1", api.Report{Revision: mine.Revision, Status: api.ReportRejected, Error: "media/x: bad"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := olga.App(ctx, "gw1"); a.Report == nil || a.Report.Status != api.ReportRejected || a.Report.Error != "media/x: bad" {
		t.Errorf("report shown = %+v", a.Report)
	}
	// The audit names who changed what; secrets stay masked.
	entries, err := olga.Audit(ctx, api.KindApplication, "gw1", 10)
	if err != nil || len(entries) < 3 {
		t.Fatalf("audit = %d entries, %v", len(entries), err)
	}
	text := fmt.Sprint(entries)
	if strings.Contains(text, "s3cret") || !strings.Contains(text, "options/web/max-sessions") || entries[0].Who != "olga" {
		t.Errorf("audit entries: %s", text)
	}
	// A revoked credential is refused.
	admin.RevokeCredential(ctx, "gw1")
	if _, err := daemon.App(ctx, "gw1"); !client.HasStatus(err, 401) {
		t.Errorf("revoked credential = %v, want 401", err)
	}
}

func TestFailedLoginsBan(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	cl, _ := client.New(client.Config{URL: cs.URL})
	ctx := ctxT(t)
	for i := 0; i < 3; i++ {
		if _, err := cl.Login(ctx, "admin", "wrong"); !client.HasStatus(err, 401) {
			t.Fatalf("wrong password = %v, want 401", err)
		}
	}
	if _, err := cl.Login(ctx, "admin", cs.AdminPassword()); !client.HasStatus(err, 429) {
		t.Errorf("right password while banned = %v, want 429", err)
	}
	if !strings.Contains(cs.Output(), `login failed: client_ip=127.0.0.1 user=admin reason="wrong operator name or password"`) {
		t.Errorf("no fixed-format failure line:\n%s", cs.Output())
	}
}

// TestWatchAcrossRestart writes 1000 changes while a watcher keeps
// reconnecting, with a confserv restart in the middle: the watcher sees every
// change exactly once, in order.
func TestWatchAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	cs := startConfserv(t, dir, 0)
	port := cs.Port
	admin := cs.Client("", "")
	ctx := ctxT(t)
	created, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "h"}, Address: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	start := created.Revision

	const writes = 1000
	seen := make(chan uint64, writes+10)
	watchDone := make(chan error, 1)
	go func() {
		w, _ := client.New(client.Config{URL: fmt.Sprintf("http://127.0.0.1:%d", port)})
		since := start
		for since < start+writes {
			if tok := currentToken.Load(); tok != nil {
				w.SetToken(*tok)
			}
			res, err := w.Watch(ctx, since, 2*time.Second)
			if err != nil {
				if ctx.Err() != nil {
					watchDone <- err
					return
				}
				time.Sleep(50 * time.Millisecond) // confserv restarting: reconnect
				continue
			}
			if res.Reset {
				watchDone <- errors.New("reset within the history")
				return
			}
			for _, e := range res.Events {
				seen <- e.Revision
			}
			since = res.Revision
		}
		watchDone <- nil
	}()
	tok := loginToken(t, cs)
	currentToken.Store(&tok)
	h, _ := admin.Host(ctx, "h")
	for i := 0; i < writes; i++ {
		if i == writes/2 {
			cs.Stop()
			cs = startConfserv(t, dir, port)
			admin = cs.Client("", "")
			tok := loginToken(t, cs)
			currentToken.Store(&tok)
		}
		h.LCAPort = 4000 + i
		var err error
		if h, err = admin.UpdateHost(ctx, h); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := <-watchDone; err != nil {
		t.Fatal(err)
	}
	close(seen)
	want := start + 1
	for rev := range seen {
		if rev != want {
			t.Fatalf("watch saw revision %d, want %d (each once, in order)", rev, want)
		}
		want++
	}
	if want != start+writes+1 {
		t.Fatalf("watch saw up to %d, want %d", want-1, start+writes)
	}
}

var currentToken atomicString

type atomicString struct {
	mu sync.Mutex
	s  *string
}

func (a *atomicString) Load() *string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.s
}

func (a *atomicString) Store(s *string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.s = s
}

// TestCrashSafety kills confserv with SIGKILL while a writer streams
// acknowledged writes; after a restart every acknowledged write is there and
// every object reads whole.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	cs := startConfserv(t, dir, 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	acked := map[string]int{}
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("h%d", i)
			if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: name}, Address: "10.0.0.1", LCAPort: i % 60000}); err != nil {
				return // the process is gone
			}
			mu.Lock()
			acked[name] = i % 60000
			mu.Unlock()
		}
	}()
	time.Sleep(1500 * time.Millisecond) // let a stream of writes run before the crash
	cs.Kill()
	close(stop)
	<-done
	cs2 := startConfserv(t, dir, 0)
	admin2 := cs2.Client("", "")
	hosts, err := admin2.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, h := range hosts {
		got[h.Name] = h.LCAPort
		if h.Address != "10.0.0.1" {
			t.Errorf("torn host %+v", h)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 10 {
		t.Fatalf("only %d writes before the kill", len(acked))
	}
	for name, port := range acked {
		if p, ok := got[name]; !ok || p != port {
			t.Errorf("acknowledged write %s lost after kill -9", name)
		}
	}
	t.Logf("%d acknowledged writes, %d hosts after restart", len(acked), len(got))
}

// TestBackup: an admin takes a hot backup while writes go on; it is a
// whole store that a confserv starts from; other roles may not take one.
func TestBackup(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	app, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway"})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	writes := make(chan error, 1)
	go func() {
		a := app
		var err error
		for i := 0; ; i++ {
			select {
			case <-stop:
				writes <- nil
				return
			default:
			}
			a.Options["web"]["max-sessions"] = fmt.Sprint(100 + i)
			if a, err = admin.UpdateApp(ctx, a); err != nil {
				writes <- err
				return
			}
		}
	}()
	file := filepath.Join(t.TempDir(), "backup.db")
	n, err := admin.Backup(ctx, file)
	close(stop)
	if err != nil || n == 0 {
		t.Fatalf("Backup = %d, %v", n, err)
	}
	if err := <-writes; err != nil {
		t.Fatalf("a write during the backup: %v", err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() != n || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", st, err)
	}
	if _, err := admin.CreateOperator(ctx, api.Operator{Meta: api.Meta{Name: "olga"}, Role: api.RoleOperator, Password: "operator-pw"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Client("olga", "operator-pw").Backup(ctx, filepath.Join(t.TempDir(), "b.db")); !client.HasStatus(err, http.StatusForbidden) {
		t.Errorf("operator backup = %v, want 403", err)
	}

	// Restore: the copy in place of confserv.db.
	dir := t.TempDir()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "confserv.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := startConfserv(t, dir, 0)
	if strings.Contains(restored.Output(), "operator admin created") {
		t.Error("the restored store was taken for an empty one")
	}
	got, err := restored.Client("admin", cs.AdminPassword()).App(ctx, "gw1")
	if err != nil || got.Options["web"]["max-sessions"] == "" {
		t.Errorf("restored gw1 = %+v, %v", got, err)
	}
}

// TestHostCredentials: a host's Local Control Agent reads the applications
// on its host (secrets masked), watches them, and records their status;
// nothing of other hosts. Names with "_" work in daemon tokens.
func TestHostCredentials(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	for _, h := range []string{"h1", "h_2"} {
		if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: h}, Address: "127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	gw1, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw_1"}, Template: "WebRTC_Gateway", Host: "h1",
		Options: api.Sections{"media": {"turn-password": "s3cret"}}})
	if err != nil {
		t.Fatal(err)
	}
	gw2, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw2"}, Template: "WebRTC_Gateway", Host: "h_2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.NewHostCredential(ctx, "nohost"); !client.HasStatus(err, http.StatusNotFound) {
		t.Errorf("credential of a missing host = %v, want 404", err)
	}
	token, err := admin.NewHostCredential(ctx, "h1")
	if err != nil || !strings.HasPrefix(token, "gwhost_h1_") {
		t.Fatalf("NewHostCredential = %q, %v", token, err)
	}
	lca, _ := client.New(client.Config{URL: cs.URL, Token: token})
	if w, err := lca.Whoami(ctx); err != nil || w.Role != api.RoleHost || w.Name != "h1" {
		t.Errorf("whoami = %+v, %v", w, err)
	}
	apps, err := lca.Apps(ctx)
	if err != nil || len(apps) != 1 || apps[0].Name != "gw_1" {
		t.Fatalf("the LCA of h1 lists %+v, %v; want gw_1 only", apps, err)
	}
	if apps[0].Options["media"]["turn-password"] != api.Masked {
		t.Error("a host credential reads an application's secret")
	}
	if _, err := lca.App(ctx, "gw2"); !client.HasStatus(err, http.StatusForbidden) {
		t.Errorf("the LCA of h1 reads gw2 of h_2: %v", err)
	}
	if _, err := lca.Audit(ctx, "", "", 10); !client.HasStatus(err, http.StatusForbidden) {
		t.Errorf("host audit = %v, want 403", err)
	}
	// Status: for its own applications only, from the status model.
	since := time.Now().UTC().Truncate(time.Second)
	if err := lca.PutStatus(ctx, "gw_1", api.AppStatus{Status: "Running", PID: 42, Since: since, Restarts: 1, Managed: true}); err != nil {
		t.Fatal(err)
	}
	if err := lca.PutStatus(ctx, "gw2", api.AppStatus{Status: "Running"}); !client.HasStatus(err, http.StatusForbidden) {
		t.Errorf("status of another host's application = %v, want 403", err)
	}
	if err := lca.PutStatus(ctx, "gw_1", api.AppStatus{Status: "Dancing"}); !client.HasStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "Dancing") {
		t.Errorf("unknown status = %v, want 400 naming it", err)
	}
	got, err := admin.App(ctx, "gw_1")
	if err != nil || got.Status == nil || got.Status.Status != "Running" || got.Status.PID != 42 || !got.Status.Since.Equal(since) || got.Status.Updated.IsZero() {
		t.Errorf("operator view of the status = %+v, %v", got.Status, err)
	}
	// Watch: gw_1's change is an event; gw2's moves the revision only.
	gw2.Options["web"]["max-sessions"] = "7"
	if gw2, err = admin.UpdateApp(ctx, gw2); err != nil {
		t.Fatal(err)
	}
	w, err := lca.Watch(ctx, gw1.Revision, 5*time.Second)
	if err != nil || len(w.Events) != 0 || w.Revision != gw2.Revision {
		t.Errorf("watch past another host's change = %+v, %v", w, err)
	}
	gw1.Options = got.Options
	gw1.Revision = got.Revision
	gw1.Options["media"]["max-calls"] = "8"
	if gw1, err = admin.UpdateApp(ctx, gw1); err != nil {
		t.Fatal(err)
	}
	w, err = lca.Watch(ctx, gw2.Revision, 5*time.Second)
	if err != nil || len(w.Events) != 1 || w.Events[0].Name != "gw_1" {
		t.Errorf("watch of its application = %+v, %v", w, err)
	}
	// An application token with "_" in the name works; revoking ends it.
	appToken, err := admin.NewCredential(ctx, "gw_1")
	if err != nil {
		t.Fatal(err)
	}
	daemon, _ := client.New(client.Config{URL: cs.URL, Token: appToken})
	if w, err := daemon.Whoami(ctx); err != nil || w.Name != "gw_1" {
		t.Errorf("daemon whoami = %+v, %v", w, err)
	}
	if err := admin.RevokeHostCredential(ctx, "h1"); err != nil {
		t.Fatal(err)
	}
	if _, err := lca.Apps(ctx); !client.HasStatus(err, http.StatusUnauthorized) {
		t.Errorf("revoked host token = %v, want 401", err)
	}
}

// TestWriteOrder: a stale revision is a conflict even with invalid values;
// a write that changes nothing makes no revision; read-only fields sent by
// a client are not stored; a deleted application's status goes with it.
func TestWriteOrder(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "h1"}, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	app, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway", Host: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	stale := app
	app.Options["web"]["max-sessions"] = "5"
	if app, err = admin.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	stale.Options["web"]["https-port"] = "99999"
	if _, err := admin.UpdateApp(ctx, stale); !client.HasStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("stale and invalid = %v, want 412 first", err)
	}
	same, err := admin.UpdateApp(ctx, app)
	if err != nil || same.Revision != app.Revision {
		t.Errorf("a write without change = revision %d (was %d), %v; want no new revision", same.Revision, app.Revision, err)
	}
	app.Status = &api.AppStatus{Status: "Running"}
	app.Options["web"]["max-sessions"] = "6"
	if app, err = admin.UpdateApp(ctx, app); err != nil || app.Status != nil {
		t.Errorf("client-sent status stored: %+v, %v", app.Status, err)
	}
	token, _ := admin.NewHostCredential(ctx, "h1")
	lca, _ := client.New(client.Config{URL: cs.URL, Token: token})
	if err := lca.PutStatus(ctx, "gw1", api.AppStatus{Status: "Running"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteApp(ctx, "gw1", app.Revision); err != nil {
		t.Fatal(err)
	}
	again, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway", Host: "h1"})
	if err != nil || again.Status != nil {
		t.Errorf("a recreated application shows %+v, %v; want no status", again.Status, err)
	}
}

// signInFrom posts a sign-in to the API as sent by a reverse proxy on
// 127.0.0.1 for the client xff (none when empty), and returns the status.
func signInFrom(t *testing.T, cs *confservtest.Server, xff, password string) int {
	t.Helper()
	body := fmt.Sprintf(`{"name":"admin","password":%q}`, password)
	req, _ := http.NewRequest(http.MethodPost, cs.URL+"/api/v1/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestTrustedProxies: behind a proxy in -trusted-proxies, failed sign-ins
// ban the client it forwards (the rightmost X-Forwarded-For hop that is not
// a trusted proxy), not the proxy: another client through the same proxy,
// and the proxy itself, still sign in, and the log lines name the clients.
func TestTrustedProxies(t *testing.T) {
	cs := startConfserv(t, t.TempDir(), 0, "-trusted-proxies", "10.0.0.0/8, 127.0.0.1")
	// The client may put anything left of its own address; a trusted proxy
	// in the chain (10.1.1.1) is skipped.
	for _, xff := range []string{"203.0.113.7", "198.51.100.1, 203.0.113.7", "203.0.113.7, 10.1.1.1"} {
		if st := signInFrom(t, cs, xff, "wrong"); st != http.StatusUnauthorized {
			t.Fatalf("wrong password from %s = %d, want 401", xff, st)
		}
	}
	if st := signInFrom(t, cs, "203.0.113.7", cs.AdminPassword()); st != http.StatusTooManyRequests {
		t.Errorf("right password from the banned client = %d, want 429", st)
	}
	if st := signInFrom(t, cs, "203.0.113.66, 203.0.113.8", cs.AdminPassword()); st != http.StatusOK {
		t.Errorf("right password from another client through the proxy = %d, want 200", st)
	}
	if st := signInFrom(t, cs, "", cs.AdminPassword()); st != http.StatusOK {
		t.Errorf("right password from the proxy itself = %d, want 200", st)
	}
	out := cs.Output()
	for _, want := range []string{
		`login failed: client_ip=203.0.113.7 user=admin reason="wrong operator name or password"`,
		"client banned: client_ip=203.0.113.7",
		"operator signed in: operator=admin role=admin client_ip=203.0.113.8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line with %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "client_ip=127.0.0.1 user=") || strings.Contains(out, "client_ip=10.1.1.1") {
		t.Errorf("a failure was counted against a proxy:\n%s", out)
	}
}

// TestUntrustedForwardedFor: from a peer that is not a trusted proxy (no
// -trusted-proxies, or one that does not list it), X-Forwarded-For is
// ignored: the failures ban the peer, whatever client it names.
func TestUntrustedForwardedFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no trusted proxies", nil},
		{"peer not listed", []string{"-trusted-proxies", "10.0.0.0/8,::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := startConfserv(t, t.TempDir(), 0, tc.args...)
			for i := 0; i < 3; i++ {
				if st := signInFrom(t, cs, fmt.Sprintf("203.0.113.%d", i+1), "wrong"); st != http.StatusUnauthorized {
					t.Fatalf("wrong password %d = %d, want 401", i+1, st)
				}
			}
			if st := signInFrom(t, cs, "203.0.113.99", cs.AdminPassword()); st != http.StatusTooManyRequests {
				t.Errorf("right password naming another client = %d, want 429 (the peer is banned)", st)
			}
			if out := cs.Output(); !strings.Contains(out, "client banned: client_ip=127.0.0.1") || strings.Contains(out, "client_ip=203.0.113.") {
				t.Errorf("want the peer 127.0.0.1 banned and no forwarded address logged:\n%s", out)
			}
		})
	}
}

// TestBadTrustedProxies: a bad entry in -trusted-proxies stops confserv
// with exit code 2 and a message naming the entry, before it opens the
// store.
func TestBadTrustedProxies(t *testing.T) {
	for _, tc := range []struct{ list, want string }{
		{"10.0.0.0/8,proxy.example.com", `confserv: -trusted-proxies: "proxy.example.com": not an IP address or prefix`},
		{"10.0.0.1/8", `confserv: -trusted-proxies: "10.0.0.1/8": has bits set after the prefix length (did you mean 10.0.0.0/8?)`},
		{"192.0.2.0/33", `confserv: -trusted-proxies: "192.0.2.0/33": not an IP prefix`},
	} {
		t.Run(tc.list, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			var stdout, stderr strings.Builder
			if code := run([]string{"-data", dir, "-port", "0", "-trusted-proxies", tc.list}, &stdout, &stderr); code != 2 {
				t.Errorf("run(-trusted-proxies %s) = %d, want 2", tc.list, code)
			}
			if got := strings.TrimSpace(stderr.String()); got != tc.want {
				t.Errorf("stderr = %q, want %q", got, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v)", err)
			}
		})
	}
}
