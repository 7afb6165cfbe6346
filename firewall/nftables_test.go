package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

// The nftables tests load rules only into network namespaces they create
// (never the one the test runs in, which may be the host's): nft runs under
// nsenter into a namespace held by a child process, and the sockets are
// made by goroutines that entered it.

// requireNetAdmin skips (or fails under E2E_REQUIRED=1) unless the test can
// create network namespaces and run nft, ip and nsenter.
func requireNetAdmin(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testpeers.SkipOrFail(t, "creating network namespaces and loading nftables rules needs root")
	}
	testpeers.Require(t, "nft", "ip", "nsenter")
}

// netns is a network namespace of the test's own, kept alive by a child
// process.
type netns struct {
	path string // /proc/PID/ns/net
}

// newNetns creates a network namespace with lo up; it is gone at the end of
// the test.
func newNetns(t *testing.T) *netns {
	t.Helper()
	// sleep keeps the namespace; it ends on its own if the test dies.
	cmd := exec.Command("sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		testpeers.SkipOrFail(t, "create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ns := &netns{path: fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)}
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(ns.path)
	if err := errors.Join(err1, err2); err != nil || mine == its {
		t.Fatalf("the child's network namespace %q is not a new one (ours: %q, %v)", its, mine, err)
	}
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// run runs a command inside the namespace and returns its output.
func (ns *netns) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + ns.path, "--"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in the namespace: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// do runs f on a thread that entered the namespace: the sockets f creates
// live there.
func (ns *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine, so that
		// nothing else ever runs in the namespace.
		runtime.LockOSThread()
		fd, err := unix.Open(ns.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// TestNftCheck: every golden ruleset, under both policies, passes nft's
// own check (nft -c, in a namespace of the test's).
func TestNftCheck(t *testing.T) {
	requireNetAdmin(t)
	ns := newNetns(t)
	files, err := filepath.Glob("testdata/*.nft")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden rulesets: %v", err)
	}
	for _, tc := range cases {
		for _, policy := range []Policy{Accept, Drop} {
			rs, err := Compute(parse(t, tc.sections), goldenConfig(tc.mgmt, policy))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), tc.name+"-"+string(policy)+".nft")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteNftables(f, rs); err != nil {
				t.Fatal(err)
			}
			f.Close()
			files = append(files, path)
		}
	}
	for _, path := range files {
		ns.run(t, "nft", "-c", "-f", path)
	}
	// A ruleset without the table's sources still loads: empty sets.
	rs, err := Compute(options.Defaults(), Config{InternalNets: DefaultNets[:1], Management: defaultPorts})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "no-management-net.nft")
	f, _ := os.Create(path)
	WriteNftables(f, rs)
	f.Close()
	ns.run(t, "nft", "-c", "-f", path)
}

// Addresses of the namespace test: the gateway's host, and one client of
// each zone per IP version, told apart by source address.
const (
	server4 = "192.0.2.1"
	server6 = "2001:db8::1"
)

var clients = map[string]string{
	"public4":     "198.51.100.10",
	"internal4":   "10.1.0.10",
	"management4": "10.2.0.10",
	"public6":     "2001:db8:1::10",
	"internal6":   "fd00:1::10",
	"management6": "fd00:2::10",
}

// TestNftablesInNamespace loads the ruleset into a namespace playing the
// gateway's host, joined by a veth pair to one playing the networks, and
// checks with real sockets what gets through: the gateway's ports from
// their zone, and, under the drop policy, nothing else.
func TestNftablesInNamespace(t *testing.T) {
	requireNetAdmin(t)
	for _, policy := range []Policy{Accept, Drop} {
		t.Run(string(policy), func(t *testing.T) { testNamespace(t, policy) })
	}
}

func testNamespace(t *testing.T, policy Policy) {
	host, nets := newNetns(t), newNetns(t)
	host.run(t, "ip", "link", "add", "gw0", "type", "veth", "peer", "name", "cl0", "netns", strings.TrimSuffix(strings.TrimPrefix(nets.path, "/proc/"), "/ns/net"))
	host.run(t, "ip", "addr", "add", server4+"/32", "dev", "gw0")
	host.run(t, "ip", "addr", "add", server6+"/128", "dev", "gw0", "nodad")
	host.run(t, "ip", "link", "set", "gw0", "up")
	nets.run(t, "ip", "link", "set", "cl0", "up")
	for _, a := range clients {
		bits := "/32"
		extra := []string{}
		if strings.Contains(a, ":") {
			bits, extra = "/128", []string{"nodad"}
		}
		nets.run(t, append([]string{"ip", "addr", "add", a + bits, "dev", "cl0"}, extra...)...)
		host.run(t, "ip", "route", "add", a+bits, "dev", "gw0")
	}
	nets.run(t, "ip", "route", "add", server4+"/32", "dev", "cl0")
	nets.run(t, "ip", "-6", "route", "add", server6+"/128", "dev", "cl0")

	// A firewall of the host's own, accepting everything: loading ours
	// must leave it in place.
	hostRules := filepath.Join(t.TempDir(), "host.nft")
	os.WriteFile(hostRules, []byte("table inet host_firewall {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"), 0o644)
	host.run(t, "nft", "-f", hostRules)

	set := parse(t, options.Sections{"media": {"rtp-port-min": "20000", "rtp-port-max": "20099", "webrtc-port-min": "30000", "webrtc-port-max": "30099", "max-calls": "50"}})
	internal, _ := ParseNets("10.1.0.0/16,fd00:1::/48")
	management, _ := ParseNets("10.2.0.0/16,fd00:2::/48")
	rs, err := Compute(set, Config{Source: "test", Management: defaultPorts, InternalNets: internal, ManagementNets: management, Policy: policy, SSHPort: 22})
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), NftablesFile)
	f, err := os.Create(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteNftables(f, rs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Twice: a rerun replaces the table.
	host.run(t, "nft", "-f", rules)
	host.run(t, "nft", "-f", rules)
	if got := host.run(t, "nft", "list", "tables"); got != "table inet host_firewall\ntable inet webrtc_gateway\n" {
		t.Errorf("nft list tables after loading twice:\n%s", got)
	}

	l := listen(t, host, []int{8443, 4999, 2020, 22, 9999}, []int{30050, 5060, 20050, 20051, 40000})
	open := true
	closedUnlessAccept := policy == Accept
	probes := []probe{
		{"public4", "tcp", 8443, open}, {"public6", "tcp", 8443, open}, {"internal4", "tcp", 8443, open},
		{"public4", "udp", 30050, open}, {"public6", "udp", 30050, open},
		{"internal4", "udp", 5060, open}, {"internal6", "udp", 5060, open},
		{"public4", "udp", 5060, !open}, {"public6", "udp", 5060, !open}, {"management4", "udp", 5060, !open},
		{"internal4", "udp", 20050, open}, {"internal4", "udp", 20051, open}, {"public4", "udp", 20050, !open},
		{"management4", "tcp", 4999, open}, {"management6", "tcp", 4999, open},
		{"public4", "tcp", 4999, !open}, {"public6", "tcp", 4999, !open}, {"internal4", "tcp", 4999, !open},
		{"management4", "tcp", 2020, open}, {"public4", "tcp", 2020, !open},
		{"management4", "tcp", 22, open}, {"public4", "tcp", 22, closedUnlessAccept},
		{"public4", "tcp", 9999, closedUnlessAccept}, {"public4", "udp", 40000, closedUnlessAccept},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(probes))
	for i, p := range probes {
		wg.Go(func() { errs[i] = p.try(nets, l, i) })
	}
	wg.Wait()
	dropped := 0
	for i, p := range probes {
		if errs[i] != nil {
			t.Errorf("%s: %v", p, errs[i])
		}
		if !p.open {
			dropped++
		}
	}
	// Each dropped probe sent at least one packet that a drop rule of the
	// table counted: proof that the table, not chance, dropped them.
	chain := host.run(t, "nft", "list", "chain", "inet", TableName, "input")
	counted := 0
	for _, m := range regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`).FindAllStringSubmatch(chain, -1) {
		n, _ := strconv.Atoi(m[1])
		counted += n
	}
	if counted < dropped {
		t.Errorf("the table's drop rules counted %d packets for %d dropped probes:\n%s", counted, dropped, chain)
	}
}

// probe is one connection attempt from a client to a port of the host.
type probe struct {
	from  string // a key of clients
	proto string
	port  int
	open  bool // expected to get through
}

func (p probe) String() string {
	want := "dropped"
	if p.open {
		want = "let through"
	}
	return fmt.Sprintf("%s %s/%d from %s (%s), want %s", p.proto, server(p.from), p.port, p.from, clients[p.from], want)
}

func server(from string) string {
	if strings.HasSuffix(from, "6") {
		return server6
	}
	return server4
}

// How long a probe waits: an open port answers at once over the veth; a
// dropped one is given this long to show that nothing arrives. Neither
// decides a pass by timing alone: the listener must see the probe's own
// source address, and the drop rules must count the dropped packets.
const (
	openWait    = 5 * time.Second
	droppedWait = 700 * time.Millisecond
)

func (p probe) try(nets *netns, l *listeners, id int) error {
	src := net.ParseIP(clients[p.from])
	dst := net.JoinHostPort(server(p.from), strconv.Itoa(p.port))
	wait := droppedWait
	if p.open {
		wait = openWait
	}
	switch p.proto {
	case "tcp":
		var conn net.Conn
		err := nets.do(func() (err error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: wait}
			conn, err = d.Dial("tcp", dst)
			return err
		})
		var ne net.Error
		switch {
		case err == nil:
			conn.Close()
			if !p.open {
				return errors.New("connected")
			}
			return l.saw(p.port, src, 0, openWait)
		case p.open:
			return err
		case !errors.As(err, &ne) || !ne.Timeout():
			return fmt.Errorf("not a drop (a drop times out): %w", err)
		}
		return nil
	default:
		var conn *net.UDPConn
		err := nets.do(func() (err error) {
			conn, err = net.DialUDP("udp", &net.UDPAddr{IP: src}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
			return err
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		// Three datagrams, in case the first waits for neighbour
		// discovery.
		for range 3 {
			if _, err := conn.Write([]byte(strconv.Itoa(id))); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		err = l.saw(p.port, src, id, wait)
		switch {
		case p.open:
			return err
		case err == nil:
			return errors.New("datagram delivered")
		}
		return nil
	}
}

// listeners records what reaches the host's sockets: the source address of
// each TCP connection and UDP datagram, by port.
type listeners struct {
	mu     sync.Mutex
	cond   *sync.Cond
	seen   map[string]bool // "port src id"
	closed bool
}

func listen(t *testing.T, ns *netns, tcpPorts, udpPorts []int) *listeners {
	t.Helper()
	l := &listeners{seen: map[string]bool{}}
	l.cond = sync.NewCond(&l.mu)
	record := func(port int, src net.IP, id int) {
		l.mu.Lock()
		l.seen[fmt.Sprint(port, " ", src.String(), " ", id)] = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}
	var (
		wg      sync.WaitGroup
		closers []func() error
	)
	t.Cleanup(func() {
		for _, c := range closers {
			c()
		}
		wg.Wait()
	})
	for _, port := range tcpPorts {
		var ln net.Listener
		if err := ns.do(func() (err error) { ln, err = net.Listen("tcp", ":"+strconv.Itoa(port)); return err }); err != nil {
			t.Fatal(err)
		}
		closers = append(closers, ln.Close)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				record(port, c.RemoteAddr().(*net.TCPAddr).IP, 0)
				c.Close()
			}
		})
	}
	for _, port := range udpPorts {
		var pc net.PacketConn
		if err := ns.do(func() (err error) { pc, err = net.ListenPacket("udp", ":"+strconv.Itoa(port)); return err }); err != nil {
			t.Fatal(err)
		}
		closers = append(closers, pc.Close)
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				id, _ := strconv.Atoi(string(buf[:n]))
				record(port, from.(*net.UDPAddr).IP, id)
			}
		})
	}
	t.Cleanup(func() {
		l.mu.Lock()
		l.closed = true
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	return l
}

// saw waits up to wait for port to have been reached from src (with the
// probe id, for UDP).
func (l *listeners) saw(port int, src net.IP, id int, wait time.Duration) error {
	key := fmt.Sprint(port, " ", src.String(), " ", id)
	timer := time.AfterFunc(wait, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(wait)
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.seen[key] {
		if l.closed || !time.Now().Before(deadline) {
			return fmt.Errorf("nothing from %s reached port %d within %s", src, port, wait)
		}
		l.cond.Wait()
	}
	return nil
}
