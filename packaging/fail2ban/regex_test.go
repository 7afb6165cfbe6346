package fail2ban

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/lcatest"
)

// hclogTimeRE finds hclog's timestamp in a line.
var hclogTimeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)

// injected is the address the hostile user names try to get banned.
const injected = "203.0.113.9"

// An attempt is one sign-in: the client address (sent in X-Forwarded-For
// through a trusted proxy on loopback), the name and the password.
type attempt struct {
	from, name, password string
	// want is the status the daemon answers; 0 accepts either a failed
	// login or a refusal before any login (400: a name the gateway never
	// sends to the SIP Server).
	want int
}

// Hostile user names: each tries to put another address, or a whole
// failed-login line, where a careless filter would read it. confserv takes
// any of them as an operator name (a failed login); the gateway refuses
// them before any login (400: a DN is letters, digits and + * # . _ -).
var hostileNames = []string{
	"x client_ip=" + injected + " y",
	"a\nclient_ip=" + injected,
	"a\n2026-12-06T06:20:11.402Z [WARN]  gateway.ban: login failed: client_ip=" + injected + " user=x",
	`x" client_ip=` + injected + ` user="y`,
	"ip=" + injected,
	"client_ip=" + injected,
	`\" client_ip=` + injected,
	"\u2028client_ip=" + injected,
	"\r\nclient_ip=" + injected,
	"<ip> <HOST> " + injected,
	`7001"client_ip:` + injected,
	`"`,
	`\`,
	"",
	"ünïcødé " + injected,
	strings.Repeat("x", 70) + " client_ip=" + injected,
}

// attempts returns the sign-ins a test makes: failures from one address
// each, the hostile names, and successes that must never match.
func attempts(failStatus int, goodName, goodPassword string, base int) []attempt {
	var out []attempt
	n := base
	next := func() string { n++; return fmt.Sprintf("198.51.100.%d", n) }
	out = append(out,
		attempt{next(), goodName, "wrong", failStatus},
		attempt{next(), "nosuchuser", "wrong", failStatus},
		attempt{next(), injected, "wrong", failStatus}, // a name that is an address
		attempt{next(), "+" + injected + "#", "wrong", failStatus},
		attempt{fmt.Sprintf("2001:db8::%d", base+1), goodName, "wrong", failStatus},
		attempt{next(), goodName, goodPassword, 200},
		attempt{fmt.Sprintf("2001:db8::%d", base+2), goodName, goodPassword, 200},
	)
	for _, name := range hostileNames {
		out = append(out, attempt{next(), name, "wrong", 0})
	}
	return out
}

// failed returns the addresses of the attempts that the daemon answered
// with failStatus, sorted: what fail2ban must find, once each.
func failed(atts []attempt, got []int, failStatus int) []string {
	var out []string
	for i, a := range atts {
		if got[i] == failStatus {
			out = append(out, a.from)
		}
	}
	slices.Sort(out)
	return out
}

// checkMatches asserts that fail2ban-regex found exactly one failure for
// each address of want and nothing else, each on a line that names that
// address as the client, at the time of the line.
func checkMatches(t *testing.T, source string, got []match, sum summary, want []string) {
	t.Helper()
	var ips []string
	for _, m := range got {
		ips = append(ips, m.IP)
		if !strings.Contains(m.Line, "login failed: client_ip="+m.IP+" user=") {
			t.Errorf("%s: %s matched on a line that does not name it as the client: %q", source, m.IP, m.Line)
		}
		if stamp := hclogTimeRE.FindString(m.Line); stamp == "" {
			t.Errorf("%s: no hclog timestamp in the line matched for %s: %q", source, m.IP, m.Line)
		} else if tm, _ := lineTime(stamp); tm.Unix() != m.Time {
			t.Errorf("%s: failure of %s at %d, want %d (%s): the timestamp read in another time zone?", source, m.IP, m.Time, tm.Unix(), stamp)
		}
	}
	slices.Sort(ips)
	if diff := cmp.Diff(want, ips); diff != "" {
		t.Errorf("%s: addresses matched (-want +got):\n%s", source, diff)
	}
	if slices.Contains(ips, injected) {
		t.Errorf("%s: matched the address a user name carried: %v", source, ips)
	}
	if sum.Matched != len(want) || sum.Ignored != 0 {
		t.Errorf("%s: fail2ban-regex summary %+v, want %d matched, 0 ignored", source, sum, len(want))
	}
}

// TestFilterOnRealLines runs fail2ban-regex with the shipped filter on what
// the real daemons write when clients fail to sign in, some with hostile
// user names, and others succeed:
//
//   - a gateway run by a real Local Control Agent, its SIP Server a real
//     Kamailio that refuses wrong passwords: its [log] file, the LCA's
//     per-application log of its stdout, and that stdout as the journal of
//     webrtc-gateway.service stores it;
//   - a real confserv: its stdout as a log file (under the LCA) and as the
//     journal of webrtc-gateway-confserv.service;
//   - the LCA's own failed control login, in the journal of
//     webrtc-gateway-lca.service.
//
// Every failure matches once, with the client's address (X-Forwarded-For
// through a trusted proxy on loopback); successes, debug noise and the
// addresses inside user names never match.
func TestFilterOnRealLines(t *testing.T) {
	testpeers.Require(t, "fail2ban-regex", testpeers.BinKamailio)
	dir := t.TempDir()

	// The gateway, started by the LCA as application gw1, logs to stdout
	// (the LCA's LOGS/gw1.log) and to its own file.
	kam := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret1"}})
	httpsPort := testpeers.FreePort(t, testpeers.NetTCP)
	lcaDir, lcaPort := filepath.Join(dir, "lca"), testpeers.FreePort(t, testpeers.NetTCP)
	gwLog := filepath.Join(dir, "gateway.log")
	conf := filepath.Join(dir, "webrtc-gateway.ini")
	gwOpts := gatewayOptions(t, kam.Addr(), httpsPort, "stdout, "+gwLog, map[string]string{
		"web/trusted-proxies":       "127.0.0.1",
		"security/ban-max-failures": "0", // every attempt gets its answer, none a 429
	})
	gwOpts.write(t, conf)
	if err := os.MkdirAll(lcaDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lcaINI := filepath.Join(lcaDir, "lca.ini")
	ini := fmt.Sprintf("[lca]\nhost-name = f2b\n\n[app gw1]\ntype = WebRTC_Gateway\ncommand-line = %s\n"+
		"arguments = -config %s -data %s -app gw1 -lca-port %d\nautostart = true\n",
		binary(t, "webrtc-gateway"), conf, filepath.Join(dir, "gwdata"), lcaPort)
	if err := os.WriteFile(lcaINI, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	lca := lcatest.Start(t, lcaDir, lcaPort, "-config", lcaINI)
	lcaAppLog := filepath.Join(lca.Logs, "gw1.log")
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(lcaAppLog)
			t.Logf("%s:\n%s", lcaAppLog, data)
		}
	})
	waitFile(t, gwLog, "gateway: started:")

	gw := httpsClient(t, filepath.Join(dir, "gwdata", "tls", "self-signed.crt"), "")
	base := "https://127.0.0.1:" + strconv.Itoa(httpsPort)
	gwAtts := attempts(403, "7001", "secret1", 0)
	gwGot := make([]int, len(gwAtts))
	for i, a := range gwAtts {
		st, err := gatewaySignIn(gw, base, a.from, a.name, a.password)
		if err != nil {
			t.Fatal(err)
		}
		gwGot[i] = st
		if (a.want != 0 && st != a.want) || (a.want == 0 && st != 403 && st != 400) {
			t.Errorf("gateway sign-in %q from %s = %d, want %d (or 400 when refused before login)", a.name, a.from, st, a.want)
		}
	}
	gwWant := failed(gwAtts, gwGot, 403)

	// Text from outside in another logger's line: datagrams at the SIP port
	// that are failed-login lines, logged (debug) as malformed.
	sipConn, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", gwOpts["sip"]["sip-port"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, payload := range []string{
		"[WARN]  gateway.ban: login failed: client_ip=" + injected + " user=x\r\n\r\n",
		"\n2026-12-06T06:20:11.402Z [WARN]  gateway.ban: login failed: client_ip=" + injected + " user=x\r\n\r\n",
	} {
		if _, err := sipConn.Write([]byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	sipConn.Close()
	waitFile(t, gwLog, "login failed: client_ip="+injected+" user=x' is no")

	// confserv takes any JSON string as an operator name.
	cs := confservtest.Start(t, filepath.Join(dir, "confserv"), 0, "-trusted-proxies", "127.0.0.1")
	csAtts := attempts(401, "admin", cs.AdminPassword(), 100)
	csGot := make([]int, len(csAtts))
	for i, a := range csAtts {
		st, err := confservSignIn(cs.URL, a.from, a.name, a.password)
		if err != nil {
			t.Fatal(err)
		}
		csGot[i] = st
		if want := a.want; (want != 0 && st != want) || (want == 0 && st != 401) {
			t.Errorf("confserv sign-in %q from %s = %d, want %d (401 for every wrong name or password)", a.name, a.from, st, want)
		}
	}
	csWant := failed(csAtts, csGot, 401)

	// A wrong control token at the LCA (control clients connect from
	// loopback here).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cerr *control.Error
	if _, err := control.Dial(ctx, lca.Addr, strings.Repeat("0", 64)); !errors.As(err, &cerr) {
		t.Fatalf("wrong control token: %v, want a refusal", err)
	}

	// Every line is written by now: each daemon logs a failure before it
	// answers.
	if !lca.WaitOutput("login failed: client_ip=127.0.0.1 user=lca-control", 10*time.Second) {
		t.Fatalf("no failed-login line from the LCA:\n%s", lca.Output())
	}
	gwLines, err := os.ReadFile(gwLog)
	if err != nil {
		t.Fatal(err)
	}
	csLog := filepath.Join(dir, "confserv-stdout.log")
	if err := os.WriteFile(csLog, []byte(cs.Output()), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("log files", func(t *testing.T) {
		for _, c := range []struct {
			name, path string
			want       []string
		}{
			{"gateway [log] file", gwLog, gwWant},
			{"gateway under the LCA (LOGS/gw1.log)", lcaAppLog, gwWant},
			{"confserv stdout under the LCA", csLog, csWant},
		} {
			got, sum := runRegex(t, c.path)
			checkMatches(t, c.name, got, sum, c.want)
			data, _ := os.ReadFile(c.path)
			if n := strings.Count(string(data), "\n"); sum.Lines != n {
				t.Errorf("%s: fail2ban-regex read %d lines, the file has %d", c.name, sum.Lines, n)
			}
			if t.Failed() {
				t.Logf("%s:\n%s", c.path, data)
			}
		}
	})

	t.Run("journal", func(t *testing.T) {
		requireJournal(t)
		jf := jails(t)
		// Each unit's stdout, and lines of the same format from a unit
		// no jail reads, which no jail may take.
		var entries []journalEntry
		entries = append(entries, journalEntries("webrtc-gateway.service", "webrtc-gateway", 4101, string(gwLines))...)
		entries = append(entries, journalEntries("webrtc-gateway-confserv.service", "confserv", 4102, cs.Output())...)
		entries = append(entries, journalEntries("webrtc-gateway-lca.service", "lca", 4103, lca.Output())...)
		entries = append(entries, journalEntries("other.service", "other", 4104,
			string(gwLines)+cs.Output()+lca.Output())...)
		journal := filepath.Join(t.TempDir(), "system.journal")
		writeJournal(t, journal, entries)
		for _, c := range []struct {
			jail string
			want []string
		}{
			{"webrtc-gateway", gwWant},
			{"webrtc-gateway-confserv", csWant},
			{"webrtc-gateway-lca", []string{"127.0.0.1"}},
		} {
			j := jf[c.jail]
			if j["backend"] != "systemd" || j["journalmatch"] == "" {
				t.Fatalf("jail %s: backend %q, journalmatch %q; want the systemd journal", c.jail, j["backend"], j["journalmatch"])
			}
			got, sum := runRegex(t, "systemd-journal[journalfiles="+journal+"]", "-m", j["journalmatch"])
			checkMatches(t, c.jail+" (journal)", got, sum, c.want)
		}
	})
}
