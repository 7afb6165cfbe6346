// Package client is the application side of the Local Control Agent
// protocol (docs/lca-protocol.md): a daemon registers with the LCA of its
// host, reports its status, heartbeats, and receives commands.
//
// It never blocks the daemon: SetStatus only records the status; one
// goroutine connects, re-registers after the LCA restarts (reporting the
// current status again), and reconnects with exponential backoff and jitter
// while the LCA is absent.
package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/lca/wire"
)

// Config says which LCA and who we are.
type Config struct {
	Address string // host:port of the LCA; "" is 127.0.0.1:4999
	App     string // the application's name
	Type    string // the application's type, for people
	Version string
	PID     int // 0: this process
	// MinBackoff and MaxBackoff bound the reconnection delay (0: 500 ms
	// and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Liveness, when true, sends a heartbeat only if the daemon called
	// Alive within the heartbeat period: a daemon whose main loop is stuck
	// then looks hung to the LCA, as it should. False: heartbeats go out on
	// their own.
	Liveness bool
}

// Deps are the client's collaborators.
type Deps struct {
	Log  hclog.Logger
	Dial func(ctx context.Context, network, address string) (net.Conn, error) // nil: net.Dialer
}

// Client is a registration with the LCA.
type Client struct {
	cfg      Config
	log      hclog.Logger
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
	commands chan string

	first     chan struct{} // closed once the first registration attempt is over
	firstOnce sync.Once

	mu        sync.Mutex
	status    wire.Status
	detail    string
	changed   chan struct{} // closed and replaced when the status changes
	connected bool
	alive     time.Time // when Alive was last called
	stalled   bool      // a heartbeat was held back (logged once)
}

// New returns a client; Run connects it.
func New(cfg Config, deps Deps) *Client {
	if cfg.Address == "" {
		cfg.Address = net.JoinHostPort("127.0.0.1", strconv.Itoa(wire.DefaultPort))
	}
	if cfg.PID == 0 {
		cfg.PID = pid()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	log := deps.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	dial := deps.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	}
	return &Client{cfg: cfg, log: log, dial: dial, commands: make(chan string, 4), first: make(chan struct{}),
		status: wire.Initializing, changed: make(chan struct{})}
}

// FirstAttempt is closed once the first registration attempt is over: the
// application registered and its status then was sent, or the attempt
// failed (no LCA, a refusal). A daemon that waits for it before it starts
// its work shows the LCA its Initializing status.
func (c *Client) FirstAttempt() <-chan struct{} { return c.first }

func (c *Client) firstOver() { c.firstOnce.Do(func() { close(c.first) }) }

// Commands delivers the LCA's commands (wire.CommandSuspend, wire.CommandStop).
func (c *Client) Commands() <-chan string { return c.commands }

// SetStatus records the application's status and sends it to the LCA when
// connected; it never blocks.
func (c *Client) SetStatus(s wire.Status, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == s && c.detail == detail {
		return
	}
	c.status, c.detail = s, detail
	close(c.changed)
	c.changed = make(chan struct{})
}

// Alive tells the client the daemon is making progress (Config.Liveness).
func (c *Client) Alive() {
	c.mu.Lock()
	c.alive = time.Now()
	c.mu.Unlock()
}

// Status returns the status last set.
func (c *Client) Status() (wire.Status, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status, c.detail
}

// Connected reports whether the client is registered right now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Run keeps the registration until ctx is done. A status set before ctx
// ends is still sent (the daemon sets Stopped, then cancels): the LCA then
// knows it stopped on purpose and did not die.
func (c *Client) Run(ctx context.Context) {
	backoff := c.cfg.MinBackoff
	quiet := false // the LCA's absence was logged already
	defer c.firstOver()
	for ctx.Err() == nil {
		registered, err := c.session(ctx)
		c.firstOver()
		if ctx.Err() != nil {
			return
		}
		if registered {
			backoff, quiet = c.cfg.MinBackoff, false
		}
		var refused *RefusedError
		switch {
		case errors.As(err, &refused):
			c.log.Error("the local control agent refused the registration", "lca", c.cfg.Address, "error", refused.Reason)
		case !quiet:
			c.log.Warn("no connection to the local control agent; retrying in the background", "lca", c.cfg.Address, "error", err)
			quiet = true
		default:
			c.log.Debug("local control agent still unreachable", "lca", c.cfg.Address, "error", err)
		}
		// Jitter over [backoff/2, backoff]: applications of an LCA that
		// restarts do not all come back at the same instant.
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		backoff = min(backoff*2, c.cfg.MaxBackoff)
	}
}

// RefusedError is the LCA's answer to a refused registration.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "registration refused: " + e.Reason }

// session is one connection: register, then report, heartbeat and read
// commands until it breaks or ctx ends.
func (c *Client) session(ctx context.Context) (registered bool, err error) {
	conn, err := c.dial(ctx, "tcp", c.cfg.Address)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	wc := wire.NewConn(conn)
	// Until registered, a silent LCA must not hold us.
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wc.Write(wire.Message{Op: wire.OpRegister, App: c.cfg.App, PID: c.cfg.PID, Type: c.cfg.Type, Version: c.cfg.Version}); err != nil {
		return false, err
	}
	m, err := wc.Read()
	if err != nil {
		return false, err
	}
	switch m.Op {
	case wire.OpRegistered:
	case wire.OpError:
		return false, &RefusedError{Reason: m.Error}
	default:
		return false, fmt.Errorf("unexpected %q answer to register", m.Op)
	}
	conn.SetDeadline(time.Time{})
	c.log.Info("registered with the local control agent", "lca", c.cfg.Address, "heartbeat_period", m.HeartbeatPeriod)
	c.setConnected(true)
	defer c.setConnected(false)

	// The reader hands over what the LCA sends; the writer below owns the
	// connection's writes. Closing conn (deferred) ends the reader.
	period := make(chan int, 1)
	period <- m.HeartbeatPeriod
	readErr := make(chan error, 1)
	go func() {
		for {
			m, err := wc.Read()
			if err != nil {
				readErr <- err
				return
			}
			switch m.Op {
			case wire.OpCommand:
				c.log.Info("command from the local control agent", "command", m.Command)
				select {
				case c.commands <- m.Command:
				default:
					c.log.Warn("command dropped: the previous ones are not handled yet", "command", m.Command)
				}
			case wire.OpConfig:
				select {
				case <-period:
				default:
				}
				period <- m.HeartbeatPeriod
			case wire.OpError:
				c.log.Warn("the local control agent reports an error", "error", m.Error)
			}
		}
	}()

	var sent wire.Status
	var sentDetail string
	var tick *time.Ticker
	var tickC <-chan time.Time
	var hbPeriod int
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for {
		c.mu.Lock()
		status, detail, changed := c.status, c.detail, c.changed
		c.mu.Unlock()
		if status != sent || detail != sentDetail {
			if err := c.write(conn, wc, wire.Message{Op: wire.OpStatus, Status: status, Detail: detail}); err != nil {
				return true, err
			}
			sent, sentDetail = status, detail
		}
		c.firstOver()
		select {
		case <-ctx.Done():
			// Flush a last status set just before the end.
			if status, detail := c.Status(); status != sent || detail != sentDetail {
				conn.SetWriteDeadline(time.Now().Add(time.Second))
				wc.Write(wire.Message{Op: wire.OpStatus, Status: status, Detail: detail})
			}
			return true, nil
		case err := <-readErr:
			return true, fmt.Errorf("connection to the local control agent lost: %w", err)
		case p := <-period:
			hbPeriod = p
			if tick != nil {
				tick.Stop()
				tick, tickC = nil, nil
			}
			if p > 0 {
				// A third of the period: two heartbeats may be late before
				// the LCA takes us for hung.
				tick = time.NewTicker(time.Duration(p) * time.Second / 3)
				tickC = tick.C
			}
		case <-tickC:
			c.mu.Lock()
			alive := !c.cfg.Liveness || time.Since(c.alive) < time.Duration(hbPeriod)*time.Second
			logIt := alive == c.stalled
			c.stalled = !alive
			c.mu.Unlock()
			if logIt && !alive {
				c.log.Warn("heartbeats held back: the daemon shows no progress")
			} else if logIt {
				c.log.Info("heartbeats again: the daemon shows progress")
			}
			if !alive {
				continue
			}
			if err := c.write(conn, wc, wire.Message{Op: wire.OpHeartbeat}); err != nil {
				return true, err
			}
		case <-changed:
		}
	}
}

func (c *Client) write(conn net.Conn, wc *wire.Conn, m wire.Message) error {
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return wc.Write(m)
}

func (c *Client) setConnected(v bool) {
	c.mu.Lock()
	c.connected = v
	c.mu.Unlock()
}

func pid() int { return os.Getpid() }
