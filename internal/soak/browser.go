package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webrtcgw/internal/soak/farend"
	"webrtcgw/internal/soak/rtpmeter"
)

// Timeouts of the call steps. They are generous: a step that takes longer
// is a failure of the gateway, not of a slow machine.
const (
	answerTimeout   = 30 * time.Second // the OFFER's ANSWER (INVITE, far end, gathering)
	connectTimeout  = 15 * time.Second // ICE and DTLS after the answer
	firstMedia      = 5 * time.Second  // the first RTP packet each way once connected
	clearTimeout    = 15 * time.Second // a hang-up reaching the other side
	signOutTimeout  = 40 * time.Second // the poll ending after a sign-out
	statsAnswerWait = 10 * time.Second // PUT-STATS after GET-STATS
)

// message is one /wait answer: the body and the peer it is from (Pragma).
type message struct{ peer, body string }

// session is one signed-in session of a browser.
type session struct {
	id         string
	signingOut atomic.Bool
	ended      chan struct{} // closed when its poll ended
}

func (s *session) over() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// browser is one signed-in DN that calls, is called, polls and sends
// requests in a loop, as a web page with the JavaScript library does.
type browser struct {
	*webClient
	dn       string
	password string

	mu    sync.Mutex
	sess  *session
	inbox map[string]chan message // by peer (Pragma), for the call in progress
	polls sync.WaitGroup
	roap  atomic.Int64
}

func newBrowser(h *harness, dn int) *browser {
	name := strconv.Itoa(dn)
	return &browser{webClient: newClient(h, name, &net.Dialer{}), dn: name, password: dnPassword(dn), inbox: map[string]chan message{}}
}

// close ends what is left: the poll and the connections.
func (b *browser) close() {
	b.signOut()
	b.polls.Wait()
	b.hc.CloseIdleConnections()
}

// run places and takes calls until ctx ends, then signs out.
func (b *browser) run(ctx context.Context) {
	defer b.signOut()
	for ctx.Err() == nil {
		b.mu.Lock()
		s := b.sess
		b.mu.Unlock()
		if s == nil || s.over() {
			if !b.signIn() {
				sleepCtx(ctx, time.Second)
				continue
			}
		}
		if b.h.float() < b.h.cfg.incoming {
			b.incomingCall(ctx)
		} else {
			b.outgoingCall(ctx)
		}
		sleepCtx(ctx, b.h.between(300*time.Millisecond, 1500*time.Millisecond))
		if ctx.Err() != nil {
			break
		}
		b.do(context.Background(), "health", "GET", "/health", "", 200)
		if b.h.float() < 0.1 {
			b.signOut() // and in again at the top of the loop
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// signIn registers the DN with its password and starts the poll.
func (b *browser) signIn() bool {
	status, _, body, err := b.do(context.Background(), "sign_in", "POST", "/sign_in", b.dn+":"+b.password, 200)
	if err != nil || status != 200 {
		return false
	}
	line, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	name, id, ok := strings.Cut(line, "=")
	if !ok || name != b.dn || id == "" {
		b.h.m.failedRequest("sign_in", "%s: answer %q is not %s=SESSION", b.dn, body, b.dn)
		return false
	}
	b.h.m.signIn()
	s := &session{id: id, ended: make(chan struct{})}
	b.mu.Lock()
	b.sess = s
	b.mu.Unlock()
	b.polls.Add(1)
	go b.poll(s)
	b.h.log.Debugf("%s signed in (session %.6s)", b.dn, id)
	return true
}

// signOut ends the session (if any) and waits for its poll to end.
func (b *browser) signOut() {
	b.mu.Lock()
	s := b.sess
	b.sess = nil
	b.mu.Unlock()
	if s == nil || s.over() {
		return
	}
	s.signingOut.Store(true)
	b.do(context.Background(), "sign_out", "GET", "/sign_out?id="+s.id, "", 200)
	select {
	case <-s.ended:
	case <-time.After(signOutTimeout):
		b.h.m.failedRequest("wait", "%s: the /wait in flight was not answered within %v of the sign-out", b.dn, signOutTimeout)
	}
}

// poll keeps a /wait in flight for the session until it ends: 204 (the
// session is over) without a sign-out is a registration lost.
func (b *browser) poll(s *session) {
	defer b.polls.Done()
	defer close(s.ended)
	for !s.signingOut.Load() {
		status, hdr, body, err := b.do(context.Background(), "wait", "GET", "/wait?id="+s.id, "", 200, 204)
		if s.signingOut.Load() {
			return
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if status == 204 {
			b.h.m.registrationLost(b.dn, fmt.Sprintf("session %.6s ended by the gateway: /wait 204", s.id))
			return
		}
		if body != "" {
			b.dispatch(message{peer: hdr.Get("Pragma"), body: body})
		}
	}
}

func (b *browser) dispatch(m message) {
	b.mu.Lock()
	ch := b.inbox[m.peer]
	b.mu.Unlock()
	if ch == nil {
		b.h.m.example("message for no call", "%s from %q: %.80q", b.dn, m.peer, m.body)
		return
	}
	select {
	case ch <- m:
	default:
		b.h.m.example("message for no call", "%s from %q (inbox full): %.80q", b.dn, m.peer, m.body)
	}
}

func (b *browser) openInbox(peer string) chan message {
	ch := make(chan message, 32)
	b.mu.Lock()
	b.inbox[peer] = ch
	b.mu.Unlock()
	return ch
}

func (b *browser) closeInbox(peer string) {
	b.mu.Lock()
	delete(b.inbox, peer)
	b.mu.Unlock()
}

// sessionID returns the current session id ("" when signed out).
func (b *browser) sessionID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sess == nil {
		return ""
	}
	return b.sess.id
}

// send posts one message to peer and expects 200.
func (b *browser) send(what, peer, body string) error {
	_, _, _, err := b.do(context.Background(), what, "POST", "/message?from="+b.sessionID()+"&to="+peer, body, 200)
	return err
}

// roapMsg is a ROAP message as the Genesys library sends and reads it.
type roapMsg struct {
	MessageType       string     `json:"messageType"`
	SDP               string     `json:"sdp,omitempty"`
	OffererSessionID  int64      `json:"offererSessionId,omitempty"`
	AnswererSessionID int64      `json:"answererSessionId,omitempty"`
	Seq               int64      `json:"seq,omitempty"`
	Tiebreaker        int64      `json:"tiebreaker,omitempty"`
	AttachedData      []attached `json:"attacheddata,omitempty"`
}

type attached struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func encodeROAP(m roapMsg) string {
	b, _ := json.Marshal(m)
	return "RSMP " + string(b)
}

// decodeROAP reads the JSON of "RSMP {…}" or "SDP {…}".
func decodeROAP(body string) (roapMsg, error) {
	var m roapMsg
	i := strings.IndexByte(body, '{')
	if i < 0 {
		return m, errors.New("no JSON")
	}
	err := json.Unmarshal([]byte(body[i:]), &m)
	return m, err
}

// callRun is one call's outcome as the browser sees it.
type callRun struct {
	b       *browser
	id      string
	peer    string // the far party as the browser addresses it
	dropped bool
}

// drop counts the call dropped, once, with the first reason.
func (c *callRun) drop(reason, format string, args ...any) {
	if c.dropped {
		return
	}
	c.dropped = true
	detail := fmt.Sprintf(format, args...)
	c.b.h.m.callDropped(c.id, reason, c.b.dn+"↔"+c.peer+": "+detail)
	c.b.h.log.Printf("call %s dropped: %s: %s", c.id, reason, detail)
}

// outgoingCall calls the number: OFFER (with the call id as attached
// data), the gateway's ANSWER, OK; then the call runs (talk).
func (b *browser) outgoingCall(ctx context.Context) {
	id := "c" + strconv.FormatInt(b.h.callSeq.Add(1), 10)
	c := &callRun{b: b, id: id, peer: number}
	b.h.m.callPlaced(false)
	farCh := b.h.farCalls.expect(id)
	defer b.h.farCalls.forget(id)
	inbox := b.openInbox(number)
	defer b.closeInbox(number)
	meter := rtpmeter.New(b.h.cfg.gapThreshold, seqThreshold(b.h.cfg.gapThreshold))
	p, err := newPeer(meter)
	if err != nil {
		c.drop("harness: browser", "%v", err)
		return
	}
	defer p.close()
	gctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sdp, err := p.offer(gctx)
	cancel()
	if err != nil {
		c.drop("harness: browser", "offer: %v", err)
		return
	}
	sid := b.roap.Add(1) + 100
	offer := encodeROAP(roapMsg{MessageType: "OFFER", SDP: sdp, OffererSessionID: sid, Seq: 1, Tiebreaker: int64(b.h.intn(1 << 30)),
		AttachedData: []attached{{Key: "SoakCall", Value: id}}})
	if err := b.send("message OFFER", number, offer); err != nil {
		c.drop("setup: OFFER refused", "%v", err)
		return
	}
	b.h.log.Debugf("call %s: %s calls %s", id, b.dn, number)
	var answer roapMsg
	deadline := time.After(answerTimeout)
	for answer.MessageType == "" {
		select {
		case m := <-inbox:
			switch {
			case strings.HasPrefix(m.body, "RSMP ERROR"), strings.HasPrefix(m.body, "BYE"):
				c.drop("setup: call failed", "%.200s", m.body)
				b.cleanup(c, nil, farCh)
				return
			case strings.HasPrefix(m.body, "RSMP"):
				a, err := decodeROAP(m.body)
				if err != nil || a.MessageType != "ANSWER" {
					c.drop("setup: bad answer", "%.200q (%v)", m.body, err)
					b.cleanup(c, nil, farCh)
					return
				}
				answer = a
			}
		case <-deadline:
			c.drop("setup: no answer", "no ANSWER within %v", answerTimeout)
			b.cleanup(c, nil, farCh)
			return
		}
	}
	if err := p.applyAnswer(answer.SDP); err != nil {
		c.drop("setup: bad answer", "%v", err)
		b.cleanup(c, nil, farCh)
		return
	}
	if err := b.send("message OK", number, encodeROAP(roapMsg{MessageType: "OK", OffererSessionID: sid, AnswererSessionID: answer.AnswererSessionID, Seq: 1})); err != nil {
		c.drop("setup: OK refused", "%v", err)
		b.cleanup(c, nil, farCh)
		return
	}
	var far *farend.Call
	select {
	case far = <-farCh:
	case <-time.After(10 * time.Second):
		c.drop("setup: far end not reached", "answered, but the far end never saw the call")
		b.cleanup(c, nil, nil)
		return
	}
	b.talk(ctx, c, p, far, inbox)
}

// incomingCall asks the far end to call this DN, answers the offer the
// gateway delivers, then the call runs (talk).
func (b *browser) incomingCall(ctx context.Context) {
	id := "c" + strconv.FormatInt(b.h.callSeq.Add(1), 10)
	peer := farend.CallerPrefix + id
	c := &callRun{b: b, id: id, peer: peer}
	b.h.m.callPlaced(true)
	inbox := b.openInbox(peer)
	defer b.closeInbox(peer)
	type result struct {
		call *farend.Call
		err  error
	}
	results := make(chan result, 1)
	fctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
	defer cancel()
	go func() {
		call, err := b.h.st.far.Call(fctx, b.dn, id)
		results <- result{call, err}
	}()
	// abandon cleans up a call the far end may still get answered.
	abandon := func() {
		cancel()
		go func() {
			if r := <-results; r.call != nil {
				hctx, hcancel := context.WithTimeout(context.Background(), clearTimeout)
				defer hcancel()
				r.call.Hangup(hctx)
			}
		}()
	}
	b.h.log.Debugf("call %s: the far end calls %s", id, b.dn)
	var offer roapMsg
	deadline := time.After(answerTimeout)
	for offer.MessageType == "" {
		select {
		case m := <-inbox:
			if !strings.HasPrefix(m.body, "SDP ") {
				c.drop("setup: incoming call failed", "expected the offer, got %.200q", m.body)
				abandon()
				return
			}
			o, err := decodeROAP(m.body)
			if err != nil || o.MessageType != "OFFER" {
				c.drop("setup: bad incoming offer", "%.200q (%v)", m.body, err)
				abandon()
				return
			}
			offer = o
		case r := <-results:
			var se *farend.StatusError
			if errors.As(r.err, &se) && (se.Code == 404 || se.Code == 480) {
				b.h.m.registrationLost(b.dn, fmt.Sprintf("call %s to the DN answered %v: not registered", id, se))
			}
			if r.err == nil {
				r.err = errors.New("answered without an offer to the browser")
				hctx, hcancel := context.WithTimeout(context.Background(), clearTimeout)
				r.call.Hangup(hctx)
				hcancel()
			}
			c.drop("setup: incoming call failed", "%v", r.err)
			return
		case <-deadline:
			c.drop("setup: incoming call failed", "no offer within %v", answerTimeout)
			abandon()
			return
		}
	}
	meter := rtpmeter.New(b.h.cfg.gapThreshold, seqThreshold(b.h.cfg.gapThreshold))
	p, err := newPeer(meter)
	if err != nil {
		c.drop("harness: browser", "%v", err)
		abandon()
		return
	}
	defer p.close()
	gctx, gcancel := context.WithTimeout(context.Background(), 10*time.Second)
	sdp, err := p.answer(gctx, offer.SDP)
	gcancel()
	if err != nil {
		c.drop("setup: bad incoming offer", "%v", err)
		b.send("message BYE", peer, "BYE")
		abandon()
		return
	}
	answer := encodeROAP(roapMsg{MessageType: "ANSWER", SDP: sdp, OffererSessionID: offer.OffererSessionID, AnswererSessionID: b.roap.Add(1) + 100, Seq: offer.Seq})
	if err := b.send("message ANSWER", peer, answer); err != nil {
		c.drop("setup: ANSWER refused", "%v", err)
		abandon()
		return
	}
	var r result
	select {
	case r = <-results:
	case <-time.After(answerTimeout):
		c.drop("setup: incoming call failed", "the far end saw no answer within %v", answerTimeout)
		abandon()
		return
	}
	if r.err != nil {
		c.drop("setup: incoming call failed", "far end: %v", r.err)
		b.cleanup(c, nil, nil)
		return
	}
	b.talk(ctx, c, p, r.call, inbox)
}

// inCall judges a message the gateway sends in a call: bad is true, with
// the reason, for what ends or breaks the call.
func (c *callRun) inCall(m message) (reason string, bad bool) {
	switch {
	case strings.HasPrefix(m.body, "BYE"), strings.HasPrefix(m.body, "RSMP ERROR"):
		return "BYE from the gateway", true
	case strings.HasPrefix(m.body, "SDP "), strings.HasPrefix(m.body, "INVITE"):
		// The browser addresses calls by peer: a second incoming call
		// from the same caller cannot be told apart from the first.
		return "second incoming offer for the call", true
	case strings.HasPrefix(m.body, "PUT-STATS"), strings.HasPrefix(m.body, "INFO-PEER"):
		return "", false
	}
	c.b.h.m.example("unexpected message in a call", "%s %s: %.120q", c.b.dn, c.id, m.body)
	return "", false
}

// waitBye waits for the BYE of a call, skipping the answers to its
// requests; it returns the message that came instead ("" on timeout).
func waitBye(inbox chan message, within time.Duration) (string, bool) {
	deadline := time.After(within)
	for {
		select {
		case m := <-inbox:
			switch {
			case strings.HasPrefix(m.body, "BYE"):
				return m.body, true
			case strings.HasPrefix(m.body, "PUT-STATS"), strings.HasPrefix(m.body, "INFO-PEER"):
				continue
			}
			return m.body, false
		case <-deadline:
			return "", false
		}
	}
}

// cleanup ends what is left of a call that went wrong: the browser's BYE,
// and the far end's call when it has one (or gets one soon).
func (b *browser) cleanup(c *callRun, far *farend.Call, farCh chan *farend.Call) {
	b.send("message BYE", c.peer, "BYE")
	if far == nil && farCh != nil {
		select {
		case far = <-farCh:
		case <-time.After(2 * time.Second):
		}
	}
	if far != nil {
		ctx, cancel := context.WithTimeout(context.Background(), clearTimeout)
		defer cancel()
		far.Hangup(ctx)
	}
}

// talk runs an answered call: ICE and DTLS connect, media flows both ways,
// GET-STATS and INFO go out now and then, and after a random hold one side
// hangs up (the browser, or the far end) and the other must see it. Any
// other end — a BYE from the gateway to either side, a failed connection,
// media that never came — is a dropped call.
func (b *browser) talk(ctx context.Context, c *callRun, p *peer, far *farend.Call, inbox chan message) {
	h := b.h
	defer func() {
		if n := int(p.disconnect.Load()); n > 0 {
			h.m.iceDisconnected(c.id, n)
		}
	}()
	connectBy := time.After(connectTimeout)
	for connected := false; !connected; {
		select {
		case <-p.connected:
			connected = true
		case <-p.failed:
			c.drop("ICE/DTLS failed", "the connection failed before it connected")
			b.cleanup(c, far, nil)
			return
		case m := <-inbox:
			if reason, bad := c.inCall(m); bad {
				c.drop(reason, "before the connection: %.200q", m.body)
				b.cleanup(c, far, nil)
				return
			}
		case <-far.Done():
			by, _ := far.EndedBy()
			c.drop("BYE from the gateway to the far end", "before the connection (%s)", by)
			b.cleanup(c, nil, nil)
			return
		case <-connectBy:
			c.drop("ICE/DTLS failed", "not connected within %v (state %s)", connectTimeout, p.pc.ConnectionState())
			b.cleanup(c, far, nil)
			return
		}
	}
	h.m.callEstablished()
	established := time.Now()
	hold := h.between(h.cfg.holdMin, h.cfg.holdMax)
	farHangs := h.float() < h.cfg.farHangup
	h.log.Debugf("call %s: connected (%s), %v, then the %s hangs up", c.id, far.Codec(), hold.Round(time.Millisecond), map[bool]string{true: "far end", false: "browser"}[farHangs])
	report := func() {
		h.m.media(c.id, true, p.meter.Stats())
		h.m.media(c.id, false, far.Meter.Stats())
	}
	holdTimer := time.NewTimer(hold)
	defer holdTimer.Stop()
	mediaCheck := time.NewTimer(firstMedia)
	defer mediaCheck.Stop()
	requests := time.NewTimer(h.between(time.Second, 3*time.Second))
	defer requests.Stop()
	var statsAsked time.Time
	ended := false
	for !ended {
		select {
		case <-holdTimer.C:
			ended = true
		case <-ctx.Done():
			ended = true
		case <-mediaCheck.C:
			if p.meter.Stats().Packets == 0 {
				c.drop("no media", "the browser received no RTP within %v of connecting", firstMedia)
			}
			if far.Meter.Stats().Packets == 0 {
				c.drop("no media", "the far end received no RTP within %v of the browser connecting", firstMedia)
			}
			if c.dropped {
				report()
				b.cleanup(c, far, nil)
				return
			}
		case <-requests.C:
			if !statsAsked.IsZero() && time.Since(statsAsked) > statsAnswerWait {
				h.m.failedRequest("message GET-STATS", "%s: no PUT-STATS within %v", b.dn, statsAnswerWait)
				statsAsked = time.Time{}
			}
			if h.intn(2) == 0 {
				if b.send("message GET-STATS", c.peer, "GET-STATS") == nil && statsAsked.IsZero() {
					statsAsked = time.Now()
				}
			} else {
				b.send("message INFO-MAP", c.peer, "INFO-MAP soak=1&call="+c.id)
			}
			requests.Reset(h.between(time.Second, 3*time.Second))
		case m := <-inbox:
			if strings.HasPrefix(m.body, "PUT-STATS") {
				statsAsked = time.Time{}
			}
			if reason, bad := c.inCall(m); bad {
				c.drop(reason, "%v into the call: %.200q", time.Since(established).Round(time.Millisecond), m.body)
				report()
				b.cleanup(c, far, nil)
				return
			}
		case <-p.failed:
			c.drop("ICE/DTLS failed", "%v into the call: connection failed", time.Since(established).Round(time.Millisecond))
			report()
			b.cleanup(c, far, nil)
			return
		case <-far.Done():
			by, _ := far.EndedBy()
			c.drop("BYE from the gateway to the far end", "%v into the call (%s)", time.Since(established).Round(time.Millisecond), by)
			report()
			b.cleanup(c, nil, nil)
			return
		}
	}
	// A GET-STATS answer may still be on its way: give it its time.
	for waiting := !statsAsked.IsZero(); waiting; {
		select {
		case m := <-inbox:
			if strings.HasPrefix(m.body, "PUT-STATS") {
				waiting = false
			} else if reason, bad := c.inCall(m); bad {
				c.drop(reason, "at the hang-up: %.200q", m.body)
				waiting = false
			}
		case <-time.After(statsAnswerWait - time.Since(statsAsked)):
			h.m.failedRequest("message GET-STATS", "%s: no PUT-STATS within %v", b.dn, statsAnswerWait)
			waiting = false
		}
	}
	// The hang-up: media is measured up to here.
	p.meter.Freeze()
	far.Meter.Freeze()
	report()
	if c.dropped {
		b.cleanup(c, far, nil)
		return
	}
	if farHangs {
		hctx, cancel := context.WithTimeout(context.Background(), clearTimeout)
		err := far.Hangup(hctx)
		cancel()
		switch {
		case errors.Is(err, farend.ErrEnded):
			by, _ := far.EndedBy()
			c.drop("BYE from the gateway to the far end", "just before the far end's hang-up (%s)", by)
			b.cleanup(c, nil, nil)
			return
		case err != nil:
			c.drop("hang-up failed", "the far end's BYE: %v", err)
			b.cleanup(c, nil, nil)
			return
		}
		if body, ok := waitBye(inbox, clearTimeout); !ok {
			if body == "" {
				c.drop("hang-up not delivered", "no BYE reached the browser within %v of the far end's", clearTimeout)
			} else {
				c.drop("hang-up not delivered", "the browser got %.200q instead of BYE", body)
			}
			b.cleanup(c, nil, nil)
			return
		}
	} else {
		if err := b.send("message BYE", c.peer, "BYE"); err != nil {
			c.drop("hang-up failed", "the browser's BYE: %v", err)
			b.cleanup(c, far, nil)
			return
		}
		select {
		case <-far.Done():
			if by, _ := far.EndedBy(); by != "remote" {
				c.drop("hang-up not delivered", "the far end's call ended: %s", by)
				return
			}
		case <-time.After(clearTimeout):
			c.drop("hang-up not delivered", "no BYE reached the far end within %v of the browser's", clearTimeout)
			b.cleanup(c, far, nil)
			return
		}
	}
	h.m.callCompleted()
	h.log.Debugf("call %s: completed after %v", c.id, time.Since(established).Round(time.Millisecond))
}
