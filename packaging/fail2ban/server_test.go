package fail2ban

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/netns"
	"webrtcgw/internal/testpeers"
)

// etcFail2ban is the distribution's fail2ban configuration, which the test
// server's configuration is built from.
const etcFail2ban = "/etc/fail2ban"

// fail2banConfig builds a fail2ban configuration directory in dir from the
// distribution's (fail2ban.conf, jail.conf and the paths-*.conf it includes,
// action.d, filter.d/common.conf) and the shipped filter and jail file, with
// the database in dir, and jailLocal as jail.d/webrtc-gateway.local: the
// overrides an operator would write.
func fail2banConfig(t testing.TB, dir, jailLocal string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(etcFail2ban, "jail.conf")); err != nil {
		testpeers.SkipOrFail(t, "no %s/jail.conf: install the Debian package fail2ban (%v)", etcFail2ban, err)
	}
	conf := filepath.Join(dir, "fail2ban")
	copies := map[string]string{
		filepath.Join(etcFail2ban, "fail2ban.conf"):           "fail2ban.conf",
		filepath.Join(etcFail2ban, "jail.conf"):               "jail.conf",
		filepath.Join(etcFail2ban, "filter.d", "common.conf"): "filter.d/common.conf",
		shipped(t, filterFile):                                "filter.d/webrtc-gateway.conf",
		shipped(t, jailFile):                                  "jail.d/webrtc-gateway.conf",
	}
	for _, pattern := range []string{"paths-*.conf", "action.d/*"} {
		matches, _ := filepath.Glob(filepath.Join(etcFail2ban, pattern))
		for _, m := range matches {
			rel, _ := filepath.Rel(etcFail2ban, m)
			copies[m] = rel
		}
	}
	for from, to := range copies {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to = filepath.Join(conf, to)
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// allowipv6 silences the warning Debian's fail2ban.conf draws.
	local := fmt.Sprintf("[Definition]\nallowipv6 = auto\ndbfile = %s\n", filepath.Join(dir, "fail2ban.sqlite3"))
	if err := os.WriteFile(filepath.Join(conf, "fail2ban.local"), []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "jail.d", "webrtc-gateway.local"), []byte(jailLocal), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// server is a running fail2ban-server.
type server struct {
	t    testing.TB
	sock string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
}

// startFail2ban runs fail2ban-server in the foreground on the configuration
// directory conf, with its socket and pid file in dir, in regexTZ (hclog's
// UTC timestamps must be read as UTC whatever the host's zone), and waits
// until jail has started. It is stopped when the test ends.
func startFail2ban(t testing.TB, conf, dir, jail string) *server {
	t.Helper()
	s := &server{t: t, sock: filepath.Join(dir, "fail2ban.sock"), done: make(chan struct{})}
	s.cmd = exec.Command("fail2ban-server", "-f", "-x", "-s", s.sock, "-p", filepath.Join(dir, "fail2ban.pid"),
		"--logtarget", "stdout", "--loglevel", "INFO", "-c", conf)
	s.cmd.Env = append(os.Environ(), "TZ="+regexTZ)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("fail2ban-server output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := s.client("status", jail); err == nil {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("fail2ban-server exited at start:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("jail %s did not start within 30 s:\n%s", jail, s.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client runs fail2ban-client on the server's socket.
func (s *server) client(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "fail2ban-client", append([]string{"-s", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("fail2ban-client %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// banned returns the addresses jail bans now, from `fail2ban-client status`.
func (s *server) banned(jail string) []string {
	s.t.Helper()
	out, err := s.client("status", jail)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if _, list, ok := strings.Cut(l, "Banned IP list:"); ok {
			return strings.Fields(list)
		}
	}
	s.t.Fatalf("no banned list in `fail2ban-client status %s`:\n%s", jail, out)
	return nil
}

// stop stops the server through its socket (its actions remove their
// firewall rules), or kills it after 20 s (idempotent).
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	if _, err := s.client("stop"); err != nil {
		s.t.Logf("stop fail2ban-server: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.t.Errorf("fail2ban-server did not stop within 20 s")
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// health gets the gateway's /health through c: the status, or the error of
// a connection the firewall refused.
func health(c *http.Client, base string) (int, error) {
	res, err := c.Get(base + "/health")
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// eventually polls cond for 30 s, until it holds; the test fails with what
// cond said last when it never does.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 30 s: %s; last: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nft runs nft with args and returns its output.
func nft(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("nft", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBanWithNftables runs a real fail2ban-server with the shipped filter
// and the shipped webrtc-gateway-logfile jail, enabled and pointed at the
// test's gateway as an operator would do it in jail.d/webrtc-gateway.local
// (its log file, its port, the nftables-multiport action, a bantime of 5 s),
// with the jail's maxretry and findtime as shipped. The gateway's own bans
// are off ([security] ban-max-failures = 0), so that only the firewall can
// refuse a client. A client at 127.0.0.2 fails to sign in three times (a
// real Kamailio refuses the password): fail2ban bans it, and its new HTTPS
// connections to the gateway no longer get through while 127.0.0.3's do and
// 127.0.0.2 still reaches other ports; after bantime it is unbanned and
// connects again. Stopping fail2ban removes its nftables table. All of it
// happens in the network namespace the tests run in.
func TestBanWithNftables(t *testing.T) {
	testpeers.RequirePrivateNetns(t)
	if !netns.Private() { // never touch the firewall of a shared namespace
		t.Fatal("not in a private network namespace")
	}
	testpeers.Require(t, "fail2ban-server", "fail2ban-client", "nft", testpeers.BinKamailio)
	const jail = "webrtc-gateway-logfile"
	dir := t.TempDir()

	kam := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret1"}})
	httpsPort := testpeers.FreePort(t, testpeers.NetTCP)
	gwLog := filepath.Join(dir, "gateway.log")
	conf := filepath.Join(dir, "webrtc-gateway.ini")
	gatewayOptions(t, kam.Addr(), httpsPort, gwLog, map[string]string{"security/ban-max-failures": "0"}).write(t, conf)
	startGateway(t, conf, filepath.Join(dir, "data"))
	waitFile(t, gwLog, "gateway: started:")
	base := "https://127.0.0.1:" + strconv.Itoa(httpsPort)
	cert := filepath.Join(dir, "data", "tls", "self-signed.crt")
	bad, good := httpsClient(t, cert, "127.0.0.2"), httpsClient(t, cert, "127.0.0.3")

	// Another port, which the jail's ban does not cover.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	reachOther := func() error {
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		c, err := d.Dial("tcp", other.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}

	// Only this jail: the journal ones need python3-systemd and read
	// nothing here. The clients are loopback addresses, which ignoreself
	// would spare.
	local := fmt.Sprintf(`[webrtc-gateway]
enabled = false

[webrtc-gateway-confserv]
enabled = false

[webrtc-gateway-lca]
enabled = false

[%s]
enabled    = true
logpath    = %s
port       = %d
bantime    = 5
banaction  = nftables-multiport
ignoreself = false
ignoreip   =
`, jail, gwLog, httpsPort)
	f2b := startFail2ban(t, fail2banConfig(t, dir, local), dir, jail)

	for _, c := range []struct {
		name string
		c    *http.Client
	}{{"127.0.0.2", bad}, {"127.0.0.3", good}} {
		if st, err := health(c.c, base); err != nil || st != http.StatusOK {
			t.Fatalf("/health from %s before any failure = %d, %v; want 200", c.name, st, err)
		}
	}
	for i := 1; i <= 3; i++ {
		if st, err := gatewaySignIn(bad, base, "", "7001", "wrong"); err != nil || st != http.StatusForbidden {
			t.Fatalf("wrong password #%d from 127.0.0.2 = %d, %v; want 403", i, st, err)
		}
	}

	// Banned: fail2ban lists the address, then its action adds it to the
	// jail's nftables set (the table is made on the first ban).
	eventually(t, "127.0.0.2 banned and in the jail's nftables set after three failures", func() (bool, string) {
		b := f2b.banned(jail)
		if len(b) != 1 || b[0] != "127.0.0.2" {
			return false, fmt.Sprintf("banned = %v", b)
		}
		out, err := exec.Command("nft", "list", "set", "inet", "f2b-table", "addr-set-"+jail).CombinedOutput()
		return err == nil && strings.Contains(string(out), "127.0.0.2"), string(out)
	})
	if st, err := health(bad, base); err == nil {
		t.Errorf("/health from the banned 127.0.0.2 = %d, want no connection", st)
	}
	if st, err := health(good, base); err != nil || st != http.StatusOK {
		t.Errorf("/health from 127.0.0.3 while 127.0.0.2 is banned = %d, %v; want 200", st, err)
	}
	if err := reachOther(); err != nil {
		t.Errorf("the banned 127.0.0.2 cannot reach another port: %v; want only the gateway's port closed", err)
	}

	// Unbanned after bantime (5 s): off the list, then through again.
	eventually(t, "127.0.0.2 unbanned after bantime and connecting again", func() (bool, string) {
		if b := f2b.banned(jail); len(b) != 0 {
			return false, fmt.Sprintf("banned = %v", b)
		}
		st, err := health(bad, base)
		return err == nil && st == http.StatusOK, fmt.Sprintf("/health from 127.0.0.2 = %d, %v", st, err)
	})

	f2b.stop()
	if tables := nft(t, "list", "tables"); strings.Contains(tables, "f2b-table") {
		t.Errorf("fail2ban stopped, its table is left:\n%s", tables)
	}
	if out := f2b.out.String(); strings.Contains(out, "Detected a log entry") || strings.Contains(out, "ERROR") {
		t.Errorf("fail2ban-server reported a timing issue or an error:\n%s", out)
	}
}

// TestShippedConfigStarts runs a real fail2ban-server on the distribution's
// configuration with the shipped jail file as it is: the journal jails,
// enabled, start and run on a host where none of the units runs (nothing
// in the journal for them), and the server stops cleanly. It needs
// fail2ban's systemd backend (python3-systemd); without it fail2ban would
// start no jail at all, which docs/fail2ban.md warns of.
func TestShippedConfigStarts(t *testing.T) {
	testpeers.RequirePrivateNetns(t)
	if !netns.Private() { // the actions may touch the firewall
		t.Fatal("not in a private network namespace")
	}
	testpeers.Require(t, "fail2ban-server", "fail2ban-client")
	requireJournal(t)
	dir := t.TempDir()
	f2b := startFail2ban(t, fail2banConfig(t, dir, ""), dir, "webrtc-gateway")
	out, err := f2b.client("status")
	if err != nil {
		t.Fatal(err)
	}
	for _, jail := range []string{"webrtc-gateway", "webrtc-gateway-confserv", "webrtc-gateway-lca"} {
		if !strings.Contains(out, jail) {
			t.Errorf("jail %s not running:\n%s", jail, out)
		}
		if b := f2b.banned(jail); len(b) != 0 {
			t.Errorf("jail %s bans %v with nothing in the journal", jail, b)
		}
	}
	if strings.Contains(out, "webrtc-gateway-managed") || strings.Contains(out, "webrtc-gateway-logfile") {
		t.Errorf("a file jail runs as shipped:\n%s", out)
	}
	f2b.stop()
	if log := f2b.out.String(); strings.Contains(log, "ERROR") {
		t.Errorf("fail2ban-server reported errors:\n%s", log)
	}
}
