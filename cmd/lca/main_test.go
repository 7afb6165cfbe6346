package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// The tests run the real lca process (lca/lcatest) with real applications
// (testapp), on loopback.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// lcaRun runs the binary to completion.
func lcaRun(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(lcatest.Binary(t), args...)
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

// writeINI writes lca.ini in dir with one testapp section per name, for an
// LCA on port; extra lines go into every section.
func writeINI(t *testing.T, dir string, port int, extra string, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[lca]\nhost-name = h1\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\n[app %s]\ntype = TestApp\nworking-directory = %s\ncommand-line = %s\narguments = -lca 127.0.0.1:%d -app %s -max-life 2m\n%s",
			n, dir, lcatest.App(t), port, n, extra)
	}
	path := filepath.Join(dir, "lca.ini")
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ini")
	os.WriteFile(bad, []byte("[app gw1]\ncommand-line = /bin/true\nautostart = perhaps\n"), 0o600)
	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout or stderr
	}{
		{"version", []string{"-V"}, 0, "lca 0."},
		{"no source", []string{"-data", dir}, 2, "-config lca.ini or -confserv-host HOST"},
		{"both sources", []string{"-config", bad, "-confserv-host", "x"}, 2, "exclude each other"},
		{"bad ini", []string{"-config", bad, "-data", dir}, 2, bad + ": [app gw1] autostart: "},
		{"missing ini", []string{"-config", filepath.Join(dir, "none.ini"), "-data", dir}, 2, "none.ini"},
		{"no credential", []string{"-confserv-host", "127.0.0.1", "-data", dir}, 2, "no host credential"},
		{"bad port", []string{"-config", bad, "-port", "0"}, 2, "-port 0"},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined"},
		{"unknown app user", []string{"-config", bad, "-app-users", "root,lcatest-nosuchuser"}, 2, `invalid value "root,lcatest-nosuchuser" for flag -app-users: unknown user "lcatest-nosuchuser"`},
		{"argument", []string{"-config", bad, "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := lcaRun(t, c.args...)
			if code != c.code || !strings.Contains(stdout+stderr, c.want) {
				t.Errorf("lca %v = %d\nstdout: %s\nstderr: %s\nwant %d and %q", c.args, code, stdout, stderr, c.code, c.want)
			}
		})
	}
}

// TestControlToken: the token is created once (0600) and kept; another
// file can hold it; a wrong token is refused and logged in the failed-login
// format; the port is taken → exit 1.
func TestControlToken(t *testing.T) {
	dir := t.TempDir()
	port := testpeers.FreePort(t, testpeers.NetTCP)
	ini := writeINI(t, dir, port, "", "gw1")
	l := lcatest.Start(t, dir, port, "-config", ini)
	path := filepath.Join(dir, "control-token")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control-token: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	tok := l.Token()
	if len(tok) != 64 {
		t.Errorf("token %q: want 256 bits in hex", tok)
	}
	if c := l.Control(); c.Host() != "h1" {
		t.Errorf("welcome host = %q", c.Host())
	}
	_, err = control.Dial(ctxT(t), l.Addr, tok+"x")
	var cerr *control.Error
	if !errors.As(err, &cerr) || cerr.Message != "wrong control token" {
		t.Errorf("wrong token: %v", err)
	}
	if !l.WaitOutput(`login failed: client_ip=127.0.0.1 user=lca-control reason="wrong control token"`, 10*time.Second) {
		t.Errorf("no failed-login line:\n%s", l.Output())
	}
	// The port is taken by l: a second LCA fails.
	_, stderr, code := lcaRun(t, "-config", ini, "-port", strconv.Itoa(port), "-data", t.TempDir())
	if code != 1 {
		t.Errorf("second LCA on the port = %d: %s", code, stderr)
	}
	l.Stop()
	if code := l.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d", code)
	}
	l2 := lcatest.Start(t, dir, port, "-config", ini)
	if l2.Token() != tok {
		t.Error("the token changed across a restart")
	}
	// -control-token-file
	other := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(other, []byte("another-token\n"), 0o600)
	l2.Stop()
	l3 := lcatest.Start(t, dir, port, "-config", ini, "-control-token-file", other)
	if _, err := control.Dial(ctxT(t), l3.Addr, tok); err == nil {
		t.Error("the data directory's token still works with -control-token-file")
	}
	lcatest.Dial(t, l3.Addr, "another-token")
}

// TestLCARestart: applications keep running when the LCA stops (SIGTERM)
// or dies (SIGKILL); the next LCA does not autostart them again, they
// register again with their current status, are adopted, and can still be
// stopped.
func TestLCARestart(t *testing.T) {
	dir := t.TempDir()
	port := testpeers.FreePort(t, testpeers.NetTCP)
	ini := writeINI(t, dir, port, "autostart = true\nauto-restart = true\n", "gw1", "gw2")
	l := lcatest.Start(t, dir, port, "-config", ini, "-restart-delay", "100ms")
	ctl := l.Control()
	states, events, err := ctl.Subscribe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]wire.AppState{}
	for _, s := range states {
		if s.Status == wire.Running {
			running[s.Name] = s
		}
	}
	for len(running) < 2 {
		s := lcatest.WaitFor(t, events, 20*time.Second, func(s wire.AppState) bool { return s.Status == wire.Running })
		running[s.Name] = s
	}
	if _, err := ctl.Suspend(ctxT(t), "gw2"); err != nil {
		t.Fatal(err)
	}
	lcatest.WaitStatus(t, events, 20*time.Second, "gw2", wire.Suspended)

	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		if how == "SIGTERM" {
			l.Stop()
			if code := l.ExitCode(); code != 0 {
				t.Errorf("exit code after SIGTERM = %d", code)
			}
		} else {
			l.Kill()
		}
		for name, s := range running {
			if syscall.Kill(s.PID, 0) != nil {
				t.Fatalf("%s: %s (pid %d) ended with the LCA", how, name, s.PID)
			}
		}
		l = lcatest.Start(t, dir, port, "-config", ini, "-restart-delay", "100ms")
		ctl = l.Control()
		_, events, err = ctl.Subscribe(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]wire.Status{"gw1": wire.Running, "gw2": wire.Suspended}
		deadline := time.Now().Add(20 * time.Second)
		for {
			apps, err := ctl.List(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			ok := len(apps) == 2
			for _, a := range apps {
				if a.Status != want[a.Name] {
					ok = false
				}
			}
			if ok {
				for _, a := range apps {
					if a.PID != running[a.Name].PID || a.Managed || a.Restarts != 0 {
						t.Errorf("after %s: %+v; want pid %d adopted (managed false)", how, a, running[a.Name].PID)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s the applications did not register again: %+v\n%s", how, apps, l.Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Contains(l.Output(), "agent: autostart:") {
			t.Errorf("after %s the LCA autostarted a running application:\n%s", how, l.Output())
		}
	}
	// Adopted, they can still be stopped: the stop command, then the end
	// of the process seen by its pid.
	if _, err := ctl.Stop(ctxT(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	end := lcatest.WaitFor(t, events, 20*time.Second, func(s wire.AppState) bool {
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if !strings.Contains(end.Detail, "stopped by command") {
		t.Errorf("stopped = %+v", end)
	}
	// An adopted application that dies is restarted (auto-restart), now
	// managed.
	syscall.Kill(running["gw2"].PID, syscall.SIGKILL)
	again := lcatest.WaitStatus(t, events, 20*time.Second, "gw2", wire.Running)
	if !again.Managed || again.Restarts != 1 || again.PID == running["gw2"].PID {
		t.Errorf("gw2 after its death = %+v", again)
	}
}

// TestReload: SIGHUP rereads lca.ini; an invalid file keeps the previous
// applications.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	port := testpeers.FreePort(t, testpeers.NetTCP)
	ini := writeINI(t, dir, port, "", "gw1")
	l := lcatest.Start(t, dir, port, "-config", ini)
	ctl := l.Control()
	writeINI(t, dir, port, "", "gw1", "gw2")
	syscall.Kill(l.Pid(), syscall.SIGHUP)
	if !l.WaitOutput("configuration reloaded", 10*time.Second) {
		t.Fatalf("no reload:\n%s", l.Output())
	}
	apps, err := ctl.List(ctxT(t))
	if err != nil || len(apps) != 2 {
		t.Errorf("after the reload: %+v, %v", apps, err)
	}
	os.WriteFile(ini, []byte("[app gw1]\ncommand-line = x\nheartbeat-period = often\n"), 0o600)
	syscall.Kill(l.Pid(), syscall.SIGHUP)
	if !l.WaitOutput("[app gw1] heartbeat-period", 10*time.Second) {
		t.Fatalf("the invalid file was not reported:\n%s", l.Output())
	}
	if apps, err := ctl.List(ctxT(t)); err != nil || len(apps) != 2 {
		t.Errorf("after an invalid file: %+v, %v", apps, err)
	}
	if _, err := ctl.Start(ctxT(t), "gw2"); err != nil {
		t.Errorf("start gw2: %v", err)
	}
}

// TestConfserv: with -confserv-host/-confserv-port and the host credential
// in -token-file, the LCA runs the host's applications from the
// Configuration Server and writes their status there; a credential of
// another host is a configuration error (exit 2).
func TestConfserv(t *testing.T) {
	cs := confservtest.Start(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	ctx := ctxT(t)
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "h1"}, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := testpeers.FreePort(t, testpeers.NetTCP)
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "gw1"}, Template: "WebRTC_Gateway", Host: "h1",
		CommandLine: lcatest.App(t), Args: []string{"-lca", "127.0.0.1:" + strconv.Itoa(port), "-app", "gw1", "-max-life", "2m"},
		Annex: api.Sections{"sml": {"autostart": "true"}}}); err != nil {
		t.Fatal(err)
	}
	token, err := admin.NewHostCredential(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "host-token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	csArgs := []string{"-confserv-host", "127.0.0.1", "-confserv-port", strconv.Itoa(cs.Port), "-token-file", tokenFile}

	_, stderr, code := lcaRun(t, append(csArgs, "-data", t.TempDir(), "-port", strconv.Itoa(testpeers.FreePort(t, testpeers.NetTCP)), "-host-name", "h2")...)
	if code != 2 || !strings.Contains(stderr, "-host-name: h2, but the credential is host h1's") {
		t.Errorf("another host's credential = %d: %s", code, stderr)
	}

	l := lcatest.Start(t, dir, port, csArgs...)
	// The LCA listens before its first answer from confserv names the
	// host: a client that connects in that instant hears the system's
	// name; the credential's follows within moments.
	ctl := l.Control()
	for deadline := time.Now().Add(5 * time.Second); ctl.Host() != "h1" && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		ctl = l.Control()
	}
	if ctl.Host() != "h1" {
		t.Errorf("host = %q; want the credential's", ctl.Host())
	}
	states, events, err := ctl.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var st wire.AppState
	if len(states) == 1 && states[0].Status == wire.Running {
		st = states[0] // autostarted before the subscription
	} else {
		st = lcatest.WaitStatus(t, events, 20*time.Second, "gw1", wire.Running)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := admin.App(ctx, "gw1")
		if err == nil && a.Status != nil && a.Status.Status == "Running" && a.Status.PID == st.PID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("confserv shows %+v, %v", a.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "confserv-apps.json")); err != nil {
		t.Errorf("no application cache: %v", err)
	}
}

// TestUnprivilegedLCA: an LCA running as an unprivileged user verifies the
// processes of its own user and adopts them, and refuses, naming why, a
// process it cannot verify: root's (/proc/PID/fd is closed to it), even
// registering with its own pid, and although root may register.
func TestUnprivilegedLCA(t *testing.T) {
	u := lcatest.User(t)
	// The user's own data directory: t.TempDir's parents are closed to it.
	dir, err := os.MkdirTemp("", "lcatest-data")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := testpeers.FreePort(t, testpeers.NetTCP)
	ini := writeINI(t, dir, port, "", "gw1")
	for _, p := range []string{dir, ini} {
		if err := os.Chown(p, int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
	}
	l := lcatest.StartAs(t, u.Credential(), dir, port, "-config", ini)
	ctl := l.Control()
	_, events, err := ctl.Subscribe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}

	nc, err := net.Dial("tcp", l.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	wc := wire.NewConn(nc)
	pid := strconv.Itoa(os.Getpid())
	if err := wc.Write(wire.Message{Op: wire.OpRegister, App: "gw1", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	want := "register gw1: cannot verify pid " + pid + ": open /proc/" + pid + "/fd: permission denied"
	if m, err := wc.Read(); err != nil || m.Op != wire.OpError || m.Error != want {
		t.Errorf("register of root's process = %+v, %v; want the error %q", m, err, want)
	}

	app := exec.Command(lcatest.App(t), "-lca", l.Addr, "-app", "gw1", "-max-life", "2m")
	app.SysProcAttr = &syscall.SysProcAttr{Credential: u.Credential()}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { app.Wait(); close(waited) }()
	t.Cleanup(func() { app.Process.Kill(); <-waited })
	st := lcatest.WaitStatus(t, events, 20*time.Second, "gw1", wire.Running)
	if st.PID != app.Process.Pid || st.Managed {
		t.Errorf("gw1 = %+v; want pid %d adopted", st, app.Process.Pid)
	}
	if _, err := ctl.Stop(ctxT(t), "gw1", false); err != nil {
		t.Fatal(err)
	}
	end := lcatest.WaitFor(t, events, 20*time.Second, func(s wire.AppState) bool {
		return s.Name == "gw1" && s.Status == wire.Stopped && s.PID == 0
	})
	if !strings.Contains(end.Detail, "stopped by command") {
		t.Errorf("stopped = %+v", end)
	}
}
