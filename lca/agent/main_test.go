package agent_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"webrtcgw/lca/agent"
	"webrtcgw/lca/control"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
	"webrtcgw/logging/loggingtest"
)

// The tests run the agent in process (under the race detector) with real
// sockets and real processes: testapp (lca/lcatest/testapp), started,
// signalled and reaped by the agent.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "test-control-token"

// env is an agent on a loopback port with a subscribed control client.
type env struct {
	t      *testing.T
	ag     *agent.Agent
	cfg    agent.Config
	dir    string
	addr   string
	log    *loggingtest.Buffer
	ctl    *control.Client
	events <-chan wire.AppState
}

// fast are the agent's timings for tests: short, so that no test waits
// long; never used to decide pass or fail.
func fast() agent.Config {
	return agent.Config{
		StopTimeout:  500 * time.Millisecond,
		KillGrace:    500 * time.Millisecond,
		RestartDelay: 50 * time.Millisecond, MaxRestartDelay: 200 * time.Millisecond,
		LostGrace:    200 * time.Millisecond,
		PollInterval: 50 * time.Millisecond,
	}
}

// start runs an agent with cfg (Listen, DataDir and ControlToken filled
// in) and subscribes to it.
func start(t *testing.T, cfg agent.Config) *env {
	t.Helper()
	e := &env{t: t, dir: cfg.DataDir, log: &loggingtest.Buffer{}}
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	cfg.DataDir = e.dir
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.ControlToken == "" {
		cfg.ControlToken = token
	}
	if cfg.Host == "" {
		cfg.Host = "h1"
	}
	e.cfg = cfg
	log := hclog.New(&hclog.LoggerOptions{Name: "lca", Output: e.log, Level: hclog.Debug})
	e.ag = agent.New(cfg, agent.Deps{Log: log})
	if err := e.ag.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.addr = e.ag.Addr().String()
	t.Cleanup(func() {
		e.stopAgent()
		lcatest.KillApps(e.dir)
		if t.Failed() {
			t.Logf("agent log:\n%s", e.log.String())
		}
	})
	e.ctl = lcatest.Dial(t, e.addr, token)
	_, events, err := e.ctl.Subscribe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	e.events = events
	return e
}

func (e *env) stopAgent() {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.ag.Stop(c); err != nil {
		e.t.Errorf("Stop = %v", err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// app defines a testapp application registering with the agent.
func (e *env) app(name string, flags ...string) agent.AppDef {
	args := append([]string{"-lca", e.addr, "-app", name, "-max-life", "2m"}, flags...)
	return agent.AppDef{Name: name, Type: "TestApp", CommandLine: lcatest.App(e.t), Args: args, SML: agent.DefaultSML()}
}

func (e *env) apply(defs ...agent.AppDef) {
	e.ag.Apply(agent.Defs{Host: "h1", Apps: defs})
}

// wait waits for app to reach status.
func (e *env) wait(app string, status wire.Status) wire.AppState {
	e.t.Helper()
	return lcatest.WaitStatus(e.t, e.events, 20*time.Second, app, status)
}

// waitDetail waits for an event of app whose detail contains s.
func (e *env) waitDetail(app string, status wire.Status, s string) wire.AppState {
	e.t.Helper()
	return lcatest.WaitFor(e.t, e.events, 20*time.Second, func(st wire.AppState) bool {
		return st.Name == app && st.Status == status && strings.Contains(st.Detail, s)
	})
}

func (e *env) state(app string) wire.AppState {
	e.t.Helper()
	for _, st := range e.ag.List() {
		if st.Name == app {
			return st
		}
	}
	e.t.Fatalf("no %s in the list", app)
	return wire.AppState{}
}

// waitLog waits until LOGS/app.log contains s.
func (e *env) waitLog(app, s string) {
	e.t.Helper()
	eventually(e.t, app+".log shows "+s, func() bool {
		data, _ := os.ReadFile(filepath.Join(e.dir, "logs", app+".log"))
		return strings.Contains(string(data), s)
	})
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && i+2 < len(data) && data[i+2] != 'Z'
}

func kill(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// raw is a protocol connection driven by hand.
type raw struct {
	t  *testing.T
	nc net.Conn
	wc *wire.Conn
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &raw{t: t, nc: nc, wc: wire.NewConn(nc)}
}

func (r *raw) send(m wire.Message) {
	r.t.Helper()
	if err := r.wc.Write(m); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) line(s string) {
	r.t.Helper()
	if _, err := r.nc.Write([]byte(s + "\n")); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) read() wire.Message {
	r.t.Helper()
	m, err := r.wc.Read()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return m
}

// closed asserts the LCA closed the connection.
func (r *raw) closed() {
	r.t.Helper()
	if m, err := r.wc.Read(); err == nil {
		r.t.Fatalf("read %+v; want the connection closed", m)
	}
}
