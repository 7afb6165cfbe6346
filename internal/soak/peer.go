package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/soak/rtpmeter"
)

// peer is the browser side of one call: a pion PeerConnection that offers
// what Chromium offers (Opus, G.722, PCMU, PCMA, telephone-event; the SRTP
// profiles AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES128_CM_HMAC_SHA1_80),
// gathers loopback candidates only, sends 20 ms of G.711 every 20 ms once
// connected and meters what arrives.
//
// Goroutines: the sender (started by newPeer, sending from connected until
// close; close waits for it) and pion's reader of the remote track (until
// the PeerConnection closes; close does not wait for it, but freezes the
// meter first, so a late packet is not counted). The sender is started
// before newPeer returns, not from pion's connection-state callback: pion
// runs that callback on a goroutine of its own, so a wg.Add there could come
// concurrently with, or after, close's wg.Wait (go test -race reported it).
type peer struct {
	pc    *webrtc.PeerConnection
	track *rawTrack
	meter *rtpmeter.Meter

	connected  chan struct{} // closed once connected
	failed     chan struct{} // closed when the connection failed
	connOnce   sync.Once
	failOnce   sync.Once
	disconnect atomic.Int32 // times the connection went "disconnected"
	sent       atomic.Int64
	quit       chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup
}

// newPeer builds a PeerConnection with its own API (media engine and
// settings), as each browser tab has.
func newPeer(meter *rtpmeter.Meter) (*peer, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000, Channels: 1}, PayloadType: 9},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 48000, Channels: 1}, PayloadType: 110},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1}, PayloadType: 126},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle, RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire})
	if err != nil {
		return nil, err
	}
	p := &peer{pc: pc, track: &rawTrack{}, meter: meter, connected: make(chan struct{}), failed: make(chan struct{}), quit: make(chan struct{})}
	if _, err := pc.AddTrack(p.track); err != nil {
		pc.Close()
		return nil, err
	}
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() { close(p.connected) })
		case webrtc.PeerConnectionStateDisconnected:
			p.disconnect.Add(1)
		case webrtc.PeerConnectionStateFailed:
			p.failOnce.Do(func() { close(p.failed) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			p.meter.Packet(time.Now(), pkt.SSRC, pkt.SequenceNumber)
		}
	})
	p.wg.Add(1)
	go p.send()
	return p, nil
}

// gather sets d as the local description, waits for ICE gathering and
// returns the SDP with every candidate, its media protocol rewritten to
// RTP/SAVPF as the Genesys library does.
func (p *peer) gather(ctx context.Context, d webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(d); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("ICE gathering: %w", ctx.Err())
	}
	return strings.ReplaceAll(p.pc.LocalDescription().SDP, "UDP/TLS/RTP/SAVPF", "RTP/SAVPF"), nil
}

// offer returns a gathered offer.
func (p *peer) offer(ctx context.Context) (string, error) {
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	return p.gather(ctx, o)
}

// applyAnswer applies the gateway's answer.
func (p *peer) applyAnswer(sdp string) error {
	return p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// answer applies the gateway's offer and returns a gathered answer.
func (p *peer) answer(ctx context.Context, offer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	a, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	return p.gather(ctx, a)
}

// send waits until the connection is up, then writes one G.711 packet of
// silence every 20 ms under the negotiated payload type until close.
func (p *peer) send() {
	defer p.wg.Done()
	select {
	case <-p.connected:
	case <-p.quit:
		return
	}
	payload := make([]byte, 160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		seq uint16
		ts  uint32
	)
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
		pt, ok := p.track.payloadType()
		if !ok {
			continue
		}
		fill := byte(0xff) // μ-law silence
		if pt == 8 {
			fill = 0xd5
		}
		for i := range payload {
			payload[i] = fill
		}
		seq++
		ts += 160
		if err := p.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, Marker: seq == 1}, Payload: payload}); err == nil {
			p.sent.Add(1)
		}
	}
}

// close stops sending and closes the PeerConnection. Idempotent.
func (p *peer) close() {
	p.closeOnce.Do(func() {
		close(p.quit)
		p.meter.Freeze()
		p.pc.Close()
		p.wg.Wait()
	})
}

// rawTrack sends RTP under the first negotiated codec's payload type, as a
// browser's audio track does.
type rawTrack struct {
	mu   sync.Mutex
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8
}

// Bind implements webrtc.TrackLocal.
func (r *rawTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codecs := ctx.CodecParameters()
	if len(codecs) == 0 {
		return webrtc.RTPCodecParameters{}, errors.New("no codec negotiated")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w, r.ssrc, r.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(codecs[0].PayloadType)
	return codecs[0], nil
}

// Unbind implements webrtc.TrackLocal.
func (r *rawTrack) Unbind(webrtc.TrackLocalContext) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w = nil
	return nil
}

// ID implements webrtc.TrackLocal.
func (r *rawTrack) ID() string { return "audio" }

// RID implements webrtc.TrackLocal.
func (r *rawTrack) RID() string { return "" }

// StreamID implements webrtc.TrackLocal.
func (r *rawTrack) StreamID() string { return "soak" }

// Kind implements webrtc.TrackLocal.
func (r *rawTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func (r *rawTrack) payloadType() (uint8, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pt, r.w != nil
}

// WriteRTP sends p under the track's SSRC; before negotiation it is dropped.
func (r *rawTrack) WriteRTP(p *rtp.Packet) error {
	r.mu.Lock()
	w, ssrc := r.w, r.ssrc
	r.mu.Unlock()
	if w == nil {
		return errors.New("not bound")
	}
	p.SSRC = ssrc
	_, err := w.WriteRTP(&p.Header, p.Payload)
	return err
}
