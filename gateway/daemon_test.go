package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"webrtcgw/firewall"
	"webrtcgw/internal/testpeers"
	"webrtcgw/logging"
	"webrtcgw/logging/loggingtest"
	"webrtcgw/options"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// daemon runs Run on a real file in a goroutine and collects its reloads.
type daemon struct {
	t       *testing.T
	base    string // ports of this daemon, prepended to every config
	path    string
	dataDir string
	logFile string
	out     *loggingtest.Buffer
	logs    *logging.Logging
	hangup  chan os.Signal
	results chan Result
	cancel  context.CancelFunc
	done    chan error
}

// startDaemon runs a daemon on content; prepare, if any, runs once the file
// is written, before the daemon starts.
func startDaemon(t *testing.T, content string, prepare ...func(*daemon)) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		t: t, path: filepath.Join(dir, "gw.ini"), logFile: filepath.Join(dir, "gw.log"), dataDir: filepath.Join(dir, "data"),
		out: &loggingtest.Buffer{}, hangup: make(chan os.Signal, 1), results: make(chan Result, 16), done: make(chan error, 1),
	}
	d.base = testBase(t)
	d.write(content)
	for _, p := range prepare {
		p(d)
	}
	d.logs = logging.New("gateway", d.out, d.out)
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go func() {
		d.done <- Run(ctx, Config{ConfigFile: d.path, DataDir: d.dataDir}, Deps{Logging: d.logs, Hangup: d.hangup, OnReload: func(r Result) { d.results <- r }})
	}()
	t.Cleanup(func() { d.stop() })
	d.waitLog("started")
	return d
}

func (d *daemon) write(content string) {
	d.t.Helper()
	content = d.base + strings.ReplaceAll(content, "LOGFILE", d.logFile)
	// Write then rename, as editors and configuration tools do.
	tmp := d.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) next() Result {
	d.t.Helper()
	select {
	case r := <-d.results:
		return r
	case <-time.After(10 * time.Second):
		d.t.Fatalf("no reload within 10 s; log:\n%s", d.logText())
		return Result{}
	}
}

func (d *daemon) logText() string {
	data, _ := os.ReadFile(d.logFile)
	return d.out.String() + string(data)
}

func (d *daemon) waitLog(fragment string) {
	d.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.logText(), fragment) {
		if time.Now().After(deadline) {
			d.t.Fatalf("log never showed %q:\n%s", fragment, d.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) stop() error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	d.cancel = nil
	err := <-d.done
	d.logs.Close()
	return err
}

// testBase returns options that keep a test daemon on free loopback ports.
// ini merges it with the sections each test writes.
func testBase(t *testing.T) string {
	return fmt.Sprintf("[web]\nlisten-address = 127.0.0.1\nhttps-port = %d\n[sip]\nsip-port = %d\nsip-server = 127.0.0.1:9\n"+
		"[media]\nrtp-port-min = 20000\nrtp-port-max = 20999\nwebrtc-port-min = 21000\nwebrtc-port-max = 21999\nmax-calls = 100\n",
		testpeers.FreePort(t, "tcp"), testpeers.FreePort(t, "udp"))
}

func TestRunReloadsOnFileChange(t *testing.T) {
	d := startDaemon(t, "[log]\nall = LOGFILE\n[web]\ndomain-whitelist = https://a.example.com\n")
	d.logs.Logger().Debug("debug before")

	d.write("[log]\nall = LOGFILE\nverbose = debug\n[web]\ndomain-whitelist = https://b.example.com\n")
	r := d.next()
	if !r.Applied() || len(r.Changed.Changes("")) != 2 {
		t.Fatalf("reload = %+v, want 2 changes applied", r)
	}
	d.logs.Logger().Debug("debug after")
	text := d.logText()
	for _, want := range []string{
		`option changed: option=web/domain-whitelist old=https://a.example.com new=https://b.example.com subsystem=web takes_effect=immediate`,
		`option changed: option=log/verbose old=standard new=debug subsystem=log takes_effect=immediate`,
		"debug after",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "debug before") {
		t.Error("a debug line was logged at the standard level")
	}
}

func TestRunKeepsRunningSetWhenInvalid(t *testing.T) {
	d := startDaemon(t, "[log]\nall = LOGFILE\n[web]\nmax-sessions = 500\n")
	d.write("[log]\nall = LOGFILE\nverbose = loud\n[web]\nmax-sessions = 0\n")
	r := d.next()
	var perr *options.Error
	if !errors.As(r.Err, &perr) || len(perr.Problems) != 2 {
		t.Fatalf("reload error = %v, want 2 problems", r.Err)
	}
	text := d.logText()
	for _, want := range []string{
		`[ERROR] gateway.reload: option rejected: option=web/max-sessions problem="\"0\": out of range`,
		`[ERROR] gateway.reload: option rejected: option=log/verbose problem="\"loud\": not an allowed value`,
		"options rejected; the running options are kept",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	// SIGHUP with the file fixed applies it, relative to the set kept.
	d.write("[log]\nall = LOGFILE\n[web]\nmax-sessions = 600\n")
	d.hangup <- syscall.SIGHUP
	r = d.next()
	if !r.Applied() || r.Changed.Changes("")[0].Old != "500" {
		t.Fatalf("reload = %+v, want max-sessions 500 -> 600", r)
	}
}

func TestRunUnchangedIsNoOp(t *testing.T) {
	d := startDaemon(t, "[log]\nall = LOGFILE\n")
	d.hangup <- syscall.SIGHUP
	r := d.next()
	if r.Err != nil || !r.Changed.Empty() {
		t.Fatalf("reload of an unchanged file = %+v, want nothing", r)
	}
	if strings.Contains(d.logText(), "options applied") {
		t.Errorf("an unchanged reload logged an application:\n%s", d.logText())
	}
}

func TestRunFileRemovedKeepsRunning(t *testing.T) {
	d := startDaemon(t, "[log]\nall = LOGFILE\n")
	os.Remove(d.path)
	d.hangup <- syscall.SIGHUP
	if r := d.next(); !errors.Is(r.Err, os.ErrNotExist) {
		t.Fatalf("reload of a removed file = %v, want ErrNotExist", r.Err)
	}
	d.waitLog("options not read; the running options are kept")
	if err := d.stop(); err != nil {
		t.Fatalf("Run = %v after stop, want nil", err)
	}
}

func TestRunStartErrors(t *testing.T) {
	dir := t.TempDir()
	logs := logging.New("gw", &loggingtest.Buffer{}, &loggingtest.Buffer{})
	defer logs.Close()
	run := func(content string) error {
		path := filepath.Join(dir, "gw.ini")
		os.WriteFile(path, []byte(testBase(t)+content), 0o600)
		return Run(context.Background(), Config{ConfigFile: path, DataDir: dir}, Deps{Logging: logs})
	}
	err := run("[web]\nhttps-port = 0\nhttp-port = 0\n")
	var perr *options.Error
	if !errors.Is(err, ErrInvalidOptions) || !errors.As(err, &perr) || perr.Problems[0].Key() != "web/https-port" {
		t.Errorf("Run(invalid) = %v, want ErrInvalidOptions naming web/https-port", err)
	}
	err = run("[log]\nall = " + filepath.Join(dir, "no", "such", "dir.log") + "\n")
	if err == nil || !strings.Contains(err.Error(), "start log: log output") {
		t.Errorf("Run(unwritable log) = %v, want a start error naming the log output", err)
	}
	if err := Run(context.Background(), Config{ConfigFile: filepath.Join(dir, "absent.ini")}, Deps{Logging: logs}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run(absent file) = %v, want ErrNotExist", err)
	}
}

// TestRunSubsystemRefusal checks a valid set that a subsystem cannot apply
// (a log directory that does not exist) is rejected and the old one kept.
func TestRunSubsystemRefusal(t *testing.T) {
	d := startDaemon(t, "[log]\nall = LOGFILE\n")
	d.write("[log]\nall = LOGFILE, /nonexistent-dir/gw.log\nverbose = debug\n")
	r := d.next()
	if r.Err == nil || !strings.Contains(r.Err.Error(), "reload log: log output /nonexistent-dir/gw.log") {
		t.Fatalf("reload error = %v, want the log subsystem's refusal", r.Err)
	}
	d.logs.Logger().Debug("still at standard")
	d.logs.Logger().Info("still to the old file")
	text := d.logText()
	if strings.Contains(text, "still at standard") || !strings.Contains(text, "still to the old file") {
		t.Errorf("after a refused reload the log level or output changed:\n%s", text)
	}
}

// TestFirewallWarning: with the firewall rules recorded by
// `webrtc-gateway firewall -state` in its data directory, the gateway warns
// at start and after a reload about every port its options need that the
// rules do not open, and says which command makes them again.
func TestFirewallWarning(t *testing.T) {
	content := "[log]\nall = LOGFILE\n"
	d := startDaemon(t, content, func(d *daemon) {
		set, _, err := LoadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		nets, err := firewall.ParseNets("10.0.0.0/8")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := firewall.Compute(set, firewall.Config{InternalNets: nets, ManagementNets: nets})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d.dataDir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := firewall.WriteState(filepath.Join(d.dataDir, firewall.StateFileName), firewall.NewState(rs, "webrtc-gateway firewall -state STATE")); err != nil {
			t.Fatal(err)
		}
	})
	if strings.Contains(d.logText(), "outside the installed firewall rules") {
		t.Fatalf("warned at start with every port covered:\n%s", d.logText())
	}
	port := testpeers.FreePort(t, "tcp")
	d.write(content + fmt.Sprintf("[web]\nhttp-port = %d\n", port))
	if r := d.next(); !r.Applied() {
		t.Fatalf("reload = %+v", r)
	}
	d.waitLog("port outside the installed firewall rules")
	if text := d.logText(); !strings.Contains(text, "option=web/http-port") || !strings.Contains(text, fmt.Sprintf("port=%d", port)) {
		t.Errorf("the warning does not name web/http-port %d:\n%s", port, text)
	}
}
