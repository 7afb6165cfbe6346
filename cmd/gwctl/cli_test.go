package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/confserv/api"
)

// runIn runs gwctl in-process with env (nil: empty) and stdin.
func runIn(env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(stdin), &o, &e, func(k string) string { return env[k] })
	return o.String(), e.String(), code
}

func TestParseAssignments(t *testing.T) {
	tests := []struct {
		args    []string
		want    []assignment
		wantErr string
	}{
		{args: []string{"web/https-port=9443"}, want: []assignment{{"web", "https-port", "9443"}}},
		{args: []string{"web/certificate="}, want: []assignment{{"web", "certificate", ""}}},
		{args: []string{"web/domain-whitelist=https://a.example.com,b=c"}, want: []assignment{{"web", "domain-whitelist", "https://a.example.com,b=c"}}},
		{args: []string{"log/verbose=debug", "sml/autostart=true"}, want: []assignment{{"log", "verbose", "debug"}, {"sml", "autostart", "true"}}},
		{args: []string{"media/turn-password= spaces kept "}, want: []assignment{{"media", "turn-password", " spaces kept "}}},
		{args: []string{"web/https-port"}, wantErr: "want SECTION/OPTION=VALUE"},
		{args: []string{"https-port=1"}, wantErr: "the option is missing"},
		{args: []string{"/https-port=1"}, wantErr: "section"},
		{args: []string{"web/=1"}, wantErr: "option"},
		{args: []string{"web/a/b=1"}, wantErr: "option"},
		{args: []string{"we b/x=1"}, wantErr: "section"},
		{args: []string{"web/x=1\n2"}, wantErr: "one line"},
		{args: []string{"web/x=1", "web/x=2"}, wantErr: "assigned twice"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseAssignments(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseAssignments(%q) = %v, %v, want error with %q", tt.args, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAssignments(%q): %v", tt.args, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("parseAssignments(%q) (-want +got):\n%s", tt.args, d)
			}
		})
	}
}

func FuzzParseAssignments(f *testing.F) {
	for _, s := range []string{"web/https-port=9443", "web/certificate=", "a/b=c=d", "x", "/=", "web/a/b=1", "web/x=1\n2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		got, err := parseAssignments([]string{arg})
		if err != nil {
			return
		}
		if len(got) != 1 || got[0].key()+"="+got[0].Value != arg {
			t.Fatalf("parseAssignments(%q) = %+v: does not give the argument back", arg, got)
		}
		if api.CheckName(got[0].Section) != nil || api.CheckName(got[0].Option) != nil {
			t.Fatalf("parseAssignments(%q) = %+v: invalid names accepted", arg, got)
		}
	})
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		wantPos   []string
		wantArgs  []string
		wantRetry bool
	}{
		{args: []string{"gw1", "web/x=1"}, wantPos: []string{"gw1", "web/x=1"}},
		{args: []string{"--retry", "gw1", "web/x=1"}, wantPos: []string{"gw1", "web/x=1"}, wantRetry: true},
		{args: []string{"gw1", "--retry", "web/x=1"}, wantPos: []string{"gw1", "web/x=1"}, wantRetry: true},
		{args: []string{"gw1", "web/x=1", "-retry"}, wantPos: []string{"gw1", "web/x=1"}, wantRetry: true},
		{args: []string{"gw1", "--arg", "-host", "--arg=-port"}, wantPos: []string{"gw1"}, wantArgs: []string{"-host", "-port"}},
		{args: []string{"gw1", "--", "--retry"}, wantPos: []string{"gw1", "--retry"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			retry := fs.Bool("retry", false, "")
			var args stringsFlag
			fs.Var(&args, "arg", "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.wantPos, pos); d != "" {
				t.Errorf("arguments (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantArgs, []string(args)); d != "" {
				t.Errorf("--arg (-want +got):\n%s", d)
			}
			if *retry != tt.wantRetry {
				t.Errorf("--retry = %v, want %v", *retry, tt.wantRetry)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	got := columns([]string{"NAME", "REVISION", "REPORT"}, [][]string{
		{"gw1", "14", "applied@14"},
		{"a-longer-name", "", "rejected@15"},
		{"é→", "3", ""},
	})
	want := []string{
		"NAME           REVISION  REPORT",
		"gw1            14        applied@14",
		"a-longer-name  -         rejected@15",
		"é→             3         -",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("columns (-want +got):\n%s", d)
	}
}

// testTemplate has a metadata with two option sections and an annex.
var testTemplate = &api.Template{
	Meta: api.Meta{Name: "WebRTC_Gateway"},
	Type: "WebRTC_Gateway",
	Metadata: &api.Metadata{Sections: []api.MetadataSection{
		{Name: "web", Options: []api.MetadataOption{{Name: "https-port", Default: "8443"}, {Name: "certificate", Default: ""}}},
		{Name: "log", Options: []api.MetadataOption{{Name: "verbose", Default: "standard"}}},
		{Name: "sml", Annex: true, Options: []api.MetadataOption{{Name: "autostart", Default: "false"}}},
	}},
}

func TestOptionRows(t *testing.T) {
	secs := api.Sections{
		"web":   {"https-port": "9443", "certificate": ""},
		"extra": {"b": "2", "a": "1"},
	}
	got := optionRows(secs, newCatalog(testTemplate, false))
	want := []optionRow{
		{Section: "web", Option: "https-port", Value: "9443", Set: true, Default: "8443"},
		{Section: "web", Option: "certificate", Value: "", Default: ""},
		{Section: "log", Option: "verbose", Value: "standard", Default: "standard"},
		{Section: "extra", Option: "a", Value: "1", Set: true, Unknown: true},
		{Section: "extra", Option: "b", Value: "2", Set: true, Unknown: true},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("optionRows (-want +got):\n%s", d)
	}
	// Without a template: only what the application has, nothing unknown.
	got = optionRows(api.Sections{"web": {"https-port": "1"}}, nil)
	want = []optionRow{{Section: "web", Option: "https-port", Value: "1", Set: true}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("optionRows without template (-want +got):\n%s", d)
	}
	// The annex side.
	got = optionRows(nil, newCatalog(testTemplate, true))
	want = []optionRow{{Section: "sml", Option: "autostart", Value: "false", Default: "false"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("optionRows annex (-want +got):\n%s", d)
	}
}

func TestCatalogWithoutMetadata(t *testing.T) {
	tmpl := &api.Template{Meta: api.Meta{Name: "T"}, Options: api.Sections{"s": {"o": "d"}}, Annex: api.Sections{"sml": {"a": "1"}}}
	k := newCatalog(tmpl, false)
	if o, ok := k.option("s", "o"); !ok || o.Default != "d" {
		t.Errorf("option(s, o) = %+v, %v, want default d", o, ok)
	}
	if !k.other["sml"] {
		t.Errorf("other = %v, want sml", k.other)
	}
}

func TestApply(t *testing.T) {
	secs := api.Sections{"web": {"https-port": "8443", "certificate": "/c.pem"}}
	got := apply(&secs, []assignment{
		{"web", "https-port", "9443"},   // changed
		{"web", "certificate", ""},      // removed
		{"log", "verbose", "debug"},     // new section
		{"web", "http-port", ""},        // removing an absent option: nothing
		{"web", "https-port-x", "same"}, // new
	})
	want := []change{
		{Option: "web/https-port", Old: "8443", New: "9443"},
		{Option: "web/certificate", Old: "/c.pem", New: ""},
		{Option: "log/verbose", Old: "", New: "debug"},
		{Option: "web/https-port-x", Old: "", New: "same"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("apply changes (-want +got):\n%s", d)
	}
	wantSecs := api.Sections{"web": {"https-port": "9443", "https-port-x": "same"}, "log": {"verbose": "debug"}}
	if d := cmp.Diff(wantSecs, secs); d != "" {
		t.Errorf("apply result (-want +got):\n%s", d)
	}
	if again := apply(&secs, []assignment{{"web", "https-port", "9443"}}); len(again) != 0 {
		t.Errorf("apply of the same value = %v, want no change", again)
	}
	// The last option of a section goes with its section.
	apply(&secs, []assignment{{"log", "verbose", ""}})
	if _, ok := secs["log"]; ok {
		t.Errorf("empty section kept: %v", secs)
	}
}

func TestCheckKnown(t *testing.T) {
	k := newCatalog(testTemplate, false)
	got := checkKnown([]assignment{
		{"web", "https-port", "1"},
		{"web", "htps-port", "1"},
		{"web", "gone", ""}, // removing is always allowed
		{"sml", "autostart", "true"},
		{"zzz", "qqqqqqqq", "1"},
	}, k, false)
	want := []string{
		"web/htps-port: template WebRTC_Gateway has no such option (did you mean web/https-port?)",
		"sml/autostart: template WebRTC_Gateway has no such option here: [sml] is on the other side, set it with --annex",
		"zzz/qqqqqqqq: template WebRTC_Gateway has no such option",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("checkKnown (-want +got):\n%s", d)
	}
}

func TestConflictReport(t *testing.T) {
	read := api.Application{Meta: api.Meta{Name: "gw1", Revision: 14}, Options: api.Sections{"web": {"https-port": "8443"}, "log": {"verbose": "debug"}}}
	now := api.Application{Meta: api.Meta{Name: "gw1", Revision: 15, UpdatedBy: "alice"}, Options: api.Sections{"web": {"https-port": "9000"}, "log": {"verbose": "debug"}}}
	got := conflictReport(read, now, []assignment{{"web", "https-port", "9443"}, {"log", "verbose", ""}}, false)
	want := "gw1 was changed by someone else after you read it (you read revision 14, it is now at 15, written by alice); nothing was written\n" +
		"  web/https-port: you read 8443, it is now 9000; you are setting 9443\n" +
		"  log/verbose: unchanged meanwhile (debug); you are setting (unset)"
	if got != want {
		t.Errorf("conflictReport =\n%s\nwant\n%s", got, want)
	}
}

func TestTemplateFiles(t *testing.T) {
	if got := metadataPath("../../templates/WebRTC_Gateway.apd"); got != "../../templates/WebRTC_Gateway.metadata.xml" {
		t.Errorf("metadataPath = %q", got)
	}
	apd, err := os.ReadFile("../../templates/WebRTC_Gateway.apd")
	if err != nil {
		t.Fatal(err)
	}
	if typ, err := apdType(apd); typ != "WebRTC_Gateway" || err != nil {
		t.Errorf("apdType(WebRTC_Gateway.apd) = %q, %v", typ, err)
	}
	meta, _ := os.ReadFile("../../templates/WebRTC_Gateway.metadata.xml")
	if typ, err := apdType(meta); err == nil {
		t.Errorf("apdType(metadata) = %q, want an error", typ)
	}
}

// settingsJSON runs gwctl config -o json and decodes it.
func settingsJSON(t *testing.T, env map[string]string, args ...string) map[string]struct{ Value, Source string } {
	t.Helper()
	out, errOut, code := runIn(env, "", append(args, "config", "-o", "json")...)
	if code != 0 {
		t.Fatalf("gwctl %v config: exit %d, %s", args, code, errOut)
	}
	var got map[string]struct{ Value, Source string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("config -o json: %v\n%s", err, out)
	}
	return got
}

func TestPrecedence(t *testing.T) {
	home := t.TempDir()
	cfgPath := filepath.Join(home, ".config", "gwctl", "config.json")
	if err := saveConfig(cfgPath, fileConfig{Server: "http://config:1", Token: "config-token", CA: "/config.pem", Output: "json"}); err != nil {
		t.Fatal(err)
	}
	type setting struct{ Value, Source string }
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want map[string]setting
	}{
		{
			name: "default",
			env:  map[string]string{"HOME": t.TempDir()},
			want: map[string]setting{
				"server": {defaultServer, fromDefault}, "token": {"", fromNone}, "ca": {"", fromNone}, "output": {"table", fromDefault},
			},
		},
		{
			name: "config file",
			env:  map[string]string{"HOME": home},
			want: map[string]setting{
				"server": {"http://config:1", fromConfig}, "token": {"set", fromConfig}, "ca": {"/config.pem", fromConfig}, "output": {"json", fromConfig},
				"config": {cfgPath, fromDefault},
			},
		},
		{
			name: "environment over config file",
			env:  map[string]string{"HOME": home, "GWCTL_SERVER": "http://config:1/", "GWCTL_TOKEN": "env-token", "GWCTL_CA": "/env.pem", "GWCTL_OUTPUT": "table"},
			want: map[string]setting{
				"server": {"http://config:1", fromEnv}, "token": {"set", fromEnv}, "ca": {"/env.pem", fromEnv}, "output": {"table", fromEnv},
			},
		},
		{
			name: "flags over environment",
			env:  map[string]string{"HOME": home, "GWCTL_SERVER": "http://env:1", "GWCTL_TOKEN": "env-token", "GWCTL_CA": "/env.pem"},
			args: []string{"-server", "http://flag:1", "-token", "flag-token", "-ca", "/flag.pem", "-o", "table"},
			want: map[string]setting{
				"server": {"http://flag:1", fromFlag}, "token": {"set", fromFlag}, "ca": {"/flag.pem", fromFlag}, "output": {"table", fromFlag},
			},
		},
		{
			name: "the config file's token is not sent to another server",
			env:  map[string]string{"HOME": home, "GWCTL_SERVER": "http://other:1"},
			want: map[string]setting{
				"server": {"http://other:1", fromEnv}, "token": {"", "the config file's token is for http://config:1, not http://other:1"},
			},
		},
		{
			name: "XDG_CONFIG_HOME",
			env:  map[string]string{"HOME": t.TempDir(), "XDG_CONFIG_HOME": filepath.Join(home, ".config")},
			want: map[string]setting{"server": {"http://config:1", fromConfig}, "config": {cfgPath, fromDefault}},
		},
		{
			name: "-config over GWCTL_CONFIG",
			env:  map[string]string{"HOME": t.TempDir(), "GWCTL_CONFIG": "/nonexistent/config.json"},
			args: []string{"-config", cfgPath},
			want: map[string]setting{"server": {"http://config:1", fromConfig}, "config": {cfgPath, fromFlag}},
		},
		{
			name: "GWCTL_CONFIG",
			env:  map[string]string{"HOME": t.TempDir(), "GWCTL_CONFIG": cfgPath},
			want: map[string]setting{"server": {"http://config:1", fromConfig}, "config": {cfgPath, fromEnv}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := settingsJSON(t, tt.env, tt.args...)
			for k, want := range tt.want {
				if g := got[k]; g != want {
					t.Errorf("%s = %+v, want %+v", k, g, want)
				}
			}
		})
	}
}

func TestConfigFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "gwctl")
	path := filepath.Join(dir, "config.json")
	if err := saveConfig(path, fileConfig{Server: "http://x:1", Token: "t"}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %04o, want %04o", p, got, want)
		}
	}
	got, err := loadConfig(path)
	if err != nil || got.Token != "t" || got.Server != "http://x:1" {
		t.Errorf("loadConfig = %+v, %v", got, err)
	}
	// A readable token is warned about; a broken file is an error.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, _ := runIn(map[string]string{"GWCTL_CONFIG": path}, "", "config")
	if !strings.Contains(errOut, "chmod 600") {
		t.Errorf("config readable by others: stderr %q, want a chmod 600 warning", errOut)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runIn(map[string]string{"GWCTL_CONFIG": path}, "", "config")
	if code != exitError || !strings.Contains(errOut, path) {
		t.Errorf("broken config: exit %d, stderr %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	out, _, code := runIn(nil, "", "help")
	if code != exitOK {
		t.Fatalf("gwctl help: exit %d", code)
	}
	for _, cmd := range commands() {
		if cmd.subs == nil {
			if !strings.Contains(out, "\n  "+cmd.name) {
				t.Errorf("gwctl help does not list %s", cmd.name)
			}
			continue
		}
		for _, sub := range cmd.subs {
			if !strings.Contains(out, "\n  "+cmd.name+" "+sub.name) {
				t.Errorf("gwctl help does not list %s %s", cmd.name, sub.name)
			}
		}
	}
	// Every command explains itself with help and with -h, on stdout, exit 0.
	for _, cmd := range commands() {
		paths := [][]string{{cmd.name}}
		for _, sub := range cmd.subs {
			paths = append(paths, []string{cmd.name, sub.name})
		}
		for _, p := range paths {
			out, errOut, code := runIn(nil, "", append([]string{"help"}, p...)...)
			if code != exitOK || !strings.Contains(out, "usage: gwctl "+strings.Join(p, " ")) {
				t.Errorf("gwctl help %s: exit %d, stdout %q, stderr %q", strings.Join(p, " "), code, out, errOut)
			}
			if p[0] == "help" {
				continue
			}
			out, errOut, code = runIn(map[string]string{"HOME": t.TempDir()}, "", append(p, "-h")...)
			if code != exitOK || !strings.Contains(out, "usage: gwctl "+strings.Join(p, " ")) {
				t.Errorf("gwctl %s -h: exit %d, stdout %q, stderr %q", strings.Join(p, " "), code, out, errOut)
			}
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "usage: gwctl"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"app"}, "usage: gwctl app SUBCOMMAND"},
		{[]string{"app", "frobnicate"}, `unknown command "frobnicate" for gwctl app`},
		{[]string{"app", "show"}, "missing arguments: NAME"},
		{[]string{"app", "show", "a", "b"}, `unexpected argument "b"`},
		{[]string{"app", "create", "gw1"}, "--template is needed"},
		{[]string{"app", "create", "bad name", "--template", "T"}, "application name"},
		{[]string{"app", "list", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"options", "set", "gw1"}, "missing arguments"},
		{[]string{"options", "set", "gw1", "web"}, "want SECTION/OPTION=VALUE"},
		{[]string{"options", "set", "gw1", "web/x=1", "--wait", "-1s"}, "positive duration"},
		{[]string{"-o", "yaml", "app", "list"}, "want table or json"},
		{[]string{"audit", "gw1", "--kind", "host"}, "say different things"},
		{[]string{"host", "create", "h1"}, "--address is needed"},
		{[]string{"operator", "create", "bob"}, "--role is needed"},
		{[]string{"operator", "create", "bob", "--role", "root"}, `--role "root"`},
		{[]string{"help", "nope"}, `no command "nope"`},
	} {
		_, errOut, code := runIn(map[string]string{"HOME": t.TempDir()}, "", tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("gwctl %q: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestNotSignedIn(t *testing.T) {
	_, errOut, code := runIn(map[string]string{"HOME": t.TempDir()}, "", "app", "list")
	if code != exitError || !strings.Contains(errOut, "run gwctl login") {
		t.Errorf("app list without a token: exit %d, stderr %q", code, errOut)
	}
}

func TestExpiredSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := saveConfig(path, fileConfig{Server: "http://127.0.0.1:1", Token: "s_old", User: "alice", Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runIn(map[string]string{"GWCTL_CONFIG": path}, "", "app", "list")
	if code != exitError || !strings.Contains(errOut, "the session of alice on http://127.0.0.1:1 expired at ") || !strings.Contains(errOut, "run gwctl login") {
		t.Errorf("expired session: exit %d, stderr %q", code, errOut)
	}
}

func TestHelpFlagValue(t *testing.T) {
	// -h as the value of a flag is a value, not a request for help.
	_, errOut, code := runIn(map[string]string{"HOME": t.TempDir()}, "", "app", "create", "gw1", "--template", "T", "--arg", "-h")
	if code != exitError || !strings.Contains(errOut, "run gwctl login") {
		t.Errorf("app create --arg -h: exit %d, stderr %q; want it to go on to sign-in", code, errOut)
	}
}
