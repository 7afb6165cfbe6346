package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/lcatest"
	"webrtcgw/lca/wire"
)

// TestGatewayUnderLCA runs the real gateway as an application of a real
// Local Control Agent (lca.ini) and follows its status through the LCA:
// StartPending → Initializing → ServiceUnavailable while its SIP Server is
// down → Running once it answers; suspend with a call up → Suspending (no
// new sessions, /health 503, the call goes on) → Suspended only after the
// call ended; the LCA killed and restarted → the gateway re-registers as
// Suspended; stop → Stopped, exit code 0.
func TestGatewayUnderLCA(t *testing.T) {
	sipPort := testpeers.FreePort(t, "udp")
	g, httpsPort := writeGatewayConfig(t, gatewayConfig{SIPServer: fmt.Sprintf("127.0.0.1:%d", sipPort)})
	lcaDir, lcaPort := t.TempDir(), testpeers.FreePort(t, "tcp")
	ini := fmt.Sprintf("[lca]\nhost-name = e2e\n\n[app gw1]\ntype = WebRTC_Gateway\ncommand-line = %s\n"+
		"arguments = -config %s -data %s -app gw1 -lca-port %d\nsuspending-wait-timeout = 60\n",
		binary, g.conf, filepath.Join(g.dir, "data"), lcaPort)
	iniPath := filepath.Join(lcaDir, "lca.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	l := lcatest.Start(t, lcaDir, lcaPort, "-config", iniPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.log())
		}
	})
	ctl := l.Control()
	ctx := ctxTimeout(t, 3*time.Minute)
	_, events, err := ctl.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Start(ctx, "gw1"); err != nil {
		t.Fatal(err)
	}
	var seen []wire.Status
	lcatest.WaitFor(t, events, 30*time.Second, func(s wire.AppState) bool {
		if s.Name == "gw1" && (len(seen) == 0 || seen[len(seen)-1] != s.Status) {
			seen = append(seen, s.Status)
		}
		return s.Status == wire.ServiceUnavailable
	})
	if want := []wire.Status{wire.StartPending, wire.Initializing}; len(seen) < 3 || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("statuses = %v, want StartPending, Initializing, … ServiceUnavailable", seen)
	}
	g.ready(httpsPort)

	// The SIP Server comes up: Running.
	sip := startSIPSide(t, testpeers.KamailioConfig{Port: sipPort})
	lcatest.WaitStatus(t, events, 30*time.Second, "gw1", wire.Running)

	// A call is up when the LCA says suspend.
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, answer := c.expect(ctx, "RSMP {")
	b.applyAnswer(answer)
	c.mustSend("5000", `RSMP {"messageType":"OK","offererSessionId":102,"answererSessionId":1,"seq":1}`)
	b.waitReceived(ctx, 50)

	if _, err := ctl.Suspend(ctx, "gw1"); err != nil {
		t.Fatal(err)
	}
	st := lcatest.WaitStatus(t, events, 10*time.Second, "gw1", wire.Suspending)
	if !strings.Contains(st.Detail, "1 calls in progress") {
		t.Errorf("Suspending detail = %q", st.Detail)
	}
	if status, _, body := g.request("GET", "/health", ""); status != 503 || !strings.Contains(body, "suspending") {
		t.Errorf("/health while suspending = %d %q, want 503", status, body)
	}
	if _, status, body := g.signIn("7002", "secret2"); status == 200 {
		t.Errorf("a new session while suspending was admitted: %q", body)
	}
	// The call goes on, and the gateway stays Suspending while it does.
	b.waitReceived(ctx, 150)
	if apps, err := ctl.List(ctx); err != nil || apps[0].Status != wire.Suspending {
		t.Errorf("with the call up: %+v, %v; want Suspending", apps, err)
	}
	c.mustSend("5000", "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	lcatest.WaitStatus(t, events, 10*time.Second, "gw1", wire.Suspended)

	// The LCA dies and comes back: the gateway registers again, as it is.
	apps, _ := ctl.List(ctx)
	gwPID := apps[0].PID
	l.Kill()
	l2 := lcatest.Start(t, lcaDir, lcaPort, "-config", iniPath)
	ctl2 := l2.Control()
	deadline := time.Now().Add(40 * time.Second)
	for {
		apps, err := ctl2.List(ctx)
		if err == nil && len(apps) == 1 && apps[0].Status == wire.Suspended && apps[0].PID == gwPID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the LCA restarted: %+v, %v; want gw1 Suspended, pid %d", apps, err, gwPID)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, events2, err := ctl2.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl2.Stop(ctx, "gw1", false); err != nil {
		t.Fatal(err)
	}
	lcatest.WaitStatus(t, events2, 30*time.Second, "gw1", wire.Stopped)
	// The process is gone, and it exited 0 (its log says stopped).
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(gwPID, 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("gateway pid %d still alive after Stopped", gwPID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.waitLog("gateway: stopped")
}
