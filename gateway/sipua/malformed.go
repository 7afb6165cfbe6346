package sipua

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/go-hclog"
)

// Excerpt sizes: a malformed message or its parse error is logged by its
// first bytes only, so that a flood of big datagrams cannot fill the disk.
const (
	excerptBytes = 64
	reasonBytes  = 120
)

// readSources remembers where the last read of any transport came from:
// sipgo's reports of a bad message do not say.
type readSources struct {
	mu   sync.Mutex
	last net.Addr
}

// noteRead records the source of a read about to be parsed; it is sipgo's
// read filter, which runs in the goroutine that parses the read next.
func (s *readSources) noteRead(p sip.TransportReadProps, data []byte) ([]byte, error) {
	s.mu.Lock()
	s.last = p.RemoteAddr
	s.mu.Unlock()
	return data, nil
}

// lastFrom returns the source of the last read. For UDP on the SIP port it
// is the datagram that failed to parse (one goroutine reads and parses);
// with reads from several connections at once, or for what sipgo reports
// after handing the message on, it can name another one.
func (s *readSources) lastFrom() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return "unknown"
	}
	return s.last.String()
}

// dropCounter counts SIP messages dropped for one reason that outsiders
// control. Each is logged at debug with a short excerpt; a warning sums
// them up once per period, so that a flood grows the log by a few lines,
// not by its own size (SECURITY-CASES 29).
type dropCounter struct {
	log       hclog.Logger
	period    time.Duration
	one, many string // the debug line's message, the summary's

	mu      sync.Mutex
	count   int    // since the last summary
	total   uint64 // since start
	from    string // the last one's source
	excerpt string // the last one's first bytes
	timer   *time.Timer
	stopped bool
}

// add counts one message from with its excerpt and the reason.
func (c *dropCounter) add(from, excerpt, reason string) {
	c.log.Debug(c.one, "from", from, "excerpt", excerpt, "error", reason)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.count++
	c.total++
	c.from, c.excerpt = from, excerpt
	if c.timer == nil {
		c.timer = time.AfterFunc(c.period, c.summarise)
	}
}

// summarise logs the warning for the period that ends.
func (c *dropCounter) summarise() {
	c.mu.Lock()
	n, total, from, ex := c.count, c.total, c.from, c.excerpt
	c.count, c.timer = 0, nil
	c.mu.Unlock()
	if n > 0 {
		c.log.Warn(c.many, "count", n, "period", c.period.String(), "last_from", from, "last_excerpt", ex, "total", total)
	}
}

// stop logs what the current period counted so far and counts no more.
func (c *dropCounter) stop() {
	c.mu.Lock()
	c.stopped = true
	pending := c.timer != nil && c.timer.Stop()
	c.mu.Unlock()
	if pending {
		c.summarise()
	}
}

// dropped returns how many messages were counted since start.
func (c *dropCounter) dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// excerpt returns the first max bytes of s, with what is not printable
// ASCII escaped as in a Go string, and the full size when it was cut.
func excerpt(s string, max int) string {
	cut := s
	if len(cut) > max {
		cut = cut[:max]
	}
	q := strconv.QuoteToASCII(cut)
	q = q[1 : len(q)-1]
	if len(s) > max {
		q += "... (" + strconv.Itoa(len(s)) + " bytes)"
	}
	return q
}

// sipgoLog is the slog handler of a transport's sipgo layers. It passes
// records on to next, except sipgo's reports of one bad incoming message,
// which it counts. sipgo v1.7 logs those at ERROR, some with the whole
// message:
//
//   - "failed to parse" (transport_udp.go parseAndHandle, transport_tcp.go
//     parseStream): malformed;
//   - "Server tx failed to handle request" or "Client tx failed to handle
//     response" whose error is "make key failed": a message without the
//     Via, CSeq, … a transaction needs, malformed (sipgo answers a request
//     with 400 itself, and logs "Failed to send stateless 400 for malformed
//     request" when it cannot: that goes on at debug);
//   - "Server tx failed to handle request" whose error is "get connection
//     failed": a request over a connection closed before the answer, whose
//     Via names an address that cannot be reached (RFC 3261 section
//     18.2.2): unanswered.
//
// TestMalformedFlood fails if an upgrade renames them.
type sipgoLog struct {
	next       slog.Handler
	reads      *readSources
	malformed  *dropCounter
	unanswered *dropCounter
}

func (h sipgoLog) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelError || h.next.Enabled(ctx, lv)
}

func (h sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		reason := recordAttr(r, "error")
		switch {
		case r.Message == "failed to parse":
			h.malformed.add(h.reads.lastFrom(), excerpt(recordAttr(r, "data"), excerptBytes), excerpt(reason, reasonBytes))
			return nil
		case (r.Message == "Server tx failed to handle request" || r.Message == "Client tx failed to handle response") &&
			strings.Contains(reason, "make key failed"):
			h.malformed.add(h.reads.lastFrom(), excerpt(recordAttr(r, "req"), excerptBytes), excerpt(reason, reasonBytes))
			return nil
		case r.Message == "Server tx failed to handle request" && strings.Contains(reason, "get connection failed"):
			h.unanswered.add(h.reads.lastFrom(), excerpt(recordAttr(r, "req"), excerptBytes), excerpt(reason, reasonBytes))
			return nil
		case r.Message == "Failed to send stateless 400 for malformed request":
			r.Level = slog.LevelDebug
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h sipgoLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.next = h.next.WithAttrs(attrs)
	return h
}

func (h sipgoLog) WithGroup(name string) slog.Handler {
	h.next = h.next.WithGroup(name)
	return h
}

// recordAttr returns the value of r's attribute key as text ("" if absent).
func recordAttr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Resolve().String()
			return false
		}
		return true
	})
	return v
}
