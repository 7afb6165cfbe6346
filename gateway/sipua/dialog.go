package sipua

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Events are what the far end does during a dialog. Each is called in its
// own goroutine (the SIP transaction waits for Reinvite's answer).
type Events struct {
	Bye      func()
	Reinvite func(sdp []byte) (answer []byte, err error)
	Info     func(contentType string, body []byte)
	Notify   func(event string) // Event: talk or hold (remote call control)
}

// Dialog is one call's SIP dialog, outgoing or incoming.
type Dialog struct {
	u      *UA
	t      *transport
	callID string
	key    string // Call-ID and our tag: a call the SIP Server routes back to this gateway has one Call-ID for both dialogs
	client *sipgo.DialogClientSession
	server *sipgo.DialogServerSession

	mu       sync.Mutex
	events   Events
	ackBody  []byte
	ackCh    chan struct{} // closed when the ACK of our 2xx arrived
	answered bool          // a 2xx was sent or received: BYE is the way out
	ended    bool
	byeSent  bool
	reinvite sync.Mutex // one re-INVITE of ours at a time
}

// SetEvents installs the dialog's event handlers.
func (d *Dialog) SetEvents(e Events) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = e
}

func (d *Dialog) getEvents() Events {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.events
}

// CallID returns the dialog's Call-ID.
func (d *Dialog) CallID() string { return d.callID }

// Transport returns the transport the dialog lives on ("udp", "tcp", "tls").
func (d *Dialog) Transport() string { return d.t.network }

// ---- outgoing calls ----

// InviteRequest is an outgoing call.
type InviteRequest struct {
	From     string // the caller's DN; empty: anonymous
	Password string // for digest challenges to the INVITE
	To       string // dialled number
	SDP      []byte
	// Headers are extra X- headers (attached data), checked by CheckHeader.
	Headers [][2]string
	// Provisional is told of 1xx responses (180, 183 with early-media SDP).
	Provisional func(code int, reason string, sdp []byte)
}

// Invite places a call and waits for its final response, at most
// sip/invite-timeout (then it is cancelled). Cancelling ctx cancels the call
// (CANCEL). On 2xx the call is acknowledged and the answer SDP returned.
func (u *UA) Invite(ctx context.Context, r InviteRequest) (*Dialog, []byte, error) {
	if err := CheckUser(r.To); err != nil {
		return nil, nil, err
	}
	if r.From != "" {
		if err := CheckUser(r.From); err != nil {
			return nil, nil, err
		}
	}
	for _, h := range r.Headers {
		if err := CheckHeader(h[0], h[1]); err != nil {
			return nil, nil, err
		}
	}
	t := u.tr.Load()
	if t == nil {
		return nil, nil, ErrStopped
	}
	recipient, err := u.serverURI(r.To)
	if err != nil {
		return nil, nil, err
	}
	req := sip.NewRequest(sip.INVITE, recipient)
	req.SetTransport(t.network)
	fromUser, display := r.From, ""
	if fromUser == "" {
		fromUser, display = "anonymous", "Anonymous"
	}
	fromURI, _ := u.serverURI(fromUser)
	fromURI.UriParams = nil
	from := sip.FromHeader{DisplayName: display, Address: fromURI, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	toURI := recipient
	toURI.UriParams = nil
	to := sip.ToHeader{Address: toURI}
	contact := t.contact(fromUser)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range r.Headers {
		req.AppendHeader(sip.NewHeader(h[0], h[1]))
	}
	req.SetBody(r.SDP)

	timeout := u.opts.Load().InviteTimeout
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sess, err := t.dialogUA.WriteInvite(ictx, req)
	if err != nil {
		if ctx.Err() == nil {
			u.noteHealth(probeSilent, err)
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	d := &Dialog{u: u, t: t, callID: req.CallID().Value(), client: sess, ackCh: make(chan struct{})}
	d.key = dialogKey(d.callID, from.Params)
	close(d.ackCh)
	// Registered before the answer: a BYE or NOTIFY may race the 2xx.
	u.addDialog(d)
	err = sess.WaitAnswer(ictx, sipgo.AnswerOptions{
		Username: r.From, Password: r.Password,
		OnResponse: func(res *sip.Response) error {
			if !strings.EqualFold(res.SipVersion, sipVersion) {
				if res.IsProvisional() {
					return nil // ignored: it means nothing to a SIP/2.0 client
				}
				return fmt.Errorf("%w: %s", errVersion, excerpt(res.StartLine(), excerptBytes))
			}
			if res.StatusCode != 503 {
				// Answered: the SIP Server is alive. A 503 to an INVITE
				// is usually about the callee's side, not the server.
				u.noteHealth(probeAlive, nil)
			}
			if res.IsProvisional() && res.StatusCode > 100 && r.Provisional != nil {
				r.Provisional(res.StatusCode, res.Reason, res.Body())
			}
			return nil
		},
	})
	if err != nil {
		u.removeDialog(d)
		sess.Close()
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			return nil, nil, &StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
		case ctx.Err() != nil:
			return nil, nil, ctx.Err() // the caller hung up: CANCEL was sent
		case ictx.Err() != nil:
			return nil, nil, &StatusError{Code: 408, Reason: "No Answer (sip/invite-timeout)"}
		case errors.Is(err, errVersion):
			return nil, nil, fmt.Errorf("INVITE: %w", err)
		}
		u.noteHealth(probeSilent, err)
		return nil, nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	d.mu.Lock()
	d.answered = true
	d.mu.Unlock()
	if err := sess.Ack(context.Background()); err != nil {
		u.log.Warn("ACK failed", "call_id", d.callID, "error", err)
	}
	return d, sess.InviteResponse.Body(), nil
}

// ---- incoming calls ----

// Incoming is an INVITE for a registered DN, waiting for an answer.
type Incoming struct {
	DN         string // the called DN
	Caller     string // the caller's user part (or display name when it has none)
	SDP        []byte // the offer; empty for an INVITE without SDP
	AutoAnswer bool   // Call-Info answer-after / Alert-Info auto answer

	u       *UA
	d       *Dialog
	session *sipgo.DialogServerSession
	decided chan struct{} // closed when answered or rejected: the handler may return
	once    sync.Once
}

// Dialog returns the call's dialog (usable once answered).
func (i *Incoming) Dialog() *Dialog { return i.d }

// Cancelled is closed when the caller cancelled before the answer.
func (i *Incoming) Cancelled() <-chan struct{} { return i.session.Context().Done() }

// Ringing sends 180 Ringing.
func (i *Incoming) Ringing() error { return i.session.Respond(180, "Ringing", nil) }

// Reject answers with a final error status.
func (i *Incoming) Reject(code int, reason string) {
	i.d.markEnded()
	i.session.Respond(code, reason, nil)
	i.decide()
	i.u.removeDialog(i.d)
}

// Answer sends 200 OK with sdp and waits (at most 32 s) for the ACK; it
// returns the ACK's SDP (the answer, for an INVITE without SDP).
func (i *Incoming) Answer(ctx context.Context, sdp []byte) ([]byte, error) {
	res := sip.NewSDPResponseFromRequest(i.session.InviteRequest, sdp)
	contact := i.d.t.contact(i.DN)
	res.AppendHeader(&contact)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	i.d.mu.Lock()
	ended := i.d.ended
	i.d.mu.Unlock()
	if ended {
		return nil, errors.New("the call ended before the answer")
	}
	err := i.session.WriteResponse(res)
	i.decide()
	if err != nil {
		i.u.removeDialog(i.d)
		return nil, err
	}
	i.d.mu.Lock()
	i.d.answered = true
	i.d.mu.Unlock()
	select {
	case <-i.d.ackCh:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(32 * time.Second):
		return nil, errors.New("no ACK for 200 OK")
	}
	i.d.mu.Lock()
	defer i.d.mu.Unlock()
	return i.d.ackBody, nil
}

func (i *Incoming) decide() { i.once.Do(func() { close(i.decided) }) }

// onInvite handles a new INVITE, or a re-INVITE in a dialog.
func (u *UA) onInvite(t *transport, req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.onReinvite(req, tx)
		return
	}
	dn := req.Recipient.User
	if un, err := url.PathUnescape(dn); err == nil {
		dn = un
	}
	if CheckUser(dn) != nil {
		respond(tx, req, 404, "Not Found")
		return
	}
	if u.Registered(dn) == nil {
		respond(tx, req, 404, "Not Found")
		return
	}
	if u.deps.Incoming == nil {
		respond(tx, req, 480, "Temporarily Unavailable")
		return
	}
	respond(tx, req, 100, "Trying")
	session, err := t.dialogUA.ReadInvite(req, tx)
	if err != nil {
		respond(tx, req, 400, "Bad Request")
		return
	}
	d := &Dialog{u: u, t: t, callID: req.CallID().Value(), server: session, ackCh: make(chan struct{})}
	d.key = dialogKey(d.callID, session.InviteRequest.To().Params)
	u.addDialog(d)
	inc := &Incoming{DN: dn, Caller: callerOf(req), SDP: req.Body(), AutoAnswer: autoAnswer(req),
		u: u, d: d, session: session, decided: make(chan struct{})}
	go u.deps.Incoming(inc)
	// The INVITE transaction ends when this handler returns: wait for the
	// decision (or the caller's CANCEL, or the transaction's end).
	select {
	case <-inc.decided:
	case <-session.Context().Done():
		u.removeDialog(d)
	}
}

// callerOf returns who calls: the From user, else its display name.
func callerOf(req *sip.Request) string {
	f := req.From()
	if f == nil {
		return "unknown"
	}
	if f.Address.User != "" {
		if u, err := url.PathUnescape(f.Address.User); err == nil && CheckUser(u) == nil {
			return u
		}
	}
	if CheckUser(f.DisplayName) == nil {
		return f.DisplayName
	}
	return "unknown"
}

// autoAnswer recognises the usual auto-answer requests (Call-Info
// answer-after=0, Alert-Info auto answer).
func autoAnswer(req *sip.Request) bool {
	for _, h := range req.GetHeaders("Call-Info") {
		if strings.Contains(strings.ToLower(h.Value()), "answer-after=0") {
			return true
		}
	}
	for _, h := range req.GetHeaders("Alert-Info") {
		v := strings.ToLower(h.Value())
		if strings.Contains(v, "auto answer") || strings.Contains(v, "auto-answer") || strings.Contains(v, "answer-after=0") {
			return true
		}
	}
	return false
}

// inDialog returns the dialog of an in-dialog request whose CSeq is in
// order, or answers the request itself (481, 500) and returns nil.
func (u *UA) inDialog(req *sip.Request, tx sip.ServerTransaction) *Dialog {
	d := u.dialog(req)
	if d == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	if err := d.readRequest(req, tx); err != nil {
		respond(tx, req, 500, "Server Internal Error")
		return nil
	}
	return d
}

func (u *UA) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	d := u.inDialog(req, tx)
	if d == nil {
		return
	}
	ev := d.getEvents()
	if ev.Reinvite == nil || len(req.Body()) == 0 {
		// An offerless re-INVITE would need a new offer from the browser;
		// refuse it cleanly rather than guess.
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	answer, err := ev.Reinvite(req.Body())
	if err != nil {
		u.log.Info("re-INVITE refused", "call_id", d.callID, "error", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	res := sip.NewSDPResponseFromRequest(req, answer)
	contact := d.t.contact("")
	if d.server != nil {
		contact = d.t.contact(d.server.InviteRequest.Recipient.User)
	}
	res.AppendHeader(&contact)
	tx.Respond(res)
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	d := u.dialog(req)
	if d == nil || d.server == nil {
		return
	}
	if req.CSeq().SeqNo != d.server.InviteRequest.CSeq().SeqNo {
		return // the ACK of a re-INVITE's 2xx
	}
	d.server.ReadAck(req, tx)
	d.mu.Lock()
	select {
	case <-d.ackCh:
	default:
		d.ackBody = req.Body()
		close(d.ackCh)
	}
	d.mu.Unlock()
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d := u.dialog(req)
	if d == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	if d.client != nil {
		err = d.client.ReadBye(req, tx)
	} else {
		err = d.server.ReadBye(req, tx)
	}
	if err != nil {
		respond(tx, req, 200, "OK")
	}
	d.markEnded()
	u.removeDialog(d)
	if ev := d.getEvents(); ev.Bye != nil {
		go ev.Bye()
	}
}

func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	d := u.inDialog(req, tx)
	if d == nil {
		return
	}
	respond(tx, req, 200, "OK")
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if ev := d.getEvents(); ev.Info != nil && len(req.Body()) > 0 {
		go ev.Info(ct, req.Body())
	}
}

// onNotify handles remote call control (Event: talk, Event: hold): inside a
// dialog, or addressed to a DN outside one (then it concerns the DN's call).
func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	event := ""
	if h := req.GetHeader("Event"); h != nil {
		event = strings.ToLower(strings.TrimSpace(strings.Split(h.Value(), ";")[0]))
	}
	if event != "talk" && event != "hold" {
		respond(tx, req, 489, "Bad Event")
		return
	}
	d := u.dialog(req)
	if d == nil {
		d = u.dialogOfDN(req.Recipient.User)
	}
	if d == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	respond(tx, req, 200, "OK")
	if ev := d.getEvents(); ev.Notify != nil {
		go ev.Notify(event)
	}
}

// dialogOfDN returns the only incoming dialog of dn, if there is exactly one.
func (u *UA) dialogOfDN(dn string) *Dialog {
	u.mu.Lock()
	defer u.mu.Unlock()
	var found *Dialog
	for _, d := range u.dialogs {
		if d.server != nil && d.server.InviteRequest.Recipient.User == dn {
			if found != nil {
				return nil
			}
			found = d
		}
	}
	return found
}

// readRequest checks an in-dialog request's CSeq (RFC 3261 section 12.2.2).
func (d *Dialog) readRequest(req *sip.Request, tx sip.ServerTransaction) error {
	if d.client != nil {
		return d.client.ReadRequest(req, tx)
	}
	return d.server.ReadRequest(req, tx)
}

func (d *Dialog) markEnded() {
	d.mu.Lock()
	d.ended = true
	d.mu.Unlock()
}

// ---- requests of ours inside the dialog ----

// remoteTarget is where in-dialog requests go: the far end's Contact.
func (d *Dialog) remoteTarget() sip.Uri {
	if d.client != nil {
		if c := d.client.InviteResponse.Contact(); c != nil {
			return c.Address
		}
		return d.client.InviteRequest.Recipient
	}
	if c := d.server.InviteRequest.Contact(); c != nil {
		return c.Address
	}
	return d.server.InviteRequest.Recipient
}

// do sends an in-dialog request and waits for its final response.
func (d *Dialog) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if d.client != nil {
		return d.client.Do(ctx, req)
	}
	return d.server.Do(ctx, req)
}

func (d *Dialog) write(req *sip.Request) error {
	if d.client != nil {
		return d.client.WriteRequest(req)
	}
	return d.server.WriteRequest(req)
}

// Bye ends an answered dialog (idempotent; a dialog the far end ended, or
// one never answered, is left alone).
func (d *Dialog) Bye(ctx context.Context) error {
	d.mu.Lock()
	if d.ended || d.byeSent || !d.answered {
		d.mu.Unlock()
		return nil
	}
	d.byeSent = true
	d.mu.Unlock()
	defer d.u.removeDialog(d)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	if d.client != nil {
		err = d.client.Bye(ctx)
		d.client.Close()
	} else {
		err = d.server.Bye(ctx)
		d.server.Close()
	}
	d.markEnded()
	return err
}

// Reinvite sends a re-INVITE with sdp and returns the answer SDP (hold, resume).
func (d *Dialog) Reinvite(ctx context.Context, sdp []byte) ([]byte, error) {
	d.reinvite.Lock()
	defer d.reinvite.Unlock()
	req := sip.NewRequest(sip.INVITE, d.remoteTarget())
	req.SetBody(sdp)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	res, err := d.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	ack := sip.NewRequest(sip.ACK, d.remoteTarget())
	if err := d.write(ack); err != nil {
		return nil, fmt.Errorf("ACK: %w", err)
	}
	return res.Body(), nil
}

// Info sends an INFO with body of contentType.
func (d *Dialog) Info(ctx context.Context, contentType string, body []byte) error {
	req := sip.NewRequest(sip.INFO, d.remoteTarget())
	req.SetBody(body)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	res, err := d.do(ctx, req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	return nil
}
