package firewall

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"webrtcgw/internal/testpeers"
)

// offlineCmd runs firewall-offline-cmd on the scratch configuration root
// dir (never /etc/firewalld): --system-config points it there, and the
// stock zones and services come from --default-config.
func offlineCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	args = append([]string{"--system-config", dir, "--default-config", "/usr/lib/firewalld"}, args...)
	var stderr strings.Builder
	cmd := exec.Command("firewall-offline-cmd", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("firewall-offline-cmd %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// scratchRoot returns a firewalld configuration root with the settings
// file firewalld expects there.
func scratchRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "firewalld.conf"), []byte("DefaultZone=public\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestFirewalldParser loads the services of every case with firewalld's own
// parser: firewall-offline-cmd on a scratch configuration root checks the
// configuration, reads back each service's ports and short name, and adds
// each to a stock zone.
func TestFirewalldParser(t *testing.T) {
	testpeers.Require(t, "firewall-offline-cmd")
	if _, err := os.Stat("/usr/lib/firewalld/zones/public.xml"); err != nil {
		testpeers.SkipOrFail(t, "firewalld's stock configuration: %v (install the Debian package firewalld)", err)
	}
	for _, tc := range append(cases, struct {
		name     string
		sections map[string]map[string]string
		mgmt     ManagementPorts
		want     []Rule
	}{name: "no-management"}) {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Compute(parse(t, tc.sections), goldenConfig(tc.mgmt, Accept))
			if err != nil {
				t.Fatal(err)
			}
			root := scratchRoot(t)
			services := filepath.Join(root, "services")
			if err := os.Mkdir(services, 0o755); err != nil {
				t.Fatal(err)
			}
			files, _ := Files(rs, Firewalld)
			if _, err := WriteDir(services, files); err != nil {
				t.Fatal(err)
			}
			// A file firewalld cannot load makes --check-config fail.
			offlineCmd(t, root, "--check-config")
			for _, s := range Services(rs) {
				var want []string
				for _, r := range rs.Rules {
					if r.Zone == s.Zone {
						want = append(want, r.Ports.String()+"/"+string(r.Protocol))
					}
				}
				if got := offlineCmd(t, root, "--service="+s.Name, "--get-ports"); got != strings.Join(want, " ") {
					t.Errorf("%s ports = %q, want %q", s.Name, got, strings.Join(want, " "))
				}
				if got, want := offlineCmd(t, root, "--service="+s.Name, "--get-short"), serviceText[s.Zone].short; got != want {
					t.Errorf("%s short = %q, want %q", s.Name, got, want)
				}
				zone := map[Zone]string{Public: "public", Internal: "internal", Management: "internal"}[s.Zone]
				offlineCmd(t, root, "--zone="+zone, "--add-service="+s.Name)
			}
			if got := offlineCmd(t, root, "--zone=internal", "--list-services"); !strings.Contains(got, "webrtc-gateway-sip") || !strings.Contains(got, "webrtc-gateway-management") {
				t.Errorf("internal zone services = %q", got)
			}
		})
	}
	// The files the packages ship, as they are in the repository.
	t.Run("shipped", func(t *testing.T) {
		root := scratchRoot(t)
		if err := os.CopyFS(filepath.Join(root, "services"), os.DirFS(filepath.Join("..", ShippedDir))); err != nil {
			t.Fatal(err)
		}
		offlineCmd(t, root, "--check-config")
		for name, want := range map[string]string{
			"webrtc-gateway":            "8443/tcp 30000-39999/udp",
			"webrtc-gateway-sip":        "5060/udp 20000-29999/udp",
			"webrtc-gateway-management": "2020/tcp 4999/tcp",
		} {
			if got := offlineCmd(t, root, "--service="+name, "--get-ports"); got != want {
				t.Errorf("shipped %s ports = %q, want %q", name, got, want)
			}
		}
	})
	// firewalld refuses what is not a service: the test would notice a
	// broken file.
	t.Run("broken", func(t *testing.T) {
		root := scratchRoot(t)
		os.Mkdir(filepath.Join(root, "services"), 0o755)
		os.WriteFile(filepath.Join(root, "services", "webrtc-gateway.xml"), []byte(`<service><port protocol="tcp" port="99999"/></service>`), 0o644)
		out, err := exec.Command("firewall-offline-cmd", "--system-config", root, "--default-config", "/usr/lib/firewalld", "--check-config").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "INVALID_PORT") {
			t.Errorf("firewall-offline-cmd --check-config on a bad port: %v\n%s", err, out)
		}
	})
}
