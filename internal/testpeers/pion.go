package testpeers

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// PionBrowser is a pion PeerConnection that stands in for a browser where
// Chromium is not needed (protocol-level and media tests). It offers what
// Chromium offers — Opus, G.722, PCMU, PCMA and telephone-event at 48 and
// 8 kHz, under Chromium's payload types — gathers loopback candidates only,
// sends what its RawTrack is given, and counts what it receives.
type PionBrowser struct {
	PC    *webrtc.PeerConnection
	Track *RawTrack

	received atomic.Int64
	mu       sync.Mutex
	pts      map[uint8]int
	// continuity of what arrives: the largest time between two packets and
	// the most sequence numbers missing between two (since the last reset)
	last      time.Time
	lastSeq   uint16
	maxGap    time.Duration
	maxSeqGap int
}

// Chromium's payload types for telephone-event.
const (
	ChromiumDTMF8k  = 126
	ChromiumDTMF48k = 110
)

// NewPionBrowser returns a PionBrowser with its audio track added; t.Cleanup
// closes it.
func NewPionBrowser(t testing.TB) *PionBrowser {
	t.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000, Channels: 1}, PayloadType: 9},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, Channels: 1}, PayloadType: ChromiumDTMF48k},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1}, PayloadType: ChromiumDTMF8k},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &PionBrowser{PC: pc, Track: &RawTrack{}, pts: map[uint8]int{}}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTrack(b.Track); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			buf := make([]byte, 1500)
			for {
				n, _, err := tr.Read(buf)
				if err != nil && n == 0 {
					return
				}
				if n < 12 {
					continue
				}
				b.received.Add(1)
				now, seq := time.Now(), binary.BigEndian.Uint16(buf[2:4])
				b.mu.Lock()
				b.pts[buf[1]&0x7f]++
				if !b.last.IsZero() {
					b.maxGap = max(b.maxGap, now.Sub(b.last))
					if d := int(seq-b.lastSeq) - 1; d > 0 && d < 1<<15 {
						b.maxSeqGap = max(b.maxSeqGap, d)
					}
				}
				b.last, b.lastSeq = now, seq
				b.mu.Unlock()
			}
		}()
	})
	return b
}

// Gather sets d as the local description, waits for ICE gathering to
// complete and returns the SDP with every candidate (non-trickle, as the
// Genesys library sends it).
func (b *PionBrowser) Gather(t testing.TB, d webrtc.SessionDescription) string {
	t.Helper()
	done := webrtc.GatheringCompletePromise(b.PC)
	if err := b.PC.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	<-done
	return b.PC.LocalDescription().SDP
}

// Offer creates an offer and returns its gathered SDP.
func (b *PionBrowser) Offer(t testing.TB) string {
	t.Helper()
	o, err := b.PC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.Gather(t, o)
}

// Received returns the number of RTP packets received.
func (b *PionBrowser) Received() int64 { return b.received.Load() }

// Continuity returns the largest time between two packets received and the
// most sequence numbers missing between two, since ResetContinuity.
func (b *PionBrowser) Continuity() (maxGap time.Duration, maxSeqGap int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxGap, b.maxSeqGap
}

// ResetContinuity starts measuring continuity afresh from the next packet.
func (b *PionBrowser) ResetContinuity() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last, b.maxGap, b.maxSeqGap = time.Time{}, 0, 0
}

// GotPayloadType returns how many packets of payload type pt arrived.
func (b *PionBrowser) GotPayloadType(pt uint8) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pts[pt]
}

// RawTrack sends RTP with whatever payload type it is given, audio and
// telephone-events alike, as a browser does (pion's static tracks rewrite
// the payload type to the negotiated codec's).
type RawTrack struct {
	mu   sync.Mutex
	w    webrtc.TrackLocalWriter
	ssrc uint32
}

// Bind implements webrtc.TrackLocal.
func (r *RawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w, r.ssrc = ctx.WriteStream(), uint32(ctx.SSRC())
	return ctx.CodecParameters()[0], nil
}

// Unbind implements webrtc.TrackLocal.
func (r *RawTrack) Unbind(webrtc.TrackLocalContext) error { return nil }

// ID implements webrtc.TrackLocal.
func (r *RawTrack) ID() string { return "audio" }

// RID implements webrtc.TrackLocal.
func (r *RawTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (r *RawTrack) StreamID() string { return "browser" }

// Kind implements webrtc.TrackLocal.
func (r *RawTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// WriteRTP sends p under the track's SSRC; before negotiation it is dropped.
func (r *RawTrack) WriteRTP(p *rtp.Packet) error {
	r.mu.Lock()
	w, ssrc := r.w, r.ssrc
	r.mu.Unlock()
	if w == nil {
		return nil
	}
	p.SSRC = ssrc
	_, err := w.WriteRTP(&p.Header, p.Payload)
	return err
}
