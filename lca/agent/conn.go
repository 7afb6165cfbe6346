package agent

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"webrtcgw/lca/wire"
)

// Connection buffers: messages queued for a peer that does not read. A
// full buffer drops the peer rather than slow the agent.
const (
	appQueue     = 64
	controlQueue = 1024
	writeTimeout = 10 * time.Second
)

// conn is one connection, application or control, after its first
// message. Its writer goroutine owns the writes.
type conn struct {
	ag     *Agent
	nc     net.Conn
	wc     *wire.Conn
	remote netip.Addr
	out    chan wire.Message
	done   chan struct{} // closed by close
	read   chan struct{} // closed when the reader has handled everything received
	once   sync.Once

	app        *app // application connections: guarded by Agent.mu
	subscribed bool // control connections: guarded by Agent.mu
}

// maxErrorText bounds the text of an error sent to a peer: it may quote
// what the peer sent (an application's name, an op), and every message
// must stay within wire.MaxLine.
const maxErrorText = 1024

// errorText returns s cut to maxErrorText bytes, at a character boundary.
func errorText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	n := maxErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// send queues m; a full queue drops the connection. It never blocks.
func (c *conn) send(m wire.Message) bool {
	m.Error = errorText(m.Error)
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.out <- m:
		return true
	default:
		c.ag.log.Warn("peer dropped: it does not read what the LCA sends", "peer", c.nc.RemoteAddr().String())
		c.close()
		return false
	}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) writer() {
	defer c.ag.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.out:
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.wc.Write(m); err != nil {
				c.close()
				return
			}
		}
	}
}

func (ag *Agent) accept() {
	defer ag.wg.Done()
	for {
		nc, err := ag.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			ag.log.Warn("accept", "error", err)
			select {
			case <-ag.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ag.mu.Lock()
		full := len(ag.conns) >= ag.cfg.MaxConns
		closed := ag.closed
		ag.mu.Unlock()
		if closed || full {
			if full {
				ag.log.Warn("connection refused: too many connections", "peer", nc.RemoteAddr().String(), "max", ag.cfg.MaxConns)
			}
			nc.Close()
			continue
		}
		ag.wg.Add(1)
		go ag.serve(nc)
	}
}

// isDecodeError tells a malformed message (the connection goes on) from a
// broken or closed connection.
func isDecodeError(err error) bool {
	var ne net.Error
	return !(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, wire.ErrTooLong) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne))
}

func remoteAddr(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// serve reads the first message and hands the connection to the
// application or control loop. Before a successful register or hello,
// every error closes the connection.
func (ag *Agent) serve(nc net.Conn) {
	defer ag.wg.Done()
	c := &conn{ag: ag, nc: nc, wc: wire.NewConn(nc), remote: remoteAddr(nc), done: make(chan struct{}), read: make(chan struct{})}
	defer close(c.read)
	ag.mu.Lock()
	if ag.closed {
		ag.mu.Unlock()
		nc.Close()
		return
	}
	ag.conns[c] = struct{}{}
	ag.mu.Unlock()
	defer func() {
		c.close()
		ag.mu.Lock()
		delete(ag.conns, c)
		delete(ag.subs, c)
		ag.mu.Unlock()
	}()

	refuse := func(msg string) {
		nc.SetWriteDeadline(time.Now().Add(time.Second))
		c.wc.Write(wire.Message{Op: wire.OpError, Error: errorText(msg)})
	}
	nc.SetReadDeadline(time.Now().Add(ag.cfg.FirstMessageTimeout))
	m, err := c.wc.Read()
	if err != nil {
		if isDecodeError(err) {
			ag.log.Warn("malformed first message; connection closed", "peer", nc.RemoteAddr().String(), "error", err)
			refuse(err.Error())
		}
		return
	}
	nc.SetReadDeadline(time.Time{})
	switch m.Op {
	case wire.OpRegister:
		if !c.remote.IsLoopback() {
			ag.log.Warn("registration refused: not from this host", "peer", nc.RemoteAddr().String(), "app", m.App)
			refuse("registrations are accepted from this host only (a loopback address)")
			return
		}
		c.out = make(chan wire.Message, appQueue)
		if err := ag.register(c, m); err != nil {
			ag.log.Warn("registration refused", "app", m.App, "pid", m.PID, "peer", nc.RemoteAddr().String(), "error", err)
			refuse(err.Error())
			return
		}
		ag.wg.Add(1)
		go c.writer()
		ag.appLoop(c)
	case wire.OpHello:
		if ag.cfg.ControlToken == "" || subtle.ConstantTimeCompare([]byte(m.Token), []byte(ag.cfg.ControlToken)) != 1 {
			ag.bans.Fail(c.remote, "lca-control", "wrong control token")
			refuse("wrong control token")
			return
		}
		c.out = make(chan wire.Message, controlQueue)
		c.send(wire.Message{Op: wire.OpWelcome, Host: ag.Host()})
		ag.wg.Add(1)
		go c.writer()
		ag.log.Debug("control connection", "peer", nc.RemoteAddr().String())
		ag.controlLoop(c)
	default:
		ag.log.Warn("connection closed: the first message must be register or hello", "peer", nc.RemoteAddr().String(), "op", m.Op)
		refuse(fmt.Sprintf("the first message must be %q or %q, not %q", wire.OpRegister, wire.OpHello, m.Op))
	}
}

// register takes a registration (docs/lca-protocol.md): refused for an
// application of another host, a pid that is not proven to be the
// registering process (provePeer), or when another live process has the
// name. The application's earlier connection, if any, is replaced.
func (ag *Agent) register(c *conn, m wire.Message) error {
	if err := ag.registrable(m); err != nil {
		return err
	}
	// Proven outside the lock: it reads /proc.
	p, err := provePeer(c.nc, m.PID, ag.userAllowed)
	if err != nil {
		return fmt.Errorf("register %s: %w", m.App, err)
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if err := ag.registrableLocked(m); err != nil {
		return err
	}
	a := ag.apps[m.App]
	if !p.proven && a.cmd == nil {
		// Without proof only a process the agent started, or one of its
		// group, is taken: it is never one the agent would not signal.
		return fmt.Errorf("register %s: the registering process cannot be verified on this system, and %s was not started by this LCA", m.App, m.App)
	}
	switch {
	case a.pid == 0:
		ag.adoptLocked(a, m.PID, p.startTicks)
	case m.PID == a.pid && (a.startTicks == 0 || p.startTicks == 0 || a.startTicks == p.startTicks):
		// The same process: its start time agrees where both are known.
	case a.group && pgid(m.PID) == a.pid:
		// A process of the group the agent created (a wrapper started it).
	case a.cmd == nil && !processAlive(a.pid, a.startTicks):
		ag.processEndedLocked(a, "process ended")
		ag.adoptLocked(a, m.PID, p.startTicks)
	default:
		return fmt.Errorf("%s already runs as pid %d", m.App, a.pid)
	}
	if old := a.conn; old != nil && old != c {
		ag.log.Info("registration replaces the previous connection", "app", m.App)
		a.conn = nil
		old.close()
	}
	if a.lostTimer != nil {
		a.lostTimer.Stop()
		a.lostTimer = nil
	}
	a.conn, c.app = c, a
	a.lost = false
	ag.log.Info("registered", "app", m.App, "pid", m.PID, "type", m.Type, "version", m.Version, "managed", a.cmd != nil, "verified", p.proven)
	c.send(wire.Message{Op: wire.OpRegistered, HeartbeatPeriod: int(a.def.SML.HeartbeatPeriod / time.Second)})
	a.hung = false
	a.lastHeard = time.Now()
	ag.armHangLocked(a)
	ag.publishLocked(a)
	return nil
}

// registrable checks what a registration says, before its pid is proven.
func (ag *Agent) registrable(m wire.Message) error {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return ag.registrableLocked(m)
}

func (ag *Agent) registrableLocked(m wire.Message) error {
	if ag.closed {
		return errors.New("the LCA is stopping")
	}
	if _, err := ag.appLocked(m.App, false); err != nil {
		if errors.Is(err, ErrNoApp) {
			return fmt.Errorf("no application %q on host %s", m.App, ag.host)
		}
		return fmt.Errorf("register: %v", err)
	}
	if m.PID <= 0 {
		return fmt.Errorf("register %s: \"pid\" is missing", m.App)
	}
	return nil
}

func pgid(pid int) int {
	g, err := syscall.Getpgid(pid)
	if err != nil {
		return 0
	}
	return g
}

// adoptLocked takes a registering process that the agent did not start
// (after the LCA restarted, or started by hand) as the application's. Its
// signals go to its pid only, never to its process group: the agent did not
// create that group, and whatever else is in it is none of its business.
func (ag *Agent) adoptLocked(a *app, pid int, startTicks uint64) {
	if a.restartTimer != nil {
		a.restartTimer.Stop()
		a.restartTimer = nil
	}
	started := processStartTime(pid)
	if started.IsZero() {
		started = time.Now()
	}
	started = started.UTC()
	a.gen++
	a.pid, a.cmd, a.startTicks, a.group = pid, nil, startTicks, false
	a.saidStopped, a.hangKill, a.hung, a.lost = false, false, false, false
	a.st.PID, a.st.Started, a.st.Managed = pid, started, false
	ag.writeRecord(a.def.Name, procRecord{PID: pid, StartTicks: a.startTicks, Started: started})
	ag.log.Info("adopted a process the LCA did not start", "app", a.def.Name, "pid", pid)
}

// appLoop reads an application's messages until its connection ends.
func (ag *Agent) appLoop(c *conn) {
	for {
		m, err := c.wc.Read()
		if err != nil {
			if isDecodeError(err) {
				c.send(wire.Message{Op: wire.OpError, Error: err.Error()})
				continue
			}
			break
		}
		switch m.Op {
		case wire.OpStatus:
			ag.appStatus(c, m)
		case wire.OpHeartbeat:
			ag.mu.Lock()
			if c.app.conn == c {
				ag.heardLocked(c.app)
			}
			ag.mu.Unlock()
		case wire.OpRegister:
			c.send(wire.Message{Op: wire.OpError, Error: "already registered on this connection"})
		default:
			c.send(wire.Message{Op: wire.OpError, Error: fmt.Sprintf("unknown op %q on an application connection", m.Op)})
		}
	}
	c.close()
	ag.appConnClosed(c)
}

func (ag *Agent) appStatus(c *conn, m wire.Message) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	a := c.app
	if a.conn != c {
		return // replaced
	}
	if !slices.Contains(wire.Reportable, m.Status) {
		if m.Status == "" {
			c.send(wire.Message{Op: wire.OpError, Error: `status: "status" is missing`})
		} else {
			c.send(wire.Message{Op: wire.OpError, Error: fmt.Sprintf("status %s is the LCA's to set; an application reports %v", m.Status, wire.Reportable)})
		}
		return
	}
	ag.heardLocked(a)
	a.reported, a.reportedMsg = m.Status, m.Detail
	a.saidStopped = m.Status == wire.Stopped
	if a.hung {
		return // being killed for its hang: it keeps Unknown
	}
	ag.setStatusLocked(a, m.Status, m.Detail)
}

// appConnClosed handles the end of a registration.
func (ag *Agent) appConnClosed(c *conn) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	a := c.app
	if ag.closed || a == nil || a.conn != c {
		return
	}
	a.conn = nil
	if a.pid == 0 {
		return
	}
	if a.saidStopped {
		ag.log.Info("application closed its connection after Stopped", "app", a.def.Name, "pid", a.pid)
		return // its end follows
	}
	ag.log.Warn("connection lost without Stopped", "app", a.def.Name, "pid", a.pid)
	a.lost = true
	gen := a.gen
	if a.lostTimer != nil {
		a.lostTimer.Stop()
	}
	a.lostTimer = time.AfterFunc(ag.cfg.LostGrace, func() { ag.lostCheck(a, gen) })
}

// controlLoop answers a control client's requests, in order.
func (ag *Agent) controlLoop(c *conn) {
	for {
		m, err := c.wc.Read()
		if err != nil {
			if isDecodeError(err) {
				c.send(wire.Message{Op: wire.OpError, Error: err.Error()})
				continue
			}
			return
		}
		var (
			st   wire.AppState
			rerr error
		)
		switch m.Op {
		case wire.OpList:
			c.send(wire.Message{Op: wire.OpResult, ID: m.ID, Apps: ag.List()})
			continue
		case wire.OpSubscribe:
			ag.subscribe(c, m.ID)
			continue
		case wire.OpStart:
			st, rerr = ag.StartApp(m.App)
		case wire.OpStop:
			st, rerr = ag.StopApp(m.App, m.Force)
		case wire.OpSuspend:
			st, rerr = ag.SuspendApp(m.App)
		case wire.OpHello:
			rerr = errors.New("already authenticated")
		default:
			rerr = fmt.Errorf("unknown op %q on a control connection", m.Op)
		}
		if rerr != nil {
			ag.log.Info("control request refused", "op", m.Op, "app", m.App, "error", rerr)
			c.send(wire.Message{Op: wire.OpError, ID: m.ID, Error: rerr.Error()})
			continue
		}
		c.send(wire.Message{Op: wire.OpResult, ID: m.ID, Apps: []wire.AppState{st}})
	}
}

// subscribe answers with every application's state and then sends every
// change: both under the lock, so nothing is missed or seen twice.
func (ag *Agent) subscribe(c *conn, id uint64) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if c.subscribed {
		c.send(wire.Message{Op: wire.OpError, ID: id, Error: "already subscribed"})
		return
	}
	c.subscribed = true
	ag.subs[c] = struct{}{}
	c.send(wire.Message{Op: wire.OpResult, ID: id, Apps: ag.listLocked()})
}
