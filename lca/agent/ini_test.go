package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/lca/agent"
	"webrtcgw/logging/loggingtest"
	"webrtcgw/options"
)

const goodINI = `; the applications of host1
[lca]
host-name = host1
app-users = root, 1234

[app gw1]
type = WebRTC_Gateway
working-directory = /var/lib/webrtc-gateway
command-line = /usr/bin/webrtc-gateway
arguments = -config "/etc/webrtc gateway/gw1.ini" -lca-port 4999 -x 'a;b#c'
auto-restart = true
heartbeat-period = 10
hangup-restart = false
autostart = yes
suspending-wait-timeout = 30

[app sip1]
command-line = ./sip-server
`

func TestParseINI(t *testing.T) {
	defs, err := agent.ParseINI([]byte(goodINI))
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Defs{Host: "host1", AppUsers: []uint32{0, 1234}, Apps: []agent.AppDef{
		{Name: "gw1", Type: "WebRTC_Gateway", WorkingDir: "/var/lib/webrtc-gateway", CommandLine: "/usr/bin/webrtc-gateway",
			Args:        []string{"-config", "/etc/webrtc gateway/gw1.ini", "-lca-port", "4999", "-x", "a;b#c"},
			AutoRestart: true,
			SML:         options.SML{HeartbeatPeriod: 10 * time.Second, HangupRestart: false, Autostart: true, SuspendingWaitTimeout: 30 * time.Second}},
		{Name: "sip1", CommandLine: "./sip-server", SML: agent.DefaultSML()},
	}}
	if diff := cmp.Diff(want, defs); diff != "" {
		t.Errorf("ParseINI (-want +got):\n%s", diff)
	}
}

// TestDefaultSML: an annex without keys takes the catalog's defaults.
func TestDefaultSML(t *testing.T) {
	got, err := agent.ParseSML(nil)
	want := options.SML{HeartbeatPeriod: 0, HangupRestart: true, Autostart: false, SuspendingWaitTimeout: 10 * time.Second}
	if err != nil || got != want {
		t.Errorf("ParseSML(nil) = %+v, %v; want %+v", got, err, want)
	}
	lenient, problems := agent.SMLLenient(map[string]string{"heartbeat-period": "soon", "autostart": "true", "other": "x"})
	want.Autostart = true
	if lenient != want || len(problems) != 1 || problems[0].Key() != "sml/heartbeat-period" {
		t.Errorf("SMLLenient = %+v, %v", lenient, problems)
	}
}

// TestINIErrors: every mistake names its section and key.
func TestINIErrors(t *testing.T) {
	app := "[app gw1]\ncommand-line = /bin/true\n"
	cases := []struct {
		name, ini, want string
	}{
		{"unknown key", app + "auto-restrat = true\n", "[app gw1] auto-restrat: unknown key"},
		{"bad boolean", app + "auto-restart = maybe\n", `[app gw1] auto-restart: "maybe" is not true or false`},
		{"bad heartbeat", app + "heartbeat-period = 5000\n", "[app gw1] heartbeat-period: "},
		{"negative timeout", app + "suspending-wait-timeout = -1\n", "[app gw1] suspending-wait-timeout: "},
		{"bad sml boolean", app + "hangup-restart = sometimes\n", "[app gw1] hangup-restart: "},
		{"no command line", "[app gw1]\ntype = x\n", "[app gw1] command-line: missing"},
		{"unterminated quote", app + "arguments = -config \"x\n", "[app gw1] arguments: unterminated \" quote"},
		{"key twice", app + "type = a\ntype = b\n", "[app gw1] type: given 2 times"},
		{"section twice", app + app, "[app gw1]: section given twice"},
		{"bad name", "[app gw/1]\ncommand-line = x\n", `[app gw/1]: application name "gw/1"`},
		{"unknown section", "[apps gw1]\ncommand-line = x\n", "[apps gw1]: unknown section"},
		{"app without name", "[app]\ncommand-line = x\n", "[app]: unknown section"},
		{"outside a section", "type = x\n" + app, "type: outside any section"},
		{"unknown lca key", "[lca]\nport = 4999\n", "[lca] port: unknown key"},
		{"bad host name", "[lca]\nhost-name = a b\n", "[lca] host-name: "},
		{"unknown app user", "[lca]\napp-users = 0, lcatest-nosuchuser\n", `[lca] app-users: unknown user "lcatest-nosuchuser"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := agent.ParseINI([]byte(c.ini))
			var ce *agent.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParseINI = %v; want a *ConfigError containing %q", err, c.want)
			}
		})
	}
	// LoadINI names the file.
	path := filepath.Join(t.TempDir(), "lca.ini")
	os.WriteFile(path, []byte(app+"autostart = 2\n"), 0o600)
	if _, err := agent.LoadINI(path); err == nil || !strings.HasPrefix(err.Error(), path+": [app gw1] autostart: ") {
		t.Errorf("LoadINI = %v", err)
	}
	if _, err := agent.LoadINI(filepath.Join(t.TempDir(), "none.ini")); err == nil {
		t.Error("LoadINI of a missing file succeeded")
	}
}

// TestINISourceReload: SIGHUP rereads the file; an invalid file keeps the
// definitions in force.
func TestINISourceReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lca.ini")
	write := func(s string) { // atomically: the source never reads half a file
		if err := os.WriteFile(path+".tmp", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("[app gw1]\ncommand-line = /bin/a\n")
	hangup := make(chan os.Signal, 1)
	log := &loggingtest.Buffer{}
	src := &agent.INISource{Path: path, Host: "override", Hangup: hangup, Log: hclog.New(&hclog.LoggerOptions{Output: log})}
	got := make(chan agent.Defs, 4)
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(c, func(d agent.Defs) { got <- d }) }()
	next := func() agent.Defs {
		t.Helper()
		select {
		case d := <-got:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("no definitions")
			return agent.Defs{}
		}
	}
	if d := next(); d.Host != "override" || len(d.Apps) != 1 || d.Apps[0].CommandLine != "/bin/a" {
		t.Errorf("first = %+v", d)
	}
	write("[app gw1]\ncommand-line = /bin/b\n")
	hangup <- syscall.SIGHUP
	if d := next(); d.Apps[0].CommandLine != "/bin/b" {
		t.Errorf("reloaded = %+v", d)
	}
	write("[app gw1]\nbroken = yes\n")
	hangup <- syscall.SIGHUP
	eventually(t, "the invalid file refused", func() bool {
		return strings.Contains(log.String(), "configuration not reloaded: the previous one stays in force") &&
			strings.Contains(log.String(), "[app gw1] broken: unknown key")
	})
	write("[app gw1]\ncommand-line = /bin/c\n[app gw2]\ncommand-line = /bin/d\n")
	hangup <- syscall.SIGHUP
	if d := next(); len(d.Apps) != 2 || d.Apps[0].CommandLine != "/bin/c" {
		t.Errorf("after an invalid file, then a valid one = %+v", d)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	// A first read that fails is Run's error.
	write("[app gw1]\n")
	if err := (&agent.INISource{Path: path}).Run(context.Background(), func(agent.Defs) { t.Error("applied an invalid file") }); err == nil {
		t.Error("Run of an invalid file succeeded")
	}
}

func TestSplitArgs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"  -a  b\tc ", []string{"-a", "b", "c"}, false},
		{`-config "/etc/my dir/x.ini"`, []string{"-config", "/etc/my dir/x.ini"}, false},
		{`'single $HOME "q"'`, []string{`single $HOME "q"`}, false},
		{`"a \"b\" \\ \n"`, []string{`a "b" \ \n`}, false},
		{`a\ b c`, []string{"a b", "c"}, false},
		{`""`, []string{""}, false},
		{`x'y'"z"`, []string{"xyz"}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
		{`end\`, nil, true},
		{"nul\x00", nil, true},
	}
	for _, c := range cases {
		got, err := agent.SplitArgs(c.in)
		if (err != nil) != c.err || !cmp.Equal(got, c.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

// FuzzSplitArgs: SplitArgs never panics, and JoinArgs quotes what it
// splits so that it splits back the same.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{"", "-a b", `"x y" 'z'`, `a\ b`, `"\\\""`, `'it'\''s'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := agent.SplitArgs(s)
		if err != nil {
			return
		}
		again, err := agent.SplitArgs(agent.JoinArgs(args))
		if err != nil || !slices.Equal(args, again) {
			t.Errorf("SplitArgs(JoinArgs(%q)) = %q, %v", args, again, err)
		}
	})
}

// FuzzParseINI: any input is either definitions the agent takes or a
// *ConfigError; never a panic.
func FuzzParseINI(f *testing.F) {
	f.Add(goodINI)
	f.Add("[app gw1]\ncommand-line = x\narguments = \"a b\" 'c'\n")
	f.Add("[lca]\nhost-name = h\n[app x]\n")
	f.Fuzz(func(t *testing.T, s string) {
		defs, err := agent.ParseINI([]byte(s))
		if err != nil {
			var ce *agent.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %v is not a *ConfigError", err)
			}
			return
		}
		for _, a := range defs.Apps {
			if a.Name == "" || a.CommandLine == "" {
				t.Errorf("accepted %+v", a)
			}
		}
	})
}
