package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"webrtcgw/confserv/client"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

func TestMain(m *testing.M) { os.Exit(testpeers.RunInNetns(m)) }

// TestMakeRun runs scripts/run, what `make run` runs, on free ports with its
// state in a temporary directory: the stack comes up, answers on the URLs
// it prints, and Ctrl-C stops every process with exit 0. A second run on
// the same state starts without provisioning again.
func TestMakeRun(t *testing.T) {
	testpeers.Require(t, testpeers.BinKamailio)
	root, _ := filepath.Abs("../..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/webrtc-gateway", "./cmd/confserv", "./cmd/lca")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	varDir := t.TempDir()
	ports := map[string]int{
		"https-port":    testpeers.FreePort(t, testpeers.NetTCP),
		"confserv-port": testpeers.FreePort(t, testpeers.NetTCP),
		"lca-port":      testpeers.FreePort(t, testpeers.NetTCP),
		"sip-port":      testpeers.FreePort(t, testpeers.NetUDP),
	}
	args := []string{"-var", varDir, "-bin", bin, "-rtp-port-min", "30000", "-rtp-port-max", "30999", "-webrtc-port-min", "31000", "-webrtc-port-max", "31999", "-max-calls", "100"}
	for k, v := range ports {
		args = append(args, "-"+k, fmt.Sprint(v))
	}

	for round := 1; round <= 2; round++ {
		out := runStack(t, root, args, []string{bin + "/webrtc-gateway", bin + "/confserv", bin + "/lca", varDir + "/demo-sip/kamailio.cfg"}, func(out *lines) {
			out.wait(t, "gateway gw1 running")
			// The demo page over HTTPS.
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
			for _, path := range []string{"/health", "/"} {
				res, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d%s", ports["https-port"], path))
				if err != nil || res.StatusCode != 200 {
					t.Errorf("round %d: gateway %s: %v %v", round, path, res, err)
				} else {
					res.Body.Close()
				}
			}
			// The Configuration Server, with the admin password it printed.
			pw, err := os.ReadFile(filepath.Join(varDir, "confserv", "initial-admin-password"))
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := client.New(client.Config{URL: fmt.Sprintf("http://127.0.0.1:%d", ports["confserv-port"])})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := cs.Login(ctx, "admin", strings.TrimSpace(string(pw))); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.all(), strings.TrimSpace(string(pw))) {
				t.Error("the admin password was not printed")
			}
			// The LCA reports gw1 to confserv, and to control clients.
			deadline := time.Now().Add(20 * time.Second)
			for {
				app, err := cs.App(ctx, "gw1")
				if err == nil && app.Status != nil && app.Status.Status == string(wire.Running) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("confserv never showed gw1 Running: %+v %v", app.Status, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			token, _ := os.ReadFile(filepath.Join(varDir, "lca", "control-token"))
			ctl, err := control.Dial(ctx, fmt.Sprintf("127.0.0.1:%d", ports["lca-port"]), strings.TrimSpace(string(token)))
			if err != nil {
				t.Fatal(err)
			}
			defer ctl.Close()
			apps, err := ctl.List(ctx)
			if err != nil || len(apps) != 1 || apps[0].Name != "gw1" || apps[0].Status != wire.Running || !apps[0].Managed {
				t.Errorf("LCA list = %+v, %v", apps, err)
			}
		})
		provisioned := strings.Contains(out, "first run: created")
		if provisioned != (round == 1) {
			t.Errorf("round %d: provisioned = %v", round, provisioned)
		}
		if !strings.Contains(out, "gw1 stopped") {
			t.Errorf("round %d: gw1 was not stopped through the LCA:\n%s", round, out)
		}
	}
}

// lines collects a process's output, line by line.
type lines struct {
	mu     sync.Mutex
	text   strings.Builder
	closed bool // the process closed its output
}

func (l *lines) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

func (l *lines) ended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.text.WriteString(s + "\n")
	l.mu.Unlock()
}

func (l *lines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

func (l *lines) wait(t *testing.T, fragment string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(l.all(), fragment) {
		if l.ended() {
			t.Fatalf("ended before printing %q:\n%s", fragment, l.all())
		}
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q:\n%s", fragment, l.all())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runStack runs scripts/run with args, calls check while it runs, then
// sends SIGINT (Ctrl-C) and waits for a clean exit, after which no process
// whose command line contains one of procs may be left; it returns the
// output.
func runStack(t *testing.T, root string, args, procs []string, check func(*lines)) string {
	cmd := exec.Command(filepath.Join(root, "scripts", "run"), args...)
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	read := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.add(sc.Text())
		}
		out.close()
		close(read)
	}()
	done := make(chan error, 1)
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
		}
	}()
	check(out)
	cmd.Process.Signal(syscall.SIGINT)
	go func() { <-read; done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("exit after Ctrl-C: %v\n%s", err, out.all())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("still running 90 s after Ctrl-C:\n%s", out.all())
	}
	for _, p := range procs {
		if o, _ := exec.Command("pgrep", "-f", p).Output(); len(o) > 0 {
			t.Errorf("%s still running after the stack stopped: pid %s", p, o)
		}
	}
	return out.all()
}
