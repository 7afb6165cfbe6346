package ui_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
)

// The tests run the real confserv binary (confserv/confservtest), which
// serves the UI at /ui/, and drive it with real Chromium (internal/testpeers)
// inside a network namespace of their own.

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/confserv-ui.png from the application page")

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testpeers.RunInNetns(m))
}

// The secrets of the fixture: none may ever appear in a page.
const (
	turnSecret    = "Turn-S3cret-0f-the-fixture"
	newTurnSecret = "N3w-Turn-S3cret-typed-in-the-page"
)

// fixture is a running confserv with a host, a SIP Server and gateways.
type fixture struct {
	t     *testing.T
	cs    *confservtest.Server
	admin *client.Client
	ctx   context.Context
	// hostToken and appTokens are the daemons' credentials.
	hostToken string
	appTokens map[string]string
}

// newFixture starts confserv and creates host1 (its LCA reports), sip1 and
// the gateways named, each with a secret turn-password, a status Running and
// an applied report.
func newFixture(t *testing.T, gateways ...string) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cs := confservtest.Start(t, t.TempDir(), 0)
	f := &fixture{t: t, cs: cs, admin: cs.Client("", ""), ctx: ctx, appTokens: map[string]string{}}
	if _, err := f.admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "host1"}, Address: "127.0.0.1", LCAPort: 4999}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "sip1"}, Template: "SIP_Server", Host: "host1", Ports: map[string]int{"default": 5060}}); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.hostToken, err = f.admin.NewHostCredential(ctx, "host1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range gateways {
		f.addGateway(name)
	}
	return f
}

// clientWith returns a client with a daemon's token.
func (f *fixture) clientWith(token string) *client.Client {
	c, err := client.New(client.Config{URL: f.cs.URL, Token: token})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) addGateway(name string) {
	t, ctx := f.t, f.ctx
	t.Helper()
	app, err := f.admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: name}, Template: "WebRTC_Gateway", Host: "host1", Connections: []string{"sip1"},
		WorkingDir: "/var/lib/webrtc-gateway", CommandLine: "/usr/bin/webrtc-gateway", Args: []string{"-app", name}, AutoRestart: true, Ports: map[string]int{"default": 8443}})
	if err != nil {
		t.Fatal(err)
	}
	app.Options["media"]["turn-password"] = turnSecret
	app.Options["media"]["ice-servers"] = "turn:turn.example.com:3478"
	app.Options["media"]["turn-username"] = "gateway"
	if app, err = f.admin.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-(2*time.Hour + 5*time.Minute))
	if err := f.clientWith(f.hostToken).PutStatus(ctx, name, api.AppStatus{Status: "Running", PID: 4242, Since: started.Add(3 * time.Second),
		Started: started, Restarts: 1, Managed: true}); err != nil {
		t.Fatal(err)
	}
	token, err := f.admin.NewCredential(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	f.appTokens[name] = token
	if err := f.clientWith(token).Report(ctx, name, api.Report{Revision: app.Revision, Status: api.ReportApplied}); err != nil {
		t.Fatal(err)
	}
}

// app reads an application as an operator sees it.
func (f *fixture) app(name string) api.Application {
	f.t.Helper()
	a, err := f.admin.App(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// secretOf reads the stored turn-password with the daemon's own token.
func (f *fixture) secretOf(name string) string {
	f.t.Helper()
	a, err := f.clientWith(f.appTokens[name]).App(f.ctx, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Options["media"]["turn-password"]
}

// createOperator creates an operator through the API.
func (f *fixture) createOperator(name, role, password string) {
	f.t.Helper()
	if _, err := f.admin.CreateOperator(f.ctx, api.Operator{Meta: api.Meta{Name: name}, Role: role, Password: password}); err != nil {
		f.t.Fatal(err)
	}
}

// Browser helpers.

// tab opens a tab of its own browser context, laptop-sized, whose dialogs
// (confirm, the warning before leaving unsaved changes) are accepted, and
// which records Content-Security-Policy violations in window.__csp.
func tab(t *testing.T, b *testpeers.Browser) context.Context {
	t.Helper()
	ctx := b.NewTab(t)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.EmulateViewport(1440, 900))
	return ctx
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v (at %s)", err, location(ctx))
	}
}

func location(ctx context.Context) string {
	l, _ := chromedp.Run(ctx, chromedp.Location())
	return l
}

// navigate loads url and returns the response's status.
func navigate(t *testing.T, ctx context.Context, url string) int64 {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	checkPage(t, ctx)
	return res.Status
}

// submit clicks sel, which submits a form, waits for the page it leads to
// and returns the response's status.
func submit(t *testing.T, ctx context.Context, sel string) int64 {
	t.Helper()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("submit %s: %v (at %s)", sel, err, location(ctx))
	}
	checkPage(t, ctx)
	return res.Status
}

// checkPage fails t when the page broke its Content-Security-Policy or
// threw.
func checkPage(t *testing.T, ctx context.Context) {
	t.Helper()
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp || []`))
	if err != nil {
		t.Fatalf("read CSP violations: %v", err)
	}
	if len(violations) > 0 {
		t.Errorf("%s: Content-Security-Policy violations: %v", location(ctx), violations)
	}
	if ex := testpeers.TabExceptions(ctx); len(ex) > 0 {
		t.Errorf("%s: exceptions: %v", location(ctx), ex)
	}
}

// source returns the HTML of the page.
func source(t *testing.T, ctx context.Context) string {
	t.Helper()
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	return html
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v (at %s)", sel, err, location(ctx))
	}
	return s
}

func value(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("value of %s: %v (at %s)", sel, err, location(ctx))
	}
	return s
}

// count returns how many elements match sel.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// typeInto replaces the value of the input sel by typing v.
func typeInto(t *testing.T, ctx context.Context, sel, v string) {
	t.Helper()
	do(t, ctx, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), v))
}

// opt is the CSS selector of the editor row of an option key.
func opt(key string) string { return fmt.Sprintf(`.opt[data-key=%q]`, key) }

// input is the selector of the (first) value input of an option key.
func input(key string) string { return fmt.Sprintf(`[name=%q]:not([type=hidden])`, "v:"+key) }

// signIn signs in on the sign-in page and returns the status of the page it
// leads to.
func signIn(t *testing.T, ctx context.Context, baseURL, name, password string) int64 {
	t.Helper()
	navigate(t, ctx, baseURL+"/ui/login")
	typeInto(t, ctx, "#name", name)
	typeInto(t, ctx, "#password", password)
	return submit(t, ctx, `form[action="/ui/login"] button[type=submit]`)
}

// sessionCookie returns the value of the session cookie of the tab.
func sessionCookie(t *testing.T, ctx context.Context, baseURL string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{baseURL + "/ui/apps"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "confserv_session" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	testpeers.Screenshot(t, ctx, name)
}

// HTTP helpers (no browser).

// session is a signed-in Go HTTP client.
type session struct {
	hc   *http.Client
	base string
	csrf string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// httpSignIn signs in through the UI's form with a cookie jar.
func httpSignIn(t *testing.T, base, name, password string) *session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}, base: base}
	res, err := s.hc.PostForm(base+"/ui/login", url.Values{"name": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Request.URL.Path, "/ui/apps") {
		t.Fatalf("sign in as %s: %d at %s\n%s", name, res.StatusCode, res.Request.URL, body)
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		t.Fatal("no csrf token in the page")
	}
	s.csrf = string(m[1])
	return s
}

// post sends a form, without following redirects, with extra headers.
func (s *session) post(t *testing.T, path string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	hc := *s.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func (s *session) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	res, err := s.hc.Get(s.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}
