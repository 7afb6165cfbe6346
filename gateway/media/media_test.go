package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

// TestMain runs the tests in a network namespace with only lo: the engine
// then gathers loopback candidates only, and no packet can reach another
// address.
func TestMain(m *testing.M) {
	code := testpeers.RunInNetns(m)
	if code == 0 && testpeers.InPrivateNetns() {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func newEngine(t *testing.T, media map[string]string, sip map[string]string) *Engine {
	t.Helper()
	sec := options.Sections{"media": {"rtp-port-min": "42000", "rtp-port-max": "42199", "webrtc-port-min": "43000", "webrtc-port-max": "43199", "max-calls": "50"}}
	for k, v := range media {
		sec["media"][k] = v
	}
	if sip != nil {
		sec["sip"] = sip
	}
	set, err := options.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	e := New(set, Deps{Log: hclog.NewNullLogger()})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	return e
}

// browser is a pion stand-in for a browser (testpeers.PionBrowser) that
// keeps its own sequence numbers (SRTP drops replayed ones).
type browser struct {
	*testpeers.PionBrowser
	pc    *webrtc.PeerConnection
	track *testpeers.RawTrack
	seq   atomic.Int64
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	pb := testpeers.NewPionBrowser(t)
	return &browser{PionBrowser: pb, pc: pb.PC, track: pb.Track}
}

func (b *browser) offer(t *testing.T) string { return b.Offer(t) }

func (b *browser) gotPT(pt uint8) bool { return b.GotPayloadType(pt) > 0 }

// sipPeer is the SIP side's RTP endpoint: it records what it receives and
// can send.
type sipPeer struct {
	raw   chan []byte // when set, every datagram is copied here
	conn  *net.UDPConn
	mu    sync.Mutex
	pts   map[uint8]int
	from  netip.AddrPort
	count atomic.Int64
}

func newSIPPeer(t *testing.T) *sipPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &sipPeer{conn: conn, pts: map[uint8]int{}}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			raw := p.raw
			p.mu.Unlock()
			if raw != nil {
				select {
				case raw <- append([]byte(nil), buf[:n]...):
				default:
				}
				continue
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) != nil {
				continue
			}
			p.mu.Lock()
			p.pts[pkt.PayloadType]++
			p.from = from
			p.mu.Unlock()
			p.count.Add(1)
		}
	}()
	return p
}

func (p *sipPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *sipPeer) got(pt uint8) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pts[pt]
}

func (p *sipPeer) send(t *testing.T, to int, pt uint8, n int, ssrc uint32) {
	t.Helper()
	for i := 0; i < n; i++ {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: ssrc}, Payload: make([]byte, 160)}
		b, _ := pkt.Marshal()
		p.conn.WriteToUDP(b, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to})
		time.Sleep(5 * time.Millisecond)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendFromBrowser sends n packets; sequence numbers go on from the last
// call (SRTP drops replayed ones).
func sendFromBrowser(t *testing.T, b *browser, pt uint8, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		seq := uint16(b.seq.Add(1))
		if err := b.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: make([]byte, 160)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutgoingCallRelay: the browser offers, the SIP side answers PCMU with
// telephone-event 101; audio flows both ways with payload types mapped.
func TestOutgoingCallRelay(t *testing.T) {
	e := newEngine(t, nil, nil)
	b := newBrowser(t)
	peer := newSIPPeer(t)

	c, err := e.NewCall(CallConfig{ID: "c1", Log: hclog.NewNullLogger(), SIPAddr: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.End("test over")
	common, err := c.SetBrowserOffer(b.offer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := codecNames(common); got != "PCMU,PCMA" {
		t.Fatalf("common codecs = %s, want PCMU,PCMA (media/codecs order, browser's G722/opus not configured)", got)
	}
	offer := string(c.SIPOffer(common))
	for _, want := range []string{"m=audio " + fmt.Sprint(c.SIPPort()) + " RTP/AVP 0 8 101\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "c=IN IP4 127.0.0.1\r\n", "a=sendrecv\r\n"} {
		if !strings.Contains(offer, want) {
			t.Errorf("SIP offer lacks %q:\n%s", want, offer)
		}
	}
	answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", peer.port())
	if err := c.SetSIPAnswer([]byte(answer)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := c.BrowserAnswer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans, "m=audio 9 UDP/TLS/RTP/SAVPF 0 126") || strings.Contains(ans, "opus") || !strings.Contains(ans, "a=candidate:") {
		t.Errorf("browser answer should offer only PCMU and telephone-event 126, with candidates:\n%s", ans)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		t.Fatal(err)
	}
	c.MarkAnswered()
	eventually(t, "browser leg connected", func() bool { return b.pc.ConnectionState() == webrtc.PeerConnectionStateConnected })

	sendFromBrowser(t, b, 0, 20)
	sendFromBrowser(t, b, 126, 3) // DTMF from the browser
	eventually(t, "SIP side got audio and DTMF", func() bool { return peer.got(0) > 10 && peer.got(101) == 3 })
	peer.send(t, c.SIPPort(), 0, 20, 0x5151)
	// Another source (new SSRC, sequence numbers from 0 again) goes on
	// reaching the browser as one continuous stream.
	peer.send(t, c.SIPPort(), 101, 2, 0x6262)
	eventually(t, "browser got audio", func() bool { return b.Received() >= 15 })
	eventually(t, "browser got DTMF as 126", func() bool { return b.gotPT(126) })
	if b.gotPT(101) {
		t.Error("the SIP payload type 101 reached the browser unmapped")
	}
	st := c.Stats()
	if st.Codec != "PCMU" || st.FromBrowser.Packets < 20 || st.ToSIP.Packets < 20 || st.FromSIP.Packets < 20 {
		t.Errorf("Stats() = %+v", st)
	}
}

// TestIncomingCallRelay: the SIP side offers PCMA and PCMU; the browser is
// offered those and answers PCMA; the SIP answer uses the SIP payload types.
func TestIncomingCallRelay(t *testing.T) {
	e := newEngine(t, map[string]string{"codecs": "PCMA,PCMU,telephone-event"}, nil)
	b := newBrowser(t)
	peer := newSIPPeer(t)
	c, err := e.NewCall(CallConfig{ID: "c2", Log: hclog.NewNullLogger(), SIPAddr: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.End("test over")
	sipOffer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 8 96\r\na=rtpmap:96 telephone-event/8000\r\n", peer.port())
	common, err := c.SetSIPOffer([]byte(sipOffer))
	if err != nil || codecNames(common) != "PCMA,PCMU" {
		t.Fatalf("SetSIPOffer = %s, %v; want PCMA,PCMU", codecNames(common), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offer, err := c.BrowserOffer(ctx, common)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer, "UDP/TLS/RTP/SAVPF 8 0 101") {
		t.Errorf("browser offer = %s", offer)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrowserAnswer(b.Gather(t, a), nil); err != nil {
		t.Fatal(err)
	}
	sipAnswer := string(c.SIPAnswer())
	if !strings.Contains(sipAnswer, "RTP/AVP 8 96\r\n") || !strings.Contains(sipAnswer, "a=rtpmap:96 telephone-event/8000") {
		t.Errorf("SIP answer = %s, want PCMA and telephone-event under the SIP side's 96", sipAnswer)
	}
	c.MarkAnswered()
	eventually(t, "connected", func() bool { return b.pc.ConnectionState() == webrtc.PeerConnectionStateConnected })
	peer.send(t, c.SIPPort(), 8, 20, 0x5151)
	eventually(t, "browser got PCMA", func() bool { return b.gotPT(8) && b.Received() > 10 })
	b.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8}, Payload: make([]byte, 160)})
	eventually(t, "SIP side got PCMA", func() bool { return peer.got(8) > 0 })

	// The SIP side puts the call on hold: the answer is recvonly.
	hold := strings.Replace(sipOffer, "\r\nm=audio", "\r\na=sendonly\r\nm=audio", 1)
	ans, dir, err := c.SIPReoffer([]byte(hold))
	if err != nil || dir != SendOnly || !strings.Contains(string(ans), "a=recvonly\r\n") || !strings.Contains(string(ans), "o=- ") {
		t.Errorf("SIPReoffer(hold) = %q, %s, %v; want recvonly", ans, dir, err)
	}
	if _, silent := c.silentSince(time.Now().Add(time.Hour), time.Second); silent {
		t.Error("a held call is subject to the media timeout")
	}
}

// TestMaxCallsAndPorts checks admission and that ports are not reused while
// quarantined.
func TestMaxCallsAndPorts(t *testing.T) {
	e := newEngine(t, map[string]string{"max-calls": "2", "rtp-port-min": "42300", "rtp-port-max": "42303", "webrtc-port-min": "43300", "webrtc-port-max": "43301"}, nil)
	cfg := CallConfig{Log: hclog.NewNullLogger(), SIPAddr: netip.MustParseAddr("127.0.0.1")}
	a, err := e.NewCall(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.NewCall(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewCall(cfg); err != ErrTooManyCalls {
		t.Fatalf("third call: %v, want ErrTooManyCalls", err)
	}
	if a.SIPPort() == b.SIPPort() || a.SIPPort()%2 != 0 {
		t.Errorf("ports %d and %d: want two distinct even ports", a.SIPPort(), b.SIPPort())
	}
	a.End("x")
	// The range has two pairs; a's is quarantined, b's in use: no port.
	if _, err := e.NewCall(cfg); err != ErrNoPorts {
		t.Fatalf("call after one ended: %v, want ErrNoPorts (port quarantined)", err)
	}
	b.End("x")
	if e.Calls() != 0 {
		t.Errorf("Calls() = %d after both ended", e.Calls())
	}
}

func TestParseRemoteSDP(t *testing.T) {
	r, err := parseRemoteSDP([]byte("v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/SAVP 18 0 101\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^20|1:32\r\na=rtcp-mux\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.addr.String() != "10.0.0.2" || r.port != 4000 || r.direction != SendOnly || len(r.formats) != 3 || !r.rtcpMux || len(r.crypto) != 1 || r.crypto[0].tag != 3 {
		t.Errorf("parseRemoteSDP = %+v", r)
	}
	if k, ok := r.codecFor(0); !ok || k.Name != "PCMU" {
		t.Errorf("codecFor(0) = %v %v", k, ok)
	}
	if _, ok := r.codecFor(18); ok {
		t.Error("G.729 (18) should be unknown")
	}
	for _, bad := range []string{"", "v=0\r\nm=video 1 RTP/AVP 96\r\n", "v=0\r\nm=audio 1 RTP/AVP 0\r\n", "m=audio x RTP/AVP 0\r\nc=IN IP4 1.1.1.1", "c=IN IP4 nope\r\nm=audio 1 RTP/AVP 0", "c=IN IP4 1.1.1.1\r\nm=audio 1 RTP/AVP 300"} {
		if _, err := parseRemoteSDP([]byte(bad)); err == nil {
			t.Errorf("parseRemoteSDP(%q) succeeded", bad)
		}
	}
}

func codecNames(cs []Codec) string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

// TestSDES: with sip/srtp = sdes the SIP leg is SRTP keyed in SDP
// (RFC 4568): the gateway offers RTP/SAVP with its key, takes the far end's
// key from the answer, and both directions are encrypted on the wire.
func TestSDES(t *testing.T) {
	e := newEngine(t, nil, nil)
	b := newBrowser(t)
	peer := newSIPPeer(t)
	c, err := e.NewCall(CallConfig{ID: "s1", Log: hclog.NewNullLogger(), SIPAddr: netip.MustParseAddr("127.0.0.1"), SDES: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.End("test over")
	common, err := c.SetBrowserOffer(b.offer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	offer := string(c.SIPOffer(common))
	if !strings.Contains(offer, " RTP/SAVP ") || !strings.Contains(offer, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Fatalf("SDES offer = %s", offer)
	}
	r, err := parseRemoteSDP([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	gwKey, _ := base64.StdEncoding.DecodeString(r.crypto[0].key)
	peerKey := make([]byte, 30)
	for i := range peerKey {
		peerKey[i] = byte(i + 1)
	}
	answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%s\r\n",
		peer.port(), base64.StdEncoding.EncodeToString(peerKey))
	if err := c.SetSIPAnswer([]byte(answer)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := c.BrowserAnswer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "connected", func() bool { return b.pc.ConnectionState() == webrtc.PeerConnectionStateConnected })

	// Browser → SIP: what the peer gets is SRTP under the gateway's key.
	raw := make(chan []byte, 64)
	peer.mu.Lock()
	peer.raw = raw
	peer.mu.Unlock()
	sendFromBrowser(t, b, 0, 5)
	dec, err := srtp.CreateContext(gwKey[:16], gwKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case pkt := <-raw:
		if _, err := dec.DecryptRTP(nil, pkt, nil); err != nil {
			t.Fatalf("the SIP side cannot decrypt with the gateway's SDES key: %v", err)
		}
		if bytes.Count(pkt[12:], []byte{0}) > len(pkt)/2 {
			t.Error("the packet on the wire looks like clear text")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reached the SIP side")
	}
	// SIP → browser: SRTP under the peer's key is decrypted and relayed.
	enc, err := srtp.CreateContext(peerKey[:16], peerKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	before := b.Received()
	for i := 0; i < 10; i++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(100 + i), Timestamp: uint32(i * 160), SSRC: 0x7777}, Payload: make([]byte, 160)}
		plain, _ := p.Marshal()
		out, err := enc.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		peer.conn.WriteToUDP(out, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.SIPPort()})
	}
	eventually(t, "browser got the decrypted audio", func() bool { return b.Received() >= before+5 })
}

// connectedCall sets up an outgoing call between a pion browser and peer,
// answered, and returns it with its browser.
func connectedCall(t *testing.T, e *Engine, peer *sipPeer, onFail func(string)) (*Call, *browser) {
	t.Helper()
	b := newBrowser(t)
	c, err := e.NewCall(CallConfig{ID: "t", Log: hclog.NewNullLogger(), SIPAddr: netip.MustParseAddr("127.0.0.1"), OnFail: onFail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.End("test over") })
	common, err := c.SetBrowserOffer(b.offer(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SIPOffer(common)
	answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", peer.port())
	if err := c.SetSIPAnswer([]byte(answer)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ans, err := c.BrowserAnswer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans}); err != nil {
		t.Fatal(err)
	}
	c.MarkAnswered()
	eventually(t, "connected", func() bool { return b.pc.ConnectionState() == webrtc.PeerConnectionStateConnected })
	return c, b
}

// TestReplayedSRTPDropped is SECURITY-CASES 14: an SRTP packet replayed by
// the browser side (same sequence number) is dropped, not relayed twice.
func TestReplayedSRTPDropped(t *testing.T) {
	e := newEngine(t, nil, nil)
	peer := newSIPPeer(t)
	_, b := connectedCall(t, e, peer, nil)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 500, Timestamp: 80000}, Payload: make([]byte, 160)}
	for i := 0; i < 3; i++ {
		b.track.WriteRTP(pkt) // the same SRTP index three times
	}
	b.seq.Store(500)
	sendFromBrowser(t, b, 0, 5) // then new packets, which do go through
	eventually(t, "the new packets arrive", func() bool { return peer.got(0) >= 6 })
	time.Sleep(200 * time.Millisecond) // a late duplicate would have arrived by now
	if got := peer.got(0); got != 6 {
		t.Errorf("SIP side got %d packets, want 6 (1 of the 3 copies + 5 new)", got)
	}
}

// TestRTPTimeout: a call whose SIP side sends nothing for rtp-timeout is
// ended, and its owner told why; a held call is not.
func TestRTPTimeout(t *testing.T) {
	clock := &testClock{t: time.Now()}
	sec := options.Sections{"media": {"rtp-port-min": "42000", "rtp-port-max": "42199", "webrtc-port-min": "43000", "webrtc-port-max": "43199", "max-calls": "50", "rtp-timeout": "5"}}
	set, err := options.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	e := New(set, Deps{Log: hclog.NewNullLogger(), Now: clock.now})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop(context.Background()) })
	peer := newSIPPeer(t)
	failed := make(chan string, 1)
	c, _ := connectedCall(t, e, peer, func(reason string) { failed <- reason })
	c.SetHeld(true)
	clock.advance(10 * time.Second)
	select {
	case r := <-failed:
		t.Fatalf("a held call was hung up: %s", r)
	case <-time.After(1500 * time.Millisecond): // more than one sweep
	}
	c.SetHeld(false)
	select {
	case r := <-failed:
		if !strings.Contains(r, "no media from the ") {
			t.Errorf("reason = %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a silent call was not hung up")
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestUDPMux: with webrtc-mux-port every call's browser leg uses that one
// port (ICE UDP mux); calls connect and the port is shared.
func TestUDPMux(t *testing.T) {
	e := newEngine(t, map[string]string{"webrtc-mux-port": "43500"}, nil)
	for i := 0; i < 2; i++ { // two calls at once on the one port
		peer := newSIPPeer(t)
		c, b := connectedCall(t, e, peer, nil)
		local := c.pc.LocalDescription().SDP
		if !strings.Contains(local, " 43500 typ host") {
			t.Fatalf("call %d: candidates not on the mux port:\n%s", i, local)
		}
		sendFromBrowser(t, b, 0, 5)
		eventually(t, "media over the mux", func() bool { return peer.got(0) >= 5 })
	}
}
