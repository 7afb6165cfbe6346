package testpeers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// allocatorArgs returns the command line chromedp builds from opts, without
// starting a browser (/bin/false stands in for it).
func allocatorArgs(t *testing.T, opts []chromedp.ExecAllocatorOption) []string {
	t.Helper()
	var (
		mu   sync.Mutex
		args []string
	)
	opts = append(opts[:len(opts):len(opts)],
		chromedp.ExecPath("/bin/false"),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			mu.Lock()
			args = slices.Clone(cmd.Args[1:])
			mu.Unlock()
		}))
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer allocCancel()
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err == nil {
		t.Fatal("/bin/false started as a browser")
	}
	mu.Lock()
	defer mu.Unlock()
	return args
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestBrowserFlags checks the Chromium command line: the flags of
// TEST-PEERS.md, and --disable-features keeping chromedp's defaults.
func TestBrowserFlags(t *testing.T) {
	args := allocatorArgs(t, browserOptions("/usr/lib/chromium/chromium"))
	for _, want := range []string{
		"--headless=new", "--no-sandbox", "--disable-gpu",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--allow-loopback-in-peer-connection",
		"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
		"--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--disable-quic",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("command line lacks %s: %q", want, args)
		}
	}
	if _, ok := flagValue(args, "user-data-dir"); !ok {
		t.Errorf("command line lacks --user-data-dir: %q", args)
	}
	if n := len(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return !strings.HasPrefix(a, "--disable-features=") })); n != 1 {
		t.Errorf("%d --disable-features flags, want 1: %q", n, args)
	}
	ours, _ := flagValue(args, "disable-features")
	got := strings.Split(ours, ",")
	if !slices.Contains(got, "WebRtcHideLocalIpsWithMdns") {
		t.Errorf("--disable-features=%s lacks WebRtcHideLocalIpsWithMdns", ours)
	}
	defaults, ok := flagValue(allocatorArgs(t, chromedp.DefaultExecAllocatorOptions[:]), "disable-features")
	if !ok {
		t.Fatal("chromedp's defaults have no --disable-features any more: update disabledFeatures")
	}
	for _, f := range strings.Split(defaults, ",") {
		if !slices.Contains(got, f) {
			t.Errorf("--disable-features=%s lacks chromedp's default %s: update disabledFeatures", ours, f)
		}
	}
}

func TestG711(t *testing.T) {
	cases := []struct {
		in         int16
		ulaw, alaw byte
	}{
		{0, 0xFF, 0xD5},
		{-1, 0x7F, 0x55},
		{32767, 0x80, 0xAA},
		{-32768, 0x00, 0x2A},
		{1000, 0xCE, 0xFA},
		{-1000, 0x4E, 0x7A},
	}
	for _, tc := range cases {
		if got := linearToULaw(tc.in); got != tc.ulaw {
			t.Errorf("linearToULaw(%d) = %#x, want %#x", tc.in, got, tc.ulaw)
		}
		if got := linearToALaw(tc.in); got != tc.alaw {
			t.Errorf("linearToALaw(%d) = %#x, want %#x", tc.in, got, tc.alaw)
		}
	}
}

// recorder is a testing.TB that records Skip and Fatalf instead of ending
// the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skip(args ...any)               { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestRequire(t *testing.T) {
	for _, required := range []string{"", "1"} {
		t.Run("E2E_REQUIRED="+required, func(t *testing.T) {
			t.Setenv(EnvRequired, required)
			for _, tc := range []struct{ bin, want string }{
				{"no-such-peer-binary", "no-such-peer-binary not found"},
				{"/nonexistent/peer", "/nonexistent/peer not found"},
			} {
				r := &recorder{TB: t}
				Require(r, "sh", tc.bin)
				msg := r.skipped
				if required == "1" {
					msg = r.failed
				}
				if !strings.Contains(msg, tc.want) {
					t.Errorf("Require(%s): skipped %q, failed %q; want %q", tc.bin, r.skipped, r.failed, tc.want)
				}
			}
			r := &recorder{TB: t}
			Require(r, "sh")
			if r.skipped != "" || r.failed != "" {
				t.Errorf("Require(sh): skipped %q, failed %q", r.skipped, r.failed)
			}
		})
	}
	// A known peer names its Debian package.
	saved := binaries
	t.Cleanup(func() { binaries = saved })
	binaries = map[string]peerBinary{"gone": {[]string{"/nonexistent/gone"}, "gone-pkg"}}
	if _, err := LookBinary("gone"); err == nil || !strings.Contains(err.Error(), "Debian package gone-pkg") {
		t.Errorf("LookBinary(gone) = %v, want the package named", err)
	}
}

// TestNetns checks that RunInNetns put the tests in a network namespace
// other than the one of the process that started them.
func TestNetns(t *testing.T) {
	RequirePrivateNetns(t)
	parent := os.Getenv(envNetns)
	if parent == "" {
		t.Skip("started inside a namespace already")
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if self == parent {
		t.Errorf("network namespace %s is the parent's", self)
	}
}
