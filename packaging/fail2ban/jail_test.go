package fail2ban

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

// systemdDir holds the shipped units, whose names the journal jails match.
const systemdDir = "../systemd"

// A jailDump is a jail as fail2ban reads it: its backend and its settings
// (key → value), from `fail2ban-client -d`.
type jailDump struct {
	Backend string
	Set     map[string][]string // key → values, in order (addjournalmatch, addlogpath can repeat)
	Port    string              // the action's port
}

var (
	dumpAddRE  = regexp.MustCompile(`^\['add', '([^']+)', '([^']+)'\]$`)
	dumpSetRE  = regexp.MustCompile(`^\['set', '([^']+)', '([^']+)', '?(.*?)'?(?:, '[^']*')?\]$`)
	dumpPortRE = regexp.MustCompile(`^\['multi-set', '([^']+)', 'action', .*\['port', '([^']*)'\]`)
)

// dumpJails runs `fail2ban-client -c conf -d`, which reads the whole
// configuration as the server would be told it (without needing the log
// files), and returns the jails it would start.
func dumpJails(t testing.TB, conf string) map[string]*jailDump {
	t.Helper()
	out, err := exec.Command("fail2ban-client", "-c", conf, "-d").Output()
	if err != nil {
		t.Fatalf("fail2ban-client -d: %v\n%s", err, out)
	}
	jails := map[string]*jailDump{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := dumpAddRE.FindStringSubmatch(l); m != nil {
			jails[m[1]] = &jailDump{Backend: m[2], Set: map[string][]string{}}
		} else if m := dumpSetRE.FindStringSubmatch(l); m != nil && jails[m[1]] != nil {
			jails[m[1]].Set[m[2]] = append(jails[m[1]].Set[m[2]], m[3])
		} else if m := dumpPortRE.FindStringSubmatch(l); m != nil && jails[m[1]] != nil {
			jails[m[1]].Port = m[2]
		}
	}
	return jails
}

// flagDefault returns the default of a daemon's -port flag from its -h.
func flagDefault(t testing.TB, daemon, flag string) string {
	t.Helper()
	out, _ := exec.Command(binary(t, daemon), "-h").CombinedOutput()
	re := regexp.MustCompile(`(?m)^\s+-` + flag + `\b.*\n\s+.*\(default (\d+)\)`)
	m := re.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("%s -h shows no default for -%s:\n%s", daemon, flag, out)
	}
	return m[1]
}

// TestShippedJails reads the shipped jails with fail2ban's own parser, on
// the distribution's configuration: the configuration test passes, the
// journal jails are enabled and match the shipped units, the file jails are
// disabled (an enabled jail without its log file stops fail2ban from
// starting at all) and read where the gateway and the LCA write, and every
// jail keeps the [security] defaults of the option catalog (maxretry =
// ban-max-failures, findtime = ban-find-time, bantime = ban-time) and bans
// the daemon's default port, so that none of them can drift.
func TestShippedJails(t *testing.T) {
	testpeers.Require(t, "fail2ban-client")
	dir := t.TempDir()

	// As shipped: what an operator gets on install.
	conf := fail2banConfig(t, dir, "")
	if out, err := exec.Command("fail2ban-client", "-c", conf, "-t").CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("fail2ban-client -t on the shipped configuration: %v\n%s", err, out)
	}
	units := map[string]string{
		"webrtc-gateway":          "webrtc-gateway.service",
		"webrtc-gateway-confserv": "webrtc-gateway-confserv.service",
		"webrtc-gateway-lca":      "webrtc-gateway-lca.service",
	}
	shippedJails := dumpJails(t, conf)
	var enabled []string
	for name := range shippedJails {
		enabled = append(enabled, name)
	}
	slices.Sort(enabled)
	if diff := cmp.Diff([]string{"webrtc-gateway", "webrtc-gateway-confserv", "webrtc-gateway-lca"}, enabled); diff != "" {
		t.Errorf("jails enabled as shipped (-want +got):\n%s", diff)
	}
	for jail, unit := range units {
		j := shippedJails[jail]
		if j == nil {
			continue
		}
		if want := []string{"_SYSTEMD_UNIT=" + unit}; j.Backend != "systemd" || !slices.Equal(j.Set["addjournalmatch"], want) {
			t.Errorf("jail %s: backend %s, journal match %q; want systemd, %q", jail, j.Backend, j.Set["addjournalmatch"], want)
		}
		if _, err := os.Stat(filepath.Join(systemdDir, unit)); err != nil {
			t.Errorf("jail %s reads the journal of %s, which is not shipped: %v", jail, unit, err)
		}
	}

	// Every jail enabled, to read the disabled ones too.
	all := ""
	for name := range jails(t) {
		all += "[" + name + "]\nenabled = true\n\n"
	}
	everyJail := dumpJails(t, fail2banConfig(t, t.TempDir(), all))
	gatewayPort := options.Lookup("web", "https-port").Default
	ports := map[string]string{
		"webrtc-gateway":          gatewayPort,
		"webrtc-gateway-confserv": flagDefault(t, "confserv", "port"),
		"webrtc-gateway-lca":      flagDefault(t, "lca", "port"),
		"webrtc-gateway-managed":  gatewayPort,
		"webrtc-gateway-logfile":  gatewayPort,
	}
	defaults := map[string]string{
		"maxretry": options.Lookup("security", "ban-max-failures").Default,
		"findtime": options.Lookup("security", "ban-find-time").Default,
		"bantime":  options.Lookup("security", "ban-time").Default,
	}
	if len(everyJail) != len(ports) {
		t.Errorf("jails: %d, want the %d this test knows", len(everyJail), len(ports))
	}
	for name, j := range everyJail {
		for key, want := range defaults {
			if got := j.Set[key]; len(got) != 1 || got[0] != want {
				t.Errorf("jail %s: %s = %q, want %s (the [security] default)", name, key, got, want)
			}
		}
		if j.Port != ports[name] {
			t.Errorf("jail %s: port %q, want %q", name, j.Port, ports[name])
		}
		if f := j.Set["addfailregex"]; len(f) != 1 || !strings.Contains(f[0], "login failed: client_ip=") {
			t.Errorf("jail %s: failregex %q, want the shipped filter's", name, f)
		}
	}

	// The file jails read where the units have the daemons write:
	// LogsDirectory=webrtc-gateway, and the LCA's -logs.
	lcaUnit, err := os.ReadFile(filepath.Join(systemdDir, "webrtc-gateway-lca.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=.*\s-logs\s+(\S+)`).FindSubmatch(lcaUnit)
	if m == nil {
		t.Fatalf("webrtc-gateway-lca.service: no -logs DIR in ExecStart")
	}
	jf := jails(t)
	for name, dir := range map[string]string{
		"webrtc-gateway-managed": string(m[1]),
		"webrtc-gateway-logfile": "/var/log/webrtc-gateway",
	} {
		for _, p := range strings.Fields(jf[name]["logpath"]) {
			if filepath.Dir(p) != dir {
				t.Errorf("jail %s reads %s, want a file in %s", name, p, dir)
			}
		}
	}
}
