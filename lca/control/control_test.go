package control_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"webrtcgw/lca/agent"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

// The client is tested against the real agent, in process, on loopback.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startAgent(t *testing.T) *agent.Agent {
	t.Helper()
	ag := agent.New(agent.Config{Listen: "127.0.0.1:0", Host: "h1", ControlToken: "tok"}, agent.Deps{})
	if err := ag.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.Stop(context.Background()) })
	// Definitions only: nothing is started.
	ag.Apply(agent.Defs{Apps: []agent.AppDef{{Name: "gw1", CommandLine: "/bin/true", SML: agent.DefaultSML()}}})
	return ag
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDialErrors(t *testing.T) {
	ag := startAgent(t)
	_, err := control.Dial(ctxT(t), ag.Addr().String(), "nope")
	var cerr *control.Error
	if !errors.As(err, &cerr) || cerr.Error() != "lca: hello: wrong control token" {
		t.Errorf("wrong token: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if _, err := control.Dial(ctxT(t), addr, "tok"); err == nil {
		t.Error("Dial to a closed port succeeded")
	}
}

// TestConcurrentRequests: answers reach the goroutine that asked.
func TestConcurrentRequests(t *testing.T) {
	ag := startAgent(t)
	c, err := control.Dial(ctxT(t), ag.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				apps, err := c.List(ctxT(t))
				if err != nil || len(apps) != 1 || apps[0].Name != "gw1" {
					t.Errorf("List = %+v, %v", apps, err)
				}
				return
			}
			app := fmt.Sprintf("x%d", i)
			_, err := c.Stop(ctxT(t), app, false)
			var cerr *control.Error
			if !errors.As(err, &cerr) || cerr.App != app || cerr.Op != wire.OpStop {
				t.Errorf("Stop %s = %v", app, err)
			}
		}()
	}
	wg.Wait()
	if _, _, err := c.Subscribe(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Subscribe(ctxT(t)); err == nil {
		t.Error("a second Subscribe succeeded")
	}
}

// TestConnectionEnd: when the LCA goes away, the events channel closes,
// requests fail with ErrClosed, and Err says why.
func TestConnectionEnd(t *testing.T) {
	ag := startAgent(t)
	c, err := control.Dial(ctxT(t), ag.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	states, events, err := c.Subscribe(ctxT(t))
	if err != nil || len(states) != 1 || states[0].Status != wire.Unknown || states[0].Host != "h1" {
		t.Fatalf("Subscribe = %+v, %v", states, err)
	}
	ag.Stop(context.Background())
	for range events {
	}
	<-c.Done()
	if c.Err() == nil {
		t.Error("Err is nil after the LCA closed the connection")
	}
	if _, err := c.List(ctxT(t)); !errors.Is(err, control.ErrClosed) {
		t.Errorf("List after the end = %v", err)
	}
}

// TestEventsDropped: a subscriber that does not read its channel loses its
// subscription rather than hold up the connection.
func TestEventsDropped(t *testing.T) {
	ag := startAgent(t)
	c, err := control.Dial(ctxT(t), ag.Addr().String(), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, events, err := c.Subscribe(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// One event at a time, each delivered to the channel before the next
	// (the LCA's own queue never fills): the client's buffer overflows.
	def := agent.AppDef{Name: "gw1", CommandLine: "/bin/true", SML: agent.DefaultSML()}
	for i := 0; ; i++ {
		def.AutoRestart = i%2 == 0
		ag.Apply(agent.Defs{Apps: []agent.AppDef{def}})
		deadline := time.Now().Add(10 * time.Second)
		for len(events) < min(i+1, control.EventBuffer) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		select {
		case <-c.Done():
		default:
			if i < 10*control.EventBuffer {
				continue
			}
		}
		break
	}
	<-c.Done()
	n := 0
	for range events {
		n++
	}
	if !errors.Is(c.Err(), control.ErrEventsDropped) || n != control.EventBuffer {
		t.Errorf("Err = %v after %d events; want ErrEventsDropped after %d", c.Err(), n, control.EventBuffer)
	}
}
