package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/lca/control"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// stillServes asserts the agent answers a new control connection.
func (e *env) stillServes() {
	e.t.Helper()
	c := lcatest.Dial(e.t, e.addr, token)
	if _, err := c.List(ctx(e.t)); err != nil {
		e.t.Fatalf("the LCA no longer serves: %v", err)
	}
}

// TestRegistrationErrors: an unknown application, a malformed or
// unexpected first message, a missing pid, a pid that is not the
// registering process's, a second process under a name that runs: each
// gets an error naming what was wrong, and the connection is closed; the
// LCA goes on.
func TestRegistrationErrors(t *testing.T) {
	e := start(t, fast())
	e.apply(e.app("gw1"))
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	other := strconv.Itoa(startForeign(t, "sleep", "600").Process.Pid)

	cases := []struct {
		name string
		line string
		want string
	}{
		{"unknown application", `{"op":"register","app":"gw9","pid":1}`, `no application "gw9" on host h1`},
		{"not JSON", `hello there`, "malformed message"},
		{"no op", `{"app":"gw1"}`, `malformed message: no "op"`},
		{"unknown status", `{"op":"status","status":"Dancing"}`, `unknown status "Dancing"`},
		{"not register or hello", `{"op":"heartbeat"}`, `the first message must be "register" or "hello", not "heartbeat"`},
		{"no pid", `{"op":"register","app":"gw1"}`, `register gw1: "pid" is missing`},
		{"not its pid", `{"op":"register","app":"gw1","pid":` + other + `}`, "register gw1: pid " + other + " does not hold this connection"},
		{"no such process", `{"op":"register","app":"gw1","pid":2147483647}`, "register gw1: pid 2147483647 is not a running process"},
		// The test process holds its connection: proven, but gw1 runs.
		{"another live process", `{"op":"register","app":"gw1","pid":` + strconv.Itoa(os.Getpid()) + `}`, "gw1 already runs as pid " + strconv.Itoa(st.PID)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := dialRaw(t, e.addr)
			r.line(c.line)
			m := r.read()
			if m.Op != wire.OpError || !strings.Contains(m.Error, c.want) {
				t.Errorf("answer = %+v; want an error containing %q", m, c.want)
			}
			r.closed()
		})
	}
	// A line over 64 KiB closes the connection.
	r := dialRaw(t, e.addr)
	r.nc.Write([]byte(`{"op":"register","app":"` + strings.Repeat("x", wire.MaxLine) + "\"}\n"))
	r.closed()

	if got := e.state("gw1"); got.Status != wire.Running || got.PID != st.PID {
		t.Errorf("gw1 after the refusals = %+v", got)
	}
	e.stillServes()
}

// TestApplicationErrors: after a registration, malformed messages and
// statuses that are the LCA's to give are answered with an error and the
// connection goes on.
func TestApplicationErrors(t *testing.T) {
	e := start(t, fast())
	e.apply(e.app("gw1"))
	// The test process registers as gw1, which does not run, with its own
	// pid: proven (it holds the connection), it is adopted. Nothing here
	// signals it.
	pid := os.Getpid()
	r := dialRaw(t, e.addr)
	r.send(wire.Message{Op: wire.OpRegister, App: "gw1", PID: pid})
	if m := r.read(); m.Op != wire.OpRegistered {
		t.Fatalf("register = %+v", m)
	}
	if got := e.state("gw1"); got.PID != pid || got.Managed {
		t.Errorf("registered = %+v; want pid %d adopted", got, pid)
	}
	for _, c := range []struct{ line, want string }{
		{`{"op":`, "malformed message"},
		{`{"op":"status","status":"StopPending"}`, "status StopPending is the LCA's to set"},
		{`{"op":"status"}`, `"status" is missing`},
		{`{"op":"dance"}`, `unknown op "dance"`},
		{`{"op":"register","app":"gw1","pid":1}`, "already registered"},
	} {
		r.line(c.line)
		if m := r.read(); m.Op != wire.OpError || !strings.Contains(m.Error, c.want) {
			t.Errorf("%s: answer = %+v; want an error containing %q", c.line, m, c.want)
		}
	}
	r.send(wire.Message{Op: wire.OpStatus, Status: wire.Running, Detail: "fine"})
	if got := e.waitDetail("gw1", wire.Running, "fine"); got.PID != pid {
		t.Errorf("after the errors = %+v", got)
	}
	// A second registration of the same process replaces the first
	// connection.
	r2 := dialRaw(t, e.addr)
	r2.send(wire.Message{Op: wire.OpRegister, App: "gw1", PID: pid})
	if m := r2.read(); m.Op != wire.OpRegistered {
		t.Fatalf("register again = %+v", m)
	}
	r.closed()
	r2.send(wire.Message{Op: wire.OpStatus, Status: wire.ServiceUnavailable})
	e.wait("gw1", wire.ServiceUnavailable)
	// Its connection lost while the process runs: reported, not restarted.
	r2.nc.Close()
	if got := e.waitDetail("gw1", wire.Unknown, "connection lost"); got.PID != pid {
		t.Errorf("lost = %+v", got)
	}
	e.stillServes()
}

// TestControlErrors: a wrong token is refused, the connection closed and
// the failure logged in the gateway's failed-login format; commands for
// unknown, stopped or running applications get errors that say so; the LCA
// goes on.
func TestControlErrors(t *testing.T) {
	e := start(t, fast())
	missing := e.app("gw3")
	missing.CommandLine = filepath.Join(t.TempDir(), "no-such-program")
	e.apply(e.app("gw1"), e.app("gw2"), missing)

	c, err := control.Dial(ctx(t), e.addr, "wrong")
	var cerr *control.Error
	if !errors.As(err, &cerr) || cerr.Message != "wrong control token" {
		t.Errorf("Dial with a wrong token = %v, %v", c, err)
	}
	if !strings.Contains(e.log.String(), `login failed: client_ip=127.0.0.1 user=lca-control reason="wrong control token"`) {
		t.Errorf("no failed-login line in:\n%s", e.log.String())
	}
	r := dialRaw(t, e.addr)
	r.send(wire.Message{Op: wire.OpHello})
	if m := r.read(); m.Op != wire.OpError || m.Error != "wrong control token" {
		t.Errorf("hello without a token = %+v", m)
	}
	r.closed()

	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	for _, c := range []struct {
		name string
		do   func() error
		want string
	}{
		{"start unknown", func() error { _, err := e.ctl.Start(ctx(t), "gw9"); return err }, `lca: start: no such application: "gw9" on host h1`},
		{"stop unknown", func() error { _, err := e.ctl.Stop(ctx(t), "gw9", false); return err }, `no such application: "gw9"`},
		{"start running", func() error { _, err := e.ctl.Start(ctx(t), "gw1"); return err }, "lca: start: gw1 is already Running (pid " + strconv.Itoa(st.PID) + ")"},
		{"stop stopped", func() error { _, err := e.ctl.Stop(ctx(t), "gw2", false); return err }, "lca: stop: gw2 is not running (Unknown)"},
		{"suspend stopped", func() error { _, err := e.ctl.Suspend(ctx(t), "gw2"); return err }, "gw2 is not running (Unknown)"},
		{"no app", func() error { _, err := e.ctl.Start(ctx(t), ""); return err }, `"app" is missing`},
		{"no program", func() error { _, err := e.ctl.Start(ctx(t), "gw3"); return err }, "lca: start: gw3 cannot start: fork/exec " + missing.CommandLine + ": no such file or directory"},
	} {
		err := c.do()
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s = %v; want %q", c.name, err, c.want)
		}
	}
	// Raw: unknown op and a malformed request keep the connection.
	r = dialRaw(t, e.addr)
	r.send(wire.Message{Op: wire.OpHello, Token: token})
	if m := r.read(); m.Op != wire.OpWelcome || m.Host != "h1" {
		t.Fatalf("hello = %+v", m)
	}
	r.line(`{"op":"dance","id":7}`)
	if m := r.read(); m.Op != wire.OpError || m.ID != 7 || !strings.Contains(m.Error, `unknown op "dance"`) {
		t.Errorf("unknown op = %+v", m)
	}
	r.line(`not json`)
	if m := r.read(); m.Op != wire.OpError || !strings.Contains(m.Error, "malformed") {
		t.Errorf("malformed = %+v", m)
	}
	r.send(wire.Message{Op: wire.OpList, ID: 8})
	if m := r.read(); m.Op != wire.OpResult || m.ID != 8 || len(m.Apps) != 3 {
		t.Errorf("list = %+v", m)
	}
	if got := e.state("gw1"); got.Status != wire.Running || got.PID != st.PID {
		t.Errorf("gw1 = %+v", got)
	}
	if got := e.state("gw3"); got.Status != wire.Stopped || !strings.HasPrefix(got.Detail, "start: fork/exec") {
		t.Errorf("gw3 = %+v", got)
	}
	e.stillServes()
}

// TestListFields: list shows every field of the protocol document.
func TestListFields(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	def.AutoRestart = true
	e.apply(def)
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	apps, err := e.ctl.List(ctx(t))
	if err != nil || len(apps) != 1 {
		t.Fatalf("List = %+v, %v", apps, err)
	}
	a := apps[0]
	if a.Name != "gw1" || a.Host != "h1" || a.Status != wire.Running || a.PID != st.PID || a.Since.IsZero() ||
		!a.Started.Equal(st.Started) || a.Restarts != 0 || !a.AutoRestart || !a.Managed || a.Since.Before(a.Started) {
		t.Errorf("list = %+v", a)
	}
}

// TestSlowSubscriber: a subscriber that does not read is dropped; the
// agent is never held up by it, and serves subscribers afterwards.
func TestSlowSubscriber(t *testing.T) {
	e := start(t, fast())
	def := e.app("gw1")
	e.apply(def)
	r := dialRaw(t, e.addr)
	r.send(wire.Message{Op: wire.OpHello, Token: token})
	r.read()
	r.send(wire.Message{Op: wire.OpSubscribe, ID: 1})
	if m := r.read(); m.Op != wire.OpResult {
		t.Fatalf("subscribe = %+v", m)
	}
	// r never reads again. Each Apply below changes gw1: one event each,
	// far more than the queue and the socket buffers hold.
	for i := range 20000 {
		def.AutoRestart = i%2 == 0
		e.apply(def)
	}
	eventually(t, "the slow subscriber dropped", func() bool { return strings.Contains(e.log.String(), "peer dropped") })
	r.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, err := r.wc.Read(); err != nil {
			break // what was sent, then the close
		}
	}
	next := lcatest.Dial(t, e.addr, token)
	states, events, err := next.Subscribe(ctx(t))
	if err != nil || len(states) != 1 {
		t.Fatalf("Subscribe = %+v, %v", states, err)
	}
	def.AutoRestart = !def.AutoRestart
	e.apply(def)
	if ev := lcatest.WaitFor(t, events, 10*time.Second, func(wire.AppState) bool { return true }); ev.AutoRestart != def.AutoRestart {
		t.Errorf("event = %+v", ev)
	}
}

// TestConfigChange: a new heartbeat period reaches the registered
// application (config) and hang detection follows it.
func TestConfigChange(t *testing.T) {
	e := start(t, fast())
	hang := filepath.Join(t.TempDir(), "hang")
	def := e.app("gw1", "-hang-file", hang)
	def.SML.HangupRestart = false
	e.apply(def)
	if _, err := e.ctl.Start(ctx(t), "gw1"); err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	os.WriteFile(hang, nil, 0o600) // hung, but no heartbeat period: unnoticed
	def.SML.HeartbeatPeriod = time.Second
	e.apply(def)
	if got := e.wait("gw1", wire.Unknown); got.Detail != "no heartbeat for 1 s" {
		t.Errorf("after the change = %+v", got)
	}
	os.Remove(hang)
	e.wait("gw1", wire.Running)
}

// TestStopLeavesApplications: stopping the agent closes its connections
// and leaves the applications running.
func TestStopLeavesApplications(t *testing.T) {
	e := start(t, fast())
	e.apply(e.app("gw1"))
	st, err := e.ctl.Start(ctx(t), "gw1")
	if err != nil {
		t.Fatal(err)
	}
	e.wait("gw1", wire.Running)
	e.stopAgent()
	<-e.ctl.Done()
	time.Sleep(100 * time.Millisecond)
	if !alive(st.PID) {
		t.Error("the application ended with the agent")
	}
	if _, err := e.ctl.List(context.Background()); !errors.Is(err, control.ErrClosed) {
		t.Errorf("List after Stop = %v", err)
	}
}
