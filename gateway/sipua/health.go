package sipua

import (
	"errors"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Timing tunes the user agent's timers; a zero field takes its default.
// Tests shorten them; the gateway uses the defaults.
type Timing struct {
	// Debounce is how long the SIP Server's availability must hold
	// before a change is reported (Deps.Reachability). Default 5 s.
	Debounce time.Duration
	// Probe is the OPTIONS keepalive interval while the SIP Server is
	// available, ProbeDown while it is not. Defaults 30 s and 5 s.
	Probe, ProbeDown time.Duration
	// ProbeTimeout bounds one OPTIONS probe. Default 5 s.
	ProbeTimeout time.Duration
	// RetryMin and RetryMax bound the exponential backoff of a
	// registration refresh that found the SIP Server unavailable.
	// Defaults 2 s and 60 s.
	RetryMin, RetryMax time.Duration
	// RefusalHold: once a REGISTER failed for want of service, only a
	// successful REGISTER makes the SIP Server available again — or, when
	// no DN is registered, a probe answered 2xx after no REGISTER failed
	// for this long (sign-ins failing now and then must not flap with the
	// probes). Default 60 s.
	RefusalHold time.Duration
	// MalformedSummary is the period of the warnings that sum up the SIP
	// messages dropped (malformed, or requests that cannot be answered).
	// Default 1 min.
	MalformedSummary time.Duration
}

func (t Timing) withDefaults() Timing {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.Debounce, 5*time.Second)
	set(&t.Probe, 30*time.Second)
	set(&t.ProbeDown, 5*time.Second)
	set(&t.ProbeTimeout, 5*time.Second)
	set(&t.RetryMin, 2*time.Second)
	set(&t.RetryMax, 60*time.Second)
	set(&t.RefusalHold, 60*time.Second)
	set(&t.MalformedSummary, time.Minute)
	return t
}

// health judges whether the SIP Server is available from what its answers
// say, and reports a change once it has held for Timing.Debounce (the first
// verdict after start at once). Two kinds of evidence:
//
//   - silent: the last probe (OPTIONS) or INVITE got no answer, a transport
//     error, or 503 to the probe. Any other answer ends it: a server that
//     answers 404 or 405 to OPTIONS is alive, it just does not support them
//     (RFC 3261 section 11 lets a UAS refuse OPTIONS).
//   - refused: a REGISTER failed for want of service (503, 408, 504, no
//     answer; RFC 3261 section 21.5.4) since the last one that succeeded,
//     or the server went silent while DNs are registered (their bindings
//     are in doubt: it may have restarted). Registrations are what the
//     gateway needs, so this lasts until a REGISTER succeeds — or, with no
//     DN registered, until a probe is answered 2xx and no REGISTER failed
//     for Timing.RefusalHold. When the server answers again after a
//     silence, the registrations refresh at once to settle it.
//
// The server is available when neither holds.
type health struct {
	mu        sync.Mutex
	silent    bool
	refused   bool
	refusedAt time.Time
	why       error       // what made it unavailable last
	up        bool        // what the evidence says now
	reported  bool        // what was last reported
	timer     *time.Timer // reports up once it held for Debounce; nil when up == reported
	changes   int         // changes reported
	judged    bool        // some evidence came: the next change is debounced
	stopped   bool

	reportMu sync.Mutex // one report at a time, in order
}

// evidence kinds for noteHealth.
type evidence int

const (
	registerOK          evidence = iota // a REGISTER succeeded
	registerUnavailable                 // a REGISTER failed: 503, 408, 504, no answer
	probeOK                             // a probe was answered 2xx
	probeAlive                          // a probe or INVITE was answered (not 503 to a probe)
	probeSilent                         // a probe or INVITE got no answer, a transport error; a probe 503
)

// noteHealth records one piece of evidence (why: the failure, for the log).
func (u *UA) noteHealth(e evidence, why error) {
	registered := u.registeredCount()
	h := &u.health
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	wasSilent := h.silent
	now := time.Now()
	switch e {
	case registerOK:
		h.refused = false
	case registerUnavailable:
		h.refused, h.refusedAt, h.why = true, now, why
	case probeOK:
		h.silent = false
		if h.refused && registered == 0 && now.Sub(h.refusedAt) >= u.timing.RefusalHold {
			h.refused = false
		}
	case probeAlive:
		h.silent = false
	case probeSilent:
		h.silent, h.why = true, why
		if registered > 0 {
			// Until a refresh says otherwise: a probe answered again
			// alone would report Running before the first refresh to a
			// server that restarted refusing registrations.
			h.refused, h.refusedAt = true, now
		}
	}
	// Answering again after a silence: the registrations refresh now, so
	// that Running comes back (or not) within a probe interval rather than
	// a backoff or a registration's lifetime.
	kick := wasSilent && !h.silent && h.refused && registered > 0
	h.up = !h.silent && !h.refused
	// The first evidence since start stands at once: a gateway started
	// while its SIP Server is down must not say Running for Debounce.
	debounce := u.timing.Debounce
	if !h.judged {
		h.judged, debounce = true, 0
	}
	switch {
	case h.up == h.reported && h.timer != nil:
		h.timer.Stop()
		h.timer = nil
	case h.up != h.reported && h.timer == nil:
		h.timer = time.AfterFunc(debounce, u.reportHealth)
	}
	h.mu.Unlock()
	if kick {
		u.kickRegistrations()
	}
}

// reportHealth reports the availability when it still differs from the
// last report: it has held for Debounce (a change back in the meantime
// stopped the timer).
func (u *UA) reportHealth() {
	h := &u.health
	h.reportMu.Lock()
	defer h.reportMu.Unlock()
	h.mu.Lock()
	h.timer = nil
	if h.stopped || h.up == h.reported {
		h.mu.Unlock()
		return
	}
	up, why := h.up, h.why
	h.reported = up
	h.changes++
	n := h.changes
	h.mu.Unlock()
	if up {
		u.log.Info("SIP Server available again", "server", u.serverAddr().String(), "changes", n)
	} else {
		u.log.Error("SIP Server unavailable", "server", u.serverAddr().String(), "error", why, "changes", n)
	}
	if u.deps.Reachability != nil {
		u.deps.Reachability(up)
	}
}

// stopHealth ends the reports; it returns once none is under way.
func (u *UA) stopHealth() {
	h := &u.health
	h.reportMu.Lock() // waits for a report under way
	defer h.reportMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
}

// evidenceUp reports what the evidence says now (before the debounce).
func (u *UA) evidenceUp() bool {
	u.health.mu.Lock()
	defer u.health.mu.Unlock()
	return u.health.up
}

// noteProbe records the outcome of an OPTIONS probe.
func (u *UA) noteProbe(res *sip.Response, err error) {
	switch {
	case err != nil:
		u.noteHealth(probeSilent, err)
	case res.StatusCode == 503:
		u.noteHealth(probeSilent, &StatusError{res.StatusCode, res.Reason})
	case res.IsSuccess():
		u.noteHealth(probeOK, nil)
	default:
		u.noteHealth(probeAlive, nil)
	}
}

// noteRegister records what a REGISTER's outcome says about the SIP
// Server: err is register's error (nil: it succeeded).
func (u *UA) noteRegister(err error) {
	switch {
	case err == nil:
		u.noteHealth(registerOK, nil)
	case errors.Is(err, ErrUnreachable):
		u.noteHealth(registerUnavailable, err)
	}
	// Other failures (refused credentials, another final status, a
	// transport closed by a reload, a caller giving up) say nothing about
	// the server's availability.
}

func (u *UA) registeredCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.regs)
}
