package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"webrtcgw/lca/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lca is the LCA end of real TCP connections, driven by the test.
type lca struct {
	t     *testing.T
	ln    net.Listener
	conns chan *wire.Conn
	raw   chan net.Conn
}

func listen(t *testing.T, addr string) *lca {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l := &lca{t: t, ln: ln, conns: make(chan *wire.Conn, 4), raw: make(chan net.Conn, 4)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.raw <- c
			l.conns <- wire.NewConn(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(l.raw)
		for c := range l.raw {
			c.Close()
		}
	})
	return l
}

func (l *lca) accept() *wire.Conn {
	l.t.Helper()
	select {
	case c := <-l.conns:
		return c
	case <-time.After(10 * time.Second):
		l.t.Fatal("the client did not connect")
		return nil
	}
}

func read(t *testing.T, c *wire.Conn, op string) wire.Message {
	t.Helper()
	m, err := c.Read()
	if err != nil || m.Op != op {
		t.Fatalf("read = %+v, %v; want op %s", m, err, op)
	}
	return m
}

func start(t *testing.T, addr string) (*Client, context.CancelFunc, chan struct{}) {
	c := New(Config{Address: addr, App: "gw1", Type: "WebRTC_Gateway", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, cancel, done
}

func TestRegisterStatusHeartbeatCommands(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	c, cancel, done := start(t, l.ln.Addr().String())
	conn := l.accept()
	reg := read(t, conn, wire.OpRegister)
	if reg.App != "gw1" || reg.PID == 0 || reg.Type != "WebRTC_Gateway" {
		t.Errorf("register = %+v", reg)
	}
	conn.Write(wire.Message{Op: wire.OpRegistered, HeartbeatPeriod: 1})
	if m := read(t, conn, wire.OpStatus); m.Status != wire.Initializing {
		t.Errorf("first status = %+v, want Initializing", m)
	}
	c.SetStatus(wire.Running, "")
	if m := read(t, conn, wire.OpStatus); m.Status != wire.Running {
		t.Errorf("status = %+v, want Running", m)
	}
	// Heartbeats every third of the period.
	began := time.Now()
	read(t, conn, wire.OpHeartbeat)
	read(t, conn, wire.OpHeartbeat)
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("two heartbeats took %v with a 1 s period", d)
	}
	conn.Write(wire.Message{Op: wire.OpConfig}) // heartbeats off
	conn.Write(wire.Message{Op: wire.OpCommand, Command: wire.CommandSuspend})
	select {
	case cmd := <-c.Commands():
		if cmd != wire.CommandSuspend {
			t.Errorf("command = %q", cmd)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no command delivered")
	}
	// The final status goes out even when the context ends right after.
	c.SetStatus(wire.Stopped, "")
	cancel()
	<-done
	for {
		m, err := conn.Read()
		if err != nil {
			t.Fatal("no Stopped before the connection closed")
		}
		if m.Op == wire.OpStatus && m.Status == wire.Stopped {
			break
		}
	}
}

// The LCA goes away and comes back on the same address: the client
// re-registers and reports its current status, never blocking SetStatus.
func TestReconnectReportsCurrentStatus(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	addr := l.ln.Addr().String()
	c, _, _ := start(t, addr)
	conn := l.accept()
	read(t, conn, wire.OpRegister)
	conn.Write(wire.Message{Op: wire.OpRegistered})
	read(t, conn, wire.OpStatus)
	l.ln.Close()
	(<-l.raw).Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("still connected after the LCA closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	set := make(chan struct{})
	go func() { c.SetStatus(wire.ServiceUnavailable, "SIP Server unreachable"); close(set) }()
	select {
	case <-set:
	case <-time.After(time.Second):
		t.Fatal("SetStatus blocked while the LCA is away")
	}
	l2 := listen(t, addr)
	conn = l2.accept()
	read(t, conn, wire.OpRegister)
	conn.Write(wire.Message{Op: wire.OpRegistered})
	if m := read(t, conn, wire.OpStatus); m.Status != wire.ServiceUnavailable || m.Detail != "SIP Server unreachable" {
		t.Errorf("status after re-registering = %+v", m)
	}
}

func TestRefusedRetries(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	start(t, l.ln.Addr().String())
	for range 2 {
		conn := l.accept()
		read(t, conn, wire.OpRegister)
		conn.Write(wire.Message{Op: wire.OpError, Error: `no application "gw1" on host h1`})
	}
}

// With Liveness, heartbeats stop when the daemon stops calling Alive.
func TestLivenessHeartbeats(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	c := New(Config{Address: l.ln.Addr().String(), App: "gw1", Liveness: true}, Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	conn := l.accept()
	read(t, conn, wire.OpRegister)
	conn.Write(wire.Message{Op: wire.OpRegistered, HeartbeatPeriod: 1})
	read(t, conn, wire.OpStatus)
	raw := <-l.raw
	l.raw <- raw
	raw.SetReadDeadline(time.Now().Add(1200 * time.Millisecond))
	if m, err := conn.Read(); err == nil {
		t.Fatalf("a daemon that never called Alive sent %+v", m)
	}
	raw.SetReadDeadline(time.Time{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				c.Alive()
			}
		}
	}()
	read(t, conn, wire.OpHeartbeat)
}

// TestFirstAttempt: FirstAttempt closes once the LCA has the first status
// (Initializing), not before — a daemon waiting for it shows the LCA its
// start — and at once when no LCA listens.
func TestFirstAttempt(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	c, _, _ := start(t, l.ln.Addr().String())
	conn := l.accept()
	read(t, conn, wire.OpRegister)
	select {
	case <-c.FirstAttempt():
		t.Fatal("FirstAttempt closed before the LCA answered the registration")
	case <-time.After(50 * time.Millisecond):
	}
	if err := conn.Write(wire.Message{Op: wire.OpRegistered}); err != nil {
		t.Fatal(err)
	}
	if m := read(t, conn, wire.OpStatus); m.Status != wire.Initializing {
		t.Errorf("first status = %s, want Initializing", m.Status)
	}
	select {
	case <-c.FirstAttempt():
	case <-time.After(5 * time.Second):
		t.Fatal("FirstAttempt not closed after the first status")
	}

	// No LCA: the first attempt is over at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c2, _, _ := start(t, addr)
	select {
	case <-c2.FirstAttempt():
	case <-time.After(5 * time.Second):
		t.Fatal("FirstAttempt not closed with no LCA")
	}
}
