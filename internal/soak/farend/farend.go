// Package farend is the far end of the soak harness's calls: a SIP user
// agent (sipgo, UDP on 127.0.0.1) behind the SIP Server that answers the
// gateway's INVITEs and calls browsers' DNs, with one RTP stream per call
// that sends 20 ms of G.711 every 20 ms and meters what arrives
// (rtpmeter). It tells who ended each call: itself (Hangup) or the other
// side (a BYE it received).
//
// A call from the gateway names the soak's call id in the header
// X-Genesys-SoakCall (the browser's attached data "SoakCall"); a call to a
// DN says it in the From user, soak-ID, which the browser sees as the
// caller.
package farend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"webrtcgw/internal/soak/rtpmeter"
)

// CallHeader is the SIP header of the gateway's INVITE that names the soak
// call (the attached data key SoakCall, as the gateway forwards it).
const CallHeader = "X-Genesys-SoakCall"

// CallerPrefix starts the From user of the far end's calls to DNs; the
// call id follows.
const CallerPrefix = "soak-"

// Config describes a FarEnd.
type Config struct {
	// Server is the SIP Server's host:port, where calls to DNs go.
	Server string
	// OnCall is told of every call the gateway places to the far end, in
	// its own goroutine, once it is answered (200 OK sent).
	OnCall func(*Call)
	// AnswerDelay is the longest random wait between 180 Ringing and
	// 200 OK.
	AnswerDelay time.Duration
	// GapThreshold and SeqThreshold configure each call's rtpmeter.
	GapThreshold time.Duration
	SeqThreshold int
	// Log receives sipgo's own log and the far end's.
	Log *slog.Logger
}

// FarEnd is a running far end.
type FarEnd struct {
	cfg      Config
	port     int
	ua       *sipgo.UserAgent
	srv      *sipgo.Server
	cli      *sipgo.Client
	dialogUA *sipgo.DialogUA
	conn     net.PacketConn
	served   chan struct{}
	session  atomic.Uint64

	mu    sync.Mutex
	calls map[string]*Call // by SIP Call-ID
	wg    sync.WaitGroup   // INVITE handlers and OnCall
}

// ErrEnded is returned by Hangup when the call has already ended.
var ErrEnded = errors.New("the call has already ended")

// StatusError is a final non-2xx answer to a call the far end placed.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return strconv.Itoa(e.Code) + " " + e.Reason }

// Start listens on UDP 127.0.0.1 (a free port) and serves until Close.
func Start(cfg Config) (*FarEnd, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FarEnd{cfg: cfg, conn: conn, port: conn.LocalAddr().(*net.UDPAddr).Port, calls: map[string]*Call{}, served: make(chan struct{})}
	f.ua, err = sipgo.NewUA(sipgo.WithUserAgent("soak-far-end"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(cfg.Log)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(cfg.Log)))
	if err != nil {
		conn.Close()
		return nil, err
	}
	if f.srv, err = sipgo.NewServer(f.ua, sipgo.WithServerLogger(cfg.Log)); err == nil {
		f.cli, err = sipgo.NewClient(f.ua, sipgo.WithClientLogger(cfg.Log), sipgo.WithClientHostname("127.0.0.1"),
			sipgo.WithClientPort(f.port), sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	}
	if err != nil {
		f.ua.Close()
		conn.Close()
		return nil, err
	}
	f.dialogUA = &sipgo.DialogUA{Client: f.cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "soak", Host: "127.0.0.1", Port: f.port}}}
	f.srv.OnInvite(f.onInvite)
	f.srv.OnAck(f.onAck)
	f.srv.OnBye(f.onBye)
	f.srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) { respond(tx, req, 200, "OK") })
	f.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) { respond(tx, req, 200, "OK") })
	f.srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) { respond(tx, req, 200, "OK") })
	rc := &readyConn{PacketConn: conn, ready: make(chan struct{})}
	go func() {
		defer close(f.served)
		f.srv.ServeUDP(rc)
	}()
	select {
	case <-rc.ready:
	case <-f.served:
		return nil, errors.New("far end: SIP server ended at start")
	}
	return f, nil
}

// readyConn says when sipgo first reads the socket: requests sent before
// that would make sipgo bind another one.
type readyConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *readyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// Port returns the SIP port on 127.0.0.1.
func (f *FarEnd) Port() int { return f.port }

// Calls returns the number of calls up.
func (f *FarEnd) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// Close ends every call's media (without BYE) and stops the UA.
func (f *FarEnd) Close() {
	f.mu.Lock()
	calls := make([]*Call, 0, len(f.calls))
	for _, c := range f.calls {
		calls = append(calls, c)
	}
	f.mu.Unlock()
	for _, c := range calls {
		c.end("closed")
	}
	f.srv.Close()
	f.cli.Close()
	f.ua.Close()
	f.conn.Close()
	<-f.served
	f.wg.Wait()
}

// Call is one call of the far end.
type Call struct {
	// ID is the soak's call id.
	ID string
	// Inbound is true for a call the gateway placed to the far end.
	Inbound bool
	// Meter measures what arrives from the gateway.
	Meter *rtpmeter.Meter

	f      *FarEnd
	callID string
	st     *stream
	codec  string
	server *sipgo.DialogServerSession
	client *sipgo.DialogClientSession
	done   chan struct{}

	mu      sync.Mutex
	endedBy string // "" while up: "local", "remote" (BYE received), or why it ended
	endedAt time.Time
}

// Codec returns the codec of the call (PCMU or PCMA).
func (c *Call) Codec() string { return c.codec }

// Sent returns the number of RTP packets sent to the gateway.
func (c *Call) Sent() int64 { return c.st.sent.Load() }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndedBy says who ended the call: "local" (Hangup), "remote" (a BYE
// came), or another reason; "" while it is up.
func (c *Call) EndedBy() (string, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedBy, c.endedAt
}

// end marks the call ended by who, once; it stops the media. It reports
// whether this call ended it.
func (c *Call) end(who string) bool {
	c.mu.Lock()
	if c.endedBy != "" {
		c.mu.Unlock()
		return false
	}
	c.endedBy, c.endedAt = who, time.Now()
	c.mu.Unlock()
	c.st.stop()
	close(c.done)
	c.f.mu.Lock()
	if c.f.calls[c.callID] == c {
		delete(c.f.calls, c.callID)
	}
	c.f.mu.Unlock()
	return true
}

// Hangup ends the call from the far end: the media stops, then a BYE goes
// out and its answer is awaited (until ctx ends). It returns ErrEnded when
// the call had already ended (a BYE came first).
func (c *Call) Hangup(ctx context.Context) error {
	if !c.end("local") {
		return ErrEnded
	}
	var err error
	if c.server != nil {
		err = c.server.Bye(ctx)
	} else {
		err = c.client.Bye(ctx)
	}
	if err != nil {
		return fmt.Errorf("BYE: %w", err)
	}
	return nil
}

func (f *FarEnd) newCall(id string, inbound bool) (*Call, error) {
	meter := rtpmeter.New(f.cfg.GapThreshold, f.cfg.SeqThreshold)
	st, err := newStream(meter)
	if err != nil {
		return nil, err
	}
	return &Call{ID: id, Inbound: inbound, Meter: meter, f: f, st: st, done: make(chan struct{})}, nil
}

func (f *FarEnd) add(c *Call) {
	f.mu.Lock()
	f.calls[c.callID] = c
	f.mu.Unlock()
}

func (f *FarEnd) byCallID(req *sip.Request) *Call {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[cid.Value()]
}

// onInvite answers a call from the gateway: 180, then 200 with the first
// G.711 codec offered after a random delay, then the media.
func (f *FarEnd) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		f.onReinvite(req, tx)
		return
	}
	f.wg.Add(1)
	defer f.wg.Done()
	id := ""
	if h := req.GetHeader(CallHeader); h != nil {
		id = h.Value()
	}
	offer, err := parseSDP(req.Body())
	if err != nil {
		f.cfg.Log.Warn("far end: unusable offer", "call", id, "error", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	pt, ok := offer.g711()
	if !ok || offer.proto != "RTP/AVP" {
		f.cfg.Log.Warn("far end: no G.711 over RTP/AVP in the offer", "call", id, "proto", offer.proto)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	c, err := f.newCall(id, true)
	if err != nil {
		respond(tx, req, 500, "Server Internal Error")
		return
	}
	c.codec = codecNames[pt]
	c.callID = req.CallID().Value()
	sess, err := f.dialogUA.ReadInvite(req, tx)
	if err != nil {
		c.st.stop()
		respond(tx, req, 400, "Bad Request")
		return
	}
	c.server = sess
	f.add(c)
	if err := sess.Respond(180, "Ringing", nil); err != nil {
		c.end("ringing failed: " + err.Error())
		return
	}
	if f.cfg.AnswerDelay > 0 {
		time.Sleep(rand.N(f.cfg.AnswerDelay))
	}
	c.st.start(offer.addr, pt)
	answer := answerSDP(c.st.port(), f.session.Add(1), pt, offer.dtmf)
	if f.cfg.OnCall != nil {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.cfg.OnCall(c)
		}()
	}
	// Returns when the ACK came (or after 64*T1 without one).
	if err := sess.RespondSDP(answer); err != nil {
		f.cfg.Log.Warn("far end: 200 OK not acknowledged", "call", id, "error", err)
		c.end("no ACK: " + err.Error())
	}
}

// onReinvite answers a re-INVITE with the call's media unchanged.
func (f *FarEnd) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := f.byCallID(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	offer, err := parseSDP(req.Body())
	pt, ok := offer.g711()
	if err != nil || !ok {
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	res := sip.NewSDPResponseFromRequest(req, answerSDP(c.st.port(), f.session.Add(1), pt, offer.dtmf))
	res.AppendHeader(&f.dialogUA.ContactHDR)
	tx.Respond(res)
}

func (f *FarEnd) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := f.byCallID(req); c != nil && c.server != nil {
		c.server.ReadAck(req, tx)
	}
}

func (f *FarEnd) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := f.byCallID(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.end("remote")
	var err error
	if c.server != nil {
		err = c.server.ReadBye(req, tx)
	} else {
		err = c.client.ReadBye(req, tx)
	}
	if err != nil {
		respond(tx, req, 200, "OK")
	}
}

// Call calls dn through the SIP Server as soak-ID and returns once the call
// is answered and acknowledged; a refusal is a *StatusError. Cancelling ctx
// before the answer cancels the call.
func (f *FarEnd) Call(ctx context.Context, dn, id string) (*Call, error) {
	c, err := f.newCall(id, false)
	if err != nil {
		return nil, err
	}
	host, portText, err := net.SplitHostPort(f.cfg.Server)
	if err != nil {
		c.st.stop()
		return nil, err
	}
	port, _ := strconv.Atoi(portText)
	recipient := sip.Uri{Scheme: "sip", User: dn, Host: host, Port: port}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: CallerPrefix + id, Host: "127.0.0.1", Port: f.port}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: dn, Host: host, Port: port}}
	req := sip.NewRequest(sip.INVITE, recipient)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offerSDP(c.st.port(), f.session.Add(1)))
	c.callID = "" // set once the request has its Call-ID
	sess, err := f.dialogUA.WriteInvite(ctx, req)
	if err != nil {
		c.st.stop()
		return nil, fmt.Errorf("INVITE: %w", err)
	}
	c.client = sess
	c.callID = req.CallID().Value()
	f.add(c)
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		c.end("not answered")
		sess.Close()
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			return nil, &StatusError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
		}
		return nil, err
	}
	answer, err := parseSDP(sess.InviteResponse.Body())
	if err == nil && !strings.HasPrefix(answer.proto, "RTP/AVP") {
		err = fmt.Errorf("answer protocol %s", answer.proto)
	}
	pt, ok := answer.g711()
	if err == nil && !ok {
		err = errors.New("no G.711 in the answer")
	}
	if err := sess.Ack(ctx); err != nil {
		c.end("ACK failed")
		return nil, fmt.Errorf("ACK: %w", err)
	}
	if err != nil {
		c.Hangup(ctx)
		return nil, fmt.Errorf("unusable answer: %w", err)
	}
	c.codec = codecNames[pt]
	c.st.start(answer.addr, pt)
	return c, nil
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}
