// Package control is the control side of the Local Control Agent protocol
// (docs/lca-protocol.md), the role of the Solution Control Server: gwctl and
// tests list the applications of a host, start, stop and suspend them, and
// follow their status.
//
// A Client is one authenticated connection. Its requests may be made from
// several goroutines; one reader goroutine matches the answers to them by
// id and delivers the events of Subscribe. Close ends it.
package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"webrtcgw/lca/wire"
)

// Error is the LCA's answer to a request it refused, in its words: which
// application, and what was wrong.
type Error struct {
	Op      string // the request: hello, list, start, stop, suspend, subscribe
	App     string
	Message string
}

func (e *Error) Error() string {
	if e.App != "" && e.Op != "" && !strings.Contains(e.Message, e.App) {
		return fmt.Sprintf("lca: %s %s: %s", e.Op, e.App, e.Message)
	}
	if e.Op != "" {
		return fmt.Sprintf("lca: %s: %s", e.Op, e.Message)
	}
	return "lca: " + e.Message
}

// ErrClosed is the error of requests on a connection that has ended; Err
// says why it ended.
var ErrClosed = errors.New("lca: connection closed")

// ErrEventsDropped ends a subscription whose events were not read in time.
var ErrEventsDropped = errors.New("lca: events not read in time; subscription ended")

// EventBuffer is how many events a subscription holds for its reader.
const EventBuffer = 256

// Client is a control connection to one LCA.
type Client struct {
	nc   net.Conn
	wc   *wire.Conn
	host string
	done chan struct{} // closed when the reader ends

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan wire.Message
	events  chan wire.AppState // nil until Subscribe
	err     error              // why the connection ended
}

// Dial connects to the LCA at addr (host:port) and authenticates with its
// control token. A wrong token is an *Error.
func Dial(ctx context.Context, addr, token string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lca %s: %w", addr, err)
	}
	c := &Client{nc: nc, wc: wire.NewConn(nc), done: make(chan struct{}), pending: map[uint64]chan wire.Message{}}
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	if err := c.wc.Write(wire.Message{Op: wire.OpHello, Token: token}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("lca %s: hello: %w", addr, err)
	}
	m, err := c.wc.Read()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("lca %s: hello: %w", addr, err)
	}
	switch m.Op {
	case wire.OpWelcome:
	case wire.OpError:
		nc.Close()
		return nil, &Error{Op: wire.OpHello, Message: m.Error}
	default:
		nc.Close()
		return nil, fmt.Errorf("lca %s: unexpected %q answer to hello", addr, m.Op)
	}
	nc.SetDeadline(time.Time{})
	c.host = m.Host
	go c.read()
	return c, nil
}

// Host is the name of the LCA's host.
func (c *Client) Host() string { return c.host }

// Close ends the connection and waits for its reader.
func (c *Client) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is up, or after Close).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) read() {
	defer close(c.done)
	var err error
	for {
		var m wire.Message
		m, err = c.wc.Read()
		if err != nil {
			break
		}
		switch {
		case m.Op == wire.OpEvent && m.Event != nil:
			c.mu.Lock()
			if c.events != nil {
				select {
				case c.events <- *m.Event:
				default:
					close(c.events)
					c.events = nil
					c.err = ErrEventsDropped
					c.mu.Unlock()
					c.nc.Close()
					continue
				}
			}
			c.mu.Unlock()
		case m.ID != 0:
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
	c.mu.Lock()
	if c.err == nil && !errors.Is(err, net.ErrClosed) {
		c.err = fmt.Errorf("lca: connection lost: %w", err)
	}
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	if c.events != nil {
		close(c.events)
		c.events = nil
	}
	c.mu.Unlock()
}

// request sends m with a new id and waits for its answer.
func (c *Client) request(ctx context.Context, m wire.Message) (wire.Message, error) {
	ch := make(chan wire.Message, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return wire.Message{}, c.closedErr()
	default:
	}
	c.nextID++
	m.ID = c.nextID
	c.pending[m.ID] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.wc.Write(m)
	c.wmu.Unlock()
	if err != nil {
		c.nc.Close()
		return wire.Message{}, fmt.Errorf("lca: %s: %w", m.Op, err)
	}
	select {
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, m.ID)
		c.mu.Unlock()
		return wire.Message{}, ctx.Err()
	case ans, ok := <-ch:
		if !ok {
			return wire.Message{}, c.closedErr()
		}
		if ans.Op == wire.OpError {
			return ans, &Error{Op: m.Op, App: m.App, Message: ans.Error}
		}
		if ans.Op != wire.OpResult {
			return ans, fmt.Errorf("lca: %s: unexpected %q answer", m.Op, ans.Op)
		}
		return ans, nil
	}
}

func (c *Client) closedErr() error {
	if err := c.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return ErrClosed
}

// List returns every application of the host.
func (c *Client) List(ctx context.Context) ([]wire.AppState, error) {
	ans, err := c.request(ctx, wire.Message{Op: wire.OpList})
	return ans.Apps, err
}

func one(ans wire.Message, err error) (wire.AppState, error) {
	if err != nil {
		return wire.AppState{}, err
	}
	if len(ans.Apps) != 1 {
		return wire.AppState{}, fmt.Errorf("lca: %d applications in the answer, want 1", len(ans.Apps))
	}
	return ans.Apps[0], nil
}

// Start starts app; it returns once its process runs (StartPending).
func (c *Client) Start(ctx context.Context, app string) (wire.AppState, error) {
	return one(c.request(ctx, wire.Message{Op: wire.OpStart, App: app}))
}

// Stop stops app gracefully (force: without suspending it first); it
// returns once the stop is under way (StopPending).
func (c *Client) Stop(ctx context.Context, app string, force bool) (wire.AppState, error) {
	return one(c.request(ctx, wire.Message{Op: wire.OpStop, App: app, Force: force}))
}

// Suspend tells app to finish its work and take no more.
func (c *Client) Suspend(ctx context.Context, app string) (wire.AppState, error) {
	return one(c.request(ctx, wire.Message{Op: wire.OpSuspend, App: app}))
}

// Subscribe returns every application's state now, and a channel of every
// change from then on, in order. The channel is closed when the connection
// ends, or when the caller falls EventBuffer events behind (Err is then
// ErrEventsDropped). One subscription per Client.
func (c *Client) Subscribe(ctx context.Context) ([]wire.AppState, <-chan wire.AppState, error) {
	events := make(chan wire.AppState, EventBuffer)
	c.mu.Lock()
	if c.events != nil {
		c.mu.Unlock()
		return nil, nil, errors.New("lca: already subscribed")
	}
	// Set before the request: events may follow the answer at once.
	c.events = events
	c.mu.Unlock()
	ans, err := c.request(ctx, wire.Message{Op: wire.OpSubscribe})
	if err != nil {
		c.mu.Lock()
		if c.events == events {
			c.events = nil
			close(events)
		}
		c.mu.Unlock()
		return nil, nil, err
	}
	return ans.Apps, events, nil
}
