package web

import (
	"container/list"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"webrtcgw/options"
)

// maxTrackedClients bounds the client addresses remembered without a
// session (their sign-in rate): beyond it the least recently seen is
// forgotten, so sign-ins from a million addresses take bounded memory.
const maxTrackedClients = 100_000

// limitLogEvery bounds the warnings about one client address being
// limited: a flood is logged once a minute, not once a request.
const limitLogEvery = time.Minute

// admission limits what one client address may take of the gateway: the
// rate of its sign-ins (a token bucket), its sessions and its anonymous
// sessions; and what anonymous sessions may take in all. A flood of
// sign-ins from one address (or of anonymous ones from many) then cannot
// fill max-sessions and keep agents out. It is safe for concurrent use.
type admission struct {
	log hclog.Logger

	mu        sync.Mutex
	clients   map[netip.Prefix]*clientState
	idle      *list.List // of *clientState without a session; front: most recently seen
	anonymous int        // anonymous sessions in all
	maxIdle   int
}

// clientState is what admission knows of one client address.
type clientState struct {
	key                 netip.Prefix
	sessions, anonymous int
	bucket              *rate.Limiter // nil: no rate limit when it was made
	idleEl              *list.Element // in admission.idle while sessions == 0
	loggedAt            time.Time     // last warning about this client
}

func newAdmission(log hclog.Logger) *admission {
	return &admission{log: log, clients: map[netip.Prefix]*clientState{}, idle: list.New(), maxIdle: maxTrackedClients}
}

// clientKey is the unit limits count by: the address, or for IPv6 its /64
// (one subscriber's prefix: an address per request costs it nothing).
func clientKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// refusal is a sign-in admission refused: the status, the text for the
// browser and, for a rate limit, when to try again.
type refusal struct {
	status     int
	msg        string
	retryAfter time.Duration
}

func (r *refusal) write(w http.ResponseWriter) {
	if r.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int((r.retryAfter+time.Second-1)/time.Second)))
	}
	textError(w, r.status, r.msg)
}

// clientLocked returns the state of key, made when missing; it is taken
// off the idle list (the caller puts it back, touchLocked).
func (a *admission) clientLocked(key netip.Prefix) *clientState {
	c := a.clients[key]
	if c == nil {
		c = &clientState{key: key}
		a.clients[key] = c
	}
	if c.idleEl != nil {
		a.idle.Remove(c.idleEl)
		c.idleEl = nil
	}
	return c
}

// touchLocked files c as recently seen: on the idle list when it has no
// session, forgetting the least recently seen beyond maxIdle.
func (a *admission) touchLocked(c *clientState) {
	if c.sessions > 0 {
		return
	}
	c.idleEl = a.idle.PushFront(c)
	for a.idle.Len() > a.maxIdle {
		old := a.idle.Remove(a.idle.Back()).(*clientState)
		old.idleEl = nil
		delete(a.clients, old.key)
	}
}

// allow takes one sign-in from ip's bucket (web/sign-in-rate, -burst).
func (a *admission) allow(ip netip.Addr, w options.Web, now time.Time) *refusal {
	if w.SignInRate <= 0 {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clientLocked(clientKey(ip))
	defer a.touchLocked(c)
	limit := rate.Limit(w.SignInRate)
	if c.bucket == nil {
		c.bucket = rate.NewLimiter(limit, w.SignInBurst)
	} else if c.bucket.Limit() != limit || c.bucket.Burst() != w.SignInBurst {
		c.bucket.SetLimitAt(now, limit)
		c.bucket.SetBurstAt(now, w.SignInBurst)
	}
	r := c.bucket.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if r.OK() && d == 0 {
		return nil
	}
	r.CancelAt(now)
	a.limitedLocked(c, ip, now, "sign-in-rate")
	return &refusal{status: http.StatusTooManyRequests, msg: "too many sign-ins from this address", retryAfter: max(d, time.Second)}
}

// admit counts a new session of ip against the per-client and anonymous
// limits; release undoes it when the session ends.
func (a *admission) admit(ip netip.Addr, anonymous bool, w options.Web, now time.Time) *refusal {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clientLocked(clientKey(ip))
	defer a.touchLocked(c)
	switch {
	case w.MaxSessionsPerClient > 0 && c.sessions >= w.MaxSessionsPerClient:
		a.limitedLocked(c, ip, now, "max-sessions-per-client")
		return &refusal{status: http.StatusTooManyRequests, msg: "too many sessions from this address"}
	case anonymous && w.MaxAnonymousPerClient > 0 && c.anonymous >= w.MaxAnonymousPerClient:
		a.limitedLocked(c, ip, now, "max-anonymous-per-client")
		return &refusal{status: http.StatusTooManyRequests, msg: "too many anonymous sessions from this address"}
	case anonymous && w.MaxAnonymousSessions > 0 && a.anonymous >= w.MaxAnonymousSessions:
		a.limitedLocked(c, ip, now, "max-anonymous-sessions")
		return &refusal{status: http.StatusServiceUnavailable, msg: "the gateway takes no more anonymous sessions; try again later"}
	}
	c.sessions++
	if anonymous {
		c.anonymous++
		a.anonymous++
	}
	return nil
}

// release ends a session admit counted.
func (a *admission) release(ip netip.Addr, anonymous bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[clientKey(ip)]
	if c == nil || c.sessions == 0 {
		return
	}
	c.sessions--
	if anonymous {
		c.anonymous--
		a.anonymous--
	}
	a.touchLocked(c)
}

// limitedLocked logs that c hit limit, at most once per limitLogEvery.
func (a *admission) limitedLocked(c *clientState, ip netip.Addr, now time.Time, limit string) {
	if now.Sub(c.loggedAt) < limitLogEvery {
		a.log.Debug("sign-in refused", "client_ip", ip, "limit", limit)
		return
	}
	c.loggedAt = now
	a.log.Warn("sign-ins refused from a client address that reached a limit (logged once a minute)", "client_ip", ip, "limit", limit,
		"sessions", c.sessions, "anonymous", c.anonymous)
}

// tracked returns how many client addresses are remembered.
func (a *admission) tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.clients)
}
