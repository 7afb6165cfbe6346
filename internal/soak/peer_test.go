package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"webrtcgw/internal/soak/rtpmeter"
)

// TestPeerCloseRacesConnected connects two peers over loopback and closes
// them as soon as the offerer reports connected, while pion may still be
// running either's connected callback: close must never race the start of
// the sender (go test -race reported the sender's WaitGroup Add, made in
// that callback, concurrent with close's Wait; before the fix this test
// failed in most runs of go test -race -cpu 1,2,4), and both senders end.
func TestPeerCloseRacesConnected(t *testing.T) {
	for i := 0; i < 40; i++ {
		a, b := connectedPeers(t)
		if i%2 == 0 {
			// The answerer first: its callback is the likelier to be running.
			a, b = b, a
		}
		a.close()
		b.close()
		// A second close is a no-op.
		a.close()
	}
}

// TestPeerSends: once connected, each peer sends 20 ms packets that the
// other meters.
func TestPeerSends(t *testing.T) {
	a, b := connectedPeers(t)
	defer a.close()
	defer b.close()
	deadline := time.Now().Add(10 * time.Second)
	for a.meter.Stats().Packets < 5 || b.meter.Stats().Packets < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("packets received: a %d, b %d; sent: a %d, b %d; want 5 each",
				a.meter.Stats().Packets, b.meter.Stats().Packets, a.sent.Load(), b.sent.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectedPeers returns two peers connected to each other on loopback,
// once the offerer is connected (the answerer may not be yet).
func connectedPeers(t *testing.T) (offerer, answerer *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newMeter := func() *rtpmeter.Meter { return rtpmeter.New(time.Second, seqThreshold(time.Second)) }
	a, err := newPeer(newMeter())
	if err != nil {
		t.Fatal(err)
	}
	b, err := newPeer(newMeter())
	if err != nil {
		a.close()
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		a.close()
		b.close()
		t.Fatalf(format, args...)
	}
	offer, err := a.offer(ctx)
	if err != nil {
		fail("offer: %v", err)
	}
	// The harness rewrites the profile for the gateway; pion answers the
	// profile it offers.
	answer, err := b.answer(ctx, strings.ReplaceAll(offer, "RTP/SAVPF", "UDP/TLS/RTP/SAVPF"))
	if err != nil {
		fail("answer: %v", err)
	}
	if err := a.applyAnswer(strings.ReplaceAll(answer, "RTP/SAVPF", "UDP/TLS/RTP/SAVPF")); err != nil {
		fail("apply answer: %v", err)
	}
	select {
	case <-a.connected:
	case <-a.failed:
		fail("the connection failed")
	case <-ctx.Done():
		fail("not connected: %v", ctx.Err())
	}
	return a, b
}
