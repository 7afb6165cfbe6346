package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A scriptStep is one run of a maintainer script, as rpm or dpkg runs it.
type scriptStep struct {
	script string
	args   []string
}

// scriptSequences are what rpm and dpkg run on a fresh install, an upgrade
// (to the same package: the steps are what matters) and a removal.
func scriptSequences(format, version string) (install, upgrade, remove []scriptStep) {
	if format == "rpm" {
		// RPM passes how many versions of the package are installed after
		// the step; an upgrade runs the new %pre and %post, then the old
		// %preun and %postun.
		return []scriptStep{{"pre", []string{"1"}}, {"post", []string{"1"}}},
			[]scriptStep{{"pre", []string{"2"}}, {"post", []string{"2"}}, {"preun", []string{"1"}}, {"postun", []string{"1"}}},
			[]scriptStep{{"preun", []string{"0"}}, {"postun", []string{"0"}}}
	}
	// dpkg (deb-maintscript-helper(1), policy 6.6).
	return []scriptStep{{"preinst", []string{"install"}}, {"postinst", []string{"configure"}}},
		[]scriptStep{{"prerm", []string{"upgrade", version}}, {"preinst", []string{"upgrade", version}},
			{"postrm", []string{"upgrade", version}}, {"postinst", []string{"configure", version}}},
		[]scriptStep{{"prerm", []string{"remove"}}, {"postrm", []string{"remove"}}, {"postrm", []string{"purge"}}}
}

// extractScripts writes the maintainer scripts of a package into dir, by
// the names scriptSequences uses, and unpacks its files into tree.
func extractScripts(t *testing.T, format, pkg, dir, tree string) {
	t.Helper()
	for _, d := range []string{dir, tree} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if format == "deb" {
		runOut(t, "dpkg-deb", "-e", pkg, dir)
		runOut(t, "dpkg", "-x", pkg, tree)
		return
	}
	for name, tag := range map[string]string{"pre": "PREIN", "post": "POSTIN", "preun": "PREUN", "postun": "POSTUN"} {
		writeFile(t, filepath.Join(dir, name), runOut(t, "rpm", "-qp", "--qf", "%{"+tag+"}", pkg))
	}
	runOut(t, "sh", "-c", `cd "$2" && rpm2cpio "$1" | cpio -idm --quiet --no-absolute-filenames`, "sh", pkg, tree)
}

// The hosts the scripts are tried on.
var scriptHosts = []struct {
	name string
	// hide are tools the host does not have.
	hide []string
	// systemd: /run/systemd/system exists (systemd would be PID 1), but no
	// systemd answers.
	systemd bool
}{
	{name: "no systemd running"},
	{name: "no systemd tools", hide: []string{"systemctl", "systemd-sysusers", "systemd-tmpfiles"}},
	{name: "systemd unreachable", systemd: true},
}

var stepRE = regexp.MustCompile(`(?m)^STEP (.*) rc=(\d+)$`)

// TestMaintainerScripts runs each package's maintainer scripts, taken from
// the package, with sh through an install, an upgrade and a removal, in a
// mount namespace where /etc, /usr and /var are overlays on the host's
// (with the package's files unpacked) and /run is empty: the scripts work
// on what looks like the host, and the host is never written. Every step
// must exit 0 and leave the user, the group and the directories.
func TestMaintainerScripts(t *testing.T) {
	requireRoot(t)
	requireTools(t, "unshare", "rpm", "rpm2cpio", "cpio", "dpkg-deb", "getent", "stat")
	p := builtPackages(t)
	for _, format := range formats {
		for _, name := range packageNames {
			for _, host := range scriptHosts {
				t.Run(format+"/"+name+"/"+host.name, func(t *testing.T) {
					runScripts(t, format, name, p.path(format, name), p.version, host.hide, host.systemd)
				})
			}
		}
	}
	if out, err := runErr("getent", "passwd", "webrtcgw"); err == nil {
		t.Errorf("the host has a webrtcgw user now: the scripts escaped their namespace: %s", out)
	}
}

func runScripts(t *testing.T, format, name, pkg string, v pkgVersion, hide []string, systemd bool) {
	dir := t.TempDir()
	scripts, tree := filepath.Join(dir, "scripts"), filepath.Join(dir, "tree")
	extractScripts(t, format, pkg, scripts, tree)
	for _, layer := range []string{"etc", "usr", "var"} {
		for _, d := range []string{filepath.Join(tree, layer), filepath.Join(dir, layer+"-up"), filepath.Join(dir, layer+"-work")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A whiteout (a 0/0 character device in the upper layer) hides a tool.
	for _, tool := range hide {
		path, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		if path, err = filepath.EvalSymlinks(path); err != nil {
			t.Fatal(err)
		}
		rel, ok := strings.CutPrefix(path, "/usr/")
		if !ok {
			t.Fatalf("%s is at %s, outside /usr: cannot hide it", tool, path)
		}
		wo := filepath.Join(dir, "usr-up", rel)
		if err := os.MkdirAll(filepath.Dir(wo), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(wo, unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
	}

	version := v.Deb()
	install, upgrade, remove := scriptSequences(format, version)
	var b strings.Builder
	b.WriteString("set -e\nmount -t tmpfs tmpfs /run\n")
	if systemd {
		b.WriteString("mkdir -p /run/systemd/system\n")
	}
	for _, layer := range []string{"etc", "usr", "var"} {
		fmt.Fprintf(&b, "mount -t overlay overlay -o lowerdir=%s:/%s,upperdir=%s,workdir=%s /%s\n",
			filepath.Join(tree, layer), layer, filepath.Join(dir, layer+"-up"), filepath.Join(dir, layer+"-work"), layer)
	}
	b.WriteString("set +e\n")
	for _, hidden := range hide {
		fmt.Fprintf(&b, "if command -v %s; then echo 'STEP hide %s rc=1'; fi\n", hidden, hidden)
	}
	step := func(s scriptStep) {
		fmt.Fprintf(&b, "sh %s %s 2>&1\necho \"STEP %s %s rc=$?\"\n", filepath.Join(scripts, s.script), strings.Join(s.args, " "), s.script, strings.Join(s.args, " "))
	}
	check := func(when string) {
		fmt.Fprintf(&b, "echo \"CHECK %s user $(getent passwd webrtcgw)\"\n", when)
		fmt.Fprintf(&b, "echo \"CHECK %s group $(getent group webrtcgw)\"\n", when)
		fmt.Fprintf(&b, "for d in $(sed -n 's/^d \\([^ ]*\\) .*/\\1/p' /usr/lib/tmpfiles.d/%s.conf); do echo \"CHECK %s dir $(stat -c '%%n %%a %%U %%G' $d)\"; done\n", name, when)
	}
	for _, s := range install {
		step(s)
	}
	check("installed")
	for _, s := range upgrade {
		step(s)
	}
	check("upgraded")
	// The data the removal must keep.
	state := map[string]string{"webrtc-gateway": "/var/lib/webrtc-gateway", "webrtc-gateway-confserv": "/var/lib/webrtc-gateway-confserv",
		"webrtc-gateway-lca": "/var/lib/webrtc-gateway-lca"}[name]
	fmt.Fprintf(&b, "echo data > %s/data\n", state)
	for _, s := range remove {
		step(s)
	}
	fmt.Fprintf(&b, "echo \"CHECK removed data $(cat %s/data)\"\n", state)
	check("removed")

	out, err := runErr("unshare", "--mount", "--propagation", "private", "sh", "-c", b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	steps := stepRE.FindAllStringSubmatch(out, -1)
	if len(steps) != len(install)+len(upgrade)+len(remove) {
		t.Errorf("%d steps ran, want %d:\n%s", len(steps), len(install)+len(upgrade)+len(remove), out)
	}
	for _, s := range steps {
		if s[2] != "0" {
			t.Errorf("%s: exit %s, want 0:\n%s", s[1], s[2], out)
		}
	}
	for _, when := range []string{"installed", "upgraded", "removed"} {
		user := checkLine(out, "CHECK "+when+" user ")
		f := strings.Split(user, ":")
		if len(f) != 7 || f[0] != "webrtcgw" || f[5] != "/" || !strings.HasSuffix(f[6], "/nologin") {
			t.Errorf("%s: user %q, want webrtcgw, home /, no login shell:\n%s", when, user, out)
		}
		if g := checkLine(out, "CHECK "+when+" group "); !strings.HasPrefix(g, "webrtcgw:") {
			t.Errorf("%s: group %q, want webrtcgw:\n%s", when, g, out)
		}
		dirs := 0
		for line := range strings.Lines(out) {
			if d, ok := strings.CutPrefix(strings.TrimSpace(line), "CHECK "+when+" dir "); ok {
				dirs++
				if f := strings.Fields(d); len(f) != 4 || f[1] != "750" || f[2] != "webrtcgw" || f[3] != "webrtcgw" {
					t.Errorf("%s: directory %q, want 750 webrtcgw webrtcgw", when, d)
				}
			}
		}
		if dirs == 0 {
			t.Errorf("%s: no directory checked:\n%s", when, out)
		}
	}
	// Where systemd seems to run, the scripts talk to it, say that it
	// failed, and go on; elsewhere they leave it alone.
	if warned := strings.Contains(out, name+": systemctl "); warned != systemd {
		t.Errorf("systemctl failures reported: %v, want %v:\n%s", warned, systemd, out)
	}
	if got := checkLine(out, "CHECK removed data "); got != "data" {
		t.Errorf("the data after the removal = %q, want it kept:\n%s", got, out)
	}
	t.Logf("%s", out)
}

// checkLine returns what follows prefix on its line of out.
func checkLine(out, prefix string) string {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), prefix); ok {
			return v
		}
	}
	return ""
}
