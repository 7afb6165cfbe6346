// Package ban refuses client addresses after repeated failed logins, in
// process, and logs every failure as one fixed-format line that the shipped
// fail2ban filter also reads:
//
//	<time> [WARN]  <logger>: login failed: client_ip=<ip> user="<name>" reason="<why>"
//
// client_ip always comes first, straight after the message, so nothing in the
// user name can be taken for the address.
//
// The gateway and the Configuration Server share it.
package ban

import (
	"container/list"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config holds the [security] options.
type Config struct {
	MaxFailures int           // failures within FindTime before a ban; 0: never ban
	FindTime    time.Duration // window in which failures are counted
	BanTime     time.Duration // ban length
	Exempt      []netip.Prefix
}

// DefaultMaxTracked bounds the number of addresses remembered: beyond it, the
// address whose last failure is oldest is forgotten first, so a flood of
// failures from many addresses takes bounded memory.
const DefaultMaxTracked = 100_000

// Bans counts failed logins per client address. It is safe for concurrent use.
type Bans struct {
	log        hclog.Logger
	now        func() time.Time
	maxTracked int

	mu    sync.Mutex
	cfg   Config
	addrs map[netip.Addr]*list.Element // of *entry
	lru   *list.List                   // front: most recent failure
}

type entry struct {
	addr        netip.Addr
	failures    []time.Time // within FindTime, oldest first
	bannedUntil time.Time
}

// New returns Bans applying cfg. now may be nil (time.Now).
func New(cfg Config, log hclog.Logger, now func() time.Time) *Bans {
	if now == nil {
		now = time.Now
	}
	return &Bans{log: log, now: now, maxTracked: DefaultMaxTracked, cfg: cfg,
		addrs: map[netip.Addr]*list.Element{}, lru: list.New()}
}

// SetConfig applies new options at once. Counts and bans in progress are
// kept; they are judged by the new times from now on.
func (b *Bans) SetConfig(cfg Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cfg = cfg
}

// Banned reports whether ip is refused now, and for how much longer.
func (b *Bans) Banned(ip netip.Addr) (bool, time.Duration) {
	ip = ip.Unmap()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exemptLocked(ip) {
		return false, 0
	}
	el, ok := b.addrs[ip]
	if !ok {
		return false, 0
	}
	e := el.Value.(*entry)
	now := b.now()
	if e.bannedUntil.After(now) {
		return true, e.bannedUntil.Sub(now)
	}
	return false, 0
}

// Fail records a failed login from ip for user, logs it, and reports whether
// ip is banned now (by this failure or before).
func (b *Bans) Fail(ip netip.Addr, user, reason string) bool {
	ip = ip.Unmap()
	b.log.Warn("login failed", "client_ip", ip.String(), "user", printable(user, 64), "reason", reason)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfg.MaxFailures <= 0 || b.exemptLocked(ip) {
		return false
	}
	now := b.now()
	el, ok := b.addrs[ip]
	if ok {
		b.lru.MoveToFront(el)
	} else {
		el = b.lru.PushFront(&entry{addr: ip})
		b.addrs[ip] = el
		for b.lru.Len() > b.maxTracked {
			old := b.lru.Back()
			delete(b.addrs, old.Value.(*entry).addr)
			b.lru.Remove(old)
		}
	}
	e := el.Value.(*entry)
	if e.bannedUntil.After(now) {
		return true
	}
	// Keep only the failures inside the window.
	cutoff := now.Add(-b.cfg.FindTime)
	kept := e.failures[:0]
	for _, t := range e.failures {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	e.failures = append(kept, now)
	if len(e.failures) < b.cfg.MaxFailures {
		return false
	}
	e.failures = e.failures[:0]
	e.bannedUntil = now.Add(b.cfg.BanTime)
	b.log.Warn("client banned", "client_ip", ip.String(), "ban_time", b.cfg.BanTime.String(), "failures", b.cfg.MaxFailures)
	return true
}

// Tracked returns how many addresses are remembered.
func (b *Bans) Tracked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

func (b *Bans) exemptLocked(ip netip.Addr) bool {
	for _, p := range b.cfg.Exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// printable shortens s to max runes, writes control characters as escapes
// (\r, \n, \xNN) and replaces invalid UTF-8, so that the line stays one
// readable, bounded line whatever a client sends as its user name.
func printable(s string, max int) string {
	runes := []rune(s) // invalid bytes become U+FFFD
	cut := len(runes) > max
	if cut {
		runes = runes[:max]
	}
	var b strings.Builder
	for _, r := range runes {
		switch {
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	if cut {
		b.WriteString("…")
	}
	return b.String()
}
