package hostcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureNow is the time of every fixture snapshot.
var fixtureNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// tree is a scratch root directory laid out like a host.
type tree struct {
	t   *testing.T
	dir string
	uid int // of the service user in /etc/passwd
	gid int
}

func newTree(t *testing.T) *tree {
	t.Helper()
	tr := &tree{t: t, dir: t.TempDir(), uid: 990, gid: 990}
	if os.Getuid() != 0 {
		// without root the files are the test user's: let that be webrtcgw
		tr.uid, tr.gid = os.Getuid(), os.Getgid()
	}
	tr.file("/etc/passwd", fmt.Sprintf("root:x:0:0:root:/root:/bin/bash\nwebrtcgw:x:%d:%d:WebRTC Gateway:/:/usr/sbin/nologin\n", tr.uid, tr.gid), 0o644)
	tr.file("/etc/group", fmt.Sprintf("root:x:0:\nwebrtcgw:x:%d:\n", tr.gid), 0o644)
	tr.file("/etc/hostname", "gw1.example.com\n", 0o644)
	return tr
}

func (tr *tree) path(p string) string { return filepath.Join(tr.dir, p) }

// file writes a file of the tree with a mode (0: 0644).
func (tr *tree) file(p, content string, mode os.FileMode) {
	tr.t.Helper()
	if mode == 0 {
		mode = 0o644
	}
	full := tr.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil { // past the umask
		tr.t.Fatal(err)
	}
}

// owned makes a file root:webrtcgw (or the test user's, without root).
func (tr *tree) owned(p string, uid int) {
	tr.t.Helper()
	if os.Getuid() != 0 {
		return
	}
	if err := os.Chown(tr.path(p), uid, tr.gid); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) dirMode(p string, mode os.FileMode) {
	tr.t.Helper()
	if err := os.MkdirAll(tr.path(p), mode); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Chmod(tr.path(p), mode); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) chmod(p string, mode os.FileMode) {
	tr.t.Helper()
	if err := os.Chmod(tr.path(p), mode); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) remove(p string) {
	tr.t.Helper()
	if err := os.RemoveAll(tr.path(p)); err != nil {
		tr.t.Fatal(err)
	}
}

// link makes a symbolic link of the tree (targets are inside the tree).
func (tr *tree) link(p, target string) {
	tr.t.Helper()
	full := tr.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	os.Remove(full)
	if err := os.Symlink(target, full); err != nil {
		tr.t.Fatal(err)
	}
}

// copyFile copies a file of the repository into the tree.
func (tr *tree) copyFile(src, p string, mode os.FileMode) {
	tr.t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.file(p, string(data), mode)
}

// enable links a unit into multi-user.target.wants, as systemctl enable does.
func (tr *tree) enable(unit string) {
	dir := "/usr/lib/systemd/system/"
	if _, err := os.Lstat(tr.path("/etc/systemd/system/" + unit)); err == nil {
		dir = "/etc/systemd/system/"
	}
	tr.link("/etc/systemd/system/multi-user.target.wants/"+unit, dir+unit)
}

// unit writes a vendor unit file.
func (tr *tree) unit(name, body string) {
	tr.file("/usr/lib/systemd/system/"+name, body, 0o644)
}

// process adds /proc/PID with a command name and an effective uid.
func (tr *tree) process(pid int, comm string, uid int) {
	p := fmt.Sprintf("/proc/%d", pid)
	tr.file(p+"/comm", comm+"\n", 0o444)
	tr.file(p+"/status", fmt.Sprintf("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n", comm, uid, uid, uid, uid), 0o444)
	tr.file(p+"/cmdline", "/usr/bin/"+comm+"\x00", 0o444)
}

// socketFD gives a process a descriptor of a socket, as /proc/PID/fd shows.
func (tr *tree) socketFD(pid, fd int, inode uint64) {
	tr.link(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), fmt.Sprintf("socket:[%d]", inode))
}

// procNetLine is a line of /proc/net/tcp{,6} or udp{,6} in the kernel's
// format: addresses in hex, each 32-bit word in the host's byte order.
func procNetLine(n int, local string, state string, inode uint64) string {
	ap := netip.MustParseAddrPort(local)
	return fmt.Sprintf("%4d: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000   990        0 %d 1 0000000000000000 100 0 0 10 0",
		n, hexAddr(ap.Addr()), ap.Port(), hexAddr(zeroLike(ap.Addr())), state, inode)
}

func zeroLike(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func hexAddr(a netip.Addr) string {
	b := a.AsSlice()
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:i+4]))
	}
	return s.String()
}

const procNetHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// sockets writes /proc/net/{tcp,tcp6,udp,udp6} with listening sockets
// ("tcp 0.0.0.0:8443"); inodes count from 1000 in the order given.
func (tr *tree) sockets(specs ...string) {
	files := map[string][]string{"tcp": nil, "tcp6": nil, "udp": nil, "udp6": nil}
	for i, spec := range specs {
		proto, addr, _ := strings.Cut(spec, " ")
		file := proto
		if netip.MustParseAddrPort(addr).Addr().Is6() {
			file += "6"
		}
		state := stateListen
		if proto == "udp" {
			state = stateClose
		}
		files[file] = append(files[file], procNetLine(len(files[file]), addr, state, uint64(1000+i)))
	}
	for f, lines := range files {
		tr.file("/proc/net/"+f, procNetHeader+strings.Join(lines, "\n")+"\n", 0o444)
	}
}

// certs are certificates the fixtures use: a CA, and leaves it signs.
type certs struct {
	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
}

func newCA(t *testing.T) *certs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Enterprise CA"},
		NotBefore: fixtureNow.AddDate(-1, 0, 0), NotAfter: fixtureNow.AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &certs{caKey: key, caCert: c}
}

// leaf returns a PEM server certificate and key, signed by the CA or by
// itself, valid until notAfter.
func (c *certs) leaf(t *testing.T, selfSigned bool, notAfter time.Time) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gw1.example.com"},
		DNSNames:  []string{"gw1.example.com"},
		NotBefore: fixtureNow.AddDate(0, -1, 0), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := c.caCert, c.caKey
	if selfSigned {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if !selfSigned {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.caCert.Raw})...)
	}
	return string(chain), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// repo is the repository root, for the packaged files.
const repo = ".."

const hardenedINI = `[web]
https-port = 8443
certificate = /etc/webrtc-gateway/tls/gateway.crt
certificate-key = /etc/webrtc-gateway/tls/gateway.key
domain-whitelist = https://app.example.com

[sip]
sip-server = sip.example.com:5061
sip-transport = tls
srtp = sdes
`

// hardenedHost lays out a host that follows the guide: the packages
// installed with their units, fail2ban jail and firewalld services; the
// gateway standalone and confserv enabled and running as webrtcgw;
// firewalld running with the gateway's service in public and the
// management service in an internal zone of private sources; a CA-signed
// certificate; secrets 0600/0640.
func hardenedHost(t *testing.T) *tree {
	t.Helper()
	tr := newTree(t)
	for _, u := range PackagedUnits {
		tr.copyFile(filepath.Join(repo, "packaging/systemd", u), "/usr/lib/systemd/system/"+u, 0o644)
	}
	tr.enable(UnitGateway)
	tr.enable(UnitConfserv)

	tr.dirMode("/etc/webrtc-gateway", 0o750)
	tr.file("/etc/webrtc-gateway/webrtc-gateway.ini", hardenedINI, 0o640)
	tr.owned("/etc/webrtc-gateway/webrtc-gateway.ini", 0)
	tr.copyFile(filepath.Join(repo, "packaging/lca.ini"), "/etc/webrtc-gateway/lca.ini", 0o640)
	ca := newCA(t)
	cert, key := ca.leaf(t, false, fixtureNow.AddDate(1, 0, 0))
	tr.file("/etc/webrtc-gateway/tls/gateway.crt", cert, 0o644)
	tr.file("/etc/webrtc-gateway/tls/gateway.key", key, 0o640)
	tr.owned("/etc/webrtc-gateway/tls/gateway.key", 0)

	tr.dirMode("/var/lib/webrtc-gateway", 0o750)
	tr.dirMode("/var/lib/webrtc-gateway-confserv", 0o750)
	tr.file("/var/lib/webrtc-gateway-confserv/initial-admin-password", "s3cret\n", 0o600)
	tr.file("/var/lib/webrtc-gateway-confserv/confserv.db", "bbolt", 0o600)
	tr.dirMode("/var/lib/webrtc-gateway-lca", 0o750)
	tr.file("/var/lib/webrtc-gateway-lca/control-token", "abcd\n", 0o600)
	for _, p := range []string{"/var/lib/webrtc-gateway", "/var/lib/webrtc-gateway-confserv", "/var/lib/webrtc-gateway-confserv/initial-admin-password",
		"/var/lib/webrtc-gateway-confserv/confserv.db", "/var/lib/webrtc-gateway-lca", "/var/lib/webrtc-gateway-lca/control-token"} {
		tr.owned(p, tr.uid)
	}

	// firewalld: packaged zones and services, the site's zones in /etc
	tr.file("/usr/lib/firewalld/zones/public.xml", `<?xml version="1.0" encoding="utf-8"?>
<zone><short>Public</short><service name="ssh"/><service name="dhcpv6-client"/><forward/></zone>`, 0)
	tr.file("/usr/lib/firewalld/zones/internal.xml", `<?xml version="1.0" encoding="utf-8"?>
<zone><short>Internal</short><service name="ssh"/></zone>`, 0)
	tr.file("/usr/lib/firewalld/zones/trusted.xml", `<?xml version="1.0" encoding="utf-8"?>
<zone target="ACCEPT"><short>Trusted</short></zone>`, 0)
	tr.file("/usr/lib/firewalld/services/ssh.xml", `<?xml version="1.0" encoding="utf-8"?>
<service><short>SSH</short><port protocol="tcp" port="22"/></service>`, 0)
	for _, s := range []string{FirewalldService, FirewalldServiceSIP, FirewalldServiceManagement} {
		tr.copyFile(filepath.Join(repo, "packaging/firewalld/services", s+".xml"), "/usr/lib/firewalld/services/"+s+".xml", 0o644)
	}
	tr.file("/etc/firewalld/firewalld.conf", "# comment\nDefaultZone=public\nFirewallBackend=nftables\n", 0)
	tr.file("/etc/firewalld/zones/public.xml", `<?xml version="1.0" encoding="utf-8"?>
<zone><short>Public</short><service name="ssh"/><service name="`+FirewalldService+`"/></zone>`, 0)
	tr.file("/etc/firewalld/zones/internal.xml", `<?xml version="1.0" encoding="utf-8"?>
<zone><short>Internal</short><source address="10.0.0.0/8"/><source address="192.168.0.0/16"/>
<service name="ssh"/><service name="`+FirewalldServiceSIP+`"/><service name="`+FirewalldServiceManagement+`"/></zone>`, 0)
	tr.unit("firewalld.service", "[Unit]\nDescription=firewalld\n[Service]\nExecStart=/usr/sbin/firewalld --nofork\n[Install]\nWantedBy=multi-user.target\n")
	tr.enable("firewalld.service")

	// fail2ban with the packaged jail
	tr.file("/etc/fail2ban/jail.conf", "[DEFAULT]\nenabled = false\nbantime = 10m\n\n[sshd]\nport = ssh\n", 0)
	tr.file("/etc/fail2ban/jail.d/00-defaults.conf", "[sshd]\nenabled = true\n", 0)
	tr.copyFile(filepath.Join(repo, "packaging/fail2ban/jail.d/webrtc-gateway.conf"), DefaultJailFile, 0o644)
	tr.unit("fail2ban.service", "[Service]\nExecStart=/usr/bin/fail2ban-server -xf start\n[Install]\nWantedBy=multi-user.target\n")
	tr.enable("fail2ban.service")

	// the running host: processes and their sockets
	tr.process(1, "systemd", 0)
	tr.process(100, "firewalld", 0)
	tr.process(200, CommGateway, tr.uid)
	tr.process(201, CommConfserv, tr.uid)
	tr.process(300, "sshd", 0)
	tr.sockets("tcp 0.0.0.0:22", "tcp [::]:8443", "tcp 0.0.0.0:2020", "udp 0.0.0.0:5060", "udp 0.0.0.0:30001")
	tr.socketFD(300, 3, 1000)
	tr.socketFD(200, 7, 1001)
	tr.socketFD(201, 5, 1002)
	tr.socketFD(200, 8, 1003)
	return tr
}

// gather snapshots a tree as check-host does.
func (tr *tree) gather(flags Flags) *Snapshot {
	tr.t.Helper()
	s, err := Gather(context.Background(), GatherOptions{Root: tr.dir, Flags: flags, Now: fixtureNow,
		Run: func(context.Context, string, ...string) ([]byte, error) {
			tr.t.Error("a command ran for a tree that is not /")
			return nil, fmt.Errorf("no commands in tests")
		}})
	if err != nil {
		tr.t.Fatalf("Gather(%s): %v", tr.dir, err)
	}
	return s
}

// results returns the results of a snapshot by check id.
func results(s *Snapshot) map[string]Result {
	out := map[string]Result{}
	for _, r := range Run(s) {
		out[r.ID] = r
	}
	return out
}
