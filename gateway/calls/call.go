package calls

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/gateway/media"
	"webrtcgw/gateway/sipua"
	"webrtcgw/gateway/web"
)

type callState int

const (
	stateCalling       callState = iota // outgoing: INVITE sent, no final response yet
	stateOffered                        // incoming with SDP: offer sent to the browser, waiting for its ANSWER
	stateAwaitingOffer                  // incoming without SDP: "INVITE" sent to the browser, waiting for its OFFER
	stateAnswering                      // incoming: 200 OK sent, waiting for the ACK
	stateEstablished
	stateEnded
)

// call is one call of a browser session: a media leg pair and a SIP dialog.
type call struct {
	st   *session
	peer string // the far party as the browser knows it (Pragma, to=)
	id   string
	log  hclog.Logger
	m    *media.Call

	neg sync.Mutex // one offer/answer exchange at a time

	mu            sync.Mutex
	state         callState
	d             *sipua.Dialog
	inc           *sipua.Incoming
	cancelInvite  context.CancelFunc
	browserOffer  int64 // offererSessionId of the browser's last offer
	ourSessionID  int64
	earlyAnswered bool
	remoteHeld    bool
}

func (c *call) getState() callState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *call) awaitingOffer() bool { return c.getState() == stateAwaitingOffer }

func (c *call) deliver(body []byte) { c.st.s.Deliver(c.peer, body) }

// ---- outgoing calls ----

// outgoing starts a call from the browser's OFFER to the number to.
func (st *session) outgoing(to string, r roap) error {
	if err := sipua.CheckUser(to); err != nil {
		return web.Errorf(web.ErrInvalid, "destination: %v", err)
	}
	var headers [][2]string
	for _, a := range r.AttachedData {
		h := [2]string{"X-Genesys-" + a.Key, a.Value}
		if err := sipua.CheckHeader(h[0], h[1]); err != nil {
			return web.Errorf(web.ErrInvalid, "attached data: %v", err)
		}
		headers = append(headers, h)
	}
	c, err := st.newCall(to, false)
	if err != nil {
		return err
	}
	common, err := c.m.SetBrowserOffer(r.SDP, r.iceCandidates())
	if err != nil {
		c.abandon("bad offer")
		return web.Errorf(web.ErrInvalid, "offer: %v", err)
	}
	if len(common) == 0 {
		c.abandon("no common codec")
		return web.Errorf(web.ErrInvalid, "the offer has no codec the gateway uses (media/codecs)")
	}
	ctx, cancel := context.WithCancel(st.e.ctx)
	c.mu.Lock()
	c.state, c.cancelInvite, c.browserOffer = stateCalling, cancel, r.OffererSessionID
	c.ourSessionID = st.newSessionID()
	c.mu.Unlock()
	c.log.Debug("calling", "codecs", codecNames(common))
	sdp := c.m.SIPOffer(common)
	st.e.goTracked(func() { c.place(ctx, cancel, sdp, headers, r.Seq) })
	return nil
}

// place runs the INVITE and answers the browser with the SIP side's answer.
func (c *call) place(ctx context.Context, cancel context.CancelFunc, sdp []byte, headers [][2]string, seq int64) {
	defer cancel()
	st := c.st
	password := ""
	if st.reg != nil {
		password = st.reg.Password()
	}
	d, answer, err := st.e.ua.Invite(ctx, sipua.InviteRequest{
		From: st.dn(), Password: password, To: c.peer, SDP: sdp, Headers: headers,
		Provisional: func(code int, reason string, body []byte) {
			if code == 183 && len(body) > 0 {
				c.earlyMedia(body, seq)
			}
		},
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return // the browser hung up first: CANCEL was sent, hangUp cleans up
		}
		status, reason := 500, err.Error()
		var se *sipua.StatusError
		if errors.As(err, &se) {
			status, reason = se.Code, se.Reason
		} else if errors.Is(err, sipua.ErrUnreachable) {
			status, reason = 503, "SIP Server unreachable"
		}
		c.log.Debug("call failed", "status", status, "reason", reason)
		c.deliver(errorMessage("CALL_FAILED", status, reason))
		c.finish("call failed: "+reason, true)
		return
	}
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		d.Bye(context.Background()) // the browser hung up as the 200 arrived
		return
	}
	c.d = d
	early := c.earlyAnswered
	c.state = stateEstablished
	c.mu.Unlock()
	d.SetEvents(c.sipEvents())
	c.neg.Lock()
	defer c.neg.Unlock()
	if err := c.m.SetSIPAnswer(answer); err != nil {
		c.log.Warn("unusable SIP answer", "error", err)
		c.deliver(errorMessage("CALL_FAILED", 488, err.Error()))
		c.hangUp("unusable SIP answer")
		return
	}
	if !early {
		if err := c.answerBrowser(seq); err != nil {
			c.log.Warn("browser answer failed", "error", err)
			c.hangUp("browser answer failed")
			return
		}
	}
	c.m.MarkAnswered()
	c.log.Debug("call established", "transport", d.Transport())
}

// earlyMedia answers the browser on a 183 with SDP, so it hears ringback
// or announcements before the call is answered.
func (c *call) earlyMedia(body []byte, seq int64) {
	c.neg.Lock()
	defer c.neg.Unlock()
	c.mu.Lock()
	if c.earlyAnswered || c.state != stateCalling {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err := c.m.SetSIPAnswer(body); err != nil {
		c.log.Debug("early media SDP not usable", "error", err)
		return
	}
	if err := c.answerBrowser(seq); err != nil {
		c.log.Debug("early answer to the browser failed", "error", err)
		return
	}
	c.mu.Lock()
	c.earlyAnswered = true
	c.mu.Unlock()
}

// answerBrowser sends the browser its ANSWER (caller holds neg).
func (c *call) answerBrowser(seq int64) error {
	ctx, cancel := context.WithTimeout(c.st.e.ctx, negotiateTimeout)
	defer cancel()
	sdp, err := c.m.BrowserAnswer(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	offer, ours := c.browserOffer, c.ourSessionID
	c.mu.Unlock()
	c.deliver(answerMessage(sdp, offer, ours, seq))
	return nil
}

// ---- incoming calls ----

// incoming offers an incoming call to the browser.
func (c *call) incoming(inc *sipua.Incoming) {
	c.mu.Lock()
	c.inc = inc
	c.mu.Unlock()
	inc.Dialog().SetEvents(c.sipEvents())
	if err := inc.Ringing(); err != nil {
		c.log.Debug("180 Ringing failed", "error", err)
	}
	if len(inc.SDP) == 0 {
		c.mu.Lock()
		c.state = stateAwaitingOffer
		c.mu.Unlock()
		c.deliver([]byte("INVITE"))
	} else {
		common, err := c.m.SetSIPOffer(inc.SDP)
		if err != nil || len(common) == 0 {
			c.log.Info("incoming call refused: no usable SDP", "error", err)
			inc.Reject(488, "Not Acceptable Here")
			c.finish("no common codec", false)
			return
		}
		ctx, cancel := context.WithTimeout(c.st.e.ctx, negotiateTimeout)
		offer, err := c.m.BrowserOffer(ctx, common)
		cancel()
		if err != nil {
			c.log.Warn("offer to the browser failed", "error", err)
			inc.Reject(500, "Server Internal Error")
			c.finish("browser offer failed", false)
			return
		}
		id := c.st.newSessionID()
		c.mu.Lock()
		c.state, c.ourSessionID = stateOffered, id
		c.mu.Unlock()
		c.deliver(offerMessage(offer, id, rand.Int64N(1<<31)))
	}
	c.log.Debug("incoming call offered to the browser", "with_sdp", len(inc.SDP) > 0, "auto_answer", inc.AutoAnswer)
	if inc.AutoAnswer {
		c.deliver([]byte("EVENT-TALK"))
	}
	c.st.e.goTracked(func() {
		select {
		case <-inc.Cancelled():
		case <-c.st.e.ctx.Done():
			return
		}
		if s := c.getState(); s == stateOffered || s == stateAwaitingOffer {
			c.log.Debug("caller cancelled")
			c.deliver([]byte("BYE"))
			c.finish("cancelled by the caller", false)
		}
	})
}

// browserAnswer applies the browser's ANSWER to the offer of an incoming call.
func (c *call) browserAnswer(r roap) error {
	c.mu.Lock()
	state, inc := c.state, c.inc
	if state == stateOffered {
		c.state = stateAnswering
	}
	c.mu.Unlock()
	if state != stateOffered {
		return web.Errorf(web.ErrConflict, "no offer is waiting for an answer")
	}
	if err := c.m.SetBrowserAnswer(r.SDP, r.iceCandidates()); err != nil {
		inc.Reject(488, "Not Acceptable Here")
		c.finish("bad answer from the browser", false)
		return web.Errorf(web.ErrInvalid, "answer: %v", err)
	}
	sdp := c.m.SIPAnswer()
	c.st.e.goTracked(func() {
		if _, err := inc.Answer(c.st.e.ctx, sdp); err != nil {
			c.log.Info("incoming call lost before its ACK", "error", err)
			c.deliver([]byte("BYE"))
			c.finish("no ACK", false)
			return
		}
		c.established(inc.Dialog())
	})
	return nil
}

// offerForIncoming takes the browser's OFFER for an incoming call that came
// without SDP: it goes to the caller in the 200 OK, whose ACK answers it.
func (c *call) offerForIncoming(r roap) error {
	c.mu.Lock()
	if c.state != stateAwaitingOffer {
		c.mu.Unlock()
		return web.Errorf(web.ErrConflict, "no call is waiting for an offer")
	}
	c.state, c.browserOffer = stateAnswering, r.OffererSessionID
	c.ourSessionID = c.st.newSessionID()
	inc := c.inc
	c.mu.Unlock()
	common, err := c.m.SetBrowserOffer(r.SDP, r.iceCandidates())
	if err != nil || len(common) == 0 {
		inc.Reject(488, "Not Acceptable Here")
		c.finish("bad offer from the browser", false)
		return web.Errorf(web.ErrInvalid, "offer: %v", err)
	}
	sdp := c.m.SIPOffer(common)
	c.st.e.goTracked(func() {
		ack, err := inc.Answer(c.st.e.ctx, sdp)
		if err == nil {
			err = c.m.SetSIPAnswer(ack)
		}
		if err != nil {
			c.log.Info("incoming call without SDP failed", "error", err)
			c.deliver([]byte("BYE"))
			c.hangUp("no usable answer in the ACK")
			return
		}
		c.neg.Lock()
		err = c.answerBrowser(r.Seq)
		c.neg.Unlock()
		if err != nil {
			c.hangUp("browser answer failed")
			return
		}
		c.established(inc.Dialog())
	})
	return nil
}

func (c *call) established(d *sipua.Dialog) {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		d.Bye(context.Background())
		return
	}
	c.d, c.state = d, stateEstablished
	c.mu.Unlock()
	c.m.MarkAnswered()
	c.log.Debug("call established", "transport", d.Transport())
}

// ---- during the call ----

// reoffer handles a new OFFER from the browser on an established call:
// hold (a=inactive) or resume, passed to the SIP side as a re-INVITE.
func (c *call) reoffer(r roap) error {
	c.mu.Lock()
	d, state := c.d, c.state
	c.browserOffer = r.OffererSessionID
	c.mu.Unlock()
	if state != stateEstablished || d == nil {
		return web.Errorf(web.ErrConflict, "the call is not established yet")
	}
	c.neg.Lock()
	dir, err := c.m.SetBrowserReoffer(r.SDP)
	if err != nil {
		c.neg.Unlock()
		return web.Errorf(web.ErrInvalid, "offer: %v", err)
	}
	c.st.e.goTracked(func() {
		defer c.neg.Unlock()
		ctx, cancel := context.WithTimeout(c.st.e.ctx, negotiateTimeout*2)
		defer cancel()
		answer, err := d.Reinvite(ctx, c.m.SIPReofferFor(dir))
		if err == nil {
			err = c.m.SetSIPReofferAnswer(answer)
		}
		if err != nil {
			c.log.Info("re-INVITE refused by the SIP side", "direction", dir, "error", err)
		}
		c.log.Debug("browser changed direction", "direction", dir)
		if err := c.answerBrowser(r.Seq); err != nil {
			c.log.Warn("browser answer failed", "error", err)
		}
	})
	return nil
}

func (c *call) info(contentType string, data []byte) error {
	c.mu.Lock()
	d := c.d
	c.mu.Unlock()
	if d == nil {
		return web.Errorf(web.ErrConflict, "the call is not established yet")
	}
	body := append([]byte(nil), data...)
	c.st.e.goTracked(func() {
		ctx, cancel := context.WithTimeout(c.st.e.ctx, negotiateTimeout*2)
		defer cancel()
		if err := d.Info(ctx, contentType, body); err != nil {
			c.log.Info("INFO refused", "error", err)
		}
	})
	return nil
}

// sipEvents are the dialog's events: what the SIP side does in the call.
func (c *call) sipEvents() sipua.Events {
	return sipua.Events{
		Bye: func() {
			c.log.Debug("far end hung up")
			c.deliver([]byte("BYE"))
			c.finish("hung up by the far end", false)
		},
		// A re-INVITE from the far end (it holds or resumes the call, or
		// moves its media) is answered on the SIP side alone. EVENT-HOLD
		// and EVENT-TALK are remote call control (NOTIFY below): the
		// library answers EVENT-HOLD by holding the call itself, which
		// would stop the far end's music on hold.
		Reinvite: func(sdp []byte) ([]byte, error) {
			answer, dir, err := c.m.SIPReoffer(sdp)
			if err != nil {
				return nil, err
			}
			held := dir.OnHold()
			c.mu.Lock()
			changed := held != c.remoteHeld
			c.remoteHeld = held
			c.mu.Unlock()
			if changed {
				c.log.Debug("far end changed direction", "direction", dir)
			}
			return answer, nil
		},
		Info: func(_ string, body []byte) { c.deliver(infoPeerMessage(body)) },
		Notify: func(event string) {
			if event == "hold" {
				c.deliver([]byte("EVENT-HOLD"))
			} else {
				c.deliver([]byte("EVENT-TALK"))
			}
		},
	}
}

// reasonBrowserBye is the hang-up reason when the browser sent BYE.
const reasonBrowserBye = "hung up by the browser"

// hangUp ends the call from the gateway's side (the browser hung up or
// signed out, or the media failed): CANCEL, a rejection or BYE towards SIP as
// the state requires. The browser is told unless it asked for it.
func (c *call) hangUp(reason string) {
	c.mu.Lock()
	state, d, inc, cancel := c.state, c.d, c.inc, c.cancelInvite
	c.mu.Unlock()
	switch state {
	case stateEnded:
		return
	case stateCalling:
		if cancel != nil {
			cancel() // WaitAnswer sends CANCEL
		}
	case stateOffered, stateAwaitingOffer:
		if reason == reasonBrowserBye {
			inc.Reject(486, "Busy Here") // the browser rejected the call
		} else {
			inc.Reject(480, "Temporarily Unavailable")
		}
	}
	c.finish(reason, reason != reasonBrowserBye)
	if state == stateAnswering || state == stateEstablished {
		if d == nil && inc != nil {
			d = inc.Dialog()
		}
		if d != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := d.Bye(ctx); err != nil {
				c.log.Debug("BYE failed", "error", err)
			}
		}
	}
}

// finish releases the call's media and forgets it; tellBrowser sends BYE.
func (c *call) finish(reason string, tellBrowser bool) {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return
	}
	c.state = stateEnded
	c.mu.Unlock()
	if tellBrowser {
		c.deliver([]byte("BYE"))
	}
	c.m.End(reason)
	c.st.removeCall(c)
	c.log.Debug("call ended", "reason", reason)
}

// abandon drops a call that never went out.
func (c *call) abandon(reason string) {
	c.finish(reason, false)
}

func codecNames(cs []media.Codec) string {
	names := make([]string, len(cs))
	for i, k := range cs {
		names[i] = k.Name
	}
	return strings.Join(names, ",")
}
