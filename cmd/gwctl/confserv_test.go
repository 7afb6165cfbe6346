package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
)

// gwctlBin is gwctl built for the cases run as a process, as operators run
// it. The Configuration Server is the real one too (confservtest).
var gwctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gwctl-test")
	if err != nil {
		panic(err)
	}
	gwctlBin = filepath.Join(dir, "gwctl")
	if out, err := exec.Command("go", "build", "-o", gwctlBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gwctl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// confserv is a Configuration Server process with an empty store.
type confserv struct {
	url, password string
}

// startConfserv starts confserv on a free loopback port with its data in a
// directory of the test's and returns once it serves; it is stopped when
// the test ends.
func startConfserv(t *testing.T) *confserv {
	t.Helper()
	s := confservtest.Start(t, t.TempDir(), 0)
	return &confserv{url: s.URL, password: s.AdminPassword()}
}

// operatorEnv is one operator's gwctl: its own HOME (config file), the
// server from GWCTL_SERVER.
type operatorEnv struct {
	t    *testing.T
	srv  *confserv
	env  map[string]string
	hc   *http.Client
	hook func(*http.Request) // called before each request, when set
}

func newOperator(t *testing.T, srv *confserv) *operatorEnv {
	o := &operatorEnv{t: t, srv: srv, env: map[string]string{"HOME": t.TempDir(), "GWCTL_SERVER": srv.url}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	o.hc = &http.Client{Transport: hookTransport{o, tr}, Timeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return o
}

type hookTransport struct {
	o  *operatorEnv
	rt http.RoundTripper
}

func (h hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.o.hook != nil {
		h.o.hook(r)
	}
	return h.rt.RoundTrip(r)
}

// gwctl runs gwctl in-process.
func (o *operatorEnv) gwctl(stdin string, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, env: func(k string) string { return o.env[k] }, hc: o.hc}
	code = c.main(args)
	return out.String(), errOut.String(), code
}

// ok runs gwctl and fails the test unless it exits 0.
func (o *operatorEnv) ok(args ...string) string {
	o.t.Helper()
	out, errOut, code := o.gwctl("", args...)
	if code != 0 {
		o.t.Fatalf("gwctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// okJSON runs gwctl -o json and decodes its output into v.
func (o *operatorEnv) okJSON(v any, args ...string) {
	o.t.Helper()
	out := o.ok(append([]string{"-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		o.t.Fatalf("gwctl -o json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs gwctl and checks its exit code and that stderr has every want.
func (o *operatorEnv) fails(code int, want []string, args ...string) string {
	o.t.Helper()
	out, errOut, got := o.gwctl("", args...)
	if got != code {
		o.t.Errorf("gwctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			o.t.Errorf("gwctl %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
	return errOut
}

// login signs o in as name.
func (o *operatorEnv) login(name, password string) {
	o.t.Helper()
	out, errOut, code := o.gwctl(password+"\n", "login", "-user", name, "-password-stdin")
	if code != 0 {
		o.t.Fatalf("login %s: exit %d: %s", name, code, errOut)
	}
	if !strings.Contains(out, "signed in to "+o.srv.url+" as "+name) {
		o.t.Fatalf("login %s: stdout %q", name, out)
	}
}

func admin(t *testing.T) (*confserv, *operatorEnv) {
	srv := startConfserv(t)
	o := newOperator(t, srv)
	o.login("admin", srv.password)
	return srv, o
}

// process runs the gwctl binary.
func process(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(gwctlBin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestProcess drives the gwctl binary end to end: sign-in from a script,
// the config file it leaves, a listing, a refused value and a bad password.
func TestProcess(t *testing.T) {
	srv := startConfserv(t)
	home := t.TempDir()
	env := []string{"HOME=" + home, "GWCTL_SERVER=" + srv.url}

	out, errOut, code := process(t, env, srv.password+"\n", "login", "-user", "admin", "-password-stdin")
	if code != 0 || !strings.Contains(out, "as admin (admin) until ") {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	cfgDir := filepath.Join(home, ".config", "gwctl")
	for p, want := range map[string]os.FileMode{cfgDir: 0o700, filepath.Join(cfgDir, "config.json"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %04o", p, err, fi.Mode().Perm(), want)
		}
	}
	cfg, err := loadConfig(filepath.Join(cfgDir, "config.json"))
	if err != nil || cfg.Server != srv.url || cfg.User != "admin" || !strings.HasPrefix(cfg.Token, "s_") && cfg.Token == "" || cfg.Expires.Before(time.Now()) {
		t.Errorf("config file = %+v, %v", cfg, err)
	}

	// The config file alone is enough now: no GWCTL_SERVER.
	out, errOut, code = process(t, []string{"HOME=" + home}, "", "whoami")
	if code != 0 || !strings.HasPrefix(out, "admin (admin) on "+srv.url+", session until ") {
		t.Errorf("whoami: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code = process(t, env, "", "app", "create", "gw1", "--template", "WebRTC_Gateway"); code != 0 {
		t.Fatalf("app create: exit %d, %s", code, errOut)
	}
	out, _, code = process(t, env, "", "app", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^gw1\s+WebRTC_Gateway\s+-\s+WebRTC_Gateway\s+\d+\s+-\s+-$`).MatchString(out) {
		t.Errorf("app list: exit %d:\n%s", code, out)
	}
	_, errOut, code = process(t, env, "", "options", "set", "gw1", "web/https-port=99999", "media/rtp-port-min=abc")
	if code != exitInvalid || !strings.Contains(errOut, "\nweb/https-port: ") || !strings.Contains(errOut, "\nmedia/rtp-port-min: ") {
		t.Errorf("options set of invalid values: exit %d, want 4, stderr:\n%s", code, errOut)
	}
	out, _, _ = process(t, env, "", "options", "get", "gw1", "web/https-port")
	if out != "8443\n" {
		t.Errorf("web/https-port after a refused write = %q, want 8443", out)
	}

	_, errOut, code = process(t, []string{"HOME=" + t.TempDir(), "GWCTL_SERVER=" + srv.url}, "not-the-password\n", "login", "-user", "admin")
	if code != exitError || !strings.Contains(errOut, "wrong user name or password") {
		t.Errorf("login with a bad password: exit %d, stderr %q", code, errOut)
	}

	out, _, code = process(t, env, "", "logout")
	if code != 0 || !strings.Contains(out, "signed out") {
		t.Errorf("logout: exit %d, %q", code, out)
	}
	if cfg, _ := loadConfig(filepath.Join(cfgDir, "config.json")); cfg.Token != "" || cfg.Server != srv.url {
		t.Errorf("config after logout = %+v, want the server and no token", cfg)
	}
	_, errOut, code = process(t, env, "", "app", "list")
	if code != exitError || !strings.Contains(errOut, "run gwctl login") {
		t.Errorf("app list after logout: exit %d, stderr %q", code, errOut)
	}
}

func TestLogin(t *testing.T) {
	srv := startConfserv(t)
	o := newOperator(t, srv)
	o.fails(exitError, []string{"stdin ended before a line was read"}, "login", "-user", "admin", "-password-stdin")
	_, errOut, code := o.gwctl("nope\n", "login", "-user", "admin", "-password-stdin")
	if code != exitError || !strings.Contains(errOut, "wrong user name or password") {
		t.Errorf("bad password: exit %d, %q", code, errOut)
	}
	_, errOut, code = o.gwctl("", "login", "-password-stdin")
	if code != exitUsage || !strings.Contains(errOut, "-user NAME is needed") {
		t.Errorf("login without a user off a terminal: exit %d, %q", code, errOut)
	}
	o.login("admin", srv.password)
	var who map[string]any
	o.okJSON(&who, "whoami")
	if who["name"] != "admin" || who["role"] != "admin" || who["server"] != srv.url || who["expires"] == nil {
		t.Errorf("whoami -o json = %v", who)
	}
	// The user is remembered for the next login.
	_, errOut, code = o.gwctl(srv.password+"\n", "login", "-password-stdin")
	if code != 0 {
		t.Errorf("second login without -user: exit %d, %s", code, errOut)
	}

	// A token from the environment is used over the config file's; a bad
	// one is said to come from there.
	o.env["GWCTL_TOKEN"] = "s_nope"
	o.fails(exitError, []string{"the token from the environment is unknown or expired"}, "app", "list")
	delete(o.env, "GWCTL_TOKEN")
	o.ok("app", "list")

	// Another server named by a flag does not get the config file's token.
	o.fails(exitError, []string{"not signed in to http://127.0.0.1:1"}, "-server", "http://127.0.0.1:1", "app", "list")
	// Nor does an unreachable server hang or puzzle.
	o.fails(exitError, []string{"cannot reach the Configuration Server at http://127.0.0.1:1"}, "-server", "http://127.0.0.1:1", "-token", "x", "app", "list")

	// Logout with a token from the environment ends that session and leaves
	// the config file alone (here, the same session).
	cfgPath := filepath.Join(o.env["HOME"], ".config", "gwctl", "config.json")
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	o.env["GWCTL_TOKEN"] = cfg.Token
	if out := o.ok("logout"); !strings.Contains(out, "the token came from the environment; the config file is unchanged") {
		t.Errorf("logout with GWCTL_TOKEN: %q", out)
	}
	delete(o.env, "GWCTL_TOKEN")
	o.fails(exitError, []string{"not signed in or the session expired: run gwctl login"}, "app", "list")
	// Logout of an ended session still clears the config file.
	if out := o.ok("logout"); !strings.Contains(out, "signed out of "+srv.url) {
		t.Errorf("logout: %q", out)
	}
	if cfg, _ := loadConfig(cfgPath); cfg.Token != "" || cfg.User != "admin" {
		t.Errorf("config after logout = %+v", cfg)
	}
	if out := o.ok("logout"); !strings.Contains(out, "not signed in to") {
		t.Errorf("second logout: %q", out)
	}
}

func TestApps(t *testing.T) {
	_, o := admin(t)
	o.ok("host", "create", "host1", "--address", "10.0.0.5", "--lca-port", "4999")
	out := o.ok("app", "create", "sip1", "--template", "SIP_Server", "--host", "host1", "--port", "5060")
	if !strings.Contains(out, "created application sip1 (type SIP_Server, template SIP_Server)") {
		t.Errorf("app create sip1: %q", out)
	}
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway", "--host", "host1", "--connect", "sip1",
		"--arg", "-app", "--arg", "gw1", "--working-dir", "/var/lib/webrtc-gateway", "--auto-restart")
	o.fails(exitError, []string{"an application named gw1 exists already"}, "app", "create", "gw1", "--template", "WebRTC_Gateway")
	o.fails(exitError, []string{"no template"}, "app", "create", "gw2", "--template", "Nope")

	// The host's Local Control Agent reports sip1 running.
	out, errOut, code := o.gwctl("", "host", "credentials", "host1")
	hostToken := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(hostToken, "gwhost_") || !strings.Contains(errOut, "only this once") {
		t.Fatalf("host credentials: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	lca, err := client.New(client.Config{URL: o.srv.url, Token: hostToken, HTTPClient: o.hc})
	if err != nil {
		t.Fatal(err)
	}
	if err := lca.PutStatus(context.Background(), "sip1", api.AppStatus{Status: "Running", PID: 4242, Since: time.Now(), Managed: true}); err != nil {
		t.Fatal(err)
	}

	out = o.ok("app", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^NAME\s+TYPE\s+HOST\s+TEMPLATE\s+REVISION\s+REPORT\s+STATUS$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^gw1\s+WebRTC_Gateway\s+host1\s+WebRTC_Gateway\s+\d+\s+-\s+-$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^sip1\s+SIP_Server\s+host1\s+SIP_Server\s+\d+\s+-\s+Running$`).MatchString(lines[2]) {
		t.Errorf("app list:\n%s", out)
	}
	var apps []api.Application
	o.okJSON(&apps, "app", "list")
	if len(apps) != 2 || apps[0].Name != "gw1" || apps[0].Connections[0] != "sip1" || apps[1].Ports["default"] != 5060 {
		t.Errorf("app list -o json = %+v", apps)
	}

	out = o.ok("app", "show", "gw1")
	for _, want := range []string{"name:          gw1\n", "host:          host1\n", "args:          -app gw1\n", "connections:   sip1\n",
		"auto restart:  true\n", " by admin\n", "options:\n[web]\n  https-port ", "annex:\n[sml]\n"} {
		if !strings.Contains(out, want) && !strings.Contains(out, strings.TrimSuffix(want, "\n")) {
			t.Errorf("app show lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "[web]") > strings.Index(out, "[log]") {
		t.Errorf("app show: sections not in the template's order:\n%s", out)
	}
	if out := o.ok("app", "show", "sip1"); !regexp.MustCompile(`(?m)^status:\s+Running since .* \(pid 4242\)$`).MatchString(out) {
		t.Errorf("app show sip1 lacks its status:\n%s", out)
	}
	var a api.Application
	o.okJSON(&a, "app", "show", "gw1")
	if a.Name != "gw1" || a.Options["web"]["https-port"] != "8443" {
		t.Errorf("app show -o json = %+v", a)
	}

	o.fails(exitError, []string{"host host1 has applications"}, "host", "delete", "host1")
	o.ok("host", "credentials", "host1", "--revoke")
	if err := lca.PutStatus(context.Background(), "sip1", api.AppStatus{Status: "Running"}); !client.HasStatus(err, http.StatusUnauthorized) {
		t.Errorf("status with a revoked host token: %v, want 401", err)
	}
	out = o.ok("app", "delete", "gw1")
	if !strings.Contains(out, "deleted application gw1") {
		t.Errorf("app delete: %q", out)
	}
	o.fails(exitError, []string{"no application gw1"}, "app", "show", "gw1")
	o.fails(exitError, []string{"no application gw1"}, "app", "delete", "gw1")
	o.ok("app", "delete", "sip1")
	o.ok("host", "delete", "host1")
	var hosts []api.Host
	o.okJSON(&hosts, "host", "list")
	if len(hosts) != 0 {
		t.Errorf("host list after delete = %+v", hosts)
	}
}

func TestOptions(t *testing.T) {
	_, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")

	out := o.ok("options", "get", "gw1")
	for _, re := range []string{`(?m)^OPTION\s+VALUE\s+SOURCE$`, `(?m)^web/https-port\s+8443\s+set$`, `(?m)^web/certificate\s+""\s+default$`, `(?m)^log/verbose\s+standard\s+set$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("options get gw1 does not match %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "sml/") {
		t.Errorf("options get shows the annex:\n%s", out)
	}
	out = o.ok("options", "get", "gw1", "web")
	if strings.Contains(out, "sip/") || !strings.Contains(out, "web/demo-page") {
		t.Errorf("options get gw1 web:\n%s", out)
	}
	if out := o.ok("options", "get", "gw1", "web/https-port"); out != "8443\n" {
		t.Errorf("options get gw1 web/https-port = %q", out)
	}
	if out := o.ok("options", "get", "gw1", "--annex", "sml/autostart"); out != "false\n" {
		t.Errorf("options get --annex sml/autostart = %q", out)
	}
	o.fails(exitError, []string{"[sml] is on the other side: run it with --annex"}, "options", "get", "gw1", "sml")
	o.fails(exitError, []string{"no option web/htps-port", "did you mean web/https-port?"}, "options", "get", "gw1", "web/htps-port")
	var row optionRow
	o.okJSON(&row, "options", "get", "gw1", "web/certificate")
	if row != (optionRow{Section: "web", Option: "certificate", Value: "", Set: false, Default: ""}) {
		t.Errorf("options get -o json web/certificate = %+v", row)
	}

	var before api.Application
	o.okJSON(&before, "app", "show", "gw1")
	out = o.ok("options", "set", "gw1", "web/https-port=9443", "log/verbose=debug", "web/demo-page=")
	want := fmt.Sprintf("gw1: revision %d written (was %d)\n  web/https-port: 8443 → 9443\n  log/verbose: standard → debug\n  web/demo-page: true → (unset)\n", before.Revision+1, before.Revision)
	if out != want {
		t.Errorf("options set:\n%s\nwant\n%s", out, want)
	}
	out = o.ok("options", "get", "gw1", "web")
	for _, re := range []string{`(?m)^web/https-port\s+9443\s+set$`, `(?m)^web/demo-page\s+true\s+default$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("options get after set does not match %s:\n%s", re, out)
		}
	}
	if out := o.ok("options", "set", "gw1", "web/https-port=9443"); !strings.Contains(out, "nothing to change") {
		t.Errorf("options set of the same value: %q", out)
	}
	var res setResult
	o.okJSON(&res, "options", "set", "gw1", "--annex", "sml/autostart=true")
	if res.Revision != before.Revision+2 || len(res.Changes) != 1 || res.Changes[0] != (change{Option: "sml/autostart", Old: "false", New: "true"}) {
		t.Errorf("options set -o json = %+v", res)
	}

	// Refused by the server: every problem, one a line as given, exit 4.
	errOut := o.fails(exitInvalid, []string{"nothing was written"}, "options", "set", "gw1", "web/https-port=99999", "media/rtp-port-min=abc", "sip/sip-transport=carrier-pigeon")
	problems := 0
	for line := range strings.SplitSeq(errOut, "\n") {
		for _, p := range []string{"web/https-port: ", "media/rtp-port-min: ", "sip/sip-transport: "} {
			if strings.HasPrefix(line, p) {
				problems++
			}
		}
	}
	if problems != 3 {
		t.Errorf("422: %d problem lines, want 3:\n%s", problems, errOut)
	}
	// Refused before writing: an option the template does not know.
	o.fails(exitInvalid, []string{"web/htps-port: template WebRTC_Gateway has no such option (did you mean web/https-port?)", "--force"}, "options", "set", "gw1", "web/htps-port=1")
	o.fails(exitInvalid, []string{"[sml] is on the other side, set it with --annex"}, "options", "set", "gw1", "sml/autostart=true")
	if out := o.ok("options", "get", "gw1", "web/https-port"); out != "9443\n" {
		t.Errorf("web/https-port after refused writes = %q, want 9443", out)
	}
	// --force writes it; the server keeps it with a warning.
	_, errOut, code := o.gwctl("", "options", "set", "gw1", "--force", "web/custom=1")
	if code != 0 || !strings.Contains(errOut, "warning") {
		t.Errorf("options set --force of an unknown option: exit %d, stderr %q", code, errOut)
	}
	out = o.ok("options", "get", "gw1", "web")
	if !regexp.MustCompile(`(?m)^web/custom\s+1\s+set, not in the template$`).MatchString(out) {
		t.Errorf("unknown option not shown as such:\n%s", out)
	}
	o.ok("options", "set", "gw1", "web/custom=") // removing is always allowed
}

// TestOptionsConflict has a second writer change the application between
// gwctl's read and its write.
func TestOptionsConflict(t *testing.T) {
	srv, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	other := newOperator(t, srv)
	other.login("admin", srv.password)

	// Before o's request with method, the other operator writes.
	interleave := func(method string, args ...string) {
		var once sync.Once
		o.hook = func(r *http.Request) {
			if r.Method == method {
				once.Do(func() { other.ok(args...) })
			}
		}
	}
	interleave(http.MethodPut, "options", "set", "gw1", "web/https-port=9000")
	errOut := o.fails(exitConflict, []string{
		"gw1 was changed by someone else after you read it",
		"written by admin",
		"nothing was written",
		"web/https-port: you read 8443, it is now 9000; you are setting 9443",
		"log/verbose: unchanged meanwhile (standard); you are setting debug",
		"--retry",
	}, "options", "set", "gw1", "web/https-port=9443", "log/verbose=debug")
	if strings.Contains(errOut, "re-applying") {
		t.Errorf("re-applied without --retry:\n%s", errOut)
	}
	if out := o.ok("options", "get", "gw1", "web/https-port"); out != "9000\n" {
		t.Errorf("after the conflict web/https-port = %q, want the other writer's 9000", out)
	}

	// --retry re-reads and re-applies once.
	interleave(http.MethodPut, "options", "set", "gw1", "web/https-port=9001")
	_, errOut, code := o.gwctl("", "options", "set", "--retry", "gw1", "web/https-port=9443")
	if code != 0 || !strings.Contains(errOut, "you read 9000, it is now 9001") || !strings.Contains(errOut, "re-applying your values") {
		t.Errorf("--retry: exit %d, stderr:\n%s", code, errOut)
	}
	if out := o.ok("options", "get", "gw1", "web/https-port"); out != "9443\n" {
		t.Errorf("after --retry web/https-port = %q, want 9443", out)
	}

	// Only once: a writer that always comes first still ends in a conflict.
	o.hook = func(r *http.Request) {
		if r.Method == http.MethodPut {
			other.ok("options", "set", "gw1", "--force", fmt.Sprintf("web/x=%d", time.Now().UnixNano()))
		}
	}
	o.fails(exitConflict, []string{"re-applying", "nothing was written"}, "options", "set", "--retry", "gw1", "web/https-port=9444")

	// A delete between the read and the write of app delete.
	interleave(http.MethodDelete, "options", "set", "gw1", "web/https-port=9002")
	o.fails(exitConflict, []string{"changed meanwhile"}, "app", "delete", "gw1")
	o.hook = nil
	o.ok("app", "show", "gw1")
}

// TestOptionsWait has a daemon (its credential, through the Go client)
// report on the new revision while gwctl waits.
func TestOptionsWait(t *testing.T) {
	srv, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	token := strings.TrimSpace(o.ok("credentials", "gw1"))
	daemon, err := client.New(client.Config{URL: srv.url, Token: token, HTTPClient: o.hc})
	if err != nil {
		t.Fatal(err)
	}
	// report answers every new revision of gw1 with status, until ctx ends.
	report := func(ctx context.Context, status, msg string) <-chan struct{} {
		done := make(chan struct{})
		first, err := daemon.App(ctx, "gw1")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				a, err := daemon.App(ctx, "gw1")
				if err == nil && a.Revision > first.Revision && (a.Report == nil || a.Report.Revision < a.Revision) {
					daemon.Report(ctx, "gw1", api.Report{Revision: a.Revision, Status: status, Error: msg})
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		return done
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := report(ctx, api.ReportApplied, "")
	out, errOut, code := o.gwctl("", "options", "set", "gw1", "log/verbose=debug", "--wait", "20s")
	cancel()
	<-done
	if code != 0 || !regexp.MustCompile(`gw1: revision (\d+) applied by the daemon`).MatchString(out) {
		t.Errorf("--wait, applied: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	out = o.ok("app", "list")
	if !regexp.MustCompile(`(?m)^gw1\s.*\sapplied@\d+\s+-$`).MatchString(out) {
		t.Errorf("app list after a report:\n%s", out)
	}

	ctx, cancel = context.WithCancel(context.Background())
	done = report(ctx, api.ReportRejected, "media/rtp-port-min: the ports are in use")
	o.fails(exitRejected, []string{"gw1's daemon rejected revision", "media/rtp-port-min: the ports are in use"}, "options", "set", "gw1", "log/verbose=trace", "--wait", "20s")
	cancel()
	<-done

	var res setResult
	out, errOut, code = o.gwctl("", "-o", "json", "options", "set", "gw1", "log/verbose=standard", "--wait", "300ms")
	if code != exitTimeout || !strings.Contains(errOut, "did not report on revision") || json.Unmarshal([]byte(out), &res) != nil || res.Report == nil || res.Report.Status != api.ReportRejected {
		t.Errorf("--wait, no report: exit %d, want 6\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

func TestTemplates(t *testing.T) {
	_, o := admin(t)
	var ts []api.Template
	o.okJSON(&ts, "template", "list")
	if len(ts) != 2 {
		t.Errorf("template list: %d templates, want the two shipped", len(ts))
	}
	o.fails(exitError, []string{"template WebRTC_Gateway exists already: --replace replaces it"}, "template", "import", "../../templates/WebRTC_Gateway.apd")
	out := o.ok("template", "import", "../../templates/WebRTC_Gateway.apd", "--replace")
	if !strings.Contains(out, "replaced template WebRTC_Gateway (type WebRTC_Gateway, version 0.1.0)") {
		t.Errorf("template import --replace: %q", out)
	}

	// A new template from files elsewhere, metadata by --metadata and by
	// default the sibling.
	dir := t.TempDir()
	apd, err := os.ReadFile("../../templates/WebRTC_Gateway.apd")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := os.ReadFile("../../templates/WebRTC_Gateway.metadata.xml")
	if err != nil {
		t.Fatal(err)
	}
	rename := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`type="WebRTC_Gateway"`), []byte(`type="Test_Gateway"`), 1)
	}
	apdPath := filepath.Join(dir, "Test_Gateway.apd")
	writeFile(t, apdPath, rename(apd))
	o.fails(exitError, []string{"no metadata file " + filepath.Join(dir, "Test_Gateway.metadata.xml"), "--metadata"}, "template", "import", apdPath)
	writeFile(t, filepath.Join(dir, "other.xml"), rename(meta))
	out = o.ok("template", "import", apdPath, "--metadata", filepath.Join(dir, "other.xml"))
	if !strings.Contains(out, "imported template Test_Gateway") {
		t.Errorf("template import: %q", out)
	}
	o.ok("template", "delete", "Test_Gateway")
	writeFile(t, filepath.Join(dir, "Test_Gateway.metadata.xml"), rename(meta))
	o.ok("template", "import", apdPath)

	out = o.ok("template", "show", "Test_Gateway")
	if !regexp.MustCompile(`(?m)^web/https-port\s+port\s+8443\s+listener$`).MatchString(out) || !strings.Contains(out, "annex:\n") {
		t.Errorf("template show:\n%s", out)
	}
	o.ok("app", "create", "tg", "--template", "Test_Gateway")
	o.fails(exitError, []string{"template Test_Gateway is used by applications"}, "template", "delete", "Test_Gateway")
	o.fails(exitError, []string{"not an application template"}, "template", "import", "../../templates/WebRTC_Gateway.metadata.xml", "--metadata", "../../templates/WebRTC_Gateway.metadata.xml")
}

func TestAudit(t *testing.T) {
	_, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	o.ok("options", "set", "gw1", "web/https-port=9443")
	o.ok("host", "create", "h1", "--address", "10.0.0.1")

	out := o.ok("audit", "gw1")
	lines := strings.Split(out, "\n")
	if !regexp.MustCompile(`^REVISION\s+TIME\s+WHO\s+KIND\s+NAME\s+OP$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\s+admin\s+application\s+gw1\s+put$`).MatchString(lines[1]) ||
		lines[2] != "    options/web/https-port: 8443 → 9443" {
		t.Errorf("audit gw1:\n%s", out)
	}
	if strings.Contains(out, "host") {
		t.Errorf("audit gw1 shows other objects:\n%s", out)
	}
	if !strings.Contains(out, "more (--all shows them)") {
		t.Errorf("audit gw1: the creation's fields are not cut short:\n%s", out)
	}
	if all := o.ok("audit", "gw1", "--all"); strings.Contains(all, "--all shows them") {
		t.Errorf("audit --all cuts short:\n%s", all)
	}
	var entries []api.AuditEntry
	o.okJSON(&entries, "audit", "--limit", "2")
	if len(entries) != 2 || entries[0].Kind != api.KindHost || entries[1].Changes[0].Field != "options/web/https-port" {
		t.Errorf("audit --limit 2 -o json = %+v", entries)
	}
	o.okJSON(&entries, "audit", "--kind", "host")
	if len(entries) != 1 || entries[0].Name != "h1" {
		t.Errorf("audit --kind host = %+v", entries)
	}
}

func TestCredentials(t *testing.T) {
	srv, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	out, errOut, code := o.gwctl("", "credentials", "gw1")
	first := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(first, "gwapp_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "replaces gw1's previous one") || !strings.Contains(errOut, "only this once") {
		t.Fatalf("credentials: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The daemon's token works with gwctl too.
	daemon := newOperator(t, srv)
	if out := daemon.ok("-token", first, "whoami"); !strings.HasPrefix(out, "gw1 (application) on ") {
		t.Errorf("whoami with the application token: %q", out)
	}
	var cred map[string]string
	o.okJSON(&cred, "credentials", "gw1")
	if cred["application"] != "gw1" || !strings.HasPrefix(cred["token"], "gwapp_") || cred["token"] == first {
		t.Errorf("credentials -o json = %v", cred)
	}
	daemon.fails(exitError, []string{"the token from the flag is unknown or expired"}, "-token", first, "whoami")
	daemon.ok("-token", cred["token"], "whoami")
	o.ok("credentials", "gw1", "--revoke")
	daemon.fails(exitError, []string{"unknown or expired"}, "-token", cred["token"], "whoami")
	o.fails(exitError, []string{"no application gw9"}, "credentials", "gw9")
}

func TestOperators(t *testing.T) {
	srv, o := admin(t)
	_, errOut, code := o.gwctl("alice-password\n", "operator", "create", "alice", "--role", "operator", "-password-stdin")
	if code != 0 {
		t.Fatalf("operator create: exit %d, %s", code, errOut)
	}
	_, _, code = o.gwctl("viewer-password\n", "operator", "create", "vera", "--role", "viewer")
	if code != 0 {
		t.Fatal("operator create vera")
	}
	out := o.ok("operator", "list")
	if !regexp.MustCompile(`(?m)^alice\s+operator\s+\d+\s`).MatchString(out) || !regexp.MustCompile(`(?m)^vera\s+viewer\s`).MatchString(out) {
		t.Errorf("operator list:\n%s", out)
	}
	var ops []api.Operator
	o.okJSON(&ops, "operator", "list")
	if len(ops) != 3 {
		t.Errorf("operator list -o json = %+v", ops)
	}

	alice := newOperator(t, srv)
	alice.login("alice", "alice-password")
	alice.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	alice.fails(exitError, []string{"your role does not allow this"}, "operator", "list")
	alice.fails(exitError, []string{"your role does not allow this"}, "credentials", "gw1")

	vera := newOperator(t, srv)
	vera.login("vera", "viewer-password")
	vera.ok("options", "get", "gw1")
	vera.fails(exitError, []string{"your role does not allow this"}, "options", "set", "gw1", "log/verbose=debug")

	if _, errOut, code := o.gwctl("alice-new-password\n", "operator", "passwd", "alice", "-password-stdin"); code != 0 {
		t.Fatalf("operator passwd: exit %d, %s", code, errOut)
	}
	_, errOut, code = alice.gwctl("alice-password\n", "login", "-password-stdin")
	if code != exitError || !strings.Contains(errOut, "wrong user name or password") {
		t.Errorf("login with the old password: exit %d, %s", code, errOut)
	}
	alice.login("alice", "alice-new-password")
	o.ok("operator", "delete", "alice")
	o.fails(exitError, []string{"no operator alice"}, "operator", "delete", "alice")
	alice.fails(exitError, []string{"run gwctl login"}, "app", "list")
}

func TestBackup(t *testing.T) {
	_, o := admin(t)
	o.ok("app", "create", "gw1", "--template", "WebRTC_Gateway")
	file := filepath.Join(t.TempDir(), "confserv.db")
	out := o.ok("backup", file)
	fi, err := os.Stat(file)
	if err != nil || fi.Size() == 0 || out != fmt.Sprintf("saved a copy of the store (%d bytes) to %s\n", fi.Size(), file) {
		t.Errorf("backup: %q, %v", out, err)
	}
	o.fails(exitError, []string{"back up the store into /nonexistent/x.db"}, "backup", "/nonexistent/x.db")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
