package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
)

// TestStopHangsUpCalls: the gateway stops (SIGTERM)
// while a browser is in a call. Once the drain time is over, the call is
// hung up both ways — sipp, the far end, gets BYE; the browser gets BYE on
// its /wait — and the browser's next /wait is answered 204 (its session is
// over), all before the listener closes; the gateway exits 0.
func TestStopHangsUpCalls(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: map[string]string{"sml/suspending-wait-timeout": "1"}})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	ctx := ctxTimeout(t, 60*time.Second)

	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, answer := c.expect(ctx, "RSMP {")
	b.applyAnswer(answer)
	b.waitReceived(ctx, 25)

	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if peer, body := c.expect(ctx, "BYE"); peer != "5000" || body != "BYE" {
		t.Errorf("at the stop the browser got %q from %q, want BYE from 5000", body, peer)
	}
	select {
	case m := <-c.msgs:
		if m.status != 204 {
			t.Errorf("/wait after the BYE = %d %q, want 204: the session is over", m.status, m.body)
		}
	case <-ctx.Done():
		t.Fatal("the /wait after the BYE was not answered")
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp (waits for the BYE of the call): %v\n%s", err, sipp.Messages())
	}
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("gateway exit: %v, want 0", err)
		}
	case <-ctx.Done():
		t.Fatal("the gateway did not exit")
	}
	log := g.log()
	for _, want := range []string{"hanging up the calls left", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("gateway log has no %q", want)
		}
	}
}
