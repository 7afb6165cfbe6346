package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
)

// pionBrowser is a testpeers.PionBrowser that behaves like the browser side
// of the Genesys library: ROAP offers and answers with all candidates in
// the SDP, and G.711 sent every 20 ms once connected, with telephone-events
// queued by sendDigits.
type pionBrowser struct {
	*testpeers.PionBrowser
	t  *testing.T
	pc *webrtc.PeerConnection

	sessionID atomic.Int64
	stop      chan struct{}
	stopOnce  sync.Once
	sending   atomic.Bool
	dtmf      chan byte
	seq       uint16
	ts        uint32
}

func newPionBrowser(t *testing.T) *pionBrowser {
	t.Helper()
	pb := testpeers.NewPionBrowser(t)
	b := &pionBrowser{PionBrowser: pb, t: t, pc: pb.PC, stop: make(chan struct{}), dtmf: make(chan byte, 16)}
	b.sessionID.Store(101)
	b.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected && b.sending.CompareAndSwap(false, true) {
			go b.sendLoop()
		}
	})
	t.Cleanup(b.close)
	return b
}

func (b *pionBrowser) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.pc.Close()
}

// roapJSON is the ROAP message the library sends.
type roapJSON struct {
	MessageType       string `json:"messageType"`
	SDP               string `json:"sdp,omitempty"`
	OffererSessionID  int64  `json:"offererSessionId,omitempty"`
	AnswererSessionID int64  `json:"answererSessionId,omitempty"`
	Seq               int64  `json:"seq,omitempty"`
	Tiebreaker        int64  `json:"tiebreaker,omitempty"`
	Candidates        []struct {
		SDPMLineIndex int    `json:"sdpMLineIndex"`
		SDPMid        string `json:"sdpMid"`
		Candidate     string `json:"candidate"`
	} `json:"Candidates,omitempty"`
}

func (b *pionBrowser) gather(d webrtc.SessionDescription) string {
	b.t.Helper()
	// Like the Genesys library: the SDP keeps its candidates and the media
	// protocol is rewritten to RTP/SAVPF.
	return strings.ReplaceAll(b.Gather(b.t, d), "UDP/TLS/RTP/SAVPF", "RTP/SAVPF")
}

// offer returns "RSMP {OFFER}" for a new offer; direction is the audio
// direction the gateway is told (hold: inactive, as the library sends it;
// pion has no transceiver direction setter, so the SDP sent is edited).
func (b *pionBrowser) offer(direction webrtc.RTPTransceiverDirection) string {
	b.t.Helper()
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	sdp := b.gather(o)
	if direction != webrtc.RTPTransceiverDirectionSendrecv {
		sdp = strings.ReplaceAll(sdp, "a=sendrecv", "a="+direction.String())
	}
	msg, _ := json.Marshal(roapJSON{MessageType: "OFFER", SDP: sdp, OffererSessionID: b.sessionID.Add(1), Seq: 1, Tiebreaker: 12345})
	return "RSMP " + string(msg)
}

// applyAnswer applies the gateway's ANSWER message.
func (b *pionBrowser) applyAnswer(body string) {
	b.t.Helper()
	if strings.Contains(body, "OFFER") {
		b.t.Fatalf("an ANSWER contains OFFER (the library would misread it): %.200q", body)
	}
	var r roapJSON
	if err := json.Unmarshal([]byte(body[strings.Index(body, "{"):]), &r); err != nil || r.MessageType != "ANSWER" {
		b.t.Fatalf("not an ANSWER: %.200q (%v)", body, err)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: r.SDP}); err != nil {
		b.t.Fatalf("apply ANSWER: %v", err)
	}
}

// answer takes the gateway's "SDP {OFFER}" and returns "RSMP {ANSWER}".
func (b *pionBrowser) answer(body string) string {
	b.t.Helper()
	if !strings.HasPrefix(body, "SDP") {
		b.t.Fatalf("an incoming offer must start with SDP: %.100q", body)
	}
	var r roapJSON
	if err := json.Unmarshal([]byte(body[strings.Index(body, "{"):]), &r); err != nil || r.MessageType != "OFFER" {
		b.t.Fatalf("not an OFFER: %.200q (%v)", body, err)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: r.SDP}); err != nil {
		b.t.Fatalf("apply OFFER: %v", err)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	sdp := b.gather(a)
	msg, _ := json.Marshal(roapJSON{MessageType: "ANSWER", SDP: sdp, OffererSessionID: r.OffererSessionID, AnswererSessionID: b.sessionID.Add(1), Seq: r.Seq})
	return "RSMP " + string(msg)
}

// sendLoop sends a G.711 packet every 20 ms, and telephone-events queued by
// sendDigits (5 packets each, the last 3 times with the end bit), until close.
func (b *pionBrowser) sendLoop() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xff
	}
	for {
		select {
		case <-b.stop:
			return
		case <-tick.C:
		}
		select {
		case d := <-b.dtmf:
			start := b.ts
			for i := 0; i < 8; i++ {
				end := i >= 5
				dur := uint16(160 * min(i+1, 5))
				flags := byte(10) // volume
				if end {
					flags |= 0x80
				}
				b.write(testpeers.ChromiumDTMF8k, []byte{d, flags, byte(dur >> 8), byte(dur)}, start, i == 0)
				time.Sleep(20 * time.Millisecond)
			}
			b.ts += 160 * 8 // the next event or audio packet starts after this one
			continue
		default:
		}
		b.write(b.audioPT(), payload, b.ts, false)
	}
}

// audioPT is the negotiated G.711 payload type.
func (b *pionBrowser) audioPT() uint8 {
	if ld := b.pc.RemoteDescription(); ld != nil && strings.Contains(ld.SDP, "RTP/SAVPF 8") {
		return 8
	}
	return 0
}

func (b *pionBrowser) write(pt uint8, payload []byte, ts uint32, marker bool) {
	b.seq++
	if pt != testpeers.ChromiumDTMF8k {
		b.ts += 160
	}
	b.Track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: b.seq, Timestamp: ts, Marker: marker}, Payload: payload})
}

// sendDigits queues RFC 4733 events (digits 0-9 only).
func (b *pionBrowser) sendDigits(digits string) {
	for _, d := range digits {
		b.dtmf <- byte(d - '0')
	}
}

// waitReceived waits until n more packets arrived.
func (b *pionBrowser) waitReceived(ctx context.Context, n int64) {
	b.t.Helper()
	target := b.Received() + n
	for b.Received() < target {
		if ctx.Err() != nil {
			b.t.Fatalf("browser received %d packets, want %d (state %s)", b.Received(), target, b.pc.ConnectionState())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
