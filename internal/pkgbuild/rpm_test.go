package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// A fileMeta is what a package says of one of its files.
type fileMeta struct {
	Perms, User, Group string
	Flags              string // RPM file flags: c config, n noreplace, d doc
}

var (
	binary        = fileMeta{"-rwxr-xr-x", "root", "root", ""}
	plain         = fileMeta{"-rw-r--r--", "root", "root", ""}
	doc           = fileMeta{"-rw-r--r--", "root", "root", "d"}
	secretCfg     = fileMeta{"-rw-r-----", "root", "webrtcgw", "cn"} // the daemons' configuration
	hostCfg       = fileMeta{"-rw-r--r--", "root", "root", "cn"}     // fail2ban's, logrotate's
	configDirMeta = fileMeta{"drwxr-x---", "root", "webrtcgw", ""}
	dataDirMeta   = fileMeta{"drwxr-x---", "webrtcgw", "webrtcgw", ""}
)

// wantFiles is what each package must hold, with its metadata: the issue's
// requirements, written down independently of packages.go. Files of other
// parts of the tree (fail2ban, firewalld) are added by wantFilesOf when
// they exist.
var wantFiles = map[string]map[string]fileMeta{
	"webrtc-gateway": {
		"/usr/bin/webrtc-gateway":                                             binary,
		"/usr/bin/gwctl":                                                      binary,
		"/etc/webrtc-gateway":                                                 configDirMeta,
		"/etc/webrtc-gateway/webrtc-gateway.ini":                              secretCfg,
		"/var/lib/webrtc-gateway":                                             dataDirMeta,
		"/var/log/webrtc-gateway":                                             dataDirMeta,
		"/usr/lib/systemd/system/webrtc-gateway.service":                      plain,
		"/usr/lib/sysusers.d/webrtc-gateway.conf":                             plain,
		"/usr/lib/tmpfiles.d/webrtc-gateway.conf":                             plain,
		"/usr/share/doc/webrtc-gateway/README.md":                             doc,
		"/usr/share/doc/webrtc-gateway/packaging.md":                          doc,
		"/usr/share/doc/webrtc-gateway/docs/options.md":                       doc,
		"/usr/share/doc/webrtc-gateway/systemd/webrtc-gateway-low-ports.conf": doc,
	},
	"webrtc-gateway-confserv": {
		"/usr/bin/confserv":                                       binary,
		"/etc/webrtc-gateway":                                     configDirMeta,
		"/var/lib/webrtc-gateway-confserv":                        dataDirMeta,
		"/usr/lib/systemd/system/webrtc-gateway-confserv.service": plain,
		"/usr/lib/sysusers.d/webrtc-gateway-confserv.conf":        plain,
		"/usr/lib/tmpfiles.d/webrtc-gateway-confserv.conf":        plain,
		"/usr/share/doc/webrtc-gateway-confserv/confserv-api.md":  doc,
	},
	"webrtc-gateway-lca": {
		"/usr/bin/lca":                                                                binary,
		"/etc/webrtc-gateway":                                                         configDirMeta,
		"/etc/webrtc-gateway/lca.ini":                                                 secretCfg,
		"/etc/logrotate.d/webrtc-gateway-lca":                                         hostCfg,
		"/var/lib/webrtc-gateway-lca":                                                 dataDirMeta,
		"/var/lib/webrtc-gateway":                                                     dataDirMeta,
		"/var/log/webrtc-gateway":                                                     dataDirMeta,
		"/usr/lib/systemd/system/webrtc-gateway-lca.service":                          plain,
		"/usr/lib/sysusers.d/webrtc-gateway-lca.conf":                                 plain,
		"/usr/lib/tmpfiles.d/webrtc-gateway-lca.conf":                                 plain,
		"/usr/share/doc/webrtc-gateway-lca/lca.md":                                    doc,
		"/usr/share/doc/webrtc-gateway-lca/systemd/webrtc-gateway-lca-low-ports.conf": doc,
	},
}

// wantFilesOf is wantFiles[name] plus the files the repository has for it
// at the moment: fail2ban's filter and jail, firewalld's services, the
// templates.
func wantFilesOf(t *testing.T, name string) map[string]fileMeta {
	want := map[string]fileMeta{}
	for k, v := range wantFiles[name] {
		want[k] = v
	}
	switch name {
	case "webrtc-gateway":
		for _, f := range repoGlob(t, "packaging/fail2ban/filter.d/*.conf") {
			want["/etc/fail2ban/filter.d/"+f] = hostCfg
		}
		for _, f := range repoGlob(t, "packaging/fail2ban/jail.d/*.conf") {
			want["/etc/fail2ban/jail.d/"+f] = hostCfg
		}
		for _, f := range repoGlob(t, "packaging/firewalld/services/*.xml") {
			want["/usr/lib/firewalld/services/"+f] = plain
		}
	case "webrtc-gateway-confserv":
		for _, pattern := range []string{"templates/*.apd", "templates/*.metadata.xml"} {
			files := repoGlob(t, pattern)
			if len(files) == 0 {
				t.Fatalf("no %s in the repository", pattern)
			}
			for _, f := range files {
				want["/usr/share/webrtc-gateway-confserv/templates/"+f] = plain
			}
		}
	}
	return want
}

// rpmFiles is the file list of an RPM with each file's metadata.
func rpmFiles(t *testing.T, pkg string) map[string]fileMeta {
	out := runOut(t, "rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}|%{FILENAMES}\n]", pkg)
	files := map[string]fileMeta{}
	for line := range strings.Lines(out) {
		meta, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "|")
		f := strings.Split(meta, " ")
		if !ok || len(f) != 4 {
			t.Fatalf("rpm -qp --qf: unexpected line %q", line)
		}
		files[name] = fileMeta{f[0], f[1], f[2], f[3]}
	}
	return files
}

// checkFiles compares a package's files with want, and checks the rules
// every file follows.
func checkFiles(t *testing.T, name string, got, want map[string]fileMeta, flags bool) {
	t.Helper()
	for path, w := range want {
		g, ok := got[path]
		if !flags {
			g.Flags, w.Flags = "", ""
		}
		switch {
		case !ok:
			t.Errorf("%s: %s missing", name, path)
		case g != w:
			t.Errorf("%s: %s is %+v, want %+v", name, path, g, w)
		}
	}
	for path, g := range got {
		switch {
		case strings.ContainsAny(g.Perms, "sStT") || g.Perms[8] == 'w':
			t.Errorf("%s: %s is %s: setuid, setgid or writable by others", name, path, g.Perms)
		case strings.HasPrefix(path, "/usr/bin/") && (g.Perms != binary.Perms || g.User != "root" || g.Group != "root"):
			t.Errorf("%s: %s is %+v, want a binary 0755 root:root", name, path, g)
		case strings.HasPrefix(path, "/etc/webrtc-gateway/") && (g.Perms != secretCfg.Perms || g.User != "root" || g.Group != "webrtcgw" || flags && g.Flags != "cn"):
			t.Errorf("%s: %s is %+v, want configuration 0640 root:webrtcgw, noreplace", name, path, g)
		case g.User != "root" && !strings.HasPrefix(path, "/var/"):
			t.Errorf("%s: %s belongs to %s: only the state directories are webrtcgw's", name, path, g.User)
		}
	}
}

func TestRPMFiles(t *testing.T) {
	requireTools(t, "rpm")
	p := builtPackages(t)
	for _, name := range packageNames {
		t.Run(name, func(t *testing.T) {
			checkFiles(t, name, rpmFiles(t, p.path("rpm", name)), wantFilesOf(t, name), true)
		})
	}
}

func TestRPMMetadata(t *testing.T) {
	requireTools(t, "rpm")
	p := builtPackages(t)
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	want := map[string]struct{ requires, recommends, suggests []string }{
		"webrtc-gateway":          {nil, []string{"fail2ban", "firewalld"}, []string{"webrtc-gateway-lca"}},
		"webrtc-gateway-confserv": {nil, nil, []string{"webrtc-gateway"}},
		"webrtc-gateway-lca":      {[]string{"logrotate"}, []string{"webrtc-gateway"}, nil},
	}
	for _, name := range packageNames {
		t.Run(name, func(t *testing.T) {
			pkg := p.path("rpm", name)
			got := runOut(t, "rpm", "-qp", "--qf", "%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{GROUP}", pkg)
			if w := strings.Join([]string{name, p.version.Upstream, p.version.Release, arch}, "|") + "|"; !strings.HasPrefix(got, w) {
				t.Errorf("rpm -qp %s = %q, want it to start with %q", filepath.Base(pkg), got, w)
			}
			if base := filepath.Base(pkg); base != name+"-"+p.version.RPM()+"."+arch+".rpm" {
				t.Errorf("file name %s, want NAME-VERSION-RELEASE.ARCH.rpm", base)
			}
			// Requirements besides rpmlib()'s, which say what rpm must support.
			var requires []string
			for _, r := range strings.Fields(runOut(t, "rpm", "-qp", "--qf", "[%{REQUIRENAME}\n]", pkg)) {
				if !strings.HasPrefix(r, "rpmlib(") {
					requires = append(requires, r)
				}
			}
			w := want[name]
			if diff := cmp.Diff(w.requires, requires, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("requires (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(w.recommends, strings.Fields(runOut(t, "rpm", "-qp", "--qf", "[%{RECOMMENDNAME}\n]", pkg)), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("recommends (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(w.suggests, strings.Fields(runOut(t, "rpm", "-qp", "--qf", "[%{SUGGESTNAME}\n]", pkg)), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("suggests (-want +got):\n%s", diff)
			}
			if cl := runOut(t, "rpm", "-qp", "--changelog", pkg); !strings.Contains(cl, " - "+p.version.RPM()+"\n") {
				t.Errorf("changelog %q does not name %s", cl, p.version.RPM())
			}
			for _, tag := range []string{"PREIN", "POSTIN", "PREUN", "POSTUN"} {
				if prog := runOut(t, "rpm", "-qp", "--qf", "%{"+tag+"PROG}", pkg); prog != "/bin/sh" {
					t.Errorf("%%{%sPROG} = %q, want /bin/sh", tag, prog)
				}
			}
		})
	}
}

// TestRPMPayloadRelative checks that the payload's paths are relative
// (./usr/bin/...), as rpmbuild writes them: rpmlint, and anyone else,
// extracts the payload with rpm2cpio | cpio -i, which writes absolute
// paths onto the host's own /usr and /etc.
func TestRPMPayloadRelative(t *testing.T) {
	requireTools(t, "rpm2cpio", "cpio", "sh")
	p := builtPackages(t)
	for _, name := range packageNames {
		pkg := p.path("rpm", name)
		out := runOut(t, "sh", "-c", `rpm2cpio "$1" | cpio -t --quiet`, "sh", pkg)
		for line := range strings.Lines(out) {
			if !strings.HasPrefix(line, "./") {
				t.Errorf("%s: payload path %q is not relative", filepath.Base(pkg), strings.TrimSpace(line))
			}
		}
	}
}

var (
	rpmlintSummaryRE = regexp.MustCompile(`(\d+) packages and \d+ specfiles checked; (\d+) errors, (\d+) warnings`)
	rpmlintLineRE    = regexp.MustCompile(`^(\S+): ([EW]): (\S+)`)
)

// TestRPMLint runs rpmlint with packaging/webrtc-gateway.rpmlintrc: no
// error, and every warning explained in packaging/README.md.
func TestRPMLint(t *testing.T) {
	requireTools(t, "rpmlint")
	p := builtPackages(t)
	args := []string{"-r", filepath.Join(repoRoot, "packaging/webrtc-gateway.rpmlintrc")}
	for _, name := range packageNames {
		args = append(args, p.path("rpm", name))
	}
	// rpmlint exits 66 when it finds errors; the summary says how many.
	out, _ := runErr("rpmlint", args...)
	m := rpmlintSummaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("rpmlint: no summary in\n%s", out)
	}
	if m[1] != "3" || m[2] != "0" {
		t.Errorf("rpmlint: %s packages, %s errors; want 3, 0:\n%s", m[1], m[2], out)
	}
	readme := readRepo(t, "packaging/README.md")
	for line := range strings.Lines(out) {
		l := rpmlintLineRE.FindStringSubmatch(line)
		if l == nil {
			continue
		}
		if l[2] == "E" {
			t.Errorf("rpmlint error: %s", strings.TrimSpace(line))
		} else if !strings.Contains(readme, "`"+l[3]+"`") && !strings.Contains(readme, "`"+l[3]+" ") {
			t.Errorf("rpmlint warning %s is not explained in packaging/README.md: %s", l[3], strings.TrimSpace(line))
		}
	}
}

// TestRPMInstall installs the RPMs into a scratch root and runs the
// installed binaries; then upgrades the LCA's package over an edited
// configuration and data, and removes it.
func TestRPMInstall(t *testing.T) {
	requireTools(t, "rpm")
	p := builtPackages(t)
	root := t.TempDir()
	rpmRoot := []string{"--root", root, "--dbpath", "/var/lib/rpm"}
	runOut(t, "rpm", append(rpmRoot, "--initdb")...)
	install := append(slices.Clone(rpmRoot), "-i", "--nodeps", "--noscripts")
	for _, name := range packageNames {
		install = append(install, p.path("rpm", name))
	}
	runOut(t, "rpm", install...)
	installed := strings.Fields(runOut(t, "rpm", append(rpmRoot, "-qa", "--qf", "%{NAME}\n")...))
	slices.Sort(installed)
	if diff := cmp.Diff(packageNames, installed); diff != "" {
		t.Fatalf("rpm -qa (-want +got):\n%s", diff)
	}
	// The scratch root has no webrtcgw group, so rpm gave the files root's:
	// the modes are what can be checked on disk.
	for path, mode := range map[string]os.FileMode{
		"/usr/bin/webrtc-gateway":                0o755,
		"/usr/bin/lca":                           0o755,
		"/etc/webrtc-gateway":                    0o750 | os.ModeDir,
		"/etc/webrtc-gateway/webrtc-gateway.ini": 0o640,
		"/etc/webrtc-gateway/lca.ini":            0o640,
		"/var/lib/webrtc-gateway-confserv":       0o750 | os.ModeDir,
	} {
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			t.Error(err)
		} else if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	runInstalled(t, root, p.version, true)

	t.Run("upgrade and removal", func(t *testing.T) {
		next, err := buildForTest(filepath.Join(testDir, "release2"), "2", []string{"webrtc-gateway-lca"})
		if err != nil {
			t.Fatal(err)
		}
		ini := filepath.Join(root, "etc/webrtc-gateway/lca.ini")
		edited := readFile(t, ini) + "; edited by the operator\n"
		writeFile(t, ini, edited)
		token := filepath.Join(root, "var/lib/webrtc-gateway-lca/control-token")
		writeFile(t, token, "data\n")

		runOut(t, "rpm", append(rpmRoot, "-U", "--nodeps", "--noscripts", next.path("rpm", "webrtc-gateway-lca"))...)
		if got := runOut(t, "rpm", append(rpmRoot, "-q", "--qf", "%{RELEASE}", "webrtc-gateway-lca")...); got != "2" {
			t.Errorf("release after the upgrade = %q, want 2", got)
		}
		if got := readFile(t, ini); got != edited {
			t.Errorf("lca.ini after the upgrade lost the operator's edit:\n%s", got)
		}
		if got := readFile(t, token); got != "data\n" {
			t.Errorf("data after the upgrade = %q", got)
		}

		runOut(t, "rpm", append(rpmRoot, "-e", "--nodeps", "--noscripts", "webrtc-gateway-lca")...)
		if _, err := os.Stat(filepath.Join(root, "usr/bin/lca")); !os.IsNotExist(err) {
			t.Errorf("/usr/bin/lca after the removal: %v", err)
		}
		if got := readFile(t, ini+".rpmsave"); got != edited {
			t.Errorf("the edited lca.ini was not kept as lca.ini.rpmsave: %q", got)
		}
		if got := readFile(t, token); got != "data\n" {
			t.Errorf("data after the removal = %q", got)
		}
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o640); err != nil {
		t.Fatal(err)
	}
}
