package testpeers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvArtifacts names the environment variable with a directory for test
// artefacts such as screenshots; without it they go to t.TempDir().
const EnvArtifacts = "E2E_ARTIFACTS"

// disabledFeatures is the value of --disable-features: chromedp's default
// (Translate,BlinkGenPropertyTrees; setting the flag replaces it, so it is
// repeated here and a test checks it) plus WebRtcHideLocalIpsWithMdns, so
// that ICE candidates carry 127.0.0.1 instead of an mDNS name.
const disabledFeatures = "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"

// browserStartTimeout bounds the start of Chromium.
const browserStartTimeout = 30 * time.Second

// browserOptions returns the allocator options for the Chromium at exe: the
// flags of TEST-PEERS.md on top of chromedp's defaults. chromedp adds a
// temporary --user-data-dir of its own and removes it (killing leftover
// child processes first) when the browser ends.
func browserOptions(exe string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-features", disabledFeatures),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
	)
}

// Browser is a headless Chromium started by [StartBrowser].
type Browser struct {
	// ctx is the chromedp context that owns the browser process: tabs
	// derive from it. It is kept here (against the usual rule) because
	// chromedp ties the browser's lifetime to it.
	ctx    context.Context
	cancel context.CancelFunc
	output *syncBuffer  // Chromium's stdout and stderr, chromedp's log
	tabs   atomic.Int32 // tabs opened, to name them in failure output
}

// StartBrowser starts headless Chromium (/usr/lib/chromium/chromium) through
// chromedp with the flags of TEST-PEERS.md, and closes it when t ends; its
// output is printed when t fails. It refuses to start outside a private
// network namespace (see [RequirePrivateNetns]) and without chromium: it
// skips t, or fails it under E2E_REQUIRED=1.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	Require(t, BinChromium)
	RequirePrivateNetns(t)
	exe, _ := LookBinary(BinChromium)

	out := &syncBuffer{}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(),
		append(browserOptions(exe), chromedp.CombinedOutput(out))...)
	ctx, cancel := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(out.printf), chromedp.WithErrorf(out.printf))
	b := &Browser{
		ctx:    ctx,
		output: out,
		cancel: func() {
			cancel() // waits until the browser has exited
			allocCancel()
		},
	}
	// The first Run starts the browser and owns it: its context must
	// have no deadline, so a timer cancels a start that hangs.
	timer := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	timer.Stop()
	if err != nil {
		b.cancel()
		t.Fatalf("StartBrowser: %v\n--- chromium output ---\n%s", err, out.String())
	}
	t.Cleanup(func() {
		b.cancel()
		if t.Failed() {
			t.Logf("--- chromium output (without D-Bus errors) ---\n%s", withoutDBus(out.tail(maxLogPrint)))
		}
	})
	return b
}

// tabKey is the context key of a tab's console record.
type tabKey struct{}

// tabLog records the console messages and exceptions of a tab. The
// listener runs on chromedp's reading goroutine, so it only appends under
// the mutex.
type tabLog struct {
	name       string // tab1, tab2, ...
	mu         sync.Mutex
	console    []string
	exceptions []string
}

// listen is the chromedp listener of the tab.
func (l *tabLog) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, remoteObjectText(a))
		}
		l.mu.Lock()
		l.console = append(l.console, fmt.Sprintf("%s: %s", ev.Type, strings.Join(args, " ")))
		l.mu.Unlock()
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + remoteObjectText(d.Exception)
		}
		msg := fmt.Sprintf("exception: %s (%s:%d:%d)", text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
		l.mu.Lock()
		l.exceptions = append(l.exceptions, msg)
		l.console = append(l.console, msg)
		l.mu.Unlock()
	}
}

// remoteObjectText renders a console argument: a primitive by value, an
// object by its description.
func remoteObjectText(o *runtime.RemoteObject) string {
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	if o.UnserializableValue != "" {
		return string(o.UnserializableValue)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

// NewTab opens a tab in a new browser context (its own cookies and storage,
// like an incognito window), so that two tabs act as two independent users.
// The returned context drives the tab with chromedp.Run; it ends with t. When
// t fails, the tab's console messages and exceptions are printed and a
// screenshot is saved (see [Screenshot]) before the tab closes.
func (b *Browser) NewTab(t testing.TB) context.Context {
	t.Helper()
	l := &tabLog{name: fmt.Sprintf("tab%d", b.tabs.Add(1))}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(l.listen))
	// The first Run creates the target (on about:blank).
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("NewTab: %v", err)
	}
	ctx = context.WithValue(ctx, tabKey{}, l)
	t.Cleanup(func() {
		defer cancel()
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		console := strings.Join(l.console, "\n")
		l.mu.Unlock()
		t.Logf("--- console of %s ---\n%s", l.name, console)
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		if path, err := screenshot(sctx, t, "failure-"+l.name); err == nil {
			t.Logf("screenshot of %s: %s", l.name, path)
		}
	})
	return ctx
}

// TabConsole returns the console messages ("log: text", "error: text") and
// uncaught exceptions ("exception: ...") of the tab that ctx (from NewTab)
// drives, in order.
func TabConsole(ctx context.Context) []string {
	l, _ := ctx.Value(tabKey{}).(*tabLog)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.console...)
}

// TabExceptions returns the uncaught exceptions and unhandled promise
// rejections of the tab that ctx (from NewTab) drives.
func TabExceptions(ctx context.Context) []string {
	l, _ := ctx.Value(tabKey{}).(*tabLog)
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.exceptions...)
}

// ArtifactsDir returns the directory for t's artefacts:
// $E2E_ARTIFACTS/<test name> when the variable is set, else t.TempDir().
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvArtifacts)
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, safeName(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artefacts: %v", err)
	}
	return dir
}

// Screenshot saves a PNG of the viewport of the tab that ctx drives as
// <name>.png in ArtifactsDir(t), logs and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	path, err := screenshot(ctx, t, name)
	if err != nil {
		t.Fatalf("Screenshot %s: %v", name, err)
	}
	t.Logf("screenshot %s: %s", name, path)
	return path
}

func screenshot(ctx context.Context, t testing.TB, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", err
	}
	path := filepath.Join(ArtifactsDir(t), safeName(name)+".png")
	return path, os.WriteFile(path, png, 0o644)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName turns a test or artefact name into a file name.
func safeName(s string) string {
	return strings.Trim(unsafeChars.ReplaceAllString(s, "_"), "_")
}

// withoutDBus drops the lines of Chromium's complaints about the missing
// D-Bus, which fill its output on these machines and say nothing about a test.
func withoutDBus(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !strings.Contains(line, ":ERROR:dbus/") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// syncBuffer is a goroutine-safe buffer for a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) printf(format string, args ...any) {
	fmt.Fprintf(b, format+"\n", args...)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last max bytes.
func (b *syncBuffer) tail(max int) string {
	s := b.String()
	if len(s) > max {
		return fmt.Sprintf("(last %d of %d bytes)\n%s", max, len(s), s[len(s)-max:])
	}
	return s
}
