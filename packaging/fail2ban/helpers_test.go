package fail2ban

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/ini.v1"

	"webrtcgw/internal/testpeers"
	"webrtcgw/logging"
)

// TestMain runs the tests in a network namespace of their own with only
// loopback: the daemons listen there, clients take the addresses 127.0.0.2
// and 127.0.0.3, and the nftables rules fail2ban adds can only ever touch
// that namespace, never the host's firewall.
func TestMain(m *testing.M) {
	code := testpeers.RunInNetns(m)
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// The shipped files, relative to this package.
const (
	filterFile = "filter.d/webrtc-gateway.conf"
	jailFile   = "jail.d/webrtc-gateway.conf"
)

// shipped returns the absolute path of a shipped file: fail2ban-regex takes
// a relative filter path for the name of a filter in /etc/fail2ban.
func shipped(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// jails reads the shipped jail file: section → key → value.
func jails(t testing.TB) map[string]map[string]string {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{AllowPythonMultilineValues: true}, shipped(t, jailFile))
	if err != nil {
		t.Fatalf("%s: %v", jailFile, err)
	}
	out := map[string]map[string]string{}
	for _, s := range f.Sections() {
		if s.Name() == ini.DefaultSection {
			continue
		}
		out[s.Name()] = s.KeysHash()
	}
	return out
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary builds the daemons (webrtc-gateway, confserv, lca) once per test
// binary and returns the path of name. No race detector: they are the
// programs an operator runs, race-tested in their own packages.
func binary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "fail2ban-test"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+string(filepath.Separator),
			"./cmd/webrtc-gateway", "./cmd/confserv", "./cmd/lca")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the daemons: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// gatewayINI is a gateway configuration: section → name → value.
type gatewayINI map[string]map[string]string

// gatewayOptions returns the options of a gateway in local mode on free
// loopback ports, with sipServer as its SIP Server, logging everything at
// debug level (so that the filter sees all the noise a gateway can write) to
// logAll. Entries of extra ("section/name" → value) are set on top.
func gatewayOptions(t testing.TB, sipServer string, httpsPort int, logAll string, extra map[string]string) gatewayINI {
	t.Helper()
	o := gatewayINI{
		"web":      {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(httpsPort)},
		"sip":      {"sip-server": sipServer, "sip-port": strconv.Itoa(testpeers.FreePort(t, testpeers.NetUDP))},
		"media":    {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"},
		"security": {},
		"log":      {"verbose": "debug", "all": logAll},
	}
	for k, v := range extra {
		section, name, _ := strings.Cut(k, "/")
		if o[section] == nil {
			o[section] = map[string]string{}
		}
		o[section][name] = v
	}
	return o
}

func (o gatewayINI) write(t testing.TB, path string) {
	t.Helper()
	var b strings.Builder
	for section, kv := range o {
		fmt.Fprintf(&b, "[%s]\n", section)
		for k, v := range kv {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startGateway runs the gateway in local mode on conf, with its data in
// dataDir, until the test ends.
func startGateway(t testing.TB, conf, dataDir string) {
	t.Helper()
	cmd := exec.Command(binary(t, "webrtc-gateway"), "-config", conf, "-data", dataDir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("the gateway did not stop within 30 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s", out.String())
		}
	})
}

// waitFile waits until the file at path contains fragment.
func waitFile(t testing.TB, path, fragment string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if bytes.Contains(data, []byte(fragment)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q:\n%s", path, fragment, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpsClient returns a client that trusts only the gateway's self-signed
// certificate in certFile, connects from the loopback address from ("":
// the kernel's choice) and opens a new connection for every request, so
// that each request meets the firewall afresh.
func httpsClient(t testing.TB, certFile, from string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", certFile)
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
	}}
}

// gatewaySignIn posts "name:password" to the gateway's /sign_in, with an
// X-Forwarded-For header when xff is not empty, and returns the status.
func gatewaySignIn(c *http.Client, base, xff, name, password string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/sign_in", strings.NewReader(name+":"+password))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// confservSignIn posts an operator sign-in to confserv's API with an
// X-Forwarded-For header and returns the status.
func confservSignIn(base, xff, name, password string) (int, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/login", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", xff)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// A match is one failure fail2ban-regex found: the address, the time it
// gave the failure and the matched line.
type match struct {
	IP   string
	Time int64 // Unix seconds
	Line string
}

// A summary is fail2ban-regex's count of lines.
type summary struct{ Lines, Ignored, Matched, Missed int }

var summaryRE = regexp.MustCompile(`Lines: (\d+) lines, (\d+) ignored, (\d+) matched, (\d+) missed`)

// regexTZ is the time zone fail2ban-regex runs in: far from UTC, so that a
// timestamp taken for local time would be hours off.
const regexTZ = "Pacific/Kiritimati"

// runRegex runs fail2ban-regex with the shipped filter on source (a file,
// or "systemd-journal[journalfiles=…]"), with extra options before the
// arguments, and returns the failures it found and its line counts.
// fail2ban-regex exits 0 whether or not anything matched: the output tells.
func runRegex(t testing.TB, source string, extra ...string) ([]match, summary) {
	t.Helper()
	filter := shipped(t, filterFile)
	run := func(args ...string) string {
		args = append(append(extra, args...), source, filter)
		cmd := exec.Command("fail2ban-regex", args...)
		cmd.Env = append(os.Environ(), "TZ="+regexTZ)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var matches []match
	for _, l := range strings.Split(strings.TrimSpace(run("-o", "<ip>\t<time>\t<msg>")), "\n") {
		if l == "" {
			continue
		}
		f := strings.SplitN(l, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("fail2ban-regex printed %q, want ip<TAB>time<TAB>line", l)
		}
		tm, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("fail2ban-regex printed time %q: %v", f[1], err)
		}
		matches = append(matches, match{IP: f[0], Time: int64(tm), Line: f[2]})
	}
	out := run()
	m := summaryRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line summary in fail2ban-regex's output:\n%s", out)
	}
	var s summary
	for i, p := range []*int{&s.Lines, &s.Ignored, &s.Matched, &s.Missed} {
		*p, _ = strconv.Atoi(m[i+1])
	}
	return matches, s
}

// lineTime returns the time of a line that starts with hclog's timestamp.
func lineTime(line string) (time.Time, bool) {
	if len(line) < len(logging.TimeFormat) {
		return time.Time{}, false
	}
	tm, err := time.Parse(logging.TimeFormat, line[:len(logging.TimeFormat)])
	return tm, err == nil
}

// A journalEntry is one line a unit's process wrote to stdout, as journald
// stores it.
type journalEntry struct {
	Unit, Ident string // _SYSTEMD_UNIT, SYSLOG_IDENTIFIER
	PID         int
	Message     string
}

// journalEntries turns the lines of a process's output into its journal
// entries.
func journalEntries(unit, ident string, pid int, output string) []journalEntry {
	var out []journalEntry
	for _, l := range strings.Split(strings.TrimRight(output, "\n"), "\n") {
		out = append(out, journalEntry{unit, ident, pid, l})
	}
	return out
}

// journalRemote is where Debian and RHEL put systemd-journal-remote.
var journalRemote = []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"}

// requireJournal skips t (fails it under E2E_REQUIRED=1) unless a journal
// file can be written (systemd-journal-remote) and fail2ban can read one
// (python3-systemd, which its systemd backend needs).
func requireJournal(t testing.TB) string {
	t.Helper()
	testpeers.Require(t, "fail2ban-regex")
	// fail2ban-python is the interpreter fail2ban runs with (Debian and
	// RHEL ship it), not whichever python3 comes first in PATH.
	if err := exec.Command("fail2ban-python", "-c", "import systemd.journal").Run(); err != nil {
		testpeers.SkipOrFail(t, "fail2ban's systemd backend needs the Python systemd module: install the Debian package python3-systemd (%v)", err)
	}
	for _, p := range journalRemote {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testpeers.SkipOrFail(t, "systemd-journal-remote not found in %s: install the Debian package systemd-journal-remote", strings.Join(journalRemote, ", "))
	return ""
}

// writeJournal writes entries to a new journal file at path (which must end
// in .journal) with systemd-journal-remote, from its export format. Each
// entry takes the time of its hclog timestamp (the previous entry's when it
// has none), as journald would have received it then.
func writeJournal(t testing.TB, path string, entries []journalEntry) {
	t.Helper()
	remote := requireJournal(t)
	var b bytes.Buffer
	last := time.Now()
	for i, e := range entries {
		if strings.ContainsAny(e.Message, "\n") {
			t.Fatalf("journal entry %q: stdout lines have no newline", e.Message)
		}
		if tm, ok := lineTime(e.Message); ok {
			last = tm
		}
		fmt.Fprintf(&b, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=5c2a0f3e8e3b4d7e9a1b2c3d4e5f6071\n"+
			"_HOSTNAME=gw-host\n_TRANSPORT=stdout\n_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=%s\n_PID=%d\nMESSAGE=%s\n\n",
			last.UnixMicro(), 1_000_000+i, e.Unit, e.Ident, e.PID, e.Message)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, remote, "--output="+path, "-")
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}
