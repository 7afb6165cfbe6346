package hostcheck

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseProcNet(t *testing.T) {
	text := procNetHeader +
		procNetLine(0, "127.0.0.1:4999", stateListen, 11) + "\n" +
		procNetLine(1, "10.1.2.3:443", "01", 12) + "\n" + // established: not listening
		"   2: 0100007F:0016 0100007F:B0E2 01 00000000:00000000 00:00000000 00000000     0        0 13 1 0 100 0 0 10 0\n" +
		"   3: garbage\n"
	got, err := ParseProcNet([]byte(text), "tcp")
	if err == nil || !strings.Contains(err.Error(), "line 5: 2 fields") {
		t.Errorf("ParseProcNet error = %v, want line 5 reported", err)
	}
	want := []Socket{{Proto: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:4999"), UID: 990, Inode: 11}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("ParseProcNet (-want +got):\n%s", diff)
	}

	v6 := procNetHeader + procNetLine(0, "[2001:db8::1]:5060", stateClose, 21) + "\n" + procNetLine(1, "[::ffff:192.0.2.1]:69", stateClose, 22) + "\n"
	got, err = ParseProcNet([]byte(v6), "udp")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr.String() != "[2001:db8::1]:5060" || got[1].Addr.String() != "192.0.2.1:69" {
		t.Errorf("ParseProcNet(udp6) = %v, want [2001:db8::1]:5060 and 192.0.2.1:69 (unmapped)", got)
	}
}

// TestProcNetOfThisHost reads the kernel's own /proc/net/tcp and tcp6 with
// sockets this test listens on: the byte order of the real format.
func TestProcNetOfThisHost(t *testing.T) {
	for _, tt := range []struct{ network, addr, file string }{
		{"tcp4", "127.0.0.1:0", "/proc/net/tcp"},
		{"tcp6", "[::1]:0", "/proc/net/tcp6"},
	} {
		l, err := net.Listen(tt.network, tt.addr)
		if err != nil {
			t.Logf("%s: %v (no %s here)", tt.network, err, tt.network)
			continue
		}
		defer l.Close()
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Skipf("%s: %v", tt.file, err)
		}
		socks, err := ParseProcNet(data, "tcp")
		if err != nil {
			t.Fatalf("ParseProcNet(%s): %v", tt.file, err)
		}
		want := netip.MustParseAddrPort(l.Addr().String())
		if !slices.ContainsFunc(socks, func(s Socket) bool { return s.Addr == want }) {
			t.Errorf("%s has no listening %s: %v", tt.file, want, socks)
		}
	}
}

func TestParseUnitFile(t *testing.T) {
	text := "# comment\n[Unit]\nDescription=x\n\n[Service]\n; another\nExecStart=/usr/bin/lca \\\n  -port 4999 \\\n# inside\n  -listen 0.0.0.0\nUser = webrtcgw\nbroken line\n[Bad\nKey=lost\n"
	ds, err := ParseUnitFile("/u.service", []byte(text))
	if err == nil || !strings.Contains(err.Error(), "/u.service:13") || !strings.Contains(err.Error(), "/u.service:14") {
		t.Errorf("ParseUnitFile error = %v, want lines 13 and 14", err)
	}
	u := &Unit{Directives: ds}
	exec, _ := u.Last("Service", "ExecStart")
	if exec.Value != "/usr/bin/lca  -port 4999  -listen 0.0.0.0" || exec.Line != 7 {
		t.Errorf("ExecStart = %q at line %d, want the continued line at 7", exec.Value, exec.Line)
	}
	if user, _ := u.Last("Service", "User"); user.Value != "webrtcgw" {
		t.Errorf("User = %q, want webrtcgw", user.Value)
	}
	if u.Assigned("Service", "Key") {
		t.Error("a key after a bad section header was kept")
	}
}

func TestUnitValues(t *testing.T) {
	u := &Unit{Directives: []Directive{
		{Section: "Service", Key: "SystemCallFilter", Value: "@system-service"},
		{Section: "Service", Key: "SystemCallFilter", Value: ""},
		{Section: "Service", Key: "SystemCallFilter", Value: "@basic-io"},
		{Section: "Service", Key: "SystemCallFilter", Value: "~@mount"},
	}}
	got := u.Values("Service", "SystemCallFilter")
	if len(got) != 2 || got[0].Value != "@basic-io" {
		t.Errorf("Values after a reset = %v, want @basic-io and ~@mount", got)
	}
}

func TestSplitCommand(t *testing.T) {
	env := map[string]string{"ARGS": "-listen 10.0.0.1  -tls-key /k", "ONE": "a b"}
	for _, tt := range []struct {
		in     string
		prefix string
		words  []string
		err    bool
	}{
		{"/usr/bin/confserv -port 2020", "", []string{"/usr/bin/confserv", "-port", "2020"}, false},
		{"-+/usr/bin/x $ARGS", "-+", []string{"/usr/bin/x", "-listen", "10.0.0.1", "-tls-key", "/k"}, false},
		{"/x ${ONE} $ONE", "", []string{"/x", "a b", "a", "b"}, false},
		{`/x "a b" 'c $ONE' "d $ONE" e\ f`, "", []string{"/x", "a b", "c $ONE", "d a b", "e f"}, false},
		{"/x $UNSET -y", "", []string{"/x", "-y"}, false},
		{"/x 'open", "", nil, true},
	} {
		prefix, words, err := SplitCommand(tt.in, env)
		if (err != nil) != tt.err || prefix != tt.prefix || (!tt.err && !slices.Equal(words, tt.words)) {
			t.Errorf("SplitCommand(%q) = %q, %q, %v; want %q, %q, error %v", tt.in, prefix, words, err, tt.prefix, tt.words, tt.err)
		}
	}
}

func TestEnvironment(t *testing.T) {
	env := map[string]string{}
	ParseEnvironment(`"A=1 2" B=x C=$HOME`, env)
	ParseEnvironmentFile([]byte("# c\nD='quoted value'\nexport E=\"e\"\n; x\nnot a setting\n"), env)
	want := map[string]string{"A": "1 2", "B": "x", "C": "$HOME", "D": "quoted value", "E": "e"}
	if diff := cmp.Diff(want, env); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestFlagValue(t *testing.T) {
	args := []string{"-port", "2020", "--listen=10.0.0.1", "-data", "/d", "-data", "/e", "--", "-tls-key", "x"}
	for _, tt := range []struct {
		name, want string
		found      bool
	}{
		{"port", "2020", true}, {"listen", "10.0.0.1", true}, {"data", "/e", true}, {"tls-key", "", false}, {"2020", "", false},
	} {
		if got, found := FlagValue(args, tt.name); got != tt.want || found != tt.found {
			t.Errorf("FlagValue(%s) = %q, %v; want %q, %v", tt.name, got, found, tt.want, tt.found)
		}
	}
}

func TestDropInDirs(t *testing.T) {
	for name, want := range map[string][]string{
		"webrtc-gateway-lca.service": {"service.d", "webrtc-.service.d", "webrtc-gateway-.service.d", "webrtc-gateway-lca.service.d"},
		"telnet@23.service":          {"service.d", "telnet@.service.d", "telnet@23.service.d"},
		"sshd.service":               {"service.d", "sshd.service.d"},
	} {
		if got := dropInDirs(name); !slices.Equal(got, want) {
			t.Errorf("dropInDirs(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestPackagedUnitCommands expands the packaged units' ExecStart as systemd
// does: the LCA's $LCA_SOURCE names lca.ini.
func TestPackagedUnitCommands(t *testing.T) {
	tr := newTree(t)
	for _, u := range PackagedUnits {
		tr.copyFile(filepath.Join(repo, "packaging/systemd", u), "/usr/lib/systemd/system/"+u, 0o644)
	}
	s := tr.gather(Flags{})
	for unit, want := range map[string]map[string]string{
		UnitLCA:      {"config": "/etc/webrtc-gateway/lca.ini", "data": "/var/lib/webrtc-gateway-lca"},
		UnitConfserv: {"port": "2020", "data": "/var/lib/webrtc-gateway-confserv"},
		UnitGateway:  {"config": "/etc/webrtc-gateway/webrtc-gateway.ini", "data": "/var/lib/webrtc-gateway"},
	} {
		for flag, v := range want {
			if got, _, ok := s.daemonFlag(unit, flag); !ok || got != v {
				t.Errorf("%s -%s = %q (%v), want %q", unit, flag, got, ok, v)
			}
		}
	}
	if _, _, ok := s.daemonFlag(UnitConfserv, "listen"); ok {
		t.Errorf("confserv's unit has -listen: the checks assume every address by default")
	}
	if env := s.unitEnv(s.unit(UnitLCA)); env["STATE_DIRECTORY"] != "/var/lib/webrtc-gateway-lca:/var/lib/webrtc-gateway" {
		t.Errorf("STATE_DIRECTORY of the LCA = %q", env["STATE_DIRECTORY"])
	}
}

// TestRootFSLinks: absolute links resolve inside the tree, never to the
// auditing host's files.
func TestRootFSLinks(t *testing.T) {
	tr := newTree(t)
	tr.file("/usr/lib/systemd/system/x.service", "[Service]\nUser=tree\n", 0)
	tr.link("/lib", "usr/lib")
	tr.link("/etc/systemd/system/multi-user.target.wants/x.service", "/lib/systemd/system/x.service")
	tr.link("/etc/escape", "/../../../../etc/passwd")
	tr.link("/loop", "/loop")
	r := rootFS{dir: tr.dir}
	data, err := r.ReadFile("/etc/systemd/system/multi-user.target.wants/x.service")
	if err != nil || !strings.Contains(string(data), "User=tree") {
		t.Errorf("ReadFile through an absolute link = %q, %v; want the tree's unit", data, err)
	}
	data, err = r.ReadFile("/etc/escape")
	if err != nil || !strings.Contains(string(data), "webrtcgw:x:") {
		t.Errorf("ReadFile(/etc/escape) = %q, %v; want the tree's /etc/passwd", data, err)
	}
	if _, err := r.ReadFile("/loop"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("ReadFile of a link loop = %v, want too many levels", err)
	}
	if target, err := r.Readlink("/lib/../etc/escape"); err != nil || target != "/../../../../etc/passwd" {
		t.Errorf("Readlink = %q, %v", target, err)
	}
}

func TestParseZone(t *testing.T) {
	z, err := ParseZone("public", "/etc/firewalld/zones/public.xml", []byte(`<?xml version="1.0" encoding="utf-8"?>
<zone target="%%REJECT%%">
  <interface name="eth0"/>
  <source address="192.0.2.0/24"/>
  <service name="ssh"/>
  <port protocol="tcp" port="4990-5000"/>
  <rule family="ipv4"><source address="10.0.0.0/8"/><service name="webrtc-gateway-management"/><accept/></rule>
  <rule><port protocol="tcp" port="2020"/><drop/></rule>
</zone>`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Zone{Name: "public", Path: "/etc/firewalld/zones/public.xml", Target: "%%REJECT%%", Interfaces: []string{"eth0"},
		Sources: []string{"192.0.2.0/24"}, Services: []string{"ssh"}, Ports: []PortRange{{4990, 5000, "tcp"}},
		Rules: []RichRule{{Source: "10.0.0.0/8", Service: "webrtc-gateway-management", Action: "accept"}, {Port: PortRange{2020, 2020, "tcp"}, Action: "drop"}}}
	if diff := cmp.Diff(want, z); diff != "" {
		t.Errorf("ParseZone (-want +got):\n%s", diff)
	}
	if _, err := ParseZone("x", "/x.xml", []byte(`<zone><port protocol="tcp" port="99999"/></zone>`)); err == nil {
		t.Error("ParseZone accepted port 99999")
	}
}

// TestFirewalldFilesOfThisHost parses the zones and services firewalld
// installs, when it is installed here.
func TestFirewalldFilesOfThisHost(t *testing.T) {
	for _, dir := range []string{"/usr/lib/firewalld/zones", "/usr/lib/firewalld/services"} {
		files, _ := filepath.Glob(dir + "/*.xml")
		if len(files) == 0 {
			t.Skipf("no %s (firewalld is not installed)", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".xml")
			if strings.HasSuffix(dir, "zones") {
				_, err = ParseZone(name, f, data)
			} else {
				_, err = ParseFirewalldService(name, f, data)
			}
			if err != nil {
				t.Errorf("%v", err)
			}
		}
	}
}

func TestSourceClass(t *testing.T) {
	for s, want := range map[string]int{
		"10.0.0.0/8": sourcePrivate, "192.168.1.7": sourcePrivate, "fd00::/8": sourcePrivate, "ipset:mgmt": sourcePrivate,
		"10.0.0.1-10.0.0.9": sourcePrivate, "203.0.113.0/24": sourcePublic, "8.0.0.0/8": sourcePublic, "10.0.0.1-11.0.0.1": sourcePublic,
		"0.0.0.0/0": sourceWorld, "128.0.0.0/1": sourceWorld, "::/0": sourceWorld, "2000::/3": sourceWorld, "nonsense": sourcePublic,
		"::ffff:0.0.0.0/96": sourceWorld,
	} {
		if got := sourceClass(s); got != want {
			t.Errorf("sourceClass(%s) = %d, want %d", s, got, want)
		}
	}
}

func TestFail2banFiles(t *testing.T) {
	f := Fail2ban{JailFile: "/b.conf", Files: []Fail2banFile{
		ParseFail2banFile("/a.conf", []byte("[DEFAULT]\nenabled = false\n[j1]\nport = 1,\n  2\n")),
		ParseFail2banFile("/b.conf", []byte("# c\n[DEFAULT]\nbantime: 600\n[j1]\nenabled = true\n[j2]\nfilter = x\n")),
		ParseFail2banFile("/c.local", []byte("[j1]\nenabled = no\n")),
	}}
	if got := f.Jails(); !slices.Equal(got, []string{"j1", "j2"}) {
		t.Errorf("Jails = %v", got)
	}
	if on, where := f.JailEnabled("j1"); on || where != "/c.local" {
		t.Errorf("JailEnabled(j1) = %v, %s; want false by /c.local", on, where)
	}
	if on, where := f.JailEnabled("j2"); on || where != "/a.conf [DEFAULT]" {
		t.Errorf("JailEnabled(j2) = %v, %s; want false by /a.conf [DEFAULT]", on, where)
	}
	if got := f.Files[0].Sections["j1"]["port"]; got != "1,\n2" {
		t.Errorf("continued value = %q", got)
	}
	if got := ParseFail2banStatus("Status\n|- Number of jail:\t0\n`- Jail list:\t\n"); len(got) != 0 || got == nil {
		t.Errorf("no jails = %#v, want an empty list", got)
	}
}

func TestParseXinetd(t *testing.T) {
	got := ParseXinetd("/etc/xinetd.d/x", []byte("# c\nservice telnet\n{\n disable = no # on\n}\nservice tftp\n{\n\tdisable\t= yes\n}\nservice ftp\n{\n}\n"))
	want := []XinetdService{{"telnet", "/etc/xinetd.d/x", false}, {"tftp", "/etc/xinetd.d/x", true}, {"ftp", "/etc/xinetd.d/x", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseXinetd (-want +got):\n%s", diff)
	}
}

// TestBuiltinHardeningMatchesPackaging keeps the built-in copy of the
// packaged units' hardening equal to packaging/systemd: neither is weaker
// than the other.
func TestBuiltinHardeningMatchesPackaging(t *testing.T) {
	for _, name := range PackagedUnits {
		data, err := os.ReadFile(filepath.Join(repo, "packaging/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := ParseUnitFile(name, data)
		if err != nil {
			t.Fatal(err)
		}
		packaged, builtin := serviceOnly(ds), serviceOnly(builtinHardening[name])
		if weak, _ := weakenings(builtin, packaged); len(weak) > 0 {
			t.Errorf("%s is weaker than the built-in hardening: %s", name, strings.Join(weak, "; "))
		}
		if weak, _ := weakenings(packaged, builtin); len(weak) > 0 {
			t.Errorf("the built-in hardening of %s is weaker than packaging/systemd: %s", name, strings.Join(weak, "; "))
		}
		for _, d := range packaged.Directives {
			_, known := hardeningSettings[d.Key]
			sandbox := slices.ContainsFunc([]string{"Protect", "Restrict", "Private", "Lock", "Memory", "NoNew", "Capability", "Ambient", "SystemCallFilter", "SystemCallArch", "Device", "Keyring", "Remove", "UMask", "User"},
				func(p string) bool { return strings.HasPrefix(d.Key, p) })
			if sandbox && !known {
				t.Errorf("%s sets %s, which the unit-hardening check does not know", name, d.Key)
			}
		}
	}
}

func TestWeakenings(t *testing.T) {
	ref := serviceOnly(builtinHardening[UnitGateway])
	for _, tt := range []struct {
		name    string
		dropIn  string
		weak    []string
		lowPort bool
	}{
		{"nothing", "", nil, false},
		{"low ports", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", nil, true},
		{"stricter", "ProtectProc=noaccess\nUMask=0077\nSystemCallFilter=~@debug\n", nil, false},
		{"wider capabilities", "CapabilityBoundingSet=CAP_NET_ADMIN\nAmbientCapabilities=~CAP_SYS_ADMIN\n",
			[]string{"AmbientCapabilities=~CAP_SYS_ADMIN (/d.conf:2): keeps every capability but those named", "CapabilityBoundingSet=CAP_NET_ADMIN (/d.conf:1): adds CAP_NET_ADMIN"}, false},
		{"system calls", "SystemCallFilter=@mount\nSystemCallFilter=\nSystemCallFilter=@system-service\n",
			[]string{"SystemCallFilter=@system-service (/d.conf:3): no longer denies @privileged", "SystemCallFilter=@system-service (/d.conf:3): no longer denies @resources"}, false},
		{"no filter", "SystemCallFilter=\nRestrictAddressFamilies=\n",
			[]string{"RestrictAddressFamilies= (/d.conf:2): allows every address family but those named", "SystemCallFilter= (/d.conf:1): no system call filter in effect"}, false},
		{"home and umask", "ProtectHome=read-only\nUMask=0002\nMemoryDenyWriteExecute=false\n",
			[]string{"MemoryDenyWriteExecute=false (/d.conf:3): packaged: MemoryDenyWriteExecute=yes", "ProtectHome=read-only (/d.conf:1): weaker than the packaged ProtectHome=yes",
				"UMask=0002 (/d.conf:2): masks less than the packaged UMask=0027 (new files readable by more users)"}, false},
		{"dynamic root", "User=root\nDynamicUser=yes\n", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := ParseUnitFile("/d.conf", []byte("[Service]\n"+tt.dropIn))
			if err != nil {
				t.Fatal(err)
			}
			for i := range ds {
				ds[i].Line-- // count from the drop-in's first setting
			}
			eff := serviceOnly(append(slices.Clone(builtinHardening[UnitGateway]), ds...))
			weak, low := weakenings(ref, eff)
			if diff := cmp.Diff(tt.weak, weak); diff != "" || low != tt.lowPort {
				t.Errorf("weakenings (-want +got):\n%s\nlow ports %v, want %v", diff, low, tt.lowPort)
			}
		})
	}
}
