package logging

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"webrtcgw/logging/loggingtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var lineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(TRACE|DEBUG|INFO|WARN|ERROR)\] +[a-z0-9.]+: .*$`)

func TestLineFormat(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gateway", &out, &out)
	before := time.Now().UTC().Truncate(time.Millisecond)
	l.Logger().Named("web").Info("listening", "address", "127.0.0.1:8443", "tls", true)
	line := strings.TrimSuffix(out.String(), "\n")
	want := regexp.MustCompile(`^(\S+) \[INFO\]  gateway\.web: listening: address=127\.0\.0\.1:8443 tls=true$`)
	m := want.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("line = %q, want %v", line, want)
	}
	ts, err := time.Parse(TimeFormat, m[1])
	if err != nil || ts.Before(before) || ts.After(time.Now().UTC()) {
		t.Errorf("timestamp %q = %v, %v; want UTC now with milliseconds", m[1], ts, err)
	}
}

// TestOneEventPerLine checks that newlines in messages and values cannot
// start a new line that looks like another event.
func TestOneEventPerLine(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	forged := "7001\n2026-01-01T00:00:00.000Z [WARN]  gw.ban: login failed: client_ip=6.6.6.6\r"
	l.Logger().Warn("login failed", "client_ip", "192.0.2.1", "user", forged)
	l.Logger().Info("multi\nline message")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "client_ip=192.0.2.1") || !strings.Contains(lines[0], `\n  | 2026-01-01T00:00:00.000Z`) || strings.Contains(lines[0], "\r") {
		t.Errorf("line = %q, want the forged text escaped on the same line", lines[0])
	}
	if !strings.HasSuffix(lines[1], `multi\nline message`) {
		t.Errorf("line = %q", lines[1])
	}
}

func TestLevelFor(t *testing.T) {
	for verbose, want := range map[string]hclog.Level{
		"all": hclog.Trace, "debug": hclog.Trace, "trace": hclog.Debug, "interaction": hclog.Debug,
		"standard": hclog.Info, "alarm": hclog.Warn, "none": hclog.Off,
	} {
		if got := LevelFor(verbose); got != want {
			t.Errorf("LevelFor(%q) = %v, want %v", verbose, got, want)
		}
	}
}

// TestApplyLevel checks a level change reaches loggers derived before it.
func TestApplyLevel(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	sub := l.Logger().Named("sipua").With("dn", "1001")
	sub.Debug("hidden")
	if err := l.Apply(Options{Level: LevelFor("debug"), Outputs: []string{"stdout"}}); err != nil {
		t.Fatal(err)
	}
	sub.Debug("shown")
	if err := l.Apply(Options{Level: LevelFor("none"), Outputs: []string{"stdout"}}); err != nil {
		t.Fatal(err)
	}
	sub.Error("silenced")
	got := out.String()
	if strings.Contains(got, "hidden") || !strings.Contains(got, "gw.sipua: shown: dn=1001") || strings.Contains(got, "silenced") {
		t.Errorf("output = %q, want only the line logged at debug level", got)
	}
}

// TestSwitchOutputsLosesNothing logs from several goroutines while outputs
// switch between two files and stdout; every line arrives whole, exactly once.
func TestSwitchOutputsLosesNothing(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	defer l.Close()
	const writers, perWriter = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := l.Logger().Named(fmt.Sprintf("w%d", w))
			for i := 0; i < perWriter; i++ {
				log.Info("line", "n", i)
			}
		}()
	}
	configs := [][]string{{a}, {b}, {"stdout"}, {a, "stdout"}, {b}}
	for i := 0; i < 50; i++ {
		if err := l.Apply(Options{Level: hclog.Info, Outputs: configs[i%len(configs)], Segment: 8 << 10}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	collect := func(text string) {
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if line == "" {
				continue
			}
			if !lineRE.MatchString(line) {
				t.Fatalf("torn or foreign line %q", line)
			}
			seen[line[strings.Index(line, "gw."):]]++
		}
	}
	collect(out.String())
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		collect(string(data))
	}
	// A line may legitimately go to two outputs at once ({a, stdout}), so
	// count distinct lines and check none is missing.
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			if key := fmt.Sprintf("gw.w%d: line: n=%d", w, i); seen[key] == 0 {
				t.Fatalf("line %q was lost", key)
			}
		}
	}
}

func TestApplyKeepsOutputsOnError(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.log")
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	defer l.Close()
	if err := l.Apply(Options{Level: hclog.Info, Outputs: []string{good}}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "missing-dir", "gw.log")
	err := l.Apply(Options{Level: hclog.Debug, Outputs: []string{"stdout", bad}})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Apply(missing dir) error = %v, want one naming %s", err, bad)
	}
	l.Logger().Debug("not at debug yet")
	l.Logger().Info("still here")
	data, _ := os.ReadFile(good)
	if !strings.Contains(string(data), "still here") || strings.Contains(string(data), "not at debug") || out.String() != "" {
		t.Errorf("after a failed Apply: file %q, stdout %q; want the old output and level kept", data, out.String())
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.log")
	f, err := OpenFile(path, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clock := time.Date(2026, 11, 26, 5, 15, 0, 0, time.UTC)
	f.now = func() time.Time { clock = clock.Add(1500 * time.Millisecond); return clock }
	line := strings.Repeat("x", 99) + "\n" // 100 bytes
	for i := 0; i < 95; i++ {
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := f.Segments()
	if err != nil {
		t.Fatal(err)
	}
	// 95 lines of 100 bytes at 10 lines a file: 9 rotations, 3 segments kept.
	if len(segs) != 3 {
		t.Fatalf("Segments() = %v, want 3 kept", segs)
	}
	for i, s := range segs {
		if !regexp.MustCompile(`/gateway\.20261126T\d{6}\.\d{3}\.log$`).MatchString(s) {
			t.Errorf("segment %q is not named gateway.<UTC stamp>.log", s)
		}
		if st, _ := os.Stat(s); st.Size() != 1000 {
			t.Errorf("segment %d has %d bytes, want 1000 (whole lines up to the limit)", i, st.Size())
		}
	}
	if st, _ := os.Stat(path); st.Size() != 500 {
		t.Errorf("current file has %d bytes, want 500", st.Size())
	}
	// The newest segments are the ones kept.
	if !strings.Contains(segs[2], "T051513.500") {
		t.Errorf("newest segment %q, want the 9th rotation (05:15:13.500)", segs[2])
	}
	// A foreign file next to the log is never deleted.
	other := filepath.Join(dir, "gateway.notes.log")
	os.WriteFile(other, []byte("keep"), 0o600)
	f.SetLimits(1000, 1)
	for i := 0; i < 10; i++ {
		f.Write([]byte(line))
	}
	if segs, _ := f.Segments(); len(segs) != 1 {
		t.Errorf("after SetLimits(expire 1): segments %v, want 1", segs)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("foreign file deleted: %v", err)
	}
}

// TestRotationSameMillisecond checks two rotations at one instant keep both
// segments.
func TestRotationSameMillisecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw")
	f, err := OpenFile(path, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.now = func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	for i := 0; i < 4; i++ {
		f.Write([]byte("123456789\n"))
	}
	segs, _ := f.Segments()
	if len(segs) != 3 || !strings.HasSuffix(segs[1], "gw.20260101T000000.000-1") {
		t.Errorf("Segments() = %v, want 3 with -1 and -2 suffixes", segs)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.log")
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	defer l.Close()
	if err := l.Apply(Options{Level: hclog.Info, Outputs: []string{path}}); err != nil {
		t.Fatal(err)
	}
	l.Logger().Info("before")
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Logger().Info("after")
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), "after") || strings.Contains(string(data), "before") {
		t.Errorf("reopened file = %q, %v; want only the line after Reopen", data, err)
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenFile(dir, 0, 0); err == nil {
		t.Error("OpenFile(directory) succeeded, want an error")
	}
	f, err := OpenFile(filepath.Join(dir, "x.log"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := f.Write([]byte("x")); err != os.ErrClosed {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
}

func TestSlogBridge(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	sl := slog.New(NewSlogHandler(l.Logger().Named("sipgo")))
	sl.With("transport", "udp").WithGroup("req").Info("sending", "method", "REGISTER", slog.Group("to", "user", "1001"))
	sl.Debug("hidden at info")
	if sl.Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled(debug) = true at info level")
	}
	sl.Warn("warned")
	got := out.String()
	for _, want := range []string{
		"[INFO]  gw.sipgo: sending: transport=udp req.method=REGISTER req.to.user=1001\n",
		"[WARN]  gw.sipgo: warned\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("output %q has a debug line at info level", got)
	}
}

// TestSlogDebugBridge: a library's per-connection messages stay out of a
// standard log whatever their level, and show at debug.
func TestSlogDebugBridge(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	sl := slog.New(NewSlogDebugHandler(l.Logger().Named("sipgo")))
	sl.With("ip", "127.0.0.1").Warn("TCP ref went negative", "ref", -1)
	sl.Error("failed")
	if got := out.String(); got != "" {
		t.Errorf("at info level the output is %q, want nothing", got)
	}
	if err := l.Apply(Options{Level: hclog.Debug, Outputs: []string{"stdout"}}); err != nil {
		t.Fatal(err)
	}
	sl.With("ip", "127.0.0.1").Warn("TCP ref went negative", "ref", -1)
	if got, want := out.String(), "[DEBUG] gw.sipgo: TCP ref went negative: ip=127.0.0.1 ref=-1\n"; !strings.Contains(got, want) {
		t.Errorf("output %q lacks %q", got, want)
	}
}

func TestPionBridge(t *testing.T) {
	var out loggingtest.Buffer
	l := New("gw", &out, &out)
	if err := l.Apply(Options{Level: hclog.Debug, Outputs: []string{"stdout"}}); err != nil {
		t.Fatal(err)
	}
	p := NewPionFactory(l.Logger().Named("pion")).NewLogger("ice")
	p.Errorf("handshake %s", "failed")
	p.Warn("odd packet")
	p.Infof("state %d", 2)
	p.Debug("too detailed")
	got := out.String()
	for _, want := range []string{"[WARN]  gw.pion.ice: handshake failed", "[INFO]  gw.pion.ice: odd packet", "[DEBUG] gw.pion.ice: state 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "too detailed") {
		t.Errorf("pion debug reached the log at DEBUG: %q", got)
	}
}
