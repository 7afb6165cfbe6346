package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
)

// sipSide is Kamailio with DNs 7001-7003 and numbers routed to sipp.
type sipSide struct {
	k        *testpeers.Kamailio
	sippPort int
}

func startSIPSide(t *testing.T, cfg testpeers.KamailioConfig) *sipSide {
	t.Helper()
	s := &sipSide{sippPort: testpeers.FreePort(t, "udp")}
	if cfg.Users == nil {
		cfg.Users = map[string]string{"7001": "secret1", "7002": "secret2", "7003": "secret3"}
	}
	if cfg.Routes == nil {
		cfg.Routes = map[string]string{}
	}
	for _, n := range []string{"5000", "5001", "5002", "5003"} {
		cfg.Routes[n] = fmt.Sprintf("sip:127.0.0.1:%d", s.sippPort)
	}
	s.k = testpeers.StartKamailio(t, cfg)
	return s
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestSignInProtocol covers sign-in, failed logins and bans, sign-out and
// session expiry at the protocol level, against Kamailio's registrar.
func TestSignInProtocol(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})

	c := g.mustSignIn("7001", "secret1")
	if strings.ContainsAny(c.ssid, "=&?/+ ") || len(c.ssid) < 32 {
		t.Errorf("session id %q is not an unguessable URL-safe token", c.ssid)
	}
	g.waitLog(`signed in: name=7001`)
	// Anonymous sessions do not register.
	anon := g.mustSignIn("anon1234", "")
	anon.signOut()

	// Sign-out ends the session (and unregisters).
	c.signOut()
	if status, _, _ := c.wait(); status != 204 {
		t.Errorf("/wait after sign-out = %d, want 204", status)
	}
	g.waitLog(`signed out: name=7001`)

	// A DN signed in twice moves to the newer session.
	c1 := g.mustSignIn("7003", "secret3")
	c2 := g.mustSignIn("7003", "secret3")
	if status, _, _ := c1.wait(); status != 204 {
		t.Errorf("older session of a DN signed in again: /wait = %d, want 204", status)
	}
	if status, _, _ := c2.wait(); status != 200 {
		t.Errorf("newer session: /wait = %d, want 200", status)
	}

	// Wrong password (last: the ban refuses this address): 403, a fixed-format failure line; the third bans.
	for i := 1; i <= 3; i++ {
		if _, status, body := g.signIn("7002", "wrong"); status != 403 || !strings.Contains(body, "wrong DN or password") {
			t.Fatalf("wrong password #%d: %d %q, want 403", i, status, body)
		}
	}
	g.waitLog(`login failed: client_ip=127.0.0.1 user=7002 reason="registration refused: wrong DN or password"`)
	if _, status, body := g.signIn("7002", "secret2"); status != 429 || !strings.Contains(body, "too many failed logins") {
		t.Fatalf("right password while banned: %d %q, want 429", status, body)
	}

}

// TestOutgoingCallProtocol: a pion browser calls 5000, which Kamailio routes
// to sipp (uas_call.xml): media both ways, DTMF, hold and resume
// re-INVITEs with the right directions, INFO, stats, hang-up.
func TestOutgoingCallProtocol(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{AuthInvites: true})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true, TelephoneEvents: []uint8{101}})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_call.xml", Port: sip.sippPort, MediaPort: far.Port()})
	ctx := ctxTimeout(t, 60*time.Second)

	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	peer, answer := c.expect(ctx, "RSMP {")
	if peer != "5000" {
		t.Errorf("ANSWER Pragma = %q, want 5000", peer)
	}
	b.applyAnswer(answer)
	c.mustSend("5000", `RSMP {"messageType":"OK","offererSessionId":102,"answererSessionId":1,"seq":1}`)

	// Audio both ways: the far end echoes what the browser sends.
	b.waitReceived(ctx, 100)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.PayloadTypes[0] > 100 }); err != nil {
		t.Fatalf("far end: %v", err)
	}
	b.sendDigits("159")
	if err := far.WaitDigits(ctx, "159"); err != nil {
		t.Fatalf("DTMF at the far end: got %q: %v", far.Digits(), err)
	}

	// Hold: a new OFFER with a=inactive → re-INVITE a=inactive.
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionInactive))
	_, ans := c.expect(ctx, "RSMP {")
	if !strings.Contains(ans, "a=inactive") {
		t.Errorf("hold ANSWER is not inactive: %.300q", ans)
	}
	// pion, standing in for the browser, stops a transceiver for good once
	// it is inactive (Chromium does not: the browser tests cover a real
	// hold), so it keeps its media running through the hold.
	b.applyAnswer(strings.ReplaceAll(ans, "a=inactive", "a=sendrecv"))
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, ans = c.expect(ctx, "RSMP {")
	b.applyAnswer(ans)
	b.waitReceived(ctx, 25) // media after resume

	c.mustSend("5000", "INFO-MAP key1=value1&key2=value%202")
	c.mustSend("5000", "GET-STATS")
	_, stats := c.expect(ctx, "PUT-STATS ")
	var st struct {
		Audio struct {
			Codec string                       `json:"codec"`
			RX    struct{ Packets, Bytes int } `json:"rx"`
			TX    struct{ Packets, Bytes int } `json:"tx"`
		} `json:"audio"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(stats, "PUT-STATS ")), &st); err != nil || st.Audio.Codec != "PCMU" || st.Audio.RX.Packets < 100 || st.Audio.TX.Packets < 100 {
		t.Errorf("PUT-STATS = %s (%v)", stats, err)
	}
	c.mustSend("5000", "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp (uas_call.xml checks hold, resume and BYE): %v\n%s", err, sipp.Messages())
	}
	g.waitLog("call ended")
}

// TestIncomingCallProtocol: sipp calls 7001 through Kamailio; the browser
// gets the offer, answers, media flows both ways, the caller hangs up.
func TestIncomingCallProtocol(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMU, TelephoneEvents: []uint8{101}})
	ctx := ctxTimeout(t, 60*time.Second)

	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: sip.k.Addr(), Service: "7001",
		MediaPort: far.Port(), Keys: map[string]string{"hold_ms": "4000", "from_user": "agent42"}})
	b := newPionBrowser(t)
	peer, offer := c.expect(ctx, "SDP ")
	if peer != "agent42" {
		t.Errorf("incoming call Pragma = %q, want the caller agent42", peer)
	}
	c.mustSend(peer, b.answer(offer))
	b.waitReceived(ctx, 50) // the caller's tone reaches the browser
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 50 }); err != nil {
		t.Fatalf("caller's side got no media from the browser: %v", err)
	}
	_, bye := c.expect(ctx, "BYE")
	if bye != "BYE" {
		t.Errorf("far-end hang-up = %q", bye)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// TestSimultaneousIncoming: one sipp places two calls to 7001 a
// millisecond apart. A browser takes one call at a time, so exactly one
// INVITE reaches it and the other is refused with 486 while the first is
// still being set up (the soak harness once saw both offers reach the
// browser: the check and the reservation were not one step).
func TestSimultaneousIncoming(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMU})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: sip.k.Addr(), Service: "7001",
		MediaPort: far.Port(), Calls: 2, Args: []string{"-r", "1000", "-l", "2"}, Keys: map[string]string{"hold_ms": "3000"}})
	peer, offer := c.expect(ctx, "SDP ")
	b := newPionBrowser(t)
	c.mustSend(peer, b.answer(offer))
	b.waitReceived(ctx, 20)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 20 }); err != nil {
		t.Fatalf("the caller got no media from the browser: %v", err)
	}
	// A second offer before the hang-up fails here.
	c.expect(ctx, "BYE")
	err := sipp.Wait(ctx)
	msgs := sipp.Messages()
	if err == nil {
		t.Fatalf("sipp: both calls succeeded; want one refused with 486\n%s", msgs)
	}
	if !strings.Contains(msgs, "SIP/2.0 486 Busy Here") {
		t.Errorf("sipp: %v; no 486 Busy Here for the second call\n%s", err, msgs)
	}
}

// TestIncomingRejected: the browser rejects (BYE before answering): 486.
func TestIncomingRejected(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	ctx := ctxTimeout(t, 30*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: sip.k.Addr(), Service: "7001", MediaPort: 40000})
	peer, _ := c.expect(ctx, "SDP ")
	c.mustSend(peer, "BYE")
	if err := sipp.Wait(ctx); err == nil || !strings.Contains(sipp.Messages(), "486 Busy Here") {
		t.Errorf("sipp: %v; want the INVITE rejected with 486", err)
	}
}

// TestCallFailures: busy far end, a cancelled ringing call, bad input.
func TestCallFailures(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")

	t.Run("busy", func(t *testing.T) {
		sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_busy.xml", Port: sip.sippPort})
		b := newPionBrowser(t)
		c.mustSend("5001", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
		_, msg := c.expect(ctx, "RSMP ERROR")
		if !strings.Contains(msg, `"errorType":"CALL_FAILED"`) || !strings.Contains(msg, `"status":486`) {
			t.Errorf("error message = %q", msg)
		}
		c.expect(ctx, "BYE")
		if err := sipp.Wait(ctx); err != nil {
			t.Errorf("sipp: %v", err)
		}
	})
	t.Run("cancel while ringing", func(t *testing.T) {
		sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_ring.xml", Port: sip.sippPort})
		b := newPionBrowser(t)
		c.mustSend("5002", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
		// CANCEL needs a provisional response first (RFC 3261 section 9.1).
		for !strings.Contains(sipp.Messages(), "SIP/2.0 180 Ringing") {
			if ctx.Err() != nil {
				t.Fatal("sipp never rang")
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.mustSend("5002", "BYE")
		if err := sipp.Wait(ctx); err != nil {
			t.Errorf("sipp (uas_ring.xml expects CANCEL): %v\n%s", err, sipp.Messages())
		}
	})
	t.Run("bad input", func(t *testing.T) {
		// Malformed requests, which the Genesys library never sends, get
		// an error status; what the gateway reads and refuses is answered
		// 200 and refused on /wait (TestRefusedMessages).
		b := newPionBrowser(t)
		offer := b.offer(webrtc.RTPTransceiverDirectionSendrecv)
		for _, tc := range []struct {
			to, body string
			status   int
			msg      string
		}{
			{"5000\r\nVia: x", offer, 400, "malformed to"},
			{"5000", "HELLO", 400, "unknown message"},
			{"5000", `RSMP {"messageType":"OFFER"}`, 400, "without SDP"},
			{"5000", `RSMP {"messageType":`, 400, "malformed ROAP"},
			{"5000", "RSMP " + strings.Repeat(" ", 70<<10) + "{}", 413, "too large"},
		} {
			status, body := c.send(tc.to, tc.body)
			if status != tc.status || !strings.Contains(body, tc.msg) {
				t.Errorf("message %.30q to %.20q = %d %q, want %d %q", tc.body, tc.to, status, body, tc.status, tc.msg)
			}
		}
		for _, tc := range []struct {
			to, body string
			reason   string
		}{
			{"50<01>;x", offer, "not allowed"},
			{"5000", `RSMP {"messageType":"OFFER","sdp":"v=0\r\nm=video 9 RTP/SAVPF 96\r\n"}`, "offer"},
		} {
			if status, body := c.send(tc.to, tc.body); status != 200 {
				t.Errorf("message %.30q to %.20q = %d %q, want 200 and a refusal on /wait", tc.body, tc.to, status, body)
				continue
			}
			peer, body := c.expect(ctx, "RSMP ERROR")
			if typ, _, reason := errorOf(t, body); peer != tc.to || typ != "CALL_FAILED" || !strings.Contains(reason, tc.reason) {
				t.Errorf("message %.30q to %.20q: /wait %q from %q, want CALL_FAILED %q…", tc.body, tc.to, body, peer, tc.reason)
			}
			c.expect(ctx, "BYE")
		}
	})
}

// TestBrowserToBrowser: two DNs signed in to the gateway call each other
// through Kamailio (browser ↔ gateway ↔ SIP ↔ gateway ↔ browser).
func TestBrowserToBrowser(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	ctx := ctxTimeout(t, 60*time.Second)
	alice, bob := g.mustSignIn("7001", "secret1"), g.mustSignIn("7002", "secret2")
	ba, bb := newPionBrowser(t), newPionBrowser(t)

	alice.mustSend("7002", ba.offer(webrtc.RTPTransceiverDirectionSendrecv))
	peer, offer := bob.expect(ctx, "SDP ")
	if peer != "7001" {
		t.Errorf("bob sees the call from %q, want 7001", peer)
	}
	bob.mustSend(peer, bb.answer(offer))
	_, answer := alice.expect(ctx, "RSMP {")
	ba.applyAnswer(answer)
	ba.waitReceived(ctx, 50)
	bb.waitReceived(ctx, 50)
	alice.mustSend("7002", "BYE")
	bob.expect(ctx, "BYE")
}

// TestIncomingWithoutSDP: an INVITE without SDP reaches the browser as
// "INVITE"; the browser's OFFER goes to the caller in the 200 OK and the
// caller's answer comes back in the ACK.
func TestIncomingWithoutSDP(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMU})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "testdata/uac_nosdp.xml", Remote: sip.k.Addr(), Service: "7001",
		Keys: map[string]string{"rtp_port": fmt.Sprint(far.Port()), "rtp_ip": "127.0.0.1", "hold_ms": "4000", "from_user": "nosdp"}})
	peer, msg := c.expect(ctx, "INVITE")
	if peer != "nosdp" || msg != "INVITE" {
		t.Fatalf("got %q from %q, want INVITE from nosdp", msg, peer)
	}
	b := newPionBrowser(t)
	c.mustSend(peer, b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, answer := c.expect(ctx, "RSMP {")
	b.applyAnswer(answer)
	b.waitReceived(ctx, 50)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.PayloadTypes[0] > 50 }); err != nil {
		t.Fatalf("caller got no PCMU: %v", err)
	}
	c.expect(ctx, "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// TestFarEndHoldAndInfo: the caller (uac_hold_resume.xml) holds and resumes
// with re-INVITEs, which the gateway answers on the SIP side with the right
// directions (sipp checks them), then sends an INFO that reaches the browser
// as INFO-PEER, and hangs up.
func TestFarEndHoldAndInfo(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMU})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_hold_resume.xml", Remote: sip.k.Addr(), Service: "7001",
		MediaPort: far.Port(), Keys: map[string]string{"hold_ms": "1500", "hold_dir": "inactive"}})
	b := newPionBrowser(t)
	peer, offer := c.expect(ctx, "SDP ")
	c.mustSend(peer, b.answer(offer))
	_, info := c.expect(ctx, "INFO-PEER ")
	if len(info) <= len("INFO-PEER ") {
		t.Errorf("INFO-PEER without data: %q", info)
	}
	c.expect(ctx, "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp (checks the hold and resume answers): %v\n%s", err, sipp.Messages())
	}
	g.waitLog("far end changed direction")
}

// TestInviteTimeout: an unanswered call is cancelled after invite-timeout
// and the browser told why.
func TestInviteTimeout(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: map[string]string{"sip/invite-timeout": "5"}})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_ring.xml", Port: sip.sippPort})
	b := newPionBrowser(t)
	c.mustSend("5003", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, msg := c.expect(ctx, "RSMP ERROR")
	if !strings.Contains(msg, `"status":408`) {
		t.Errorf("error = %q, want status 408 (no answer)", msg)
	}
	c.expect(ctx, "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp (expects the CANCEL): %v\n%s", err, sipp.Messages())
	}
}

// TestRemoteCallControl: an INVITE asking for auto-answer brings EVENT-TALK
// after the offer; NOTIFY Event: hold and Event: talk in the dialog reach
// the browser as EVENT-HOLD and EVENT-TALK.
func TestRemoteCallControl(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	ctx := ctxTimeout(t, 60*time.Second)
	c := g.mustSignIn("7001", "secret1")
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "testdata/uac_notify.xml", Remote: sip.k.Addr(), Service: "7001",
		Keys: map[string]string{"rtp_port": fmt.Sprint(far.Port()), "rtp_ip": "127.0.0.1", "hold_ms": "1000", "from_user": "cc"}})
	b := newPionBrowser(t)
	peer, offer := c.expect(ctx, "SDP ")
	if _, talk := c.expect(ctx, "EVENT-TALK"); talk != "EVENT-TALK" {
		t.Fatalf("auto-answer: got %q", talk)
	}
	c.mustSend(peer, b.answer(offer))
	c.expect(ctx, "EVENT-HOLD")
	c.expect(ctx, "EVENT-TALK")
	c.expect(ctx, "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// TestFingerprintMismatch is SECURITY-CASES 13: an offer whose
// a=fingerprint does not match the browser's DTLS certificate gets no media,
// and the call is hung up.
func TestFingerprintMismatch(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_answer.xml", Port: sip.sippPort, MediaPort: far.Port()})
	ctx := ctxTimeout(t, 90*time.Second)
	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	offer := b.offer(webrtc.RTPTransceiverDirectionSendrecv)
	// Change one byte of the SHA-256 fingerprint.
	i := strings.Index(offer, "a=fingerprint:sha-256 ") + len("a=fingerprint:sha-256 ")
	flip := "0"
	if offer[i] == '0' {
		flip = "1"
	}
	c.mustSend("5000", offer[:i]+flip+offer[i+1:])
	_, answer := c.expect(ctx, "RSMP {")
	b.applyAnswer(answer)
	c.expect(ctx, "BYE") // the gateway gives up on the browser leg
	if b.Received() != 0 {
		t.Errorf("the browser received %d packets over a leg whose fingerprint did not match", b.Received())
	}
	if st := far.Stats(); st.Packets != 0 {
		t.Errorf("the far end received %d packets from an unverified browser", st.Packets)
	}
	g.waitLog("browser media connection failed")
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v", err)
	}
}

// TestMalformedSIP is SECURITY-CASES 18: garbage, torture messages and a
// huge Content-Length over TCP are dropped and the gateway keeps answering.
func TestMalformedSIP(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			sip := startSIPSide(t, testpeers.KamailioConfig{})
			port := testpeers.FreePort(t, transport)
			g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: map[string]string{"sip/sip-transport": transport, "sip/sip-port": fmt.Sprint(port)}})
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			torture := []string{
				"\x00\x01\x02garbage\r\n\r\n",
				"INVITE\r\n\r\n",
				"INVITE sip:7001@127.0.0.1 SIP/2.0\r\nVia SIP/2.0/UDP nowhere\r\n\r\n",
				"INVITE sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCSeq: abc INVITE\r\nContent-Length: -5\r\n\r\n",
				"SIP/2.0 200 OK\r\nCall-ID: nothing\r\n\r\n",
				"OPTIONS sip:x SIP/2.0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 1000)+"\r\n", 60) + "\r\n",
				"INVITE sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKy\r\nContent-Length: 99999999\r\n\r\nabc",
			}
			for _, msg := range torture {
				conn, err := net.Dial(transport, addr)
				if err != nil {
					t.Fatal(err)
				}
				conn.Write([]byte(msg))
				conn.Close()
			}
			// Still alive: a well-formed OPTIONS gets 200.
			conn, err := net.Dial(transport, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			local := conn.LocalAddr().String()
			opts := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/" + strings.ToUpper(transport) + " " + local + ";branch=z9hG4bKalive\r\n" +
				"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: alive@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write([]byte(opts)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			n, err := conn.Read(buf)
			if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200 OK") {
				t.Fatalf("OPTIONS after torture: %q %v", buf[:n], err)
			}
			if status, _, _ := g.request("GET", "/health", ""); status != 200 {
				t.Errorf("/health = %d", status)
			}
		})
	}
}
