package testpeers_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"webrtcgw/internal/testpeers"
)

// TestRTPPeerEchoAndDigits sends PCMU and DTMF from one peer to an echoing
// one and checks both sides' statistics and decoded digits.
func TestRTPPeerEchoAndDigits(t *testing.T) {
	for _, tc := range []struct {
		codec  testpeers.Codec
		digits string
	}{
		{testpeers.PCMU, "0123456789*#ABCD"},
		{testpeers.PCMA, "9#"},
	} {
		codec, digits := tc.codec, tc.digits
		t.Run(codec.Name, func(t *testing.T) {
			checkLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			echo := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true, TelephoneEvents: []uint8{96, 101}})
			sender := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{
				Send:            codec,
				SendTo:          echo.Addr(),
				TelephoneEvents: []uint8{101},
			})
			if sender.Port()%2 != 0 || echo.Port()%2 != 0 {
				t.Errorf("ports %d, %d: want even", sender.Port(), echo.Port())
			}
			if _, err := sender.WaitFor(ctx, func(s testpeers.RTPStats) bool {
				return s.PayloadTypes[codec.PayloadType] >= 5
			}); err != nil {
				t.Fatal(err)
			}
			if err := sender.SendDigits(ctx, digits); err != nil {
				t.Fatal(err)
			}
			if err := echo.WaitDigits(ctx, digits); err != nil {
				t.Error(err)
			}
			if err := sender.WaitDigits(ctx, digits); err != nil {
				t.Error(err)
			}
			sender.Close() // freeze the stream for the checks below
			s := sender.Stats()
			if s.MaxSeqGap != 0 {
				t.Errorf("MaxSeqGap = %d, want 0", s.MaxSeqGap)
			}
			if len(s.SSRCs) != 1 {
				t.Errorf("SSRCs = %v, want one", s.SSRCs)
			}
			if s.PayloadTypes[101] == 0 || s.Sent < s.Packets {
				t.Errorf("stats %+v: want echoed events and no more received than sent", s)
			}
			e, err := echo.WaitFor(ctx, func(e testpeers.RTPStats) bool { return e.Echoed == e.Packets })
			if err != nil || e.Source != sender.Addr() {
				t.Errorf("echo stats %+v (%v): want every packet echoed, source %v", e, err, sender.Addr())
			}
			if err := sender.SendDigits(ctx, "x"); err == nil {
				t.Error("SendDigits(x) = nil, want an error")
			}
			if err := sender.SendDigits(ctx, "1"); err == nil {
				t.Error("SendDigits after Close = nil, want an error")
			}
		})
	}
}

// TestRTPPeerRecording feeds hand-made packets to a peer: a sequence gap,
// retransmitted event end packets, RTCP on both ports and garbage.
func TestRTPPeerRecording(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{TelephoneEvents: []uint8{101}})
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(p.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rtcpConn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p.Port() + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rtcpConn.Close()

	send := func(seq uint16, pt uint8, ts uint32, payload []byte) {
		t.Helper()
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	audio := make([]byte, 160)
	send(65534, 0, 0, audio)
	send(65535, 0, 160, audio)
	send(3, 0, 640, audio) // 0, 1, 2 missing across the wrap
	// Digit 5: start, then the end packet three times.
	send(4, 101, 800, []byte{5, 10, 0, 160})
	send(5, 101, 800, []byte{5, 0x80 | 10, 0, 0xA0})
	send(6, 101, 800, []byte{5, 0x80 | 10, 0, 0xA0})
	send(7, 101, 800, []byte{5, 0x80 | 10, 0, 0xA0})
	// Digit # (event 11) with a new timestamp.
	send(8, 101, 1600, []byte{11, 0x80 | 10, 0, 0xA0})
	send(2, 0, 480, audio) // late packet: no gap
	rtcpSR := []byte{0x80, 200, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := rtcpConn.Write(rtcpSR); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(rtcpSR); err != nil { // multiplexed
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("garbage")); err != nil {
		t.Fatal(err)
	}

	s, err := p.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets == 9 && s.RTCPPackets == 2 && s.Invalid == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxSeqGap != 3 {
		t.Errorf("MaxSeqGap = %d, want 3", s.MaxSeqGap)
	}
	if s.PayloadTypes[0] != 4 || s.PayloadTypes[101] != 5 {
		t.Errorf("PayloadTypes = %v, want 4 PCMU and 5 events", s.PayloadTypes)
	}
	if got := p.Digits(); got != "5#" {
		t.Errorf("Digits() = %q, want %q", got, "5#")
	}
	if s.First.IsZero() || s.Last.Before(s.First) {
		t.Errorf("First %v, Last %v", s.First, s.Last)
	}
}

func TestRTPPeerConfigInvalid(t *testing.T) {
	for name, cfg := range map[string]testpeers.RTPPeerConfig{
		"codec":       {Send: testpeers.Codec{Name: "G722", PayloadType: 9}},
		"event pt":    {TelephoneEvents: []uint8{8}},
		"odd port":    {Port: 40001},
		"not loopack": {SendTo: mustAddrPort(t, "192.0.2.1:4000")},
	} {
		if p, err := testpeers.NewRTPPeer(cfg); err == nil {
			p.Close()
			t.Errorf("%s: NewRTPPeer() = nil error, want one", name)
		}
	}
}
