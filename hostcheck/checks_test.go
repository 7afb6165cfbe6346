package hostcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// confservExecStart is where the fixtures' (the packaged) Configuration
// Server unit says its command line, as findings cite it.
var confservExecStart = func() string {
	data, err := os.ReadFile("../packaging/systemd/webrtc-gateway-confserv.service")
	if err != nil {
		panic(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "ExecStart=") {
			return fmt.Sprintf("/usr/lib/systemd/system/webrtc-gateway-confserv.service:%d", i+1)
		}
	}
	panic("the packaged confserv unit has no ExecStart")
}()

func TestHardenedHostPasses(t *testing.T) {
	s := hardenedHost(t).gather(Flags{})
	rs := Run(s)
	for _, r := range rs {
		if r.Status != Pass {
			t.Errorf("%s = %s, want PASS:\n%s\nremedy: %s\nunreadable: %v", r.ID, r.Status, r.Finding, r.Remedy, r.Unreadable)
		}
	}
	if got := ExitCode(rs); got != ExitPass {
		t.Errorf("ExitCode = %d, want %d", got, ExitPass)
	}
	if len(rs) != len(Checks()) {
		t.Errorf("Run gave %d results, want one per check (%d)", len(rs), len(Checks()))
	}
	if t.Failed() {
		var b bytes.Buffer
		NewReport(s, rs, "test").WriteText(&b)
		t.Log("\n" + b.String())
	}
}

// expect is a check's expected status, and text its finding must hold.
type expect struct {
	status  Status
	finding string
}

func TestChecksOnFixtures(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name   string
		mutate func(tr *tree)
		flags  Flags
		want   map[string]expect
		exit   int
	}{
		{
			name: "telnet listening",
			mutate: func(tr *tree) {
				tr.sockets("tcp 0.0.0.0:22", "tcp 0.0.0.0:23", "tcp [::]:8443", "tcp 0.0.0.0:2020")
				tr.remove("/proc/200/fd")
				tr.process(400, "in.telnetd", 0)
				tr.socketFD(400, 0, 1001)
			},
			want: map[string]expect{
				"legacy-listeners": {Fail, "telnet listens: tcp 0.0.0.0:23 (pid 400 in.telnetd)"},
				"legacy-services":  {Fail, "telnet runs: pid 400 in.telnetd"},
			},
			exit: ExitFailures,
		},
		{
			name: "tftp and rsh listening",
			mutate: func(tr *tree) {
				tr.sockets("udp 0.0.0.0:69", "tcp [::]:514", "udp 0.0.0.0:514", "tcp 0.0.0.0:2020") // 514/udp is syslog
				for _, pid := range []string{"200", "201", "300"} {
					tr.remove("/proc/" + pid + "/fd") // their inodes are gone
				}
			},
			want: map[string]expect{"legacy-listeners": {Fail, "rsh listens: tcp [::]:514\nTFTP listens: udp 0.0.0.0:69"}},
			exit: ExitFailures,
		},
		{
			name: "syslog on 514/udp is not rsh",
			mutate: func(tr *tree) {
				tr.sockets("udp 0.0.0.0:514", "tcp 127.0.0.1:25", "tcp 127.0.0.1:2020")
			},
			want: map[string]expect{"legacy-listeners": {Pass, "nothing listens"}},
			exit: ExitPass,
		},
		{
			name: "telnet.socket enabled",
			mutate: func(tr *tree) {
				tr.unit("telnet.socket", "[Socket]\nListenStream=23\nAccept=yes\n[Install]\nWantedBy=sockets.target\n")
				tr.unit("telnet@.service", "[Service]\nExecStart=-/usr/sbin/in.telnetd\nStandardInput=socket\n")
				tr.link("/etc/systemd/system/sockets.target.wants/telnet.socket", "/usr/lib/systemd/system/telnet.socket")
			},
			want: map[string]expect{"legacy-services": {Fail, "telnet.socket is enabled (/etc/systemd/system/sockets.target.wants/telnet.socket)"}},
			exit: ExitFailures,
		},
		{
			name: "vsftpd installed, masked",
			mutate: func(tr *tree) {
				tr.unit("vsftpd.service", "[Service]\nExecStart=/usr/sbin/vsftpd\n[Install]\nWantedBy=multi-user.target\n")
				tr.enable("vsftpd.service")
				tr.link("/etc/systemd/system/vsftpd.service", "/dev/null")
			},
			want: map[string]expect{"legacy-services": {Pass, "no telnet, FTP, TFTP or rsh unit is enabled"}},
			exit: ExitPass,
		},
		{
			name: "tftp installed, not enabled",
			mutate: func(tr *tree) {
				tr.unit("tftp.socket", "[Socket]\nListenDatagram=69\n")
			},
			want: map[string]expect{"legacy-services": {Pass, "installed but not enabled: tftp.socket"}},
			exit: ExitPass,
		},
		{
			name: "xinetd enabled with telnet on",
			mutate: func(tr *tree) {
				tr.unit("xinetd.service", "[Service]\nExecStart=/usr/sbin/xinetd -stayalive -pidfile /run/xinetd.pid\n[Install]\nWantedBy=multi-user.target\n")
				tr.enable("xinetd.service")
				tr.file("/etc/xinetd.d/telnet", "# default: on\nservice telnet\n{\n\tflags = REUSE\n\tsocket_type = stream\n\tdisable = no\n}\n", 0)
				tr.file("/etc/xinetd.d/tftp", "service tftp\n{\n\tdisable\t= yes\n}\n", 0)
			},
			want: map[string]expect{"xinetd": {Fail, "services it starts: telnet (/etc/xinetd.d/telnet)"}},
			exit: ExitFailures,
		},
		{
			name: "xinetd configured but not enabled",
			mutate: func(tr *tree) {
				tr.unit("xinetd.service", "[Service]\nExecStart=/usr/sbin/xinetd\n")
				tr.file("/etc/xinetd.d/telnet", "service telnet\n{\n\tsocket_type = stream\n}\n", 0)
			},
			want: map[string]expect{"xinetd": {Pass, "their configuration still has services on: telnet"}},
			exit: ExitPass,
		},
		{
			name:   "xinetd running",
			mutate: func(tr *tree) { tr.process(500, "xinetd", 0) },
			want:   map[string]expect{"xinetd": {Fail, "xinetd runs: pid 500"}},
			exit:   ExitFailures,
		},
		{
			name: "management service in the public zone",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/public.xml", `<zone><service name="ssh"/><service name="`+FirewalldService+`"/><service name="`+FirewalldServiceManagement+`"/></zone>`, 0)
			},
			want: map[string]expect{
				"firewall-management": {Fail, "LCA port 4999/tcp (the default): open to the world (zone public (the default zone, /etc/firewalld/zones/public.xml): service webrtc-gateway-management (port 4999/tcp)), though nothing listens on it\n" +
					"Configuration Server port 2020/tcp (" + confservExecStart + "): open to the world: zone public (the default zone, /etc/firewalld/zones/public.xml): service webrtc-gateway-management (port 2020/tcp)"},
				"admin-bind": {Warn, "Configuration Server (port 2020) listens on 0.0.0.0 (every address)"},
			},
			exit: ExitFailures,
		},
		{
			name: "LCA port open in public but LCA on loopback",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/public.xml", `<zone><service name="`+FirewalldService+`"/><port protocol="tcp" port="4990-5000"/></zone>`, 0)
				tr.sockets("tcp [::]:8443", "tcp 0.0.0.0:2020", "tcp 127.0.0.1:4999")
			},
			want: map[string]expect{
				"firewall-management": {Warn, "LCA port 4999/tcp (the default): open to the world (zone public (the default zone, /etc/firewalld/zones/public.xml): port 4990-5000/tcp), though it listens on 127.0.0.1 only"},
				"admin-bind":          {Pass, "LCA (port 4999) listens on 127.0.0.1 (listening sockets): loopback"},
			},
			exit: ExitWarnings,
		},
		{
			name: "management port allowed by a rich rule from an internal network",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/public.xml", `<zone><service name="`+FirewalldService+`"/>
<rule family="ipv4"><source address="10.1.0.0/16"/><port protocol="tcp" port="2020"/><accept/></rule></zone>`, 0)
			},
			want: map[string]expect{"firewall-management": {Pass, "Configuration Server port 2020/tcp (" + confservExecStart + "): closed to the world"}},
			exit: ExitPass,
		},
		{
			name: "management port allowed by a rich rule from anywhere",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/public.xml", `<zone><service name="`+FirewalldService+`"/>
<rule family="ipv4"><source address="10.1.0.0/16" invert="True"/><port protocol="tcp" port="2020"/><accept/></rule></zone>`, 0)
			},
			want: map[string]expect{
				"firewall-management": {Fail, "rich rule accepting 2020/tcp from source not 10.1.0.0/16"},
				"admin-bind":          {Warn, "Configuration Server (port 2020) listens on 0.0.0.0 (every address) (listening sockets): reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "trusted as the default zone",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/firewalld.conf", "DefaultZone=trusted\n", 0)
			},
			want: map[string]expect{
				"firewall":            {Fail, "zone trusted (the default zone) has target ACCEPT"},
				"firewall-management": {Fail, "target ACCEPT accepts every port"},
				"admin-bind":          {Warn, "reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "a custom management port from the command line",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/public.xml", `<zone><service name="`+FirewalldService+`"/><port protocol="tcp" port="2020"/><port protocol="tcp" port="6000"/></zone>`, 0)
				tr.sockets("tcp [::]:8443", "tcp 127.0.0.1:6000", "tcp 10.0.0.5:2020")
			},
			flags: Flags{LCAPort: 6000, LCAPortGiven: true},
			want: map[string]expect{
				"firewall-management": {Fail, "LCA port 6000/tcp (the command line): open to the world (zone public (the default zone, /etc/firewalld/zones/public.xml): port 6000/tcp), though it listens on 127.0.0.1 only\n" +
					"Configuration Server port 2020/tcp (" + confservExecStart + "): open to the world"},
				"admin-bind": {Pass, "Configuration Server (port 2020) listens on 10.0.0.5 (listening sockets): an internal address"},
			},
			exit: ExitFailures,
		},
		{
			name: "no firewall",
			mutate: func(tr *tree) {
				tr.remove("/proc/100")
				tr.remove("/etc/systemd/system/multi-user.target.wants/firewalld.service")
			},
			want: map[string]expect{
				"firewall":            {Fail, "no firewall is enabled in this tree"},
				"firewall-management": {Fail, "Configuration Server port 2020/tcp (" + confservExecStart + "): no firewall, and it listens on 0.0.0.0 (every address) (listening sockets)"},
				"admin-bind":          {Warn, "reachable on every network of the host unless the firewall stops it"},
			},
			exit: ExitFailures,
		},
		{
			name:   "firewalld enabled but not running",
			mutate: func(tr *tree) { tr.remove("/proc/100") },
			want: map[string]expect{
				"firewall":            {Fail, "firewalld is enabled but does not run"},
				"firewall-management": {Fail, "no firewall, and it listens on 0.0.0.0"},
				"admin-bind":          {Warn, "reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "firewalld running, not enabled",
			mutate: func(tr *tree) {
				tr.remove("/etc/systemd/system/multi-user.target.wants/firewalld.service")
			},
			want: map[string]expect{"firewall": {Warn, "firewalld runs but is not enabled"}},
			exit: ExitWarnings,
		},
		{
			name: "nftables at boot, default drop, management from the inside",
			mutate: func(tr *tree) {
				noFirewalld(tr)
				nftablesAtBoot(tr, `flush ruleset
table inet filter {
	set mgmt_nets { type ipv4_addr; flags interval; elements = { 10.0.0.0/8 } }
	chain input {
		type filter hook input priority filter; policy drop;
		ct state vmap { established : accept, related : accept, invalid : drop }
		iif lo accept
		tcp dport { 22, 8443 } accept
		udp dport 30000-39999 accept
		ip saddr @mgmt_nets tcp dport { 2020, 4999 } accept
	}
}`)
			},
			want: map[string]expect{
				"firewall":            {Pass, "nftables input chains (/etc/sysconfig/nftables.conf) filter incoming connections"},
				"firewall-management": {Pass, "LCA port 4999/tcp (the default): closed to the world\nConfiguration Server port 2020/tcp"},
				"admin-bind":          {Pass, "and the firewall keeps the world out"},
			},
			exit: ExitPass,
		},
		{
			name: "nftables accepting the management port from anywhere",
			mutate: func(tr *tree) {
				noFirewalld(tr)
				nftablesAtBoot(tr, `table inet filter {
	chain input {
		type filter hook input priority 0; policy drop;
		tcp dport 8443 accept
		tcp dport 2020 counter accept
	}
}`)
			},
			want: map[string]expect{
				"firewall-management": {Fail, `rule "tcp dport 2020 counter accept" in chain inet filter input`},
				"admin-bind":          {Warn, "reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "nftables with an accept policy",
			mutate: func(tr *tree) {
				noFirewalld(tr)
				nftablesAtBoot(tr, "table ip filter {\n chain INPUT {\n  type filter hook input priority 0; policy accept;\n  tcp dport 4999 drop\n }\n}\n")
			},
			want: map[string]expect{
				"firewall":            {Warn, "accept what no rule drops"},
				"firewall-management": {Fail, "open to the world: policy accept of chain ip filter INPUT"},
				"admin-bind":          {Warn, "reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "nftables enabled without an input chain",
			mutate: func(tr *tree) {
				noFirewalld(tr)
				nftablesAtBoot(tr, "table inet nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  masquerade\n }\n}\n")
			},
			want: map[string]expect{
				"firewall":            {Fail, "no firewall is enabled"},
				"firewall-management": {Fail, "no firewall, and it listens on 0.0.0.0"},
				"admin-bind":          {Warn, "reachable on every network"},
			},
			exit: ExitFailures,
		},
		{
			name: "world-readable control token and options",
			mutate: func(tr *tree) {
				tr.chmod("/var/lib/webrtc-gateway-lca/control-token", 0o644)
				tr.chmod("/etc/webrtc-gateway/webrtc-gateway.ini", 0o644)
			},
			want: map[string]expect{"secret-files": {Fail, "/var/lib/webrtc-gateway-lca/control-token (the LCA's control token) is -rw-r--r--"}},
			exit: ExitFailures,
		},
		{
			name: "world-writable lca.ini, group-writable key",
			mutate: func(tr *tree) {
				tr.chmod("/etc/webrtc-gateway/lca.ini", 0o666)
				tr.chmod("/etc/webrtc-gateway/tls/gateway.key", 0o660)
			},
			want: map[string]expect{"secret-files": {Fail, "/etc/webrtc-gateway/tls/gateway.key ([web] certificate-key) is -rw-rw---- root:webrtcgw: writable by its group\n" +
				"/etc/webrtc-gateway/lca.ini (lca.ini: the commands the LCA runs (webrtc-gateway-lca.service)) is -rw-rw-rw- root:root: writable by every user"}},
			exit: ExitFailures,
		},
		{
			name: "confserv data directory open to others",
			mutate: func(tr *tree) {
				tr.chmod("/var/lib/webrtc-gateway-confserv", 0o755)
			},
			want: map[string]expect{"secret-files": {Warn, "/var/lib/webrtc-gateway-confserv (the Configuration Server's data (webrtc-gateway-confserv.service)) is drwxr-xr-x"}},
			exit: ExitWarnings,
		},
		{
			name: "app token file of lca.ini readable by others",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/lca.ini", "[app gw2]\ntype = WebRTC_Gateway\ncommand-line = /usr/bin/webrtc-gateway\narguments = -host cs -port 2020 -app gw2 -app-token-file /etc/webrtc-gateway/gw2.token\n", 0o644)
				tr.file("/etc/webrtc-gateway/gw2.token", "t0ken\n", 0o604)
			},
			want: map[string]expect{"secret-files": {Fail, "/etc/webrtc-gateway/gw2.token (the gateway's Configuration Server credential (lca.ini [app gw2])) is -rw----r--"}},
			exit: ExitFailures,
		},
		{
			name: "a credential in a unit's Environment=",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway.service.d/token.conf", "[Service]\nEnvironment=WRTCGW_APP_TOKEN=abc\n", 0)
			},
			want: map[string]expect{"secret-files": {Fail, "webrtc-gateway.service sets WRTCGW_APP_TOKEN in Environment= (/etc/systemd/system/webrtc-gateway.service.d/token.conf:2)"}},
			exit: ExitFailures,
		},
		{
			name: "User=root drop-in",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway.service.d/override.conf", "[Service]\nUser=root\n", 0)
			},
			want: map[string]expect{
				"not-root":       {Fail, "webrtc-gateway.service runs as root: User=root (/etc/systemd/system/webrtc-gateway.service.d/override.conf:2)"},
				"unit-hardening": {Fail, "webrtc-gateway.service: User=root (/etc/systemd/system/webrtc-gateway.service.d/override.conf:2): runs the daemon as root"},
			},
			exit: ExitFailures,
		},
		{
			name: "drop-ins weakening the sandbox",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway-confserv.service.d/50-debug.conf",
					"[Service]\nNoNewPrivileges=no\nProtectSystem=full\nCapabilityBoundingSet=~CAP_SYS_ADMIN\nSystemCallFilter=\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_PACKET\nUMask=0022\n", 0)
			},
			want: map[string]expect{"unit-hardening": {Fail, "webrtc-gateway-confserv.service: NoNewPrivileges=no (/etc/systemd/system/webrtc-gateway-confserv.service.d/50-debug.conf:2): packaged: NoNewPrivileges=yes\n" +
				"webrtc-gateway-confserv.service: ProtectSystem=full (/etc/systemd/system/webrtc-gateway-confserv.service.d/50-debug.conf:3): weaker than the packaged ProtectSystem=strict"}},
			exit: ExitFailures,
		},
		{
			name: "the low-ports drop-in",
			mutate: func(tr *tree) {
				tr.copyFile(filepath.Join(repo, "packaging/systemd/examples/webrtc-gateway-low-ports.conf"), "/etc/systemd/system/webrtc-gateway.service.d/low-ports.conf", 0o644)
			},
			want: map[string]expect{"unit-hardening": {Pass, "webrtc-gateway.service keeps the hardening of /usr/lib/systemd/system/webrtc-gateway.service (drop-ins: /etc/systemd/system/webrtc-gateway.service.d/low-ports.conf); CAP_NET_BIND_SERVICE granted for ports below 1024"}},
			exit: ExitPass,
		},
		{
			name: "an /etc copy of the unit without its hardening",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway-confserv.service", "[Service]\nUser=webrtcgw\nExecStart=/usr/bin/confserv -port 2020 -data /var/lib/webrtc-gateway-confserv\n[Install]\nWantedBy=multi-user.target\n", 0)
			},
			want: map[string]expect{"unit-hardening": {Fail, "webrtc-gateway-confserv.service: NoNewPrivileges is not set (packaged: NoNewPrivileges=yes)"}},
			exit: ExitFailures,
		},
		{
			name: "an /etc copy keeping the hardening",
			mutate: func(tr *tree) {
				tr.copyFile(filepath.Join(repo, "packaging/systemd", UnitConfserv), "/etc/systemd/system/"+UnitConfserv, 0o644)
			},
			want: map[string]expect{"unit-hardening": {Warn, "webrtc-gateway-confserv.service: /etc/systemd/system/webrtc-gateway-confserv.service hides the packaged /usr/lib/systemd/system/webrtc-gateway-confserv.service"}},
			exit: ExitWarnings,
		},
		{
			name: "ExecStart=+ in a drop-in",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway.service.d/x.conf", "[Service]\nExecStart=\nExecStart=+/usr/bin/webrtc-gateway -config /etc/webrtc-gateway/webrtc-gateway.ini\n", 0)
			},
			want: map[string]expect{
				"not-root":       {Fail, "ExecStart=+ (/etc/systemd/system/webrtc-gateway.service.d/x.conf:3) runs the daemon with full privileges"},
				"unit-hardening": {Fail, "runs the daemon outside its sandbox"},
			},
			exit: ExitFailures,
		},
		{
			name:   "the daemon running as root",
			mutate: func(tr *tree) { tr.process(200, CommGateway, 0) },
			want:   map[string]expect{"not-root": {Fail, "process 200 (webrtc-gateway) runs as root"}},
			exit:   ExitFailures,
		},
		{
			name: "confserv bound to a public address",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway-confserv.service.d/listen.conf", "[Service]\nEnvironment=\"CONFSERV_ARGS=-listen 203.0.113.7\"\n", 0)
				tr.remove("/proc/net")
			},
			want: map[string]expect{
				"admin-bind":       {Fail, "Configuration Server (port 2020) listens on 203.0.113.7 (" + confservExecStart + "): a public address"},
				"legacy-listeners": {Skip, "/proc/net: listeners are seen on a running host only"},
			},
			exit: ExitFailures,
		},
		{
			name: "self-signed certificate",
			mutate: func(tr *tree) {
				cert, key := ca.leaf(tr.t, true, fixtureNow.AddDate(1, 0, 0))
				tr.file("/etc/webrtc-gateway/tls/gateway.crt", cert, 0o644)
				tr.file("/etc/webrtc-gateway/tls/gateway.key", key, 0o640)
			},
			want: map[string]expect{"https": {Fail, "self-signed: browsers refuse it"}},
			exit: ExitFailures,
		},
		{
			name: "no certificate: the gateway's own self-signed one",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", "[web]\ndomain-whitelist = app.example.com\n[sip]\nsip-server = 127.0.0.1\n", 0o640)
			},
			want: map[string]expect{"https": {Fail, "[web] certificate is empty in /etc/webrtc-gateway/webrtc-gateway.ini: the gateway serves a self-signed certificate (/var/lib/webrtc-gateway/tls/self-signed.crt)"}},
			exit: ExitFailures,
		},
		{
			name: "certificate expiring in 10 days",
			mutate: func(tr *tree) {
				cert, _ := ca.leaf(tr.t, false, fixtureNow.AddDate(0, 0, 10))
				tr.file("/etc/webrtc-gateway/tls/gateway.crt", cert, 0o644)
			},
			want: map[string]expect{"https": {Warn, "valid until 2030-06-11: expires in 10 days"}},
			exit: ExitWarnings,
		},
		{
			name: "expired certificate",
			mutate: func(tr *tree) {
				cert, _ := ca.leaf(tr.t, false, fixtureNow.AddDate(0, 0, -1))
				tr.file("/etc/webrtc-gateway/tls/gateway.crt", cert, 0o644)
			},
			want: map[string]expect{"https": {Fail, "expired"}},
			exit: ExitFailures,
		},
		{
			name:   "certificate missing",
			mutate: func(tr *tree) { tr.remove("/etc/webrtc-gateway/tls/gateway.crt") },
			want:   map[string]expect{"https": {Fail, "[web] certificate /etc/webrtc-gateway/tls/gateway.crt does not exist"}},
			exit:   ExitFailures,
		},
		{
			name: "HTTPS off",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", "[web]\nhttps-port = 0\nhttp-port = 8080\ndomain-whitelist = app.example.com\n[sip]\nsip-server = 127.0.0.1\n", 0o640)
			},
			want: map[string]expect{
				"https":   {Fail, "HTTPS is off ([web] https-port = 0 in /etc/webrtc-gateway/webrtc-gateway.ini)"},
				"options": {Warn, "web/http-port: plain HTTP is on and trusted-proxies is empty"},
			},
			exit: ExitFailures,
		},
		{
			name: "HTTPS terminated by a trusted proxy",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", "[web]\nhttps-port = 0\nhttp-port = 8080\ntrusted-proxies = 10.0.0.10\ndomain-whitelist = app.example.com\n[sip]\nsip-server = 127.0.0.1\n", 0o640)
			},
			want: map[string]expect{
				"https":   {Warn, "plain HTTP on port 8080 behind trusted proxies 10.0.0.10/32"},
				"sip-tls": {Pass, "SIP Server 127.0.0.1 is on this host"},
			},
			exit: ExitWarnings,
		},
		{
			name: "a weak SRTP profile",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", hardenedINI+"[media]\nsrtp-profiles = AES128_CM_HMAC_SHA1_80,AES128_CM_HMAC_SHA1_32\n", 0o640)
			},
			want: map[string]expect{"dtls-srtp": {Warn, "[media] srtp-profiles offers AES128_CM_HMAC_SHA1_32"}},
			exit: ExitWarnings,
		},
		{
			name: "remote SIP Server over UDP",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", strings.Replace(hardenedINI, "sip-server = sip.example.com:5061\nsip-transport = tls\nsrtp = sdes\n", "sip-server = 10.1.2.3\n", 1), 0o640)
			},
			want: map[string]expect{"sip-tls": {Warn, "SIP signalling to the remote SIP Server 10.1.2.3 is in clear (sip-transport udp)\nmedia to the remote SIP side is plain RTP ([sip] srtp = off)"}},
			exit: ExitWarnings,
		},
		{
			name: "SDES keys over UDP",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", strings.Replace(hardenedINI, "sip-transport = tls\n", "sip-transport = udp\n", 1), 0o640)
			},
			want: map[string]expect{
				"sip-tls": {Fail, "[sip] srtp = sdes over sip-transport udp to sip.example.com:5061: the media keys travel in clear"},
				"options": {Warn, "sip/srtp: sdes over udp sends the SRTP keys in clear text"},
			},
			exit: ExitFailures,
		},
		{
			name: "SIP Server on this host by name",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", strings.Replace(hardenedINI, "sip-server = sip.example.com:5061\nsip-transport = tls\nsrtp = sdes\n", "sip-server = gw1\n", 1), 0o640)
			},
			want: map[string]expect{"sip-tls": {Pass, "SIP Server gw1 is on this host"}},
			exit: ExitPass,
		},
		{
			name: "invalid options",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", "[web]\nhttps-port = 99999\n", 0o640)
			},
			want: map[string]expect{
				"options":   {Fail, "/etc/webrtc-gateway/webrtc-gateway.ini is invalid: web/https-port"},
				"https":     {Skip, "were not read"},
				"dtls-srtp": {Skip, "were not read"},
				"sip-tls":   {Skip, "were not read"},
			},
			exit: ExitFailures,
		},
		{
			name: "options with warnings",
			mutate: func(tr *tree) {
				tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", hardenedINI+"[web]\nno-such-option = 1\n", 0o640)
			},
			want: map[string]expect{"options": {Warn, "is valid, with warnings"}},
			exit: ExitWarnings,
		},
		{
			name: "options that cannot be read",
			mutate: func(tr *tree) {
				tr.remove("/etc/webrtc-gateway/webrtc-gateway.ini")
				tr.dirMode("/etc/webrtc-gateway/webrtc-gateway.ini", 0o750) // a directory: there, not readable
			},
			want: map[string]expect{
				"options":      {Warn, "cannot read what this check needs: /etc/webrtc-gateway/webrtc-gateway.ini: is a directory"},
				"https":        {Skip, "were not read"},
				"dtls-srtp":    {Skip, "were not read"},
				"sip-tls":      {Skip, "were not read"},
				"secret-files": {Warn, "cannot read what this check needs: /etc/webrtc-gateway/webrtc-gateway.ini: is a directory"},
			},
			exit: ExitWarnings,
		},
		{
			name: "no options file, the gateway unit not enabled",
			mutate: func(tr *tree) {
				tr.remove("/etc/webrtc-gateway/webrtc-gateway.ini")
				tr.remove("/etc/systemd/system/multi-user.target.wants/" + UnitGateway)
			},
			want: map[string]expect{
				"options":   {Skip, "no options file at /etc/webrtc-gateway/webrtc-gateway.ini"},
				"https":     {Skip, "were not read"},
				"dtls-srtp": {Skip, "were not read"},
				"sip-tls":   {Skip, "were not read"},
			},
			exit: ExitPass,
		},
		{
			name:   "no options file for an enabled gateway",
			mutate: func(tr *tree) { tr.remove("/etc/webrtc-gateway/webrtc-gateway.ini") },
			want: map[string]expect{
				"options":   {Fail, "webrtc-gateway.service is enabled but its options file /etc/webrtc-gateway/webrtc-gateway.ini"},
				"https":     {Skip, "were not read"},
				"dtls-srtp": {Skip, "were not read"},
				"sip-tls":   {Skip, "were not read"},
			},
			exit: ExitFailures,
		},
		{
			name: "no options file for a gateway of the LCA",
			mutate: func(tr *tree) {
				tr.remove("/etc/webrtc-gateway/webrtc-gateway.ini")
				tr.remove("/etc/systemd/system/multi-user.target.wants/" + UnitGateway)
				tr.enable(UnitLCA)
				tr.file("/etc/fail2ban/jail.d/webrtc-gateway.local", "[webrtc-gateway-managed]\nenabled = true\n", 0)
			},
			want: map[string]expect{
				"options":   {Fail, "webrtc-gateway-lca.service is enabled and starts [app gw1] with -config /etc/webrtc-gateway/webrtc-gateway.ini, which does not exist"},
				"https":     {Skip, "were not read"},
				"dtls-srtp": {Skip, "were not read"},
				"sip-tls":   {Skip, "were not read"},
			},
			exit: ExitFailures,
		},
		{
			name: "the options file of the unit",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway.service.d/config.conf", "[Service]\nExecStart=\nExecStart=/usr/bin/webrtc-gateway -config /etc/webrtc-gateway/site.ini\n", 0)
				tr.file("/etc/webrtc-gateway/site.ini", "[web]\nhttps-port = 0\nhttp-port = 8080\n", 0o644)
			},
			want: map[string]expect{
				"options":      {Warn, "/etc/webrtc-gateway/site.ini is valid, with warnings"},
				"sip-tls":      {Skip, "[sip] sip-server is empty"},
				"https":        {Fail, "HTTPS is off ([web] https-port = 0 in /etc/webrtc-gateway/site.ini)"},
				"secret-files": {Fail, "/etc/webrtc-gateway/site.ini (the gateway's options (TURN password, paths of keys)) is -rw-r--r--"},
			},
			exit: ExitFailures,
		},
		{
			name: "a drop-in that does not parse",
			mutate: func(tr *tree) {
				tr.file("/etc/systemd/system/webrtc-gateway.service.d/typo.conf", "[Service]\nProtectSystem strict\n", 0)
			},
			want: map[string]expect{
				"not-root":       {Warn, "cannot parse all of /etc/systemd/system/webrtc-gateway.service.d/typo.conf:2: not Key=Value in a section"},
				"unit-hardening": {Warn, "cannot parse all of /etc/systemd/system/webrtc-gateway.service.d/typo.conf:2"},
			},
			exit: ExitWarnings,
		},
		{
			name: "a zone file that does not parse",
			mutate: func(tr *tree) {
				tr.file("/etc/firewalld/zones/dmz.xml", "<zone><port protocol=\"tcp\" port=\"x\"/></zone>", 0)
			},
			want: map[string]expect{"firewall": {Warn, `cannot parse all of /etc/firewalld/zones/dmz.xml: port "x" is not a port or range`}},
			exit: ExitWarnings,
		},
		{
			name:   "a /proc/net line that does not parse",
			mutate: func(tr *tree) { tr.file("/proc/net/udp6", procNetHeader+"   0: zz\n", 0o444) },
			want:   map[string]expect{"legacy-listeners": {Warn, "cannot parse all of /proc/net/udp6: line 2: 2 fields"}},
			exit:   ExitWarnings,
		},
		{
			name: "fail2ban not installed",
			mutate: func(tr *tree) {
				tr.remove("/etc/fail2ban")
				tr.remove("/usr/lib/systemd/system/fail2ban.service")
				tr.remove("/etc/systemd/system/multi-user.target.wants/fail2ban.service")
			},
			want: map[string]expect{"fail2ban": {Warn, "fail2ban is not installed"}},
			exit: ExitWarnings,
		},
		{
			name:   "fail2ban without the gateway's jails",
			mutate: func(tr *tree) { tr.remove(DefaultJailFile) },
			want:   map[string]expect{"fail2ban": {Fail, "/etc/fail2ban/jail.d/webrtc-gateway.conf (the gateway's jails) is missing"}},
			exit:   ExitFailures,
		},
		{
			name: "the gateway's jail disabled by a local file",
			mutate: func(tr *tree) {
				tr.file("/etc/fail2ban/jail.d/webrtc-gateway.local", "[webrtc-gateway]\nenabled = false\n", 0)
			},
			want: map[string]expect{"fail2ban": {Fail, "jail webrtc-gateway is disabled by /etc/fail2ban/jail.d/webrtc-gateway.local"}},
			exit: ExitFailures,
		},
		{
			name: "fail2ban not enabled",
			mutate: func(tr *tree) {
				tr.remove("/etc/systemd/system/multi-user.target.wants/fail2ban.service")
			},
			want: map[string]expect{"fail2ban": {Warn, "fail2ban.service is not enabled"}},
			exit: ExitWarnings,
		},
		{
			name: "gateways under the LCA without the jail for their log files",
			mutate: func(tr *tree) {
				tr.remove("/etc/systemd/system/multi-user.target.wants/" + UnitGateway)
				tr.enable(UnitLCA)
			},
			want: map[string]expect{"fail2ban": {Warn, "the LCA starts gateways (gw1) whose logs go to files, and jail webrtc-gateway-managed is not enabled"}},
			exit: ExitWarnings,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := hardenedHost(t)
			tt.mutate(tr)
			s := tr.gather(tt.flags)
			rs := Run(s)
			got := map[string]Result{}
			for _, r := range rs {
				got[r.ID] = r
			}
			for id := range tt.want {
				if _, ok := got[id]; !ok {
					t.Fatalf("no result for check %s", id)
				}
			}
			// the checks not listed are untouched by the change: PASS
			for _, r := range rs {
				want, listed := tt.want[r.ID]
				if !listed {
					want = expect{Pass, ""}
				}
				if r.Status != want.status || !strings.Contains(r.Finding, want.finding) {
					t.Errorf("%s = %s %q, want %s with %q\nremedy: %s", r.ID, r.Status, r.Finding, want.status, want.finding, r.Remedy)
				}
				if (r.Status == Warn || r.Status == Fail) && r.Remedy == "" {
					t.Errorf("%s is %s without a remedy", r.ID, r.Status)
				}
			}
			if code := ExitCode(rs); code != tt.exit {
				t.Errorf("ExitCode = %d, want %d", code, tt.exit)
			}
		})
	}
}

func TestGatherErrors(t *testing.T) {
	tr := newTree(t)
	_, err := Gather(t.Context(), GatherOptions{Root: tr.dir, Flags: Flags{Config: "/etc/nope.ini"}})
	if !errors.Is(err, ErrConfigAbsent) {
		t.Errorf("Gather with an absent -config = %v, want ErrConfigAbsent", err)
	}
	if _, err := Gather(t.Context(), GatherOptions{Root: filepath.Join(tr.dir, "nope")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Gather with an absent root = %v, want no such file", err)
	}
	tr.file("/plain", "x", 0)
	if _, err := Gather(t.Context(), GatherOptions{Root: tr.path("/plain")}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Gather with a file as root = %v, want not a directory", err)
	}
}

// TestEmptyTree: an empty tree (an image with nothing installed) gives a
// complete report without crashing, failing for the missing firewall.
func TestEmptyTree(t *testing.T) {
	s := newTree(t).gather(Flags{})
	rs := Run(s)
	r := results(s)
	if len(rs) != len(Checks()) {
		t.Fatalf("%d results, want %d", len(rs), len(Checks()))
	}
	if r["firewall"].Status != Fail {
		t.Errorf("firewall = %s, want FAIL", r["firewall"].Status)
	}
	for _, id := range []string{"legacy-listeners", "options", "https", "unit-hardening", "not-root", "admin-bind"} {
		if r[id].Status != Skip {
			t.Errorf("%s = %s %q, want SKIP", id, r[id].Status, r[id].Finding)
		}
	}
}

func TestLiveFail2banStatus(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status CommandResult
		want   expect
	}{
		{"loaded", CommandResult{Command: "fail2ban-client status", Output: "Status\n|- Number of jail:\t4\n`- Jail list:\tsshd, webrtc-gateway, webrtc-gateway-confserv, webrtc-gateway-lca\n"},
			expect{Pass, "the fail2ban server has loaded webrtc-gateway, webrtc-gateway-confserv, webrtc-gateway-lca"}},
		{"a jail missing", CommandResult{Command: "fail2ban-client status", Output: "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"},
			expect{Fail, "the fail2ban server runs without jail(s) webrtc-gateway, webrtc-gateway-confserv, webrtc-gateway-lca (loaded: sshd)"}},
		{"not running", CommandResult{Command: "fail2ban-client status", Err: "exit status 255",
			Output: "ERROR   Failed to access socket path: /var/run/fail2ban/fail2ban.sock. Is fail2ban running?\n"},
			expect{Fail, "fail2ban-server does not run: no jail is loaded"}},
		{"running, not answering", CommandResult{Command: "fail2ban-client status", Err: "signal: killed"},
			expect{Fail, "the fail2ban server does not answer (fail2ban-client status: signal: killed)"}},
		{"not root", CommandResult{Command: "fail2ban-client status", Err: "exit status 255",
			Output: "ERROR   Permission denied to socket: /var/run/fail2ban/fail2ban.sock, (you must be root)\n"},
			expect{Warn, "cannot read what this check needs: fail2ban-client status: permission denied"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := hardenedHost(t)
			if tt.name != "not running" {
				tr.process(600, "fail2ban-server", 0)
			}
			s := tr.gather(Flags{})
			s.Fail2ban.Status = &tt.status
			r := results(s)["fail2ban"]
			if r.Status != tt.want.status || !strings.Contains(r.Finding, tt.want.finding) {
				t.Errorf("fail2ban = %s %q, want %s with %q", r.Status, r.Finding, tt.want.status, tt.want.finding)
			}
		})
	}
}

// TestLiveNftables judges a loaded ruleset as the running host shows it.
func TestLiveNftables(t *testing.T) {
	tr := hardenedHost(t)
	noFirewalld(tr)
	s := tr.gather(Flags{})
	s.Live = true
	s.Nftables = Nftables{Installed: true, Source: "nft list ruleset", Text: "table inet f {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\ttcp dport 8443 accept\n\t}\n}\n"}
	r := results(s)
	if got := r["firewall"]; got.Status != Warn || !strings.Contains(got.Finding, "no firewall unit is enabled") {
		t.Errorf("firewall = %s %q, want WARN: not enabled at boot", got.Status, got.Finding)
	}
	if got := r["firewall-management"]; got.Status != Pass {
		t.Errorf("firewall-management = %s %q, want PASS", got.Status, got.Finding)
	}
}

func TestReportJSON(t *testing.T) {
	s := hardenedHost(t).gather(Flags{})
	s.Units[UnitGateway].Directives = append(s.Units[UnitGateway].Directives, Directive{Section: "Service", Key: "NoNewPrivileges", Value: "no", File: "/x", Line: 1})
	rs := Run(s)
	var b bytes.Buffer
	if err := NewReport(s, rs, "1.2.3").WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema   int    `json:"schema"`
		Version  string `json:"version"`
		Root     string `json:"root"`
		Checks   []map[string]any
		Summary  map[string]int
		ExitCode int `json:"exit_code"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, b.String())
	}
	if got.Schema != ReportSchema || got.Version != "1.2.3" || got.ExitCode != ExitFailures || len(got.Checks) != len(Checks()) {
		t.Errorf("report = schema %d version %q exit %d with %d checks", got.Schema, got.Version, got.ExitCode, len(got.Checks))
	}
	if got.Summary["fail"] != 1 || got.Summary["pass"] != len(Checks())-1 {
		t.Errorf("summary = %v, want 1 fail", got.Summary)
	}
	for _, c := range got.Checks {
		for _, k := range []string{"id", "title", "status", "finding"} {
			if _, ok := c[k]; !ok {
				t.Errorf("check %v has no %q", c["id"], k)
			}
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		statuses []Status
		want     int
	}{
		{nil, ExitPass},
		{[]Status{Pass, Skip}, ExitPass},
		{[]Status{Pass, Warn, Skip}, ExitWarnings},
		{[]Status{Warn, Fail, Pass}, ExitFailures},
	} {
		var rs []Result
		for _, s := range tt.statuses {
			rs = append(rs, Result{Status: s})
		}
		if got := ExitCode(rs); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.statuses, got, tt.want)
		}
	}
}

func noFirewalld(tr *tree) {
	tr.remove("/proc/100")
	tr.remove("/etc/systemd/system/multi-user.target.wants/firewalld.service")
}

// nftablesAtBoot installs a ruleset the way RHEL's nftables.service loads it.
func nftablesAtBoot(tr *tree, ruleset string) {
	tr.unit("nftables.service", "[Service]\nType=oneshot\nExecStart=/sbin/nft -f /etc/sysconfig/nftables.conf\n[Install]\nWantedBy=multi-user.target\n")
	tr.enable("nftables.service")
	tr.file("/etc/sysconfig/nftables.conf", "include \"/etc/nftables/*.nft\"\n", 0)
	tr.file("/etc/nftables/main.nft", ruleset, 0)
	_ = os.Remove(tr.path("/proc/1")) // processes stay known through the others
}
