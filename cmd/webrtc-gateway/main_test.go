package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
	"webrtcgw/logging/loggingtest"
	"webrtcgw/options"
)

// binary is the webrtc-gateway built for these tests: they run the real
// process, as operators and the LCA do.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gwbin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "webrtc-gateway")
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gw runs the binary to completion.
func gw(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVersion(t *testing.T) {
	out, _, code := gw(t, "-V")
	if code != 0 || !strings.HasPrefix(out, "webrtc-gateway 0.") {
		t.Errorf("-V = %q, exit %d", out, code)
	}
}

func TestCheckSample(t *testing.T) {
	out, errOut, code := gw(t, "-check", "-config", "../../packaging/webrtc-gateway.ini")
	if code != 0 {
		t.Fatalf("-check sample: exit %d, stderr %q", code, errOut)
	}
	for _, s := range options.SectionNames {
		if !strings.Contains(out, "["+s+"]\n") {
			t.Errorf("-check output lacks section [%s]", s)
		}
	}
	for _, d := range options.Catalog() {
		if !strings.Contains(out, "\n"+d.Name+" ") {
			t.Errorf("-check output lacks %s", d.Key())
		}
	}
	if !strings.Contains(out, "warning: web/domain-whitelist: empty") {
		t.Errorf("-check output lacks the empty whitelist warning:\n%s", out)
	}
}

func TestCheckSources(t *testing.T) {
	path := writeFile(t, t.TempDir(), "gw.ini", "[web]\ndomain-whitelist = HTTPS://App.Example.com:443\n[media]\nturn-password = s3cret\nice-servers = turn:t.example.com\nturn-username = u\n[bogus]\nx = 1\n")
	out, _, code := gw(t, "-check", "-config", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// Columns are aligned per section: compare with runs of spaces as one.
	flat := strings.Join(strings.FieldsFunc(out, func(r rune) bool { return r == ' ' }), " ")
	for _, want := range []string{
		"domain-whitelist = https://app.example.com ; " + path,
		"\nhttps-port = 8443 ; default",
		"\nturn-password = ******** ; " + path,
		"warning: [bogus]: unknown section",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("-check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") {
		t.Error("-check printed a secret")
	}
}

func TestCheckInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"values", "[web]\nhttps-port = 99999\nsession-timeout = soon\n[sip]\nsip-transport = sctp\n[log]\nsegment = 10TB\n", []string{
			`web/https-port: "99999": out of range`, `web/session-timeout: "soon": not a whole number`,
			`sip/sip-transport: "sctp": not an allowed value; allowed: one of udp, tcp, tls`, `log/segment: "10TB": not a size`,
			"4 invalid option(s)"}},
		{"rules", "[web]\nhttps-port = 0\nhttp-port = 0\n[media]\nrtp-port-min = 30000\nrtp-port-max = 35000\n", []string{
			"web/https-port: https-port and http-port are both 0", "media/webrtc-port-min: the WebRTC range 30000-39999 overlaps the RTP range 30000-35000"}},
		{"secret", "[media]\nturn-password = abc\x01def\n", []string{"media/turn-password: the value: contains the control character"}},
		{"syntax", "[web\n", []string{"unclosed section"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, tc.name+".ini", tc.content)
			out, errOut, code := gw(t, "-check", "-config", path)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stdout %q", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "abc") {
				t.Error("a secret value was printed")
			}
		})
	}
	if _, errOut, code := gw(t, "-check", "-config", filepath.Join(dir, "absent.ini")); code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("-check absent file: exit %d, %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: webrtc-gateway -config FILE"},
		{[]string{"-host", "cs", "-port", "2020", "-app", "gw"}, "no credential for the Configuration Server"},
		{[]string{"-host", "cs", "-app", "gw"}, "needs -host, -port and -app"},
		{[]string{"-host", "cs", "-port", "2020", "-app", "gw", "-app-token-file", "/nonexistent"}, "-app-token-file"},
		{[]string{"-host", "cs", "-config", "x.ini"}, "exclude each other"},
		{[]string{"-config", "x.ini", "-lca-port", "4999"}, "-lca-port needs -app NAME"},
		{[]string{"-config", "x.ini", "-app", "gw", "-lca-port", "70000"}, "-lca-port 70000 is not a port"},
		{[]string{"-config", "x.ini", "extra"}, `unexpected argument "extra"`},
		{[]string{"-nonsense"}, "flag provided but not defined"},
	} {
		_, errOut, code := gw(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("webrtc-gateway %v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestStartInvalidExits2(t *testing.T) {
	path := writeFile(t, t.TempDir(), "gw.ini", "[media]\ncodecs = telephone-event\n[sip]\nsip-port = 0\n")
	_, errOut, code := gw(t, "-config", path)
	if code != 2 || !strings.Contains(errOut, "media/codecs: lists no audio codec") || !strings.Contains(errOut, "sip/sip-port") {
		t.Errorf("start with invalid options: exit %d, stderr %q", code, errOut)
	}
}

// TestLifecycle runs the daemon in local mode: it starts, applies a file
// change, rejects an invalid one, reloads on SIGHUP, and stops on SIGTERM
// with exit 0.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "gw.log")
	conf := fmt.Sprintf("[web]\nlisten-address = 127.0.0.1\nhttps-port = %d\n[sip]\nsip-port = %d\nsip-server = 127.0.0.1:9\n"+
		"[media]\nrtp-port-min = 20000\nrtp-port-max = 20999\nwebrtc-port-min = 21000\nwebrtc-port-max = 21999\nmax-calls = 100\n[log]\nall = %s\n",
		testpeers.FreePort(t, "tcp"), testpeers.FreePort(t, "udp"), logFile)
	path := writeFile(t, dir, "gw.ini", conf)
	var stderr loggingtest.Buffer
	// No LCA listens on its port: the gateway says so and runs anyway.
	cmd := exec.Command(binary, "-config", path, "-app", "gw1", "-lca-port", fmt.Sprint(testpeers.FreePort(t, "tcp")), "-data", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitLog := func(fragment string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			data, _ := os.ReadFile(logFile)
			if strings.Contains(string(data), fragment) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("log never showed %q:\n%s", fragment, data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("[INFO]  gateway: started: version=")
	// Said on the standard output or in the log file, whichever is the
	// output when the first attempt fails.
	for deadline := time.Now().Add(15 * time.Second); ; {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(stderr.String()+string(data), "no connection to the local control agent; retrying in the background") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the absent LCA:\n%s\n%s", stderr.String(), data)
		}
		time.Sleep(20 * time.Millisecond)
	}

	writeFile(t, dir, "gw.ini", conf+"verbose = debug\n[web]\nmax-sessions = 50\n")
	waitLog("option changed: option=web/max-sessions old=10000 new=50")
	waitLog("options applied")

	writeFile(t, dir, "gw.ini", conf+"verbose = debug\n[web]\nmax-sessions = none\n")
	waitLog(`option rejected: option=web/max-sessions problem="\"none\": not a whole number`)

	writeFile(t, dir, "gw.ini", conf+"[web]\nmax-sessions = 60\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("option changed: option=web/max-sessions old=50 new=60")

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr %q", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	waitLog("[INFO]  gateway: stopped")
}
