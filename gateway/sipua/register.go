package sipua

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// maxChallenges is how many digest challenges one REGISTER answers before
// giving up: a server that challenges every attempt with a new nonce would
// otherwise keep us looping (SECURITY-CASES 16).
const maxChallenges = 3

// registerTimeout bounds one REGISTER transaction (RFC 3261 Timer F is 32 s;
// a browser waits for its sign-in, so give up sooner).
const registerTimeout = 10 * time.Second

// Registration is one DN registered with the SIP Server. It refreshes itself
// before it expires and retries with backoff while the server is down.
type Registration struct {
	u        *UA
	DN       string
	password string
	callID   string

	mu      sync.Mutex
	cseq    uint32
	t       *transport // transport it is registered through
	expires time.Duration
	stop    chan struct{}
	done    chan struct{}
	kick    chan struct{} // refresh now
	// doubt holds the Contacts of REGISTERs whose answer a closing
	// transport cut: the SIP Server may hold those bindings. The next
	// exchange that succeeds removes them.
	doubt map[string]sip.ContactHeader
	lost  func(error) // told when the registration is refused on refresh
}

// Register registers dn with password (empty: no credentials) and keeps it
// registered until Unregister. lost is told, once, if the SIP Server later
// refuses a refresh. Errors: ErrAuth (a failed login), ErrUnreachable,
// ErrNoServer, *StatusError.
func (u *UA) Register(ctx context.Context, dn, password string, lost func(error)) (*Registration, error) {
	if err := CheckUser(dn); err != nil {
		return nil, err
	}
	if u.ctx == nil || u.ctx.Err() != nil {
		return nil, ErrStopped
	}
	// One REGISTER exchange of a DN at a time: a sign-out still removing
	// the binding would otherwise undo this sign-in (same Contact).
	unlock, err := u.lockDN(ctx, dn)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r := &Registration{u: u, DN: dn, password: password, callID: uuid.NewString(), cseq: 1,
		stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1), lost: lost}
	if err := r.register(ctx, false); err != nil {
		return nil, err
	}
	u.mu.Lock()
	if old := u.regs[dn]; old != nil {
		// A second sign-in for the same DN takes over; the old one just stops
		// refreshing (the binding is the same Contact).
		old.halt()
	}
	u.regs[dn] = r
	u.mu.Unlock()
	u.wg.Add(1)
	go r.refreshLoop()
	return r, nil
}

// Password returns the password the DN signed in with (for INVITE challenges).
func (r *Registration) Password() string { return r.password }

// register sends one REGISTER (answering digest challenges); unregister
// sends Expires 0. What the outcome says about the SIP Server's
// availability goes to its health.
func (r *Registration) register(ctx context.Context, unregister bool) error {
	err := r.send(ctx, unregister)
	r.u.noteRegister(err)
	return err
}

// send is one REGISTER exchange of register.
func (r *Registration) send(ctx context.Context, unregister bool) error {
	u := r.u
	t := u.tr.Load()
	if t == nil {
		return ErrStopped
	}
	target, err := u.serverURI("")
	if err != nil {
		return err
	}
	target.User = ""
	aor, _ := u.serverURI(r.DN)
	aor.UriParams = nil
	expires := int(u.opts.Load().RegisterExpires / time.Second)
	// bound is the transport whose Contact the request registers; t the
	// one it goes through. They differ only for the removal of a binding
	// made through a transport that a reload has closed since.
	bound := t
	if unregister {
		expires = 0
		r.mu.Lock()
		if r.t != nil {
			bound = r.t // remove the binding where it was made
			if !r.t.isClosing() {
				t = r.t
			}
		}
		r.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()

	retried := false
	for attempt := 0; attempt < 2; attempt++ { // a second try for 423 Interval Too Brief
		contact := bound.contact(r.DN)
		res, err := r.exchange(ctx, t, target, aor, contact, expires)
		if errors.Is(err, errTransportClosed) && expires > 0 {
			r.mu.Lock()
			if r.doubt == nil {
				r.doubt = map[string]sip.ContactHeader{}
			}
			r.doubt[contact.Address.String()] = contact
			r.mu.Unlock()
		}
		if errors.Is(err, errTransportClosed) && !retried {
			// A reload replaced the transport under the request: once
			// more through the one that takes its place.
			if next := u.successor(ctx, t); next != nil {
				t, retried = next, true
				if !unregister {
					bound = next
				}
				attempt--
				continue
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, errTransportClosed):
				return err
			case errors.Is(ctx.Err(), context.Canceled):
				// The caller gave up (or the UA stops): no verdict on
				// the SIP Server.
				return fmt.Errorf("REGISTER: %w", ctx.Err())
			case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTransportError(err):
				return fmt.Errorf("%w: %v", ErrUnreachable, err)
			}
			return err
		}
		switch {
		case res.IsSuccess():
			r.mu.Lock()
			moved := r.t
			r.t = t
			r.expires = grantedExpiry(res, contact, time.Duration(expires)*time.Second)
			doubt := r.doubt
			r.doubt = nil
			r.mu.Unlock()
			if !unregister && moved != nil && moved != t {
				old := moved.contact(r.DN)
				delete(doubt, old.Address.String())
				r.dropBinding(ctx, t, target, aor, old, contact)
			}
			for _, old := range doubt {
				r.dropBinding(ctx, t, target, aor, old, contact)
			}
			return nil
		case res.StatusCode == 423:
			if h := res.GetHeader("Min-Expires"); h != nil {
				if n, err := strconv.Atoi(h.Value()); err == nil && n > expires && n <= 86400 {
					expires = n
					continue
				}
			}
		case res.StatusCode == 401 || res.StatusCode == 407 || res.StatusCode == 403 || res.StatusCode == 404:
			return fmt.Errorf("%w (%d %s)", ErrAuth, res.StatusCode, res.Reason)
		case res.StatusCode == 503 || res.StatusCode == 408 || res.StatusCode == 504:
			// The server, or the one behind it, cannot serve the
			// registration now (RFC 3261 sections 21.4.9, 21.5.4, 21.5.5).
			return fmt.Errorf("%w (%d %s)", ErrUnreachable, res.StatusCode, res.Reason)
		}
		return &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return errors.New("REGISTER: 423 Interval Too Brief twice")
}

// successorWait bounds the wait for the transport that replaces a closed
// one: a transport reopened in place is closed before its successor opens.
const successorWait = 2 * time.Second

// successor returns the transport in use once it is no longer the closed
// t, or nil when none replaces it in time.
func (u *UA) successor(ctx context.Context, t *transport) *transport {
	ctx, cancel := context.WithTimeout(ctx, successorWait)
	defer cancel()
	for {
		if next := u.tr.Load(); next != t {
			return next
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// dropBinding removes the binding of old, the Contact of the transport the
// DN was registered through before, once the DN is registered through t
// with contact: otherwise the SIP Server keeps both until old expires and
// forks each incoming call to the old transport as well — twice to the
// gateway while the old transport drains its dialogs, to a closed port
// after. Best effort: a failure is logged, the binding then expires.
func (r *Registration) dropBinding(ctx context.Context, t *transport, target, aor sip.Uri, old, contact sip.ContactHeader) {
	if old.Address.String() == contact.Address.String() {
		return // the same binding: nothing moved
	}
	res, err := r.exchange(ctx, t, target, aor, old, 0)
	switch {
	case err != nil:
		r.u.log.Warn("old binding not removed; it expires by itself", "dn", r.DN, "contact", old.Address.String(), "error", err)
	case !res.IsSuccess():
		r.u.log.Warn("old binding not removed; it expires by itself", "dn", r.DN, "contact", old.Address.String(), "status", res.StatusCode)
	default:
		r.u.log.Debug("old binding removed", "dn", r.DN, "contact", old.Address.String())
	}
}

// exchange sends one REGISTER of contact with expires (seconds) through t
// in the DN's Call-ID and CSeq sequence, answering digest challenges.
func (r *Registration) exchange(ctx context.Context, t *transport, target, aor sip.Uri, contact sip.ContactHeader, expires int) (*sip.Response, error) {
	req := sip.NewRequest(sip.REGISTER, target)
	req.SetTransport(t.network)
	from := sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := sip.ToHeader{Address: aor}
	callID := sip.CallIDHeader(r.callID)
	r.mu.Lock()
	cseq := sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER}
	r.mu.Unlock()
	exp := sip.ExpiresHeader(expires)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&callID)
	req.AppendHeader(&cseq)
	req.AppendHeader(&contact)
	req.AppendHeader(&exp)

	res, err := do(ctx, t, req)
	for n := 0; err == nil && n < maxChallenges && (res.StatusCode == 401 || res.StatusCode == 407); n++ {
		if r.password == "" {
			break
		}
		res, err = doDigest(ctx, t, req, res, r.DN, r.password)
	}
	r.mu.Lock()
	r.cseq = req.CSeq().SeqNo + 1
	r.mu.Unlock()
	return res, err
}

// grantedExpiry reads the expiry the server granted for our Contact
// (RFC 3261 section 10.2.4), else the Expires header, else what we asked.
func grantedExpiry(res *sip.Response, ours sip.ContactHeader, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Host != ours.Address.Host || c.Address.Port != ours.Address.Port || c.Address.User != ours.Address.User {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// isTransportError reports a request that got no usable answer: a
// transaction timeout, a transport error, or an answer in another SIP
// version.
func isTransportError(err error) bool {
	return errors.Is(err, sip.ErrTransactionTimeout) || errors.Is(err, sip.ErrTransactionTransport) || errors.Is(err, errVersion)
}

// refreshLoop re-registers before expiry: at 80 % of the granted time (at
// least 5 s before it ends); while the server is unavailable, it retries
// with exponential backoff from Timing.RetryMin to RetryMax (2 s to 60 s).
// It refreshes at once when kicked (the server answers again after a
// silence). It ends on Unregister, on a refusal (reported to lost), or
// when the UA stops.
func (r *Registration) refreshLoop() {
	defer r.u.wg.Done()
	defer close(r.done)
	tm := r.u.timing
	backoff := time.Duration(0)
	for {
		r.mu.Lock()
		wait := r.expires * 8 / 10
		if r.expires-wait < 5*time.Second {
			wait = r.expires - 5*time.Second
		}
		r.mu.Unlock()
		if wait < time.Second {
			wait = time.Second
		}
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-r.stop:
			return
		case <-r.u.ctx.Done():
			return
		case <-r.kick:
		case <-time.After(wait):
		}
		err := r.refresh()
		switch {
		case err == nil:
			backoff = 0
			select {
			case <-r.kick: // a kick that came meanwhile is spent
			default:
			}
		case errors.Is(err, errTransportClosed):
			backoff = time.Second // replaced meanwhile: the reload re-registers too
		case errors.Is(err, ErrUnreachable):
			backoff = min(max(2*backoff, tm.RetryMin), tm.RetryMax)
			r.u.log.Warn("registration refresh failed; retrying", "dn", r.DN, "retry_in", backoff.String(), "error", err)
		case r.u.ctx.Err() != nil:
			return
		default:
			r.u.log.Warn("registration lost", "dn", r.DN, "error", err)
			r.u.forget(r)
			if r.lost != nil {
				r.lost(err)
			}
			return
		}
	}
}

// refresh registers the DN again, as the one REGISTER exchange of the DN
// under way: two reloads in quick succession (a transport change and its
// rollback) would otherwise interleave their exchanges, and the first one's
// removal of the old binding could land after the second one registered
// that very binding again.
func (r *Registration) refresh() error {
	unlock, err := r.u.lockDN(r.u.ctx, r.DN)
	if err != nil {
		return err
	}
	defer unlock()
	select {
	case <-r.stop:
		return nil // signed out (or taken over) while waiting: nothing to refresh
	default:
	}
	return r.register(r.u.ctx, false)
}

// reregister refreshes now (after the SIP Server or transport changed).
func (r *Registration) reregister() {
	select {
	case <-r.stop:
		return
	default:
	}
	switch err := r.refresh(); {
	case r.u.ctx.Err() != nil:
		// Stopping: Stop unregisters.
	case errors.Is(err, errTransportClosed):
		// Replaced again meanwhile: that reload re-registers the DN.
		r.u.log.Debug("re-registration overtaken by another transport change", "dn", r.DN)
	case err != nil:
		r.u.log.Warn("re-registration failed", "dn", r.DN, "error", err)
	}
}

func (u *UA) reregisterAll() {
	u.mu.Lock()
	regs := make([]*Registration, 0, len(u.regs))
	for _, r := range u.regs {
		regs = append(regs, r)
	}
	u.mu.Unlock()
	for _, r := range regs {
		u.wg.Add(1)
		go func() { defer u.wg.Done(); r.reregister() }()
	}
}

// kickRegistrations makes every registration refresh now.
func (u *UA) kickRegistrations() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.regs {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// halt stops refreshing without unregistering.
func (r *Registration) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
}

func (u *UA) forget(r *Registration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.regs[r.DN] == r {
		delete(u.regs, r.DN)
	}
}

// Unregister stops refreshing and removes the binding from the SIP Server
// (best effort).
func (r *Registration) Unregister(ctx context.Context) {
	r.halt()
	<-r.done
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	unlock, err := r.u.lockDN(ctx, r.DN)
	if err != nil {
		return
	}
	defer unlock()
	r.u.mu.Lock()
	current := r.u.regs[r.DN] == r
	if current {
		delete(r.u.regs, r.DN)
	}
	r.u.mu.Unlock()
	if !current {
		return // another sign-in took the DN over: its binding stays
	}
	if err := r.register(ctx, true); err != nil {
		r.u.log.Debug("unregister failed", "dn", r.DN, "error", err)
	}
}

// Registered returns the registration of dn, or nil.
func (u *UA) Registered(dn string) *Registration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.regs[dn]
}

// do sends req on t and waits for its final response.
func do(ctx context.Context, t *transport, req *sip.Request) (*sip.Response, error) {
	ctx, release, ok := t.use(ctx)
	if !ok {
		return nil, errTransportClosed
	}
	defer release()
	res, err := t.cli.Do(ctx, req)
	return checkResponse(t, res, err)
}

// doDigest answers the challenge res with dn's credentials.
func doDigest(ctx context.Context, t *transport, req *sip.Request, res *sip.Response, dn, password string) (*sip.Response, error) {
	ctx, release, ok := t.use(ctx)
	if !ok {
		return nil, errTransportClosed
	}
	defer release()
	res, err := t.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: dn, Password: password})
	return checkResponse(t, res, err)
}

// checkResponse names what ended a request cut by its transport closing:
// sipgo returns no response and no error then, or a transport error. A
// response in another SIP version, which sipgo takes like any other, is
// errVersion: its status means nothing to a SIP/2.0 client.
func checkResponse(t *transport, res *sip.Response, err error) (*sip.Response, error) {
	switch {
	case err == nil && res == nil:
		return nil, errTransportClosed
	case err != nil && t.isClosing():
		return nil, fmt.Errorf("%w: %v", errTransportClosed, err)
	case err == nil && !strings.EqualFold(res.SipVersion, sipVersion):
		return nil, fmt.Errorf("%w: %s", errVersion, excerpt(res.StartLine(), excerptBytes))
	}
	return res, err
}

// dnLock is held by the one REGISTER exchange of a DN under way.
type dnLock struct {
	ch   chan struct{} // holds a token while taken
	refs int           // holders and waiters; the lock goes with the last
}

// lockDN takes dn's lock, waiting at most until ctx is done.
func (u *UA) lockDN(ctx context.Context, dn string) (unlock func(), err error) {
	u.mu.Lock()
	l := u.dnLocks[dn]
	if l == nil {
		l = &dnLock{ch: make(chan struct{}, 1)}
		u.dnLocks[dn] = l
	}
	l.refs++
	u.mu.Unlock()
	release := func() {
		u.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(u.dnLocks, dn)
		}
		u.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
