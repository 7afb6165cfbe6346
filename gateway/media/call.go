package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// CallConfig describes a new call.
type CallConfig struct {
	ID      string
	Log     hclog.Logger
	SIPAddr netip.Addr // address announced in SIP-side SDP (and bound for RTP)
	SDES    bool       // sip/srtp = sdes: SRTP keyed in SDP on the SIP side
	// OnFail is called once (in its own goroutine) when the call ends by
	// itself: ICE or DTLS failed, or media stopped. It is not called for End.
	OnFail func(reason string)
}

// Call is the media of one call: a PeerConnection towards the browser and an
// RTP socket pair towards SIP, relaying between them.
//
// Goroutines per call: the SIP RTP reader and the SIP RTCP reader (started by
// NewCall), the browser RTP reader (started when the browser's track
// arrives), and the browser RTCP reader. All end when the call ends.
type Call struct {
	id     string
	log    hclog.Logger
	e      *Engine
	gen    *generation
	pc     *webrtc.PeerConnection
	track  *outTrack
	sock   *rtpSockets
	onFail func(string)

	relay atomic.Pointer[relay] // read by the relay loops on every packet

	mu        sync.Mutex
	codec     Codec // the call's codec, once negotiated
	sipPTs    map[string]uint8
	sipDTMF   map[uint32]uint8
	sipRemote netip.AddrPort
	local     localSDP
	sdes      *sdesSession
	offerPTs  map[string]uint8 // "encoding/clock" → payload type in the browser's offer
	// browserDir is the direction of the browser's last offer. pion stops a
	// transceiver for good when an offer makes it inactive, so pion always
	// sees sendrecv and the hold lives in the SDP text exchanged with the
	// browser (and in the re-INVITE towards SIP).
	browserDir Direction
	held       bool // either side put the call on hold: no media timeout
	answered   time.Time
	ended      bool

	stats callStats
}

// relay is what the relay loops need, swapped atomically when negotiation
// changes it.
type relay struct {
	toSIP     [128]int16 // browser payload type → SIP payload type; -1 drops
	toBrowser [128]int16 // SIP payload type → browser payload type
	remote    netip.AddrPort
	browser   *binding // nil until the browser leg is bound
	clock     uint32   // the codec's RTP clock, for jitter
	sdes      *sdesSession
}

func newRelay() *relay {
	r := &relay{}
	for i := range r.toSIP {
		r.toSIP[i], r.toBrowser[i] = -1, -1
	}
	return r
}

// NewCall sets up the two legs of a call from the current generation.
func (e *Engine) NewCall(cfg CallConfig) (*Call, error) {
	g := e.gen.Load()
	if g == nil {
		return nil, errors.New("media engine is not running")
	}
	e.mu.Lock()
	if len(e.calls) >= g.opts.MaxCalls {
		e.mu.Unlock()
		return nil, ErrTooManyCalls
	}
	c := &Call{id: cfg.ID, log: cfg.Log, e: e, gen: g, onFail: cfg.OnFail,
		sipPTs: map[string]uint8{}, sipDTMF: map[uint32]uint8{}}
	e.calls[c] = struct{}{}
	e.mu.Unlock()
	g.refs.Add(1)

	bind := netip.IPv4Unspecified()
	if cfg.SIPAddr.Is6() {
		bind = netip.IPv6Unspecified()
	}
	sock, err := e.ports.allocate(bind, g.opts.RTPPortMin, g.opts.RTPPortMax)
	if err != nil {
		c.release()
		return nil, err
	}
	c.sock = sock
	pc, err := g.api.NewPeerConnection(g.iceConf)
	if err != nil {
		c.release()
		return nil, err
	}
	c.pc = pc
	c.track = &outTrack{id: "audio-" + cfg.ID, stream: "gw-" + cfg.ID, call: c}
	c.local = localSDP{sessionID: rand.Uint64() >> 2, version: 1, addr: cfg.SIPAddr, port: sock.port, direction: SendRecv}
	if cfg.SDES {
		s, err := newSDESSession()
		if err != nil {
			c.release()
			return nil, err
		}
		c.sdes = s
		c.local.crypto = &s.local
	}
	c.relay.Store(newRelay())
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { go c.browserLoop(t) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("browser leg state", "state", s.String())
		// Closed without End: DTLS failed (a certificate that does not
		// match the offer's fingerprint) or the browser closed it.
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			c.fail("browser media connection failed (ICE/DTLS)")
		}
	})
	go c.sipLoop()
	go c.sipRTCPLoop()
	return c, nil
}

// ID returns the call id.
func (c *Call) ID() string { return c.id }

// SIPPort returns the SIP-side RTP port.
func (c *Call) SIPPort() int { return c.sock.port }

// Generation options in force for this call.
func (c *Call) Options() (webrtcMin, webrtcMax, muxPort int) {
	return c.gen.opts.WebRTCPortMin, c.gen.opts.WebRTCPortMax, c.gen.opts.WebRTCMuxPort
}

// ---- browser offers (outgoing calls, and incoming calls without SDP) ----

// SetBrowserOffer applies the browser's offer and returns the codecs the
// browser and media/codecs have in common, in media/codecs order.
func (c *Call) SetBrowserOffer(sdp string, candidates []webrtc.ICECandidateInit) ([]Codec, error) {
	if len(sdp) > maxSDP {
		return nil, fmt.Errorf("offer SDP of %d bytes is too large", len(sdp))
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: normaliseBrowserSDP(sdp)}); err != nil {
		return nil, fmt.Errorf("browser offer: %w", err)
	}
	for _, cand := range candidates {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("browser candidate refused", "error", err)
		}
	}
	c.mu.Lock()
	c.offerPTs = browserPayloadTypes(sdp)
	c.mu.Unlock()
	return c.commonCodecs(browserCodecs(sdp)), nil
}

// BrowserAnswer answers the browser's offer with the call's codec (known from
// the SIP side by now) and returns the SDP with every candidate gathered.
func (c *Call) BrowserAnswer(ctx context.Context) (string, error) {
	if err := c.attachTrack(); err != nil {
		return "", err
	}
	if err := c.preferCodec(); err != nil {
		return "", err
	}
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("browser answer: %w", err)
	}
	sdp, err := c.setLocalAndGather(ctx, answer)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	dir := c.browserDir
	c.mu.Unlock()
	if dir != "" && dir != SendRecv {
		sdp = setDirection(sdp, dir.Answer())
	}
	return sdp, nil
}

// ---- SIP offers (incoming calls with SDP) ----

// SetSIPOffer applies the SIP side's offer and returns the codecs it has in
// common with media/codecs, in media/codecs order.
func (c *Call) SetSIPOffer(body []byte) ([]Codec, error) {
	r, err := parseRemoteSDP(body)
	if err != nil {
		return nil, err
	}
	if r.port == 0 {
		return nil, errors.New("the SIP side offers no audio (port 0)")
	}
	var offered []string
	for _, pt := range r.formats {
		if k, ok := r.codecFor(pt); ok {
			offered = append(offered, k.Name)
		}
	}
	common := c.commonCodecs(offered)
	if len(common) == 0 {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.applyRemoteLocked(r); err != nil {
		return nil, err
	}
	return common, nil
}

// BrowserOffer offers codecs to the browser and returns the SDP with every
// candidate gathered.
func (c *Call) BrowserOffer(ctx context.Context, offer []Codec) (string, error) {
	tr, err := c.pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return "", err
	}
	if err := tr.SetCodecPreferences(c.browserParams(offer)); err != nil {
		return "", err
	}
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("browser offer: %w", err)
	}
	return c.setLocalAndGather(ctx, o)
}

// SetBrowserAnswer applies the browser's answer to BrowserOffer and settles
// the call's codec: the first one the browser answered with.
func (c *Call) SetBrowserAnswer(sdp string, candidates []webrtc.ICECandidateInit) error {
	if len(sdp) > maxSDP {
		return fmt.Errorf("answer SDP of %d bytes is too large", len(sdp))
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: normaliseBrowserSDP(sdp)}); err != nil {
		return fmt.Errorf("browser answer: %w", err)
	}
	for _, cand := range candidates {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Debug("browser candidate refused", "error", err)
		}
	}
	names := c.commonCodecs(browserCodecs(sdp))
	if len(names) == 0 {
		return errors.New("the browser answered with no usable codec")
	}
	c.mu.Lock()
	c.codec = names[0]
	c.mu.Unlock()
	c.rebuildRelay()
	return nil
}

// ---- the SIP-side SDP ----

// SIPOffer returns the gateway's SDP offer towards SIP with codecs.
func (c *Call) SIPOffer(offer []Codec) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local.codecs = offer
	// DTMF is offered to the SIP side only when the browser can take it:
	// a telephone-event the browser did not offer could not be relayed.
	c.local.dtmf = hasDTMF(c.gen.opts.Codecs) && c.browserDTMFLocked()
	c.local.pts, c.local.dtmfPTs = nil, nil
	return c.local.marshal()
}

// browserDTMFLocked reports whether the browser's offer has telephone-event
// at any clock (true when the gateway makes the offer).
func (c *Call) browserDTMFLocked() bool {
	if c.offerPTs == nil {
		return true
	}
	for key := range c.offerPTs {
		if strings.HasPrefix(key, "telephone-event/") {
			return true
		}
	}
	return false
}

// SetSIPAnswer applies the SIP side's answer to SIPOffer: the call's codec is
// the first one answered that was offered.
func (c *Call) SetSIPAnswer(body []byte) error {
	r, err := parseRemoteSDP(body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	var chosen *Codec
	for _, pt := range r.formats {
		k, ok := r.codecFor(pt)
		if !ok {
			continue
		}
		for _, o := range c.local.codecs {
			if o.Name == k.Name {
				chosen = &k
				break
			}
		}
		if chosen != nil {
			break
		}
	}
	if chosen == nil {
		c.mu.Unlock()
		return errors.New("the SIP side answered with no codec the gateway offered")
	}
	c.codec = *chosen
	err = c.applyRemoteLocked(r)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.rebuildRelay()
	return nil
}

// SIPAnswer returns the gateway's SDP answer to the SIP side's offer, with
// the call's codec under the SIP side's payload types.
func (c *Call) SIPAnswer() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local.codecs = []Codec{c.codec}
	c.local.pts = map[string]uint8{c.codec.Name: c.sipPTs[c.codec.Name]}
	c.local.dtmfPTs = c.sipDTMF
	_, c.local.dtmf = c.sipDTMF[c.codec.Clock]
	c.local.direction = SendRecv
	return c.local.marshal()
}

// applyRemoteLocked takes the payload types, address and keys of a remote SDP.
func (c *Call) applyRemoteLocked(r *remoteSDP) error {
	for _, pt := range r.formats {
		if k, ok := r.codecFor(pt); ok {
			if _, seen := c.sipPTs[k.Name]; !seen {
				c.sipPTs[k.Name] = pt
			}
		}
	}
	for _, clock := range []uint32{8000, 48000} {
		if pt, ok := r.dtmfPT(clock); ok {
			c.sipDTMF[clock] = pt
		}
	}
	c.sipRemote = netip.AddrPortFrom(r.addr, uint16(r.port))
	if c.sdes != nil {
		if err := c.sdes.setRemote(r); err != nil {
			return err
		}
		c.local.crypto = &c.sdes.local
	}
	return nil
}

// ---- hold and resume ----

// SIPReoffer answers a re-INVITE from the SIP side (hold, resume, or a new
// address) and returns the SDP answer and the direction the SIP side asked for.
func (c *Call) SIPReoffer(body []byte) ([]byte, Direction, error) {
	r, err := parseRemoteSDP(body)
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	c.sipRemote = netip.AddrPortFrom(r.addr, uint16(r.port))
	if c.sdes != nil {
		if err := c.sdes.setRemote(r); err != nil {
			c.mu.Unlock()
			return nil, "", err
		}
	}
	c.held = r.direction.OnHold() || r.port == 0
	c.local.version++
	c.local.codecs = []Codec{c.codec}
	c.local.direction = r.direction.Answer()
	answer := c.local.marshal()
	c.mu.Unlock()
	c.rebuildRelay()
	return answer, r.direction, nil
}

// SIPReofferFor returns the gateway's re-INVITE SDP for direction d, when
// the browser put the call on hold (d is the browser's direction) or resumed it.
func (c *Call) SIPReofferFor(d Direction) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = d.OnHold()
	c.local.version++
	c.local.codecs = []Codec{c.codec}
	c.local.direction = d
	return c.local.marshal()
}

// SetBrowserReoffer applies a new offer from the browser on an established
// call and returns the direction it asks for.
func (c *Call) SetBrowserReoffer(sdp string) (Direction, error) {
	if len(sdp) > maxSDP {
		return "", fmt.Errorf("offer SDP of %d bytes is too large", len(sdp))
	}
	dir := sdpDirection(sdp)
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: setDirection(normaliseBrowserSDP(sdp), SendRecv)}); err != nil {
		return "", fmt.Errorf("browser re-offer: %w", err)
	}
	c.mu.Lock()
	c.browserDir = dir
	c.mu.Unlock()
	return dir, nil
}

// SetSIPReofferAnswer applies the answer to a re-INVITE the gateway sent.
func (c *Call) SetSIPReofferAnswer(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	r, err := parseRemoteSDP(body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sipRemote = netip.AddrPortFrom(r.addr, uint16(r.port))
	c.mu.Unlock()
	c.rebuildRelay()
	return nil
}

// ---- negotiation helpers ----

// commonCodecs returns the media/codecs codecs (in that order) named in offered.
func (c *Call) commonCodecs(offered []string) []Codec {
	var out []Codec
	for _, name := range c.gen.opts.Codecs {
		k, ok := codecs[name]
		if !ok {
			continue
		}
		for _, o := range offered {
			if strings.EqualFold(o, name) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// browserParams returns the pion codec parameters for codecs, with their
// telephone-events when DTMF is configured. When answering, the payload types
// are the browser's own (RFC 3264 section 6.1 lets the answerer pick, but
// browsers expect their offer's numbers back), and a telephone-event the
// browser did not offer is left out: pion refuses a preference for a codec
// the offer lacks, and the call goes on without DTMF.
func (c *Call) browserParams(list []Codec) []webrtc.RTPCodecParameters {
	c.mu.Lock()
	offerPTs := c.offerPTs
	c.mu.Unlock()
	offered := func(encoding string, clock uint32) (uint8, bool) {
		pt, ok := offerPTs[strings.ToLower(encoding)+"/"+fmt.Sprint(clock)]
		return pt, ok
	}
	ptFor := func(encoding string, clock uint32, def uint8) webrtc.PayloadType {
		if pt, ok := offered(encoding, clock); ok {
			return webrtc.PayloadType(pt)
		}
		return webrtc.PayloadType(def)
	}
	var out []webrtc.RTPCodecParameters
	clocks := map[uint32]bool{}
	for _, k := range list {
		p := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/" + k.Encoding, ClockRate: k.Clock, Channels: 1}, PayloadType: ptFor(k.Encoding, k.Clock, k.payloadType())}
		if k.Name == "opus" {
			p.Channels, p.SDPFmtpLine = 2, k.FMTP
		}
		out = append(out, p)
		clocks[k.Clock] = true
	}
	if hasDTMF(c.gen.opts.Codecs) {
		for _, clock := range []uint32{8000, 48000} {
			if _, ok := offered("telephone-event", clock); offerPTs != nil && !ok {
				continue
			}
			if clocks[clock] {
				def := uint8(ptDTMF8k)
				if clock == 48000 {
					def = ptDTMF48k
				}
				pt := ptFor("telephone-event", clock, def)
				out = append(out, webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeDTMF, ClockRate: clock, Channels: 1, SDPFmtpLine: "0-15"}, PayloadType: pt})
			}
		}
	}
	return out
}

// attachTrack puts the gateway's track on the transceiver the browser's
// offer created.
func (c *Call) attachTrack() error {
	for _, tr := range c.pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeAudio && tr.Sender() != nil {
			if tr.Sender().Track() == nil {
				return tr.Sender().ReplaceTrack(c.track)
			}
			return nil
		}
	}
	if _, err := c.pc.AddTrack(c.track); err != nil {
		return err
	}
	return nil
}

// preferCodec narrows the browser transceiver to the call's codec.
func (c *Call) preferCodec() error {
	c.mu.Lock()
	k := c.codec
	c.mu.Unlock()
	if k.Name == "" {
		return errors.New("no codec negotiated with the SIP side")
	}
	for _, tr := range c.pc.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			return tr.SetCodecPreferences(c.browserParams([]Codec{k}))
		}
	}
	return errors.New("the browser offered no audio")
}

func (c *Call) setLocalAndGather(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: %w", ctx.Err())
	}
	return c.pc.LocalDescription().SDP, nil
}

// MarkAnswered starts the media timeout clock: the call is up.
func (c *Call) MarkAnswered() {
	now := c.e.now()
	c.mu.Lock()
	c.answered = now
	c.mu.Unlock()
	c.stats.start(now)
}

// SetHeld records that the call is on hold (no media timeout while it is).
func (c *Call) SetHeld(held bool) {
	c.mu.Lock()
	c.held = held
	c.mu.Unlock()
}

// rebuildRelay recomputes the payload type maps and destination after a
// negotiation step.
func (c *Call) rebuildRelay() {
	old := c.relay.Load()
	r := newRelay()
	r.browser = old.browser
	c.mu.Lock()
	k := c.codec
	r.remote = c.sipRemote
	r.clock = k.Clock
	r.sdes = c.sdes
	sipAudio, okAudio := c.sipPTs[k.Name]
	sipDTMF, okDTMF := c.sipDTMF[k.Clock]
	c.mu.Unlock()
	if r.browser != nil && k.Name != "" {
		if bAudio, ok := r.browser.pt(k.Encoding, k.Clock); ok && okAudio {
			r.toSIP[bAudio], r.toBrowser[sipAudio] = int16(sipAudio), int16(bAudio)
		}
		if bDTMF, ok := r.browser.pt("telephone-event", k.Clock); ok && okDTMF {
			r.toSIP[bDTMF], r.toBrowser[sipDTMF] = int16(sipDTMF), int16(bDTMF)
		}
	}
	c.relay.Store(r)
}

// ---- ending ----

// End hangs up the media: the PeerConnection is closed and the RTP ports go
// back to the pool after their quarantine. It is idempotent.
func (c *Call) End(reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	c.log.Debug("media ended", "reason", reason)
	c.release()
}

func (c *Call) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// fail ends the call on its own and tells the owner.
func (c *Call) fail(reason string) {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended {
		return
	}
	c.End(reason)
	if c.onFail != nil {
		go c.onFail(reason)
	}
}

func (c *Call) release() {
	if c.pc != nil {
		if err := c.pc.Close(); err != nil {
			c.log.Debug("close peer connection", "error", err)
		}
	}
	if c.sock != nil {
		c.sock.rtp.Close()
		c.sock.rtcp.Close()
		c.e.ports.release(c.sock.port, true)
	}
	c.e.mu.Lock()
	delete(c.e.calls, c)
	c.e.mu.Unlock()
	c.e.releaseGeneration(c.gen)
}

// silentSince reports which side has sent nothing for timeout, if any.
func (c *Call) silentSince(now time.Time, timeout time.Duration) (string, bool) {
	c.mu.Lock()
	held, answered, ended := c.held, c.answered, c.ended
	c.mu.Unlock()
	if held || ended || answered.IsZero() {
		return "", false
	}
	for _, s := range []struct {
		side string
		last int64
	}{{"browser", c.stats.browserLast.Load()}, {"SIP side", c.stats.sipLast.Load()}} {
		last := time.Unix(0, s.last)
		if s.last == 0 || last.Before(answered) {
			last = answered
		}
		if now.Sub(last) > timeout {
			return s.side, true
		}
	}
	return "", false
}

// ---- the relay loops (hot path) ----

// sipLoop relays RTP from the SIP side to the browser: payload type mapped,
// SSRC set to the browser leg's, no allocation per packet. The browser sees
// one continuous stream: when the SIP side changes its SSRC (another media
// source after a re-INVITE, music on hold), sequence numbers and timestamps
// are shifted to follow on from the last packet sent, or SRTP replay
// protection and the browser's jitter buffer would drop the new source.
func (c *Call) sipLoop() {
	buf := make([]byte, 1500)
	plain := make([]byte, 1500)
	var hdr rtp.Header
	var (
		haveSrc         bool
		srcSSRC         uint32
		seqShift        uint16
		tsShift         uint32
		lastSeq, lastTS uint32 // last sent, as sent
		lastSent        time.Time
	)
	for {
		n, from, err := c.sock.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		r := c.relay.Load()
		// Accept media only from the address the SIP side announced.
		if from.Addr().Unmap() != r.remote.Addr() || n < 12 || buf[0]>>6 != 2 {
			continue
		}
		if buf[1] >= 192 && buf[1] <= 223 { // RTCP multiplexed on the RTP port (RFC 5761)
			continue
		}
		pkt := buf[:n]
		if r.sdes != nil {
			if pkt, err = r.sdes.decrypt(plain[:0], pkt); err != nil {
				continue
			}
		}
		hl, err := hdr.Unmarshal(pkt)
		if err != nil {
			continue
		}
		c.stats.sipPacket(len(pkt), c.e.now())
		out := r.toBrowser[hdr.PayloadType]
		if out < 0 || r.browser == nil {
			continue
		}
		now := c.e.now()
		if !haveSrc || hdr.SSRC != srcSSRC {
			if haveSrc {
				elapsed := uint32(now.Sub(lastSent).Seconds()*float64(r.clock)) + 1
				seqShift = uint16(lastSeq) + 1 - hdr.SequenceNumber
				tsShift = lastTS + elapsed - hdr.Timestamp
			}
			haveSrc, srcSSRC = true, hdr.SSRC
		}
		hdr.SequenceNumber += seqShift
		hdr.Timestamp += tsShift
		lastSeq, lastTS, lastSent = uint32(hdr.SequenceNumber), hdr.Timestamp, now
		hdr.PayloadType = uint8(out)
		hdr.SSRC = r.browser.ssrc
		if _, err := r.browser.w.WriteRTP(&hdr, pkt[hl:]); err == nil {
			c.stats.browserSent(len(pkt))
		}
	}
}

// sipRTCPLoop drains RTCP from the SIP side (it keeps the port answering and
// counts as media activity while on hold).
func (c *Call) sipRTCPLoop() {
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.sock.rtcp.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

// browserLoop relays RTP from the browser to the SIP side: decrypted by pion,
// payload type rewritten in place, sent as is (SDES-encrypted when on).
func (c *Call) browserLoop(t *webrtc.TrackRemote) {
	go c.browserRTCPLoop()
	buf := make([]byte, 1500)
	enc := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil && n == 0 {
			if errors.Is(err, io.EOF) || c.isEnded() {
				return
			}
			continue
		}
		// pion reports a payload type outside its codec table (it knows
		// telephone-event under the gateway's numbers) with the packet
		// still read: the relay's own map decides.
		if n < 12 {
			continue
		}
		now := c.e.now()
		c.stats.browserPacket(buf[:n], now, c.relay.Load().clock)
		r := c.relay.Load()
		out := r.toSIP[buf[1]&0x7f]
		if out < 0 || !r.remote.IsValid() {
			continue
		}
		buf[1] = buf[1]&0x80 | byte(out)
		pkt := buf[:n]
		if r.sdes != nil {
			if pkt, err = r.sdes.encrypt(enc[:0], pkt); err != nil {
				continue
			}
		}
		if _, err := c.sock.rtp.WriteToUDPAddrPort(pkt, r.remote); err == nil {
			c.stats.sipSent(n)
		}
	}
}

// browserRTCPLoop reads the browser's RTCP for our stream (the report
// interceptor needs it read) and takes the round-trip time from its
// receiver reports (RFC 3550 section 6.4.1).
func (c *Call) browserRTCPLoop() {
	var sender *webrtc.RTPSender
	for _, tr := range c.pc.GetTransceivers() {
		if s := tr.Sender(); s != nil && s.Track() != nil {
			sender = s
		}
	}
	if sender == nil {
		return
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			rr, ok := p.(*rtcp.ReceiverReport)
			if !ok {
				continue
			}
			for _, rep := range rr.Reports {
				if rep.LastSenderReport == 0 {
					continue
				}
				now := ntpMiddle(time.Now())
				rtt := now - rep.LastSenderReport - rep.Delay
				c.stats.rtt(time.Duration(uint64(rtt) * uint64(time.Second) / 65536))
			}
		}
	}
}

// ntpMiddle returns the middle 32 bits of the NTP timestamp of t.
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return uint32(secs<<16 | frac>>16)
}

// ---- the gateway's track towards the browser ----

// outTrack is the audio track the gateway sends to the browser. Unlike
// pion's static tracks it keeps the negotiated payload types of every codec
// (audio and telephone-event), which the relay maps SIP payload types onto.
type outTrack struct {
	id, stream string
	call       *Call
}

// binding is a bound outTrack: where to write and under which SSRC and
// payload types.
type binding struct {
	w      webrtc.TrackLocalWriter
	ssrc   uint32
	codecs []webrtc.RTPCodecParameters
}

func (b *binding) pt(encoding string, clock uint32) (uint8, bool) {
	for _, p := range b.codecs {
		if strings.EqualFold(p.MimeType, "audio/"+encoding) && p.ClockRate == clock {
			return uint8(p.PayloadType), true
		}
	}
	return 0, false
}

func (t *outTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	cs := ctx.CodecParameters()
	for _, p := range cs {
		if !strings.EqualFold(p.MimeType, mimeDTMF) {
			old := t.call.relay.Load()
			r := *old
			r.browser = &binding{w: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), codecs: cs}
			t.call.relay.Store(&r)
			t.call.rebuildRelay()
			return p, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *outTrack) Unbind(webrtc.TrackLocalContext) error {
	old := t.call.relay.Load()
	r := *old
	r.browser = nil
	t.call.relay.Store(&r)
	return nil
}

func (t *outTrack) ID() string                { return t.id }
func (t *outTrack) RID() string               { return "" }
func (t *outTrack) StreamID() string          { return t.stream }
func (t *outTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// ---- browser SDP helpers ----

// normaliseBrowserSDP undoes the Genesys library's rewrite of the media
// protocol (UDP/TLS/RTP/SAVPF → RTP/SAVPF), which pion would not accept.
func normaliseBrowserSDP(sdp string) string {
	lines := strings.Split(sdp, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "m=") && strings.Contains(l, " RTP/SAVPF ") {
			lines[i] = strings.Replace(l, " RTP/SAVPF ", " UDP/TLS/RTP/SAVPF ", 1)
		}
	}
	return strings.Join(lines, "\n")
}

// browserCodecs returns the encoding names of the first audio stream of a
// browser SDP, in its order.
func browserCodecs(sdp string) []string {
	var out []string
	inAudio := false
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, "m="):
			if len(out) > 0 {
				return out
			}
			inAudio = strings.HasPrefix(l, "m=audio ")
		case inAudio && strings.HasPrefix(l, "a=rtpmap:"):
			_, m, err := parseRtpmap(strings.TrimPrefix(l, "a=rtpmap:"))
			if err != nil {
				continue
			}
			for _, k := range codecs {
				if strings.EqualFold(k.Encoding, m.encoding) && k.Clock == m.clock {
					out = append(out, k.Name)
				}
			}
		}
	}
	return out
}

// browserPayloadTypes maps "encoding/clock" (lower case) to the payload type
// of the first audio stream of a browser SDP.
func browserPayloadTypes(sdp string) map[string]uint8 {
	out := map[string]uint8{}
	inAudio, seen := false, false
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, "m="):
			if seen {
				return out
			}
			inAudio = strings.HasPrefix(l, "m=audio ")
			seen = inAudio
		case inAudio && strings.HasPrefix(l, "a=rtpmap:"):
			pt, m, err := parseRtpmap(strings.TrimPrefix(l, "a=rtpmap:"))
			if err != nil {
				continue
			}
			key := strings.ToLower(m.encoding) + "/" + fmt.Sprint(m.clock)
			if _, dup := out[key]; !dup {
				out[key] = pt
			}
		}
	}
	return out
}

// setDirection replaces the direction attributes of sdp's media sections
// with d (RFC 3264 section 5.1).
func setDirection(sdp string, d Direction) string {
	lines := strings.Split(sdp, "\n")
	inMedia := false
	for i, l := range lines {
		trimmed := strings.TrimRight(l, "\r")
		if strings.HasPrefix(trimmed, "m=") {
			inMedia = true
			continue
		}
		if !inMedia || !strings.HasPrefix(trimmed, "a=") {
			continue
		}
		if v := Direction(trimmed[2:]); v == SendRecv || v == SendOnly || v == RecvOnly || v == Inactive {
			lines[i] = "a=" + string(d) + l[len(trimmed):]
		}
	}
	return strings.Join(lines, "\n")
}

// sdpDirection returns the direction of the first media stream of sdp.
func sdpDirection(sdp string) Direction {
	d := SendRecv
	seenMedia := false
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, "m="):
			if seenMedia {
				return d
			}
			seenMedia = true
		case strings.HasPrefix(l, "a="):
			if v := Direction(l[2:]); v == SendOnly || v == RecvOnly || v == Inactive || v == SendRecv {
				d = v
			}
		}
	}
	return d
}
