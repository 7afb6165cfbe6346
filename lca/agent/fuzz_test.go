package agent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/lca/agent"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

// fuzzMarker is the id of the list request that ends a fuzzed control
// connection's stream.
const fuzzMarker = 18446744073709551614

// FuzzFirstMessage writes each input on a new connection to a running
// agent, as any local process may (docs/lca-protocol.md). Unless its first
// line is a hello with the control token, the agent answers at most one
// message — an error saying what was wrong, for every complete first line
// within MaxLine — and closes the connection. After the right hello, it
// says welcome and answers every later line exactly once (a result or an
// error), until a line over MaxLine closes the connection. Everything it
// sends decodes, and it still serves a control client afterwards. The
// agent has no applications: a register is always refused, and no
// process is started, signalled or adopted because of an input.
func FuzzFirstMessage(f *testing.F) {
	hello := `{"op":"hello","token":"` + token + `"}` + "\n"
	for _, s := range []string{
		`{"op":"register","app":"gw1","pid":1,"type":"WebRTC_Gateway"}` + "\n",
		`{"op":"register","app":"gw1"}` + "\n",
		`{"op":"hello","token":"wrong"}` + "\n",
		`{"op":"heartbeat"}` + "\n",
		`{"op":"status","status":"Dancing"}` + "\n",
		"hello there\n",
		`{"op":"register","app":"gw1","pid":1}`,
		"\n",
		"",
		`{"op":"register","app":"` + strings.Repeat("x", wire.MaxLine) + "\"}\n",
		hello,
		hello + `{"op":"list","id":1}` + "\n" + `{"op":"subscribe","id":2}` + "\n" + `{"op":"start","id":3,"app":"gw1"}` + "\n",
		hello + `{"op":"stop","id":4,"app":"gw1","force":true}` + "\n" + `{"op":"suspend","id":5}` + "\n" + hello + "junk\n\n",
		hello + `{"op":"list","id":6}`,
		hello + `{"op":"x","detail":"` + strings.Repeat("y", wire.MaxLine) + "\"}\n" + `{"op":"list","id":7}` + "\n",
	} {
		f.Add([]byte(s))
	}
	addr, probe := startFuzzAgent(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		first, rest, complete := bytes.Cut(input, []byte("\n"))
		m, err := wire.Decode(first)
		if complete && err == nil && m.Op == wire.OpHello && m.Token == token && len(first)+1 <= wire.MaxLine+1 {
			fuzzControl(t, addr, input, rest)
		} else {
			fuzzRefused(t, addr, input, complete && len(first)+1 <= wire.MaxLine+1)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := probe.List(ctx); err != nil {
			t.Fatalf("the LCA no longer serves a control client: %v", err)
		}
	})
}

// fuzzRefused sends input and reads until the agent closes: at most one
// message, an error, and exactly one when the first line was complete.
func fuzzRefused(t *testing.T, addr string, input []byte, firstComplete bool) {
	t.Helper()
	nc := dialFuzz(t, addr)
	nc.Write(input)
	nc.(*net.TCPConn).CloseWrite()
	msgs := readAll(t, nc)
	if len(msgs) > 1 || (firstComplete && len(msgs) != 1) {
		t.Fatalf("first line %.100q: the agent answered %d messages %+v, want one error", input, len(msgs), msgs)
	}
	for _, m := range msgs {
		if m.Op != wire.OpError || strings.TrimSpace(m.Error) == "" {
			t.Fatalf("first line %.100q: the agent answered %+v, want an error saying why", input, m)
		}
	}
}

// fuzzControl sends input, then a list request with fuzzMarker, and checks
// the welcome and one answer per line up to the marker's.
func fuzzControl(t *testing.T, addr string, input, rest []byte) {
	t.Helper()
	nc := dialFuzz(t, addr)
	defer nc.Close()
	lines := bytes.Split(rest, []byte("\n")) // the marker's line ends the last one
	tooLong := false
	for _, l := range lines {
		tooLong = tooLong || len(l)+1 > wire.MaxLine+1
	}
	go func() {
		nc.Write(input)
		nc.Write([]byte("\n{\"op\":\"list\",\"id\":18446744073709551614}\n"))
	}()
	wc := wire.NewConn(nc)
	welcome, err := wc.Read()
	if err != nil && tooLong {
		return // a line over MaxLine closes at once: what was queued is dropped
	}
	if err != nil || welcome.Op != wire.OpWelcome || welcome.Host != "h1" {
		t.Fatalf("after the right hello: %+v, %v; want welcome from h1", welcome, err)
	}
	answers := 0
	for {
		m, err := wc.Read()
		if err != nil {
			if !tooLong {
				t.Fatalf("%.200q: the connection ended after %d answers (%v) before the list of the end", input, answers, err)
			}
			return
		}
		if m.Op == wire.OpResult && m.ID == fuzzMarker {
			break
		}
		if m.Op != wire.OpResult && m.Op != wire.OpError {
			t.Fatalf("%.200q: answer %+v is neither result nor error", input, m)
		}
		if m.Op == wire.OpError && strings.TrimSpace(m.Error) == "" {
			t.Fatalf("%.200q: an error that does not say why", input)
		}
		answers++
	}
	if tooLong {
		t.Fatalf("%.200q: a line over %d bytes did not end the connection", input, wire.MaxLine)
	}
	if answers != len(lines) {
		t.Fatalf("%.200q: %d answers to %d lines", input, answers, len(lines))
	}
}

func dialFuzz(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the LCA refuses connections: %v", err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return nc
}

// readAll reads messages until the agent closes the connection; each one
// must decode.
func readAll(t *testing.T, nc net.Conn) []wire.Message {
	t.Helper()
	defer nc.Close()
	wc := wire.NewConn(nc)
	var out []wire.Message
	for {
		m, err := wc.Read()
		switch {
		case err == nil:
			out = append(out, m)
		case errors.Is(err, io.EOF):
			return out
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, wire.ErrTooLong):
			t.Fatalf("the agent sent a broken line: %v", err)
		default:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the agent did not close the connection: %v", err)
			}
			if strings.Contains(err.Error(), "reset") {
				return out // it closed with input left unread
			}
			t.Fatalf("the agent sent a line that does not decode: %v", err)
		}
	}
}

// startFuzzAgent runs an agent with no applications on a loopback port and
// returns its address and a control client signed in to it.
func startFuzzAgent(f *testing.F) (string, *control.Client) {
	cfg := fast()
	cfg.Listen, cfg.DataDir, cfg.ControlToken, cfg.Host = "127.0.0.1:0", f.TempDir(), token, "h1"
	ag := agent.New(cfg, agent.Deps{Log: hclog.NewNullLogger()})
	if err := ag.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	addr := ag.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	probe, err := control.Dial(ctx, addr, token)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		probe.Close()
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ag.Stop(stop); err != nil {
			f.Errorf("Stop = %v", err)
		}
	})
	return addr, probe
}
