package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"webrtcgw/options"
)

// units are the shipped units, with their sd_notify type.
var units = []struct {
	name, typ string
	netlink   bool // RestrictAddressFamilies has AF_NETLINK (the gateway, or the LCA that starts it)
}{
	{"webrtc-gateway.service", "notify", true},
	{"webrtc-gateway-confserv.service", "exec", false},
	{"webrtc-gateway-lca.service", "exec", true},
}

// hardening are the settings every unit must have, with their values.
var hardening = map[string]string{
	"User": "webrtcgw", "Group": "webrtcgw", "UMask": "0027",
	"CapabilityBoundingSet": "", "AmbientCapabilities": "", "NoNewPrivileges": "yes",
	"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
	"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
	"ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes", "ProtectProc": "invisible",
	"RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
	"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
	"ConfigurationDirectory": "webrtc-gateway", "Restart": "on-failure",
}

// TestUnitSettings reads the installed units: the hardening the issue
// asks for, and what each daemon needs.
func TestUnitSettings(t *testing.T) {
	root := debRoot(t)
	maxSessions, err := strconv.Atoi(options.Lookup("web", "max-sessions").Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			text := readFile(t, filepath.Join(root, "usr/lib/systemd/system", u.name))
			if src := readRepo(t, "packaging/systemd/"+u.name); src != text {
				t.Errorf("the installed unit differs from packaging/systemd/%s", u.name)
			}
			last := func(key string) string { v := unitSetting(t, text, key); return v[len(v)-1] }
			for key, want := range hardening {
				if got := last(key); got != want {
					t.Errorf("%s=%s, want %q", key, got, want)
				}
			}
			// Documentation= names files its own package installs.
			for _, d := range unitSetting(t, text, "Documentation") {
				path, ok := strings.CutPrefix(d, "file://")
				if !ok || !strings.HasPrefix(path, "/usr/share/doc/"+strings.TrimSuffix(u.name, ".service")+"/") {
					t.Errorf("Documentation=%s, want a file:// of the package's documentation", d)
				} else if _, err := os.Stat(filepath.Join(root, path)); err != nil {
					t.Errorf("Documentation=%s: %v", d, err)
				}
			}
			if got := last("Type"); got != u.typ {
				t.Errorf("Type=%s, want %s", got, u.typ)
			}
			if got := unitSetting(t, text, "SystemCallFilter")[0]; got != "@system-service" {
				t.Errorf("SystemCallFilter=%s, want @system-service first", got)
			}
			// Each session holds 2 to 3 descriptors.
			if n, err := strconv.Atoi(last("LimitNOFILE")); err != nil || n < 3*maxSessions {
				t.Errorf("LimitNOFILE=%s, want at least 3 × max-sessions (%d)", last("LimitNOFILE"), maxSessions)
			}
			families := strings.Fields(last("RestrictAddressFamilies"))
			want := []string{"AF_INET", "AF_INET6", "AF_UNIX"}
			if u.netlink {
				want = append(want, "AF_NETLINK")
			}
			if !slices.Equal(families, want) {
				t.Errorf("RestrictAddressFamilies=%s, want %s", families, want)
			}
			if _, ok := strings.CutPrefix(last("StateDirectory"), "webrtc-gateway"); !ok {
				t.Errorf("StateDirectory=%s, want the package's", last("StateDirectory"))
			}
			switch u.name {
			case "webrtc-gateway-lca.service":
				if got := last("KillMode"); got != "process" {
					t.Errorf("KillMode=%s, want process: the applications outlive the LCA", got)
				}
				fallthrough
			case "webrtc-gateway.service":
				if got := last("LogsDirectory"); got != "webrtc-gateway" {
					t.Errorf("LogsDirectory=%s, want webrtc-gateway", got)
				}
			}
		})
	}
}

// inOverlay runs script with sh in a mount namespace of its own where the
// scratch root's /usr lies over the host's (read-only), and etc, when not
// empty, over /etc: what systemd-analyze sees is the installed package.
// args are $3...
func inOverlay(t *testing.T, root, etc, script string, args ...string) (string, error) {
	t.Helper()
	setup := `set -e; mount -t overlay overlay -o "lowerdir=$1/usr:/usr" /usr; ` +
		`if [ -n "$2" ]; then mount -t overlay overlay -o "lowerdir=$2:/etc" /etc; fi; `
	return runErr("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", setup + script, "sh", root, etc}, args...)...)
}

// TestUnitsVerify: systemd-analyze verify is clean on each installed unit,
// also with the drop-in for ports below 1024.
func TestUnitsVerify(t *testing.T) {
	requireRoot(t)
	requireTools(t, "systemd-analyze", "unshare")
	root := debRoot(t)
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			out, err := inOverlay(t, root, "", `systemd-analyze verify "$3" 2>&1`+"\n", u.name)
			if err != nil || out != "" {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u.name, err, out)
			}
		})
	}
	for unit, dropin := range map[string]string{
		"webrtc-gateway.service":     "usr/share/doc/webrtc-gateway/systemd/webrtc-gateway-low-ports.conf",
		"webrtc-gateway-lca.service": "usr/share/doc/webrtc-gateway-lca/systemd/webrtc-gateway-lca-low-ports.conf",
	} {
		t.Run(unit+" with low ports", func(t *testing.T) {
			etc := t.TempDir()
			dir := filepath.Join(etc, "systemd/system", unit+".d")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "low-ports.conf"), readFile(t, filepath.Join(root, dropin)))
			out, err := inOverlay(t, root, etc, `systemd-analyze verify "$3" 2>&1`+"\n", unit)
			if err != nil || out != "" {
				t.Errorf("systemd-analyze verify %s with %s: %v\n%s", unit, filepath.Base(dropin), err, out)
			}
			// The drop-in is read: the unit keeps CAP_NET_BIND_SERVICE, and
			// stays OK.
			out, err = inOverlay(t, root, etc, `systemd-analyze security --no-pager --offline=true "$3"`+"\n", unit)
			m := exposureRE.FindStringSubmatch(out)
			if err != nil || m == nil || !regexp.MustCompile(`✗ CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE`).MatchString(out) {
				t.Fatalf("systemd-analyze security %s with %s: %v, want CAP_NET_BIND_SERVICE kept\n%s", unit, filepath.Base(dropin), err, out)
			}
			if exposure, _ := strconv.ParseFloat(m[2], 64); exposure > 2.5 {
				t.Errorf("systemd-analyze security %s with %s: %s %s, want ≤ 2.5", unit, filepath.Base(dropin), m[2], m[3])
			}
		})
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+) (\S+)`)

// TestUnitsSecurity: systemd-analyze security rates each unit OK or better.
func TestUnitsSecurity(t *testing.T) {
	requireTools(t, "systemd-analyze")
	root := debRoot(t)
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			out, err := runErr("systemd-analyze", "security", "--no-pager", "--offline=true", filepath.Join(root, "usr/lib/systemd/system", u.name))
			m := exposureRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("systemd-analyze security: no overall exposure: %v\n%s", err, out)
			}
			exposure, _ := strconv.ParseFloat(m[2], 64)
			if exposure > 2.5 || !slices.Contains([]string{"PERFECT", "SAFE", "OK"}, m[3]) {
				t.Errorf("systemd-analyze security %s: %s %s, want OK or better (≤ 2.5)", u.name, m[2], m[3])
			}
			t.Logf("%s: exposure %s %s", u.name, m[2], m[3])
		})
	}
}

// unitCommand is the ExecStart of an installed unit, its variables
// expanded from its Environment= lines as systemd does ($VAR splits into
// words), its paths moved into the scratch root.
func unitCommand(t *testing.T, root, unit string, rebase func([]string) []string) []string {
	t.Helper()
	text := readFile(t, filepath.Join(root, "usr/lib/systemd/system", unit))
	env := map[string]string{}
	for line := range strings.Lines(text) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "Environment=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		k, val, _ := strings.Cut(v, "=")
		env[k] = val
	}
	var args []string
	for _, w := range strings.Fields(unitSetting(t, text, "ExecStart")[0]) {
		if name, ok := strings.CutPrefix(w, "$"); ok {
			args = append(args, strings.Fields(env[name])...)
			continue
		}
		args = append(args, w)
	}
	return rebase(args)
}

// TestDaemonsSandboxed starts each installed daemon as its unit does, in a
// network namespace of its own, with NoNewPrivileges and
// MemoryDenyWriteExecute, and checks that it runs and opens sockets of the
// unit's RestrictAddressFamilies only. The LCA runs the gateway too, as
// the shipped lca.ini says: its unit must allow what the gateway needs.
func TestDaemonsSandboxed(t *testing.T) {
	root := debRoot(t)
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			sb := newSandbox(t, root)
			argv := unitCommand(t, root, u.name, sb.rebase)
			var ready *regexp.Regexp
			switch u.name {
			case "webrtc-gateway-confserv.service":
				ready = regexp.MustCompile(`confserv: started: `)
			case "webrtc-gateway-lca.service":
				// The shipped lca.ini, its paths moved into the sandbox.
				i := slices.Index(argv, "-config")
				if i < 0 {
					t.Fatalf("no -config in %q", argv)
				}
				sb.writeConfig(t, argv[i+1], rebaseLCAIni(t, readFile(t, filepath.Join(root, "etc/webrtc-gateway/lca.ini")), sb.rebase))
				ready = regexp.MustCompile(`lca\.agent: status: app=gw1 status=Running`)
			}
			run := sb.run(t, argv, ready)
			allowed := strings.Fields(unitSetting(t, readFile(t, filepath.Join(root, "usr/lib/systemd/system", u.name)), "RestrictAddressFamilies")[0])
			for _, f := range run.families {
				if !slices.Contains(allowed, f) {
					t.Errorf("%s opened an %s socket, which RestrictAddressFamilies=%s refuses", u.name, f, strings.Join(allowed, " "))
				}
			}
			t.Logf("%s: socket families %s", u.name, run.families)
			if u.netlink && !slices.Contains(run.families, "AF_NETLINK") {
				t.Errorf("%s opened no AF_NETLINK socket: the unit would not need it (families %s)", u.name, run.families)
			}
			switch u.name {
			case "webrtc-gateway.service":
				if !strings.Contains(run.notify[len(run.notify)-1], "READY=1") {
					t.Errorf("sd_notify messages %q, want READY=1", run.notify)
				}
				// What netlink is for: the interface's address, not loopback.
				if !strings.Contains(run.output, "advertised="+nsAddress) {
					t.Errorf("the gateway does not advertise %s, the namespace's address:\n%s", nsAddress, run.output)
				}
			case "webrtc-gateway-lca.service":
				// The LCA, as webrtcgw, proved who registered through /proc.
				if !strings.Contains(run.output, "registered: app=gw1") || !strings.Contains(run.output, "verified=true") {
					t.Errorf("the gateway's registration was not verified:\n%s", run.output)
				}
			}
			// What the daemons wrote is webrtcgw's and closed to others
			// (a certificate aside: it is public).
			for _, d := range []string{"var/lib/webrtc-gateway", "var/lib/webrtc-gateway-confserv", "var/lib/webrtc-gateway-lca", "var/log/webrtc-gateway"} {
				filepath.WalkDir(filepath.Join(sb.dir, d), func(path string, e os.DirEntry, err error) error {
					if err != nil {
						return err
					}
					fi, err := e.Info()
					if err != nil {
						return err
					}
					others := fi.Mode().Perm() & 0o007
					if strings.HasSuffix(path, ".crt") {
						others &^= 0o004
					}
					if uid := fi.Sys().(*syscall.Stat_t).Uid; others != 0 || uid != sandboxUID {
						t.Errorf("%s: %v uid %d, want webrtcgw's, closed to others", strings.TrimPrefix(path, sb.dir), fi.Mode(), uid)
					}
					return nil
				})
			}
		})
	}
}
