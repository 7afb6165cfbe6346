// Package calls is the gateway's call control: it turns what browsers say
// (sign-in, ROAP offers and answers, BYE, INFO, stats requests) into SIP
// registrations and dialogs (gateway/sipua) with media legs (gateway/media),
// and what the SIP side does back into messages for the browser. It is the
// web subsystem's Engine.
package calls

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/gateway/media"
	"webrtcgw/gateway/sipua"
	"webrtcgw/gateway/web"
)

// maxCallsPerSession bounds the calls one browser may have at once.
const maxCallsPerSession = 4

// negotiateTimeout bounds one offer/answer step on the browser leg (ICE
// candidate gathering included).
const negotiateTimeout = 15 * time.Second

// Deps are call control's collaborators.
type Deps struct {
	Log   hclog.Logger
	UA    *sipua.UA
	Media *media.Engine
}

// Engine implements web.Engine.
type Engine struct {
	log   hclog.Logger
	ua    *sipua.UA
	media *media.Engine

	ctx    context.Context // background work; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[*web.Session]*session
	byDN     map[string]*session
	draining bool // no new sessions or calls (graceful stop)
}

// New returns call control over ua and media.
func New(deps Deps) *Engine {
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{log: deps.Log, ua: deps.UA, media: deps.Media, ctx: ctx, cancel: cancel,
		sessions: map[*web.Session]*session{}, byDN: map[string]*session{}}
}

// Drain refuses new sign-ins and calls; calls in progress go on.
func (e *Engine) Drain() {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
}

// Calls returns the number of calls in progress.
func (e *Engine) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.sessions {
		n += s.callCount()
	}
	return n
}

// hangUpWait bounds how long HangUpAll waits for the calls to end on the
// browser side (the SIP side goes on in the background).
const hangUpWait = 2 * time.Second

// HangUpAll ends every call for reason, as a stop does once the drain time
// is over: CANCEL, a rejection or BYE towards SIP, and BYE to the browser,
// queued on its session — which stays, so that its /wait can deliver it
// (web.Server.Stop waits for that before it ends the sessions). It returns
// the number of calls hung up once they have ended on the browser side;
// the SIP requests finish in the background (Close waits for them).
func (e *Engine) HangUpAll(reason string) int {
	e.mu.Lock()
	sts := make([]*session, 0, len(e.sessions))
	for _, st := range e.sessions {
		sts = append(sts, st)
	}
	e.mu.Unlock()
	n := 0
	for _, st := range sts {
		st.mu.Lock()
		calls := make([]*call, 0, len(st.calls))
		for _, c := range st.calls {
			calls = append(calls, c)
		}
		st.mu.Unlock()
		for _, c := range calls {
			n++
			e.goTracked(func() { c.hangUp(reason) })
		}
	}
	deadline := time.Now().Add(hangUpWait)
	for e.Calls() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// Close waits (until ctx is done) for the work started for sessions and
// calls to finish (BYE, CANCEL, unregister), then cancels what is left and
// gives it a moment to notice. A SIP transaction that does not notice (a
// CANCEL waits for its answer) is left behind: the process is ending.
func (e *Engine) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	e.cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		e.log.Warn("calls still ending when the gateway stops")
	}
}

// go runs f as tracked background work.
func (e *Engine) goTracked(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
}

// session is call control's state of one browser session.
type session struct {
	e   *Engine
	s   *web.Session
	reg *sipua.Registration // nil for anonymous sessions
	log hclog.Logger

	mu        sync.Mutex
	calls     map[string]*call // by peer (the id the browser addresses the call with)
	settingUp map[string]bool  // peers whose call is being set up (media not ready yet)
	nextID    int64            // ROAP session ids the gateway allocates
	ended     bool
}

// callCount counts the calls, those being set up included.
func (st *session) callCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.calls) + len(st.settingUp)
}

func (st *session) newSessionID() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.nextID == 0 {
		st.nextID = 102
	}
	st.nextID++
	return st.nextID
}

func (st *session) call(peer string) *call {
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.calls[peer]; c != nil {
		return c
	}
	if peer == "" && len(st.calls) == 1 {
		for _, c := range st.calls {
			return c
		}
	}
	return nil
}

func (st *session) dn() string {
	if st.reg == nil {
		return ""
	}
	return st.reg.DN
}

// SignIn registers the session's DN with the SIP Server, or admits an
// anonymous session. A DN signed in again from another session moves there.
func (e *Engine) SignIn(ctx context.Context, s *web.Session, req web.SignIn) error {
	e.mu.Lock()
	draining := e.draining
	e.mu.Unlock()
	if draining {
		return web.Errorf(web.ErrUnavailable, "the gateway is stopping; sign in again shortly")
	}
	// An anonymous id has the characters of a DN too: it is logged, put in
	// Pragma headers and may reach the SIP side.
	if err := sipua.CheckUser(s.Name); err != nil {
		return web.Errorf(web.ErrInvalid, "%v", err)
	}
	st := &session{e: e, s: s, calls: map[string]*call{}, log: e.log.With("session", s.ID[:8], "name", s.Name)}
	if !req.Anonymous {
		reg, err := e.ua.Register(ctx, s.Name, req.Password, func(err error) {
			s.End("registration lost: " + err.Error())
		})
		if err != nil {
			return signInError(err)
		}
		st.reg = reg
	}
	e.mu.Lock()
	var old *session
	if !req.Anonymous {
		old = e.byDN[s.Name]
		e.byDN[s.Name] = st
	}
	e.sessions[s] = st
	e.mu.Unlock()
	if old != nil {
		old.log.Info("DN signed in from another session: this one ends")
		old.s.End("signed in elsewhere")
	}
	st.log.Debug("signed in", "anonymous", req.Anonymous, "client_ip", s.ClientIP)
	return nil
}

// signInError maps a registration failure to what the browser is told.
func signInError(err error) error {
	var se *sipua.StatusError
	switch {
	case errors.Is(err, sipua.ErrAuth):
		return web.Errorf(web.ErrLoginRefused, "registration refused: wrong DN or password")
	case errors.Is(err, sipua.ErrBadUser):
		return web.Errorf(web.ErrInvalid, "%v", err)
	case errors.Is(err, sipua.ErrNoServer):
		return web.Errorf(web.ErrUnavailable, "no SIP Server is configured")
	case errors.Is(err, sipua.ErrUnreachable):
		return web.Errorf(web.ErrTimeout, "the SIP Server does not answer")
	case errors.As(err, &se):
		return web.Errorf(web.ErrUnavailable, "the SIP Server refused the registration: %d %s", se.Code, se.Reason)
	}
	return web.Errorf(web.ErrUnavailable, "registration failed: %v", err)
}

// SignOut ends the session's calls and registration.
func (e *Engine) SignOut(s *web.Session, reason string) {
	e.mu.Lock()
	st := e.sessions[s]
	delete(e.sessions, s)
	if st != nil && e.byDN[s.Name] == st {
		delete(e.byDN, s.Name)
	}
	e.mu.Unlock()
	if st == nil {
		return
	}
	st.mu.Lock()
	st.ended = true
	calls := make([]*call, 0, len(st.calls))
	for _, c := range st.calls {
		calls = append(calls, c)
	}
	st.mu.Unlock()
	st.log.Debug("signed out", "reason", reason)
	e.goTracked(func() {
		for _, c := range calls {
			c.hangUp(reason)
		}
		if st.reg != nil {
			st.reg.Unregister(e.ctx)
		}
	})
}

// Message handles one message from the browser. Only a body that does not
// parse is an error (the request is malformed: the Genesys library never
// sends one). A message that parses but is refused is answered 200 all the
// same: the library takes any other answer for a network failure and sends
// the message again every 3 s, with no word to the application. The refusal
// reaches the browser on /wait instead (refuse).
func (e *Engine) Message(_ context.Context, s *web.Session, to string, body []byte) error {
	e.mu.Lock()
	st := e.sessions[s]
	e.mu.Unlock()
	if st == nil {
		return web.Errorf(web.ErrNotFound, "unknown session")
	}
	m, err := parseMessage(body)
	if err != nil {
		return web.Errorf(web.ErrInvalid, "%v", err)
	}
	if err := st.handle(to, m); err != nil {
		st.refuse(to, m.kind, err)
	}
	return nil
}

// refuse tells the browser that its message to peer to was refused: an
// ERROR on /wait (the library's gateway-error event), then BYE when the
// browser is left with a call the gateway does not have (a refused new call,
// an answer that ended an incoming call), so that the call ends there too.
// A refused offer or answer is CALL_FAILED — for a call in progress our
// library rolls the re-offer back and the call goes on; anything else is
// MESSAGE_REFUSED.
func (st *session) refuse(to, kind string, err error) {
	status, detail := web.ErrorStatus(err)
	st.log.Info("message refused", "message", kind, "to", to, "status", status, "reason", detail)
	c := st.call(to)
	errorType := "MESSAGE_REFUSED"
	if (kind == "OFFER" || kind == "ANSWER") && (c == nil || c.getState() == stateEstablished) {
		errorType = "CALL_FAILED"
	}
	st.s.Deliver(to, errorMessage(errorType, status, detail))
	if c == nil {
		st.s.Deliver(to, []byte("BYE"))
	}
}

// handle acts on one parsed message; an error refuses it.
func (st *session) handle(to string, m message) error {
	e := st.e
	c := st.call(to)
	switch m.kind {
	case "OFFER":
		switch {
		case c == nil:
			return st.outgoing(to, m.roap)
		case c.awaitingOffer():
			return c.offerForIncoming(m.roap)
		}
		return c.reoffer(m.roap)
	case "ANSWER":
		if c == nil {
			return web.Errorf(web.ErrConflict, "no call with %q to answer", to)
		}
		return c.browserAnswer(m.roap)
	case "OK":
		return nil
	case "BYE":
		if c != nil {
			c.log.Debug("browser hung up")
			e.goTracked(func() { c.hangUp(reasonBrowserBye) })
		}
		return nil
	case "INFO-MAP", "INFO-PEER":
		if c == nil {
			return web.Errorf(web.ErrConflict, "no call with %q", to)
		}
		if err := sipua.CheckInfoBody(m.data); err != nil {
			return web.Errorf(web.ErrInvalid, "%v", err)
		}
		ct := "application/x-www-form-urlencoded"
		if m.kind == "INFO-PEER" {
			ct = "application/octet-stream"
		}
		return c.info(ct, m.data)
	case "GET-STATS":
		if c == nil {
			return web.Errorf(web.ErrConflict, "no call")
		}
		st.s.Deliver(c.peer, c.statsMessage())
		return nil
	}
	return web.Errorf(web.ErrInvalid, "unknown message")
}

// statsMessage is PUT-STATS with the call's statistics (what the gateway
// received from and sent to the browser).
func (c *call) statsMessage() []byte {
	st := c.m.Stats()
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	type rx struct {
		Packets uint64 `json:"packets"`
		Lost    int64  `json:"lost"`
		Jitter  int64  `json:"jitter"`
		Bytes   uint64 `json:"bytes"`
	}
	type tx struct {
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
	}
	type audio struct {
		Codec      string `json:"codec"`
		RTT        int64  `json:"rtt"`
		RTTMax     int64  `json:"rtt_max"`
		RTTAverage int64  `json:"rtt_average"`
		RX         rx     `json:"rx"`
		TX         tx     `json:"tx"`
	}
	b, _ := json.Marshal(struct {
		Timestamp int64 `json:"timestamp"`
		Duration  int64 `json:"duration"`
		Audio     audio `json:"audio"`
	}{time.Now().UnixMilli(), int64(st.Duration / time.Second), audio{
		Codec: st.Codec, RTT: ms(st.RTT), RTTMax: ms(st.RTTMax), RTTAverage: ms(st.RTTAvg),
		RX: rx{Packets: st.FromBrowser.Packets, Lost: st.Lost, Jitter: ms(st.Jitter), Bytes: st.FromBrowser.Bytes},
		TX: tx{Packets: st.ToBrowser.Packets, Bytes: st.ToBrowser.Bytes},
	}})
	return append([]byte("PUT-STATS "), b...)
}

// errBusy refuses an incoming call to a session that has a call.
var errBusy = errors.New("busy")

// newCall sets up the media of a call with peer and records it. With
// alone, it refuses when the session has any other call (incoming calls:
// no call waiting). The peer is reserved while the media is set up, so two
// requests at once cannot both take it.
func (st *session) newCall(peer string, alone bool) (*call, error) {
	st.e.mu.Lock()
	draining := st.e.draining
	st.e.mu.Unlock()
	if draining {
		return nil, web.Errorf(web.ErrUnavailable, "the gateway is stopping: no new calls")
	}
	st.mu.Lock()
	if st.ended {
		st.mu.Unlock()
		return nil, web.Errorf(web.ErrNotFound, "session ended")
	}
	if n := len(st.calls) + len(st.settingUp); n >= maxCallsPerSession || (alone && n > 0) {
		st.mu.Unlock()
		if alone {
			return nil, errBusy
		}
		return nil, web.Errorf(web.ErrConflict, "too many calls in this session")
	}
	if st.calls[peer] != nil || st.settingUp[peer] {
		st.mu.Unlock()
		return nil, web.Errorf(web.ErrConflict, "already in a call with %q", peer)
	}
	if st.settingUp == nil {
		st.settingUp = map[string]bool{}
	}
	st.settingUp[peer] = true
	st.mu.Unlock()
	id := strconv.FormatUint(rand.Uint64()>>16, 36)
	c := &call{st: st, peer: peer, id: id, log: st.log.With("call_id", id, "peer", peer)}
	m, err := st.e.media.NewCall(media.CallConfig{ID: id, Log: c.log, SIPAddr: st.e.ua.MediaAddr(), SDES: st.e.ua.SDES(),
		OnFail: func(reason string) { c.hangUp(reason) }})
	st.mu.Lock()
	delete(st.settingUp, peer)
	if err == nil {
		c.m = m
		st.calls[peer] = c
	}
	st.mu.Unlock()
	if err != nil {
		if errors.Is(err, media.ErrTooManyCalls) || errors.Is(err, media.ErrNoPorts) {
			c.log.Warn("call refused", "error", err)
			return nil, web.Errorf(web.ErrUnavailable, "the gateway has no capacity for another call")
		}
		return nil, web.Errorf(web.ErrUnavailable, "media: %v", err)
	}
	return c, nil
}

func (st *session) removeCall(c *call) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.calls[c.peer] == c {
		delete(st.calls, c.peer)
	}
}

// findIncoming returns the session a call to dn belongs to.
func (e *Engine) sessionOfDN(dn string) *session {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byDN[dn]
}

// Incoming handles an INVITE for a registered DN (sipua.Deps.Incoming).
func (e *Engine) Incoming(inc *sipua.Incoming) {
	st := e.sessionOfDN(inc.DN)
	if st == nil {
		inc.Reject(480, "Temporarily Unavailable")
		return
	}
	// One call at a time per browser: no call waiting (checked and the
	// caller reserved at once, so two INVITEs cannot both get through).
	c, err := st.newCall(inc.Caller, true)
	if err != nil {
		code, reason := 486, "Busy Here"
		if errors.Is(err, web.ErrUnavailable) {
			code, reason = 503, "Service Unavailable"
		}
		inc.Reject(code, reason)
		return
	}
	c.incoming(inc)
}
