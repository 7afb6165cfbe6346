package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	debRootOnce sync.Once
	debRootDir  string
	debRootErr  error
)

// debRoot is a scratch root with the three debs unpacked by dpkg -x, for
// every test of the run that only reads it.
func debRoot(t *testing.T) string {
	t.Helper()
	requireTools(t, "dpkg")
	p := builtPackages(t)
	debRootOnce.Do(func() {
		debRootDir = filepath.Join(testDir, "debroot")
		for _, name := range packageNames {
			if _, err := runErr("dpkg", "-x", p.path("deb", name), debRootDir); err != nil {
				debRootErr = err
				return
			}
		}
	})
	if debRootErr != nil {
		t.Fatal(debRootErr)
	}
	return debRootDir
}

// debFiles is the file list of a deb (dpkg-deb -c) with each file's
// metadata; the flags are left empty.
func debFiles(t *testing.T, pkg string) map[string]fileMeta {
	files := map[string]fileMeta{}
	for line := range strings.Lines(runOut(t, "dpkg-deb", "-c", pkg)) {
		// drwxr-x--- root/webrtcgw 0 2026-12-06 07:31 ./etc/webrtc-gateway/
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: unexpected line %q", line)
		}
		user, group, _ := strings.Cut(f[1], "/")
		path := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		if path == "" {
			continue
		}
		files[path] = fileMeta{Perms: f[0], User: user, Group: group}
	}
	return files
}

func TestDebFiles(t *testing.T) {
	requireTools(t, "dpkg-deb")
	p := builtPackages(t)
	for _, name := range packageNames {
		t.Run(name, func(t *testing.T) {
			got := debFiles(t, p.path("deb", name))
			// dpkg-deb lists the parent directories too, and nfpm's
			// changelog, as root's 0755 and 0644.
			for path, g := range got {
				if g.Perms[0] == 'd' && g.User == "root" && g.Group == "root" || strings.HasSuffix(path, "/changelog.Debian.gz") {
					delete(got, path)
				}
			}
			checkFiles(t, name, got, wantFilesOf(t, name), false)
			if _, ok := debFiles(t, p.path("deb", name))["/usr/share/doc/"+name+"/changelog.Debian.gz"]; !ok {
				t.Errorf("%s: no /usr/share/doc/%s/changelog.Debian.gz", name, name)
			}
		})
	}
}

func TestDebControl(t *testing.T) {
	requireTools(t, "dpkg-deb")
	p := builtPackages(t)
	want := map[string]map[string]string{
		"webrtc-gateway":          {"Recommends": "fail2ban", "Suggests": "firewalld | nftables, webrtc-gateway-lca"},
		"webrtc-gateway-confserv": {"Suggests": "webrtc-gateway"},
		"webrtc-gateway-lca":      {"Depends": "logrotate", "Recommends": "webrtc-gateway"},
	}
	for _, name := range packageNames {
		t.Run(name, func(t *testing.T) {
			pkg := p.path("deb", name)
			if base := filepath.Base(pkg); base != name+"_"+p.version.Deb()+"_"+runtime.GOARCH+".deb" {
				t.Errorf("file name %s, want NAME_VERSION_ARCH.deb", base)
			}
			fields := []string{"Package", "Version", "Architecture", "Section", "Maintainer", "Depends", "Recommends", "Suggests", "Pre-Depends"}
			got := map[string]string{}
			for line := range strings.Lines(runOut(t, "dpkg-deb", append([]string{"-f", pkg}, fields...)...)) {
				if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok {
					got[k] = v
				}
			}
			w := map[string]string{"Package": name, "Version": p.version.Deb(), "Architecture": runtime.GOARCH,
				"Section": "net", "Maintainer": "Test <test@example.invalid>"}
			for k, v := range want[name] {
				w[k] = v
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("dpkg-deb -f (-want +got):\n%s", diff)
			}
			if info := runOut(t, "dpkg-deb", "-I", pkg); !strings.Contains(info, "Description: ") {
				t.Errorf("dpkg-deb -I: no Description:\n%s", info)
			}

			// The conffiles are the configuration files, and only those.
			var conffiles []string
			for path, meta := range wantFilesOf(t, name) {
				if meta.Flags == "cn" {
					conffiles = append(conffiles, path)
				}
			}
			out, err := runErr("dpkg-deb", "-I", pkg, "conffiles")
			if err != nil && (len(conffiles) > 0 || !strings.Contains(err.Error(), "no control component 'conffiles'")) {
				t.Fatal(err)
			}
			got2 := strings.Fields(out)
			if diff := cmp.Diff(conffiles, got2, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("conffiles (-want +got):\n%s", diff)
			}

			// The maintainer scripts are there, for sh.
			for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
				text := runOut(t, "dpkg-deb", "-I", pkg, script)
				if !strings.HasPrefix(text, "#!/bin/sh\n") {
					t.Errorf("%s starts with %q, want #!/bin/sh", script, strings.SplitN(text, "\n", 2)[0])
				}
			}
		})
	}
}

func TestDebInstall(t *testing.T) {
	root := debRoot(t)
	p := builtPackages(t)
	runInstalled(t, root, p.version, false)
}
