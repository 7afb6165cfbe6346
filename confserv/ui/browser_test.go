package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webrtcgw/confserv/api"
	"webrtcgw/internal/testpeers"
)

// TestBrowser runs the browser tests in parallel on one Chromium (each in
// browser contexts of its own) against confserv processes of their own.
func TestBrowser(t *testing.T) {
	b := testpeers.StartBrowser(t)
	for _, tc := range []struct {
		name string
		test func(*testing.T, *testpeers.Browser)
	}{
		{"EditOptions", testEditOptions},
		{"Conflict", testConflict},
		{"ViewerCannotSave", testViewerCannotSave},
		{"CrossSitePost", testCrossSitePost},
		{"SignInBans", testSignInBans},
		{"PagesAndSecrets", testPagesAndSecrets},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, b)
		})
	}
}

// testEditOptions signs in with the initial admin password, opens a
// WebRTC_Gateway application, changes domain-whitelist and a port, saves,
// and finds the change through the API and on the audit page; then an
// invalid port is refused inline with nothing saved, a secret is replaced
// without ever being shown, and a value is put back to its default.
func testEditOptions(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t, "gw1")
	ctx := tab(t, b)

	if st := signIn(t, ctx, f.cs.URL, "admin", f.cs.AdminPassword()); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	if l := location(ctx); !strings.HasSuffix(l, "/ui/apps") {
		t.Fatalf("after sign-in at %s, want /ui/apps", l)
	}
	c := sessionCookie(t, ctx, f.cs.URL)
	if !c.HTTPOnly || c.SameSite != "Strict" || c.Path != "/ui/" {
		t.Errorf("session cookie: httpOnly %v sameSite %q path %q, want true Strict /ui/", c.HTTPOnly, c.SameSite, c.Path)
	}
	row := text(t, ctx, `tr:has(a[href="/ui/apps/gw1"])`)
	for _, want := range []string{"gw1", "WebRTC_Gateway", "host1", "Running", "2h 05m", "4242", "applied revision"} {
		if !strings.Contains(row, want) {
			t.Errorf("applications row of gw1 = %q, want %q in it", row, want)
		}
	}
	if !strings.Contains(text(t, ctx, `tr:has(a[href="/ui/apps/sip1"])`), "no status") {
		t.Error("sip1 without a status from its LCA does not say no status")
	}
	screenshot(t, ctx, "apps")

	submit(t, ctx, `a[href="/ui/apps/gw1"]`)
	before := f.app("gw1")
	// The editors follow the metadata: types, ranges, descriptions,
	// defaults, when a change takes effect.
	for sel, want := range map[string]string{
		input("options/web/https-port") + `[type=number][min="0"][max="65535"]`: "",
		input("options/web/demo-page") + `[type=checkbox]`:                      "",
		`select` + input("options/web/tls-min-version"):                         "",
		opt("options/media/codecs") + ` li select`:                              "",
		input("options/media/turn-password") + `[type=password]`:                "",
		input("annex/sml/autostart") + `[type=checkbox]`:                        "",
		opt("options/web/domain-whitelist") + ` [data-list]`:                    "",
	} {
		if count(t, ctx, sel) == 0 {
			t.Errorf("no %s%s", sel, want)
		}
	}
	help := text(t, ctx, opt("options/web/https-port"))
	for _, want := range []string{"HTTPS signalling listener", "Default 8443", "listener", "the old one drains"} {
		if !strings.Contains(help, want) {
			t.Errorf("https-port row = %q, want %q in it", help, want)
		}
	}
	if v := value(t, ctx, input("options/media/turn-password")); v != "" {
		t.Errorf("turn-password input holds %q, want nothing", v)
	}
	live := text(t, ctx, ".live")
	for _, want := range []string{"Running", "4242", "Restarts", "applied revision"} {
		if !strings.Contains(live, want) {
			t.Errorf("status block = %q, want %q in it", live, want)
		}
	}

	// Change domain-whitelist (two origins: one typed in the empty row, one
	// in a row added with the Add button) and a port.
	typeInto(t, ctx, input("options/web/https-port"), "9443")
	wl := opt("options/web/domain-whitelist")
	typeInto(t, ctx, wl+" li:last-child input", "https://app.example.com")
	do(t, ctx, chromedp.Click(chromedp.CSS(wl+` button[data-act="add"]`)))
	typeInto(t, ctx, wl+" li:last-child input", "*.example.org")
	if got := text(t, ctx, "[data-edited-count]"); got != "2 unsaved changes." {
		t.Errorf("unsaved count = %q, want 2 unsaved changes.", got)
	}
	if n := count(t, ctx, ".opt.edited"); n != 2 {
		t.Errorf("%d options highlighted as edited, want 2", n)
	}
	screenshot(t, ctx, "app-edited")
	if st := submit(t, ctx, `#editor button[type=submit]`); st != http.StatusOK {
		t.Fatalf("save: status %d", st)
	}
	after := f.app("gw1")
	if flash := text(t, ctx, ".flash.ok"); flash != fmt.Sprintf("Saved: revision %d.", after.Revision) {
		t.Errorf("after saving: %q", flash)
	}
	if got := after.Options["web"]["https-port"]; got != "9443" {
		t.Errorf("API: https-port = %q, want 9443", got)
	}
	if got := after.Options["web"]["domain-whitelist"]; got != "https://app.example.com,*.example.org" {
		t.Errorf("API: domain-whitelist = %q", got)
	}
	if after.Revision <= before.Revision {
		t.Errorf("revision %d after %d", after.Revision, before.Revision)
	}
	if got := f.secretOf("gw1"); got != turnSecret {
		t.Errorf("turn-password after a save that did not touch it = %q", got)
	}
	// Only what the operator changed was written: the untouched editors
	// round-trip.
	audit, err := f.admin.Audit(f.ctx, api.KindApplication, "gw1", 1)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, c := range audit[0].Changes {
		fields = append(fields, c.Field)
	}
	if want := []string{"options/web/domain-whitelist", "options/web/https-port"}; !slices.Equal(fields, want) {
		t.Errorf("audit of the save: fields %v, want %v", fields, want)
	}
	// The daemon reports what it did; the page says so.
	if err := f.clientWith(f.appTokens["gw1"]).Report(f.ctx, "gw1", api.Report{Revision: after.Revision, Status: api.ReportApplied}); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, location(ctx))
	if live := text(t, ctx, ".live"); !strings.Contains(live, fmt.Sprintf("applied revision %d at ", after.Revision)) || strings.Contains(live, "not reported") {
		t.Errorf("status block after the daemon's report = %q", live)
	}
	if count(t, ctx, opt("options/web/https-port")+".nondefault") != 1 {
		t.Error("https-port, now not the default, is not highlighted")
	}
	screenshot(t, ctx, "app")
	if *updateScreenshot {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		_, file, _, _ := runtime.Caller(0)
		if err := os.WriteFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "confserv-ui.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The audit page shows the change.
	navigate(t, ctx, f.cs.URL+"/ui/apps/gw1/audit")
	entry := text(t, ctx, ".entry")
	for _, want := range []string{fmt.Sprintf("revision %d", after.Revision), "admin", "options/web/https-port", "8443", "9443",
		"options/web/domain-whitelist", "*.example.org"} {
		if !strings.Contains(entry, want) {
			t.Errorf("audit entry = %q, want %q in it", entry, want)
		}
	}
	if n := count(t, ctx, ".entry ins"); n < 3 {
		t.Errorf("%d additions marked in the audit entry, want at least 3", n)
	}
	screenshot(t, ctx, "audit")

	// An invalid port: refused inline, the edit kept, nothing saved; the
	// secret typed with it is not shown back.
	navigate(t, ctx, f.cs.URL+"/ui/apps/gw1")
	typeInto(t, ctx, input("options/web/https-port"), "70000")
	typeInto(t, ctx, input("options/media/turn-password"), newTurnSecret)
	if st := submit(t, ctx, `#editor button[type=submit]`); st != http.StatusUnprocessableEntity {
		t.Errorf("save of an invalid port: status %d, want 422", st)
	}
	if p := text(t, ctx, opt("options/web/https-port")+" .problem"); !strings.Contains(p, "70000") || !strings.Contains(p, "65535") {
		t.Errorf("inline problem of https-port = %q", p)
	}
	if v := value(t, ctx, input("options/web/https-port")); v != "70000" {
		t.Errorf("https-port input after the refusal = %q, want the operator's 70000", v)
	}
	if got := text(t, ctx, "[data-edited-count]"); got != "1 unsaved change." {
		t.Errorf("unsaved count after the refusal = %q, want 1 unsaved change.", got)
	}
	edits := text(t, ctx, ".edits")
	for _, want := range []string{"options/web/https-port", "9443", "70000", "options/media/turn-password", "a new value (not shown)"} {
		if !strings.Contains(edits, want) {
			t.Errorf("unsaved changes after the refusal = %q, want %q in it", edits, want)
		}
	}
	if !strings.Contains(text(t, ctx, opt("options/media/turn-password")), "type it again") {
		t.Error("the typed secret that was not saved is not said to be lost")
	}
	if html := source(t, ctx); strings.Contains(html, newTurnSecret) {
		t.Error("the page after a refused save contains the typed secret")
	}
	if a := f.app("gw1"); a.Revision != after.Revision || a.Options["web"]["https-port"] != "9443" {
		t.Errorf("after a refused save: revision %d https-port %q, want %d 9443", a.Revision, a.Options["web"]["https-port"], after.Revision)
	}
	if got := f.secretOf("gw1"); got != turnSecret {
		t.Errorf("turn-password after a refused save = %q", got)
	}
	screenshot(t, ctx, "app-invalid")

	// Corrected, with the secret typed again and PCMA moved before PCMU,
	// saved with Ctrl+S.
	typeInto(t, ctx, input("options/web/https-port"), "9444")
	typeInto(t, ctx, input("options/media/turn-password"), newTurnSecret)
	do(t, ctx, chromedp.Click(chromedp.CSS(opt("options/media/codecs")+` li:nth-child(2) button[data-act="up"]`)))
	res, err := chromedp.RunResponse(ctx, chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("Ctrl+S: %v %v", res, err)
	}
	if got := f.secretOf("gw1"); got != newTurnSecret {
		t.Errorf("turn-password after replacing it = %q", got)
	}
	if a := f.app("gw1"); a.Options["web"]["https-port"] != "9444" || a.Options["media"]["turn-password"] != api.Masked ||
		a.Options["media"]["codecs"] != "PCMA,PCMU,telephone-event" {
		t.Errorf("API: https-port %q turn-password %q codecs %q", a.Options["web"]["https-port"], a.Options["media"]["turn-password"], a.Options["media"]["codecs"])
	}

	// Reset to default.
	do(t, ctx, chromedp.Click(chromedp.CSS(opt("options/web/https-port")+` button[data-act="reset"]`)))
	if v := value(t, ctx, input("options/web/https-port")); v != "8443" {
		t.Errorf("https-port after Default = %q", v)
	}
	submit(t, ctx, `#editor button[type=submit]`)
	if a := f.app("gw1"); a.Options["web"]["https-port"] != "8443" {
		t.Errorf("API: https-port after reset = %q", a.Options["web"]["https-port"])
	}
}

// testConflict: two browser contexts edit the same application; the second
// save gets the conflict, shows what changed meanwhile and keeps its edit,
// and saving again writes it over the new revision.
func testConflict(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t, "gw1")
	a, o := tab(t, b), tab(t, b)

	// The admin creates operator alice in the UI.
	signIn(t, a, f.cs.URL, "admin", f.cs.AdminPassword())
	navigate(t, a, f.cs.URL+"/ui/operators")
	typeInto(t, a, `form[action="/ui/operators"] [name=name]`, "alice")
	do(t, a, chromedp.SetValue(chromedp.CSS(`form[action="/ui/operators"] [name=role]`), "operator"))
	typeInto(t, a, `form[action="/ui/operators"] [name=password]`, "alice-password")
	submit(t, a, `form[action="/ui/operators"] button[type=submit]`)
	if !strings.Contains(text(t, a, "table.list"), "alice") {
		t.Fatal("alice is not in the operators' list")
	}
	screenshot(t, a, "operators")
	if st := signIn(t, o, f.cs.URL, "alice", "alice-password"); st != http.StatusOK {
		t.Fatalf("alice signs in: %d", st)
	}

	navigate(t, a, f.cs.URL+"/ui/apps/gw1")
	navigate(t, o, f.cs.URL+"/ui/apps/gw1")
	typeInto(t, a, input("options/sip/sip-port"), "5070")
	typeInto(t, o, input("options/web/https-port"), "8444")
	if st := submit(t, a, `#editor button[type=submit]`); st != http.StatusOK {
		t.Fatalf("first save: %d", st)
	}
	if st := submit(t, o, `#editor button[type=submit]`); st != http.StatusConflict {
		t.Errorf("second save: status %d, want 409", st)
	}
	conflict := text(t, o, "#conflict")
	for _, want := range []string{"Changed by someone else", "not saved yet", "admin", "options/sip/sip-port", "5060", "5070"} {
		if !strings.Contains(conflict, want) {
			t.Errorf("conflict message = %q, want %q in it", conflict, want)
		}
	}
	if edits := text(t, o, ".edits"); !strings.Contains(edits, "options/web/https-port: 8443 → 8444") {
		t.Errorf("alice's unsaved changes = %q", edits)
	}
	if v := value(t, o, input("options/web/https-port")); v != "8444" {
		t.Errorf("alice's https-port after the conflict = %q, want her 8444", v)
	}
	if count(t, o, opt("options/web/https-port")+".edited") != 1 {
		t.Error("alice's unsaved https-port is not highlighted")
	}
	if count(t, o, opt("options/sip/sip-port")+".meanwhile") != 1 || value(t, o, input("options/sip/sip-port")) != "5070" {
		t.Error("sip-port, changed meanwhile, is not marked with its new value")
	}
	if got := f.app("gw1").Options["web"]["https-port"]; got != "8443" {
		t.Errorf("API after the conflict: https-port = %q, want 8443", got)
	}
	screenshot(t, o, "app-conflict")

	if st := submit(t, o, `#editor button[type=submit]`); st != http.StatusOK {
		t.Fatalf("saving again: %d", st)
	}
	got := f.app("gw1")
	if got.Options["web"]["https-port"] != "8444" || got.Options["sip"]["sip-port"] != "5070" || got.UpdatedBy != "alice" {
		t.Errorf("API after saving again: https-port %q sip-port %q by %q, want 8444 5070 alice",
			got.Options["web"]["https-port"], got.Options["sip"]["sip-port"], got.UpdatedBy)
	}
}

// testViewerCannotSave: a viewer sees the editors disabled, and the server
// refuses a save posted by hand from the viewer's own session.
func testViewerCannotSave(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t, "gw1")
	f.createOperator("vera", api.RoleViewer, "vera-password")
	ctx := tab(t, b)
	signIn(t, ctx, f.cs.URL, "vera", "vera-password")
	navigate(t, ctx, f.cs.URL+"/ui/apps/gw1")
	if n := count(t, ctx, `#editor button[type=submit]`); n != 0 {
		t.Error("a viewer gets a Save button")
	}
	if count(t, ctx, input("options/web/https-port")+":disabled") != 1 {
		t.Error("a viewer's editors are not disabled")
	}
	if count(t, ctx, `a[href="/ui/operators"]`) != 0 {
		t.Error("a viewer is offered the operators' page")
	}
	before := f.app("gw1")
	// By hand, with the session's own CSRF token.
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
		const body = new URLSearchParams({csrf: document.querySelector('input[name=csrf]').value, rev: '%d',
			'v:options/web/https-port': '9999', 'b:options/web/https-port': '8443'});
		const res = await fetch('/ui/apps/gw1', {method: 'POST', body});
		return res.status;
	})()`, before.Revision), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusForbidden {
		t.Errorf("viewer's save: status %d, want 403", status)
	}
	if a := f.app("gw1"); a.Revision != before.Revision || a.Options["web"]["https-port"] != "8443" {
		t.Errorf("after a viewer's save: revision %d https-port %q", a.Revision, a.Options["web"]["https-port"])
	}
	// The status is live: what the LCA reports next shows without a reload.
	if err := f.clientWith(f.hostToken).PutStatus(f.ctx, "gw1", api.AppStatus{Status: "Suspended", Detail: "drained for maintenance", PID: 4242}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('.live').textContent.includes('drained for maintenance')`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Errorf("the new status did not show: %v", err)
	}
	if st := navigate(t, ctx, f.cs.URL+"/ui/operators"); st != http.StatusForbidden {
		t.Errorf("viewer on the operators' page: status %d, want 403", st)
	}
	screenshot(t, ctx, "viewer-operators")
}

// testCrossSitePost: a page of another origin that posts a form to the UI,
// in the browser of a signed-in admin, is refused and changes nothing: from
// the same site on another port (the session cookie goes along: only the
// CSRF defences stand) and from another site (a data: page).
func testCrossSitePost(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t, "gw1")
	ctx := tab(t, b)
	// Signed in with the keyboard only: the name field has the focus, Tab
	// goes to the password, Enter submits.
	navigate(t, ctx, f.cs.URL+"/ui/login")
	do(t, ctx, chromedp.KeyEvent("admin"), chromedp.KeyEvent("\t"), chromedp.KeyEvent(f.cs.AdminPassword()))
	if res, err := chromedp.RunResponse(ctx, chromedp.KeyEvent("\r")); err != nil || res.Status != http.StatusOK || !strings.HasSuffix(location(ctx), "/ui/apps") {
		t.Fatalf("keyboard sign-in: %v %v at %s", res, err, location(ctx))
	}
	before := f.app("gw1")
	attack := fmt.Sprintf(`<!doctype html><form method="post" action="%s/ui/apps/gw1">
<input type="hidden" name="rev" value="%d"><input type="hidden" name="v:options/web/https-port" value="9999">
<input type="hidden" name="v:options/web/domain-whitelist" value="https://evil.example">
<button id="go" type="submit">win a prize</button></form>`, f.cs.URL, before.Revision)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, attack)
	}))
	defer srv.Close()
	for _, tc := range []struct{ name, url string }{
		{"same-site", srv.URL},
		{"cross-site", "data:text/html," + url.PathEscape(attack)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st := navigate(t, ctx, tc.url); st != http.StatusOK {
				t.Fatalf("attacker page: %d", st)
			}
			res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("#go")))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusForbidden {
				t.Errorf("cross-origin post: status %d, want 403", res.Status)
			}
			if a := f.app("gw1"); a.Revision != before.Revision || a.Options["web"]["https-port"] != "8443" {
				t.Errorf("after a cross-origin post: revision %d https-port %q", a.Revision, a.Options["web"]["https-port"])
			}
		})
	}
	if n := strings.Count(f.cs.Output(), "cross-origin request refused"); n != 2 {
		t.Errorf("%d refusals logged, want 2", n)
	}
}

// testSignInBans: wrong passwords typed in the sign-in page are logged in
// the fixed format with the browser's address and counted with the API's
// sign-ins; at the limit the address is banned, even with the right
// password.
func testSignInBans(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t)
	ctx := tab(t, b)
	for i := 0; i < 2; i++ {
		if st := signIn(t, ctx, f.cs.URL, "admin", "wrong-password"); st != http.StatusUnauthorized {
			t.Errorf("wrong password %d: status %d, want 401", i+1, st)
		}
		if msg := text(t, ctx, ".flash.bad"); msg != "Wrong operator name or password." {
			t.Errorf("wrong password %d: %q", i+1, msg)
		}
	}
	screenshot(t, ctx, "login-failed")
	// The third failure comes through the API: the same count.
	if _, err := f.clientWith("").Login(f.ctx, "admin", "wrong-password"); err == nil {
		t.Fatal("API sign-in with a wrong password succeeded")
	}
	if st := signIn(t, ctx, f.cs.URL, "admin", f.cs.AdminPassword()); st != http.StatusTooManyRequests {
		t.Errorf("sign-in when banned: status %d, want 429", st)
	}
	if msg := text(t, ctx, ".flash.bad"); !strings.Contains(msg, "Too many failed sign-ins") {
		t.Errorf("sign-in when banned: %q", msg)
	}
	line := regexp.MustCompile(`(?m)^\S+ \[WARN\]  confserv\.ban: login failed: client_ip=127\.0\.0\.1 user=admin reason="wrong operator name or password"$`)
	if n := len(line.FindAllString(f.cs.Output(), -1)); n != 3 {
		t.Errorf("%d fixed-format failure lines, want 3 (two from the UI, one from the API):\n%s", n, f.cs.Output())
	}
	if !strings.Contains(f.cs.Output(), "client banned: client_ip=127.0.0.1") {
		t.Error("the ban is not logged")
	}
}

// testPagesAndSecrets walks every page, as an admin: each renders without
// a Content-Security-Policy violation or an exception, and none holds a
// secret value, a password hash or the session token. It also creates a
// host and an application, and imports a template by upload.
func testPagesAndSecrets(t *testing.T, b *testpeers.Browser) {
	f := newFixture(t, "gw1")
	ctx := tab(t, b)
	navigate(t, ctx, f.cs.URL+"/")
	if !strings.HasSuffix(location(ctx), "/ui/login") {
		t.Errorf("/ leads to %s, want the sign-in page", location(ctx))
	}
	screenshot(t, ctx, "login")
	signIn(t, ctx, f.cs.URL, "admin", f.cs.AdminPassword())
	token := sessionCookie(t, ctx, f.cs.URL).Value

	// A host and an application created in the UI.
	navigate(t, ctx, f.cs.URL+"/ui/hosts")
	do(t, ctx, chromedp.Click(chromedp.CSS("details.create summary")))
	typeInto(t, ctx, `form[action="/ui/hosts"] [name=name]`, "host2")
	typeInto(t, ctx, `form[action="/ui/hosts"] [name=address]`, "10.0.0.7")
	submit(t, ctx, `form[action="/ui/hosts"] button[type=submit]`)
	if h, err := f.admin.Host(f.ctx, "host2"); err != nil || h.Address != "10.0.0.7" || h.LCAPort != 4999 {
		t.Errorf("host2 created in the UI: %+v %v", h, err)
	}
	navigate(t, ctx, f.cs.URL+"/ui/apps")
	do(t, ctx, chromedp.Click(chromedp.CSS("details.create summary")))
	typeInto(t, ctx, `form[action="/ui/apps"] [name=name]`, "gw2")
	do(t, ctx, chromedp.SetValue(chromedp.CSS(`form[action="/ui/apps"] [name=template]`), "WebRTC_Gateway"),
		chromedp.SetValue(chromedp.CSS(`form[action="/ui/apps"] [name=host]`), "host2"))
	submit(t, ctx, `form[action="/ui/apps"] button[type=submit]`)
	if a, err := f.admin.App(f.ctx, "gw2"); err != nil || a.Host != "host2" || a.Options["web"]["https-port"] != "8443" {
		t.Errorf("gw2 created in the UI: %+v %v", a, err)
	}

	// A template imported by upload.
	dir := t.TempDir()
	apd := filepath.Join(dir, "Media_Server.apd")
	meta := filepath.Join(dir, "Media_Server.metadata.xml")
	os.WriteFile(apd, []byte(`<application-template type="Media_Server" version="2.0"><options><section name="rtp"><option name="port" value="4000"/></section></options></application-template>`), 0o644)
	os.WriteFile(meta, []byte(`<option-metadata type="Media_Server" version="2.0"><section name="rtp"><description>RTP.</description><option name="port" type="port" default="4000" min="1" max="65535" takes-effect="new-calls" owner="media"><description>The port.</description></option></section></option-metadata>`), 0o644)
	navigate(t, ctx, f.cs.URL+"/ui/templates")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#apd"), []string{apd}), chromedp.SetUploadFiles(chromedp.CSS("#metadata"), []string{meta}))
	if st := submit(t, ctx, `form[action="/ui/templates"] button[type=submit]`); st != http.StatusOK {
		t.Errorf("template import: status %d", st)
	}
	if tp, err := f.admin.Template(f.ctx, "Media_Server"); err != nil || tp.Version != "2.0" {
		t.Errorf("imported template: %+v %v", tp, err)
	}
	if !strings.Contains(text(t, ctx, "main"), "Imported template Media_Server.") {
		t.Error("no message after the import")
	}
	// A broken one is refused with the reason.
	os.WriteFile(meta, []byte(`<option-metadata type="Media_Server"><section name="rtp"><option name="port" type="no-such-type" default="1"/></section></option-metadata>`), 0o644)
	navigate(t, ctx, f.cs.URL+"/ui/templates")
	do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#apd"), []string{apd}), chromedp.SetUploadFiles(chromedp.CSS("#metadata"), []string{meta}),
		chromedp.Click(chromedp.CSS(`[name=replace]`)))
	if st := submit(t, ctx, `form[action="/ui/templates"] button[type=submit]`); st != http.StatusUnprocessableEntity {
		t.Errorf("broken template import: status %d, want 422", st)
	}
	if msg := text(t, ctx, ".flash.bad"); !strings.Contains(msg, "no-such-type") {
		t.Errorf("broken template import: %q", msg)
	}

	// An option the template does not know is kept and shown apart.
	gw2, _ := f.admin.App(f.ctx, "gw2")
	gw2.Options["web"]["no-such-option"] = "kept"
	if _, err := f.admin.UpdateApp(f.ctx, gw2); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, f.cs.URL+"/ui/apps/gw2")
	if g := text(t, ctx, "#g-other"); !strings.Contains(g, "Not in the template") || !strings.Contains(g, "web/no-such-option") {
		t.Errorf("unknown options group = %q", g)
	}

	pages := []struct{ path, shot string }{
		{"/ui/apps", ""},
		{"/ui/apps/gw1", ""},
		{"/ui/apps/gw1/audit", ""},
		{"/ui/apps/gw2", ""},
		{"/ui/apps/sip1", ""},
		{"/ui/hosts/host2", ""},
		{"/ui/templates/SIP_Server", ""},
		{"/ui/templates/Media_Server", ""},
		{"/ui/hosts", "hosts"},
		{"/ui/hosts/host1", "host"},
		{"/ui/templates", "templates"},
		{"/ui/templates/WebRTC_Gateway", "template"},
		{"/ui/operators", ""},
		{"/ui/audit", "audit-all"},
		{"/ui/audit?kind=operator", ""},
	}
	for _, p := range pages {
		if st := navigate(t, ctx, f.cs.URL+p.path); st != http.StatusOK {
			t.Errorf("%s: status %d", p.path, st)
		}
		html := source(t, ctx)
		for name, secret := range map[string]string{"turn-password": turnSecret, "password hash": "$2a$", "session token": token} {
			if strings.Contains(html, secret) {
				t.Errorf("%s shows the %s", p.path, name)
			}
		}
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|style="`).MatchString(html) {
			t.Errorf("%s has inline script or style", p.path)
		}
		// Keyboard and screen reader users need a name on every control.
		unnamed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll(
			'input:not([type=hidden]), select, textarea, button')).filter(el =>
			!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') &&
			!(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.outerHTML.slice(0, 100))`))
		if err != nil {
			t.Fatal(err)
		}
		if len(unnamed) > 0 {
			t.Errorf("%s: controls without a label: %q", p.path, unnamed)
		}
		if p.shot != "" {
			screenshot(t, ctx, p.shot)
		}
	}

	// Sign out ends the API session too.
	submit(t, ctx, `form[action="/ui/logout"] button`)
	if !strings.Contains(text(t, ctx, "main"), "Signed out.") {
		t.Error("no message after signing out")
	}
	if _, err := f.clientWith(token).Whoami(f.ctx); err == nil {
		t.Error("the session token still works after signing out")
	}
	navigate(t, ctx, f.cs.URL+"/ui/apps/gw1")
	if !strings.Contains(location(ctx), "/ui/login?next=%2Fui%2Fapps%2Fgw1") {
		t.Errorf("signed out, /ui/apps/gw1 leads to %s", location(ctx))
	}
}
