package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// startLCA runs a real LCA with one test application, app, and returns it.
func startLCA(t *testing.T, app, extraArgs string) *lcatest.LCA {
	t.Helper()
	dir := t.TempDir()
	port := testpeers.FreePort(t, testpeers.NetTCP)
	ini := fmt.Sprintf("[lca]\nhost-name = h-%s\n\n[app %s]\ncommand-line = %s\narguments = -lca 127.0.0.1:%d -app %s %s\nsuspending-wait-timeout = 20\n",
		app, app, lcatest.App(t), port, app, extraArgs)
	path := filepath.Join(dir, "lca.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return lcatest.Start(t, dir, port, "-config", path)
}

// TestLCACommands: status, start, suspend, stop and events through two
// real LCAs, each with its own control token.
func TestLCACommands(t *testing.T) {
	session := filepath.Join(t.TempDir(), "session-over")
	l1 := startLCA(t, "gw1", "-init 300ms -session-file "+session)
	l2 := startLCA(t, "gw2", "")
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte(fmt.Sprintf("# control tokens\n%s %s\n%s %s\n", l1.Addr, l1.Token(), l2.Addr, l2.Token())), 0o600)
	env := map[string]string{"GWCTL_LCA": l1.Addr + "," + l2.Addr, "GWCTL_LCA_TOKEN_FILE": tokens, "HOME": t.TempDir()}
	gw := func(args ...string) (string, string, int) { return runIn(env, "", args...) }

	out, errOut, code := gw("status")
	if code != 0 || !strings.Contains(out, "gw1") || !strings.Contains(out, "gw2") || !strings.Contains(out, "h-gw1") {
		t.Fatalf("status = %d %q %q", code, out, errOut)
	}
	// Events as JSON lines from the real binary, while the rest goes on.
	events := exec.Command(gwctlBin, "-o", "json", "events")
	events.Env = append(os.Environ(), "GWCTL_LCA="+l1.Addr+","+l2.Addr, "GWCTL_LCA_TOKEN_FILE="+tokens)
	stdout, _ := events.StdoutPipe()
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer events.Process.Kill()
	lines := make(chan statusRow, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var r statusRow
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				lines <- r
			}
		}
		close(lines)
	}()

	// The stream starts with how things are: both applications.
	for got := map[string]bool{}; len(got) < 2; {
		select {
		case r := <-lines:
			got[r.Name] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("events printed only %v at start", got)
		}
	}
	if out, errOut, code := gw("start", "gw1"); code != 0 || !strings.Contains(out, "gw1: Running") {
		t.Fatalf("start --wait = %d %q %q", code, out, errOut)
	}
	if _, errOut, code := gw("start", "gw1"); code != 1 || !strings.Contains(errOut, "already") {
		t.Errorf("start twice = %d %q, want 1 and already running", code, errOut)
	}
	if _, errOut, code := gw("start", "nosuch"); code != 1 || !strings.Contains(errOut, `no application "nosuch"`) {
		t.Errorf("start nosuch = %d %q", code, errOut)
	}
	out, _, _ = gw("-o", "json", "status", "gw1")
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].Status != wire.Running || rows[0].PID == 0 || rows[0].LCA != l1.Addr {
		t.Errorf("status gw1 -o json = %q (%v)", out, err)
	}
	// suspend waits for Suspended, which the session holds back: a short
	// wait times out (exit 6); once the session ends, it gets there.
	if _, errOut, code := gw("suspend", "--wait", "1s", "gw1"); code != exitTimeout || !strings.Contains(errOut, "not there after 1s") {
		t.Errorf("suspend --wait 1s = %d %q, want %d", code, errOut, exitTimeout)
	}
	os.WriteFile(session, nil, 0o600)
	if out, errOut, code := gw("suspend", "gw1"); code != 0 || !strings.Contains(out, "gw1: Suspended") {
		t.Errorf("suspend = %d %q %q", code, out, errOut)
	}
	if out, errOut, code := gw("stop", "gw1"); code != 0 || !strings.Contains(out, "gw1: Stopped") {
		t.Errorf("stop = %d %q %q", code, out, errOut)
	}
	if _, errOut, code := gw("stop", "gw1", "--wait", "0"); code != 1 || !strings.Contains(errOut, "gw1") {
		t.Errorf("stop a stopped application = %d %q", code, errOut)
	}
	// The event stream saw gw1 through its life, in order.
	var seen []wire.Status
	deadline := time.After(10 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != wire.Stopped {
		select {
		case r, ok := <-lines:
			if !ok {
				t.Fatalf("events ended; saw %v", seen)
			}
			if r.Name == "gw1" {
				seen = append(seen, r.Status)
			}
		case <-deadline:
			t.Fatalf("events saw %v, never Stopped", seen)
		}
	}
	want := []wire.Status{wire.StartPending, wire.Initializing, wire.Running, wire.Suspending, wire.Suspended}
	if !containsInOrder(seen, want) {
		t.Errorf("events for gw1 = %v, want %v in order", seen, want)
	}
	events.Process.Signal(syscall.SIGINT)
	if err := events.Wait(); err != nil {
		t.Errorf("events after Ctrl-C: %v", err)
	}

	// Errors: no token, a wrong token, an LCA that is not there.
	if _, errOut, code := runIn(map[string]string{"GWCTL_LCA": l1.Addr}, "", "status"); code != 1 || !strings.Contains(errOut, "-lca-token-file") {
		t.Errorf("no token = %d %q", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	if _, errOut, code := runIn(map[string]string{"GWCTL_LCA": l1.Addr, "GWCTL_LCA_TOKEN_FILE": bad}, "", "status"); code != 1 || !strings.Contains(errOut, l1.Addr) {
		t.Errorf("wrong token = %d %q", code, errOut)
	}
	if _, errOut, code := runIn(map[string]string{"GWCTL_LCA": fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t, testpeers.NetTCP)), "GWCTL_LCA_TOKEN_FILE": bad}, "", "status"); code != 1 || !strings.Contains(errOut, "cannot use the local control agent: ") {
		t.Errorf("absent LCA = %d %q", code, errOut)
	}
}

func containsInOrder(seen, want []wire.Status) bool {
	i := 0
	for _, s := range seen {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}
