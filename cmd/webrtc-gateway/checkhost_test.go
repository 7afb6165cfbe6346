package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"webrtcgw/hostcheck"
	"webrtcgw/internal/testpeers"
)

func TestCheckHostUsageErrors(t *testing.T) {
	root := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "xml"}, `-o "xml": want text or json`},
		{[]string{"-lca-port", "0"}, "-lca-port 0 is not a port"},
		{[]string{"-confserv-port", "70000"}, "-confserv-port 70000 is not a port"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-config", ""}, "-config is empty"},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-root", filepath.Join(root, "missing")}, "cannot read -root " + filepath.Join(root, "missing") + ": stat"},
		{[]string{"-root", root, "-config", "/etc/x.ini"}, "-config /etc/x.ini: no such options file (a path inside -root " + root + ")"},
	} {
		stdout, stderr, code := gw(t, append([]string{"check-host"}, tt.args...)...)
		if code != hostcheck.ExitFailures || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("check-host %q = exit %d, stderr %q, stdout %q; want exit 2 and %q", tt.args, code, stderr, stdout, tt.want)
		}
	}
}

// TestCheckHostTree audits a scratch tree: an image with a unit running
// the gateway as root and no firewall.
func TestCheckHostTree(t *testing.T) {
	root := t.TempDir()
	unit := filepath.Join(root, "etc/systemd/system/webrtc-gateway.service")
	if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/usr/bin/webrtc-gateway -config /etc/webrtc-gateway/webrtc-gateway.ini\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := gw(t, "check-host", "-root", root)
	if code != hostcheck.ExitFailures || stderr != "" {
		t.Errorf("check-host -root TREE = exit %d, stderr %q; want 2", code, stderr)
	}
	for _, want := range []string{"FAIL    not-root", "webrtc-gateway.service runs as root: User= is not set", "remedy: run it as webrtcgw",
		"FAIL    firewall", "exit code 2", "the tree " + root} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report has no %q:\n%s", want, stdout)
		}
	}

	stdout, _, code = gw(t, "check-host", "-root", root, "-o", "json")
	var report hostcheck.Report
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if report.ExitCode != code || report.Root != root || report.Live || len(report.Checks) != len(hostcheck.Checks()) {
		t.Errorf("JSON report: exit %d (process %d), root %q, live %v, %d checks", report.ExitCode, code, report.Root, report.Live, len(report.Checks))
	}
}

// TestCheckHostThisMachine runs check-host on the machine the tests run on:
// whatever it finds, it must finish with a complete table and an exit code
// of 0, 1 or 2.
func TestCheckHostThisMachine(t *testing.T) {
	stdout, stderr, code := gw(t, "check-host", "-root", "/")
	t.Logf("check-host -root / (exit %d):\n%s%s", code, stdout, stderr)
	if code < 0 || code > 2 {
		t.Fatalf("exit code %d, want 0, 1 or 2", code)
	}
	for _, c := range hostcheck.Checks() {
		if !strings.Contains(stdout, " "+c.ID+" ") {
			t.Errorf("the table has no line for %s", c.ID)
		}
	}
	if !strings.Contains(stdout, "checks: ") || !strings.Contains(stdout, "this host") {
		t.Errorf("no summary line, or not the running host:\n%s", stdout)
	}

	stdout, _, jcode := gw(t, "check-host", "-o", "json")
	var report hostcheck.Report
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, stdout)
	}
	if !report.Live || report.ExitCode != jcode || len(report.Checks) != len(hostcheck.Checks()) {
		t.Errorf("JSON report: live %v, exit %d (process %d), %d checks", report.Live, report.ExitCode, jcode, len(report.Checks))
	}
}

// TestCheckHostInstalledPackages builds the RPM packages, installs them into
// a scratch root as an operator would (without their scripts: the system
// user is already in the root's /etc/passwd), and audits the tree: what the
// packages install passes the checks about the packages themselves.
func TestCheckHostInstalledPackages(t *testing.T) {
	testpeers.Require(t, "rpm")
	if os.Getuid() != 0 {
		testpeers.SkipOrFail(t, "rpm -i --root sets owners: it needs root")
	}
	dist, root := t.TempDir(), t.TempDir()
	build := exec.Command("go", "run", "./internal/pkgbuild", "-format", "rpm", "-version", "0.1.0-dev.checkhost", "-release", "1", "-out", dist)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the packages: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc"), "passwd", "root:x:0:0:root:/root:/bin/sh\nwebrtcgw:x:990:990:WebRTC Gateway:/:/sbin/nologin\n")
	writeFile(t, filepath.Join(root, "etc"), "group", "root:x:0:\nwebrtcgw:x:990:\n")
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(rpms) != 3 {
		t.Fatalf("built %v, want three packages", rpms)
	}
	for _, args := range [][]string{
		{"--root", root, "--dbpath", "/var/lib/rpm", "--initdb"},
		append([]string{"-i", "--root", root, "--dbpath", "/var/lib/rpm", "--nodeps", "--noscripts"}, rpms...),
	} {
		if out, err := exec.Command("rpm", args...).CombinedOutput(); err != nil {
			t.Fatalf("rpm %s: %v\n%s", args, err, out)
		}
	}

	stdout, stderr, code := gw(t, "check-host", "-root", root, "-o", "json")
	var report hostcheck.Report
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("-o json: %v\n%s%s", err, stdout, stderr)
	}
	text, _, _ := gw(t, "check-host", "-root", root)
	t.Logf("check-host on the installed packages (exit %d):\n%s", code, text)
	want := map[string]hostcheck.Status{
		"legacy-services": hostcheck.Pass, "xinetd": hostcheck.Pass,
		"fail2ban":       hostcheck.Pass, // the package's jail file, its journal jails enabled
		"dtls-srtp":      hostcheck.Pass,
		"secret-files":   hostcheck.Pass, // the options and lca.ini 0640 root:webrtcgw, state directories 0750
		"not-root":       hostcheck.Pass, // User=webrtcgw in every unit
		"unit-hardening": hostcheck.Pass,
		"admin-bind":     hostcheck.Skip, // no unit enabled by the packages
		"https":          hostcheck.Fail, // the sample options: a self-signed certificate until one is set
		"firewall":       hostcheck.Fail, // the scratch root has none
	}
	for _, r := range report.Checks {
		if w, ok := want[r.ID]; ok && r.Status != w {
			t.Errorf("%s = %s %q, want %s", r.ID, r.Status, r.Finding, w)
		}
	}
}
