package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
)

// withAttachedData adds attacheddata items to an "RSMP {OFFER}" message.
func withAttachedData(t *testing.T, msg string, kv ...string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(msg, "RSMP ")), &m); err != nil {
		t.Fatal(err)
	}
	var items []map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		items = append(items, map[string]string{"key": kv[i], "value": kv[i+1]})
	}
	m["attacheddata"] = items
	b, _ := json.Marshal(m)
	return "RSMP " + string(b)
}

// errorOf parses an ERROR message from /wait: the Genesys library finds it
// by "ERROR" after the first character and reads the JSON from the first {.
func errorOf(t *testing.T, body string) (errorType string, status int, reason string) {
	t.Helper()
	i := strings.Index(body, "{")
	if strings.Index(body, "ERROR") < 1 || i < 0 {
		t.Fatalf("not an ERROR message the library recognises: %.200q", body)
	}
	var e struct {
		ErrorType string `json:"errorType"`
		Status    int    `json:"status"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(body[i:]), &e); err != nil {
		t.Fatalf("ERROR JSON %.200q: %v", body, err)
	}
	return e.ErrorType, e.Status, e.Reason
}

// TestAttachedData: attached data with Genesys-style keys (underscores,
// dots) and non-ASCII values reaches the far end as X-Genesys-* headers,
// which sipp checks byte for byte.
func TestAttachedData(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{AuthInvites: true})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	scenario, err := filepath.Abs("testdata/uas_attached_data.xml")
	if err != nil {
		t.Fatal(err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: scenario, Port: sip.sippPort})
	ctx := ctxTimeout(t, 60*time.Second)

	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	offer := withAttachedData(t, b.offer(webrtc.RTPTransceiverDirectionSendrecv),
		"Customer_Id", "12345", "Name", "José Núñez", "Note.v2", "a<b>;c=d, 日本")
	c.mustSend("5000", offer)
	_, body := c.expect(ctx, "RSMP ERROR")
	if typ, status, _ := errorOf(t, body); typ != "CALL_FAILED" || status != 486 {
		t.Errorf("far end's 486 = %.200q, want CALL_FAILED 486", body)
	}
	c.expect(ctx, "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp (checks the X-Genesys-* headers): %v\n%s", err, sipp.Messages())
	}
}

// TestRefusedMessages: what the gateway reads and refuses is answered 200
// (the Genesys library re-sends a message answered otherwise every 3 s,
// silently) and refused on /wait with an ERROR the library raises, then BYE
// when the browser's call is over; /wait and /message for a session that
// is over get 204 (the library signs out; a 404 it retries forever).
func TestRefusedMessages(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	ctx := ctxTimeout(t, 60*time.Second)
	// Anonymous ids have the characters of a DN: they are logged and sent
	// back in Pragma headers.
	for _, id := range []string{"anon<1>", "anon;x", "anon\"1\"", "anon@host"} {
		if _, status, body := g.signIn(id, ""); status != 400 || !strings.Contains(body, "not a valid DN") {
			t.Errorf("anonymous id %q: %d %q, want 400", id, status, body)
		}
	}
	g.mustSignIn("anon_1.a-b", "").signOut()

	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	offer := b.offer(webrtc.RTPTransceiverDirectionSendrecv)

	for _, tc := range []struct {
		what, to, body string
		typ            string
		status         int
		reason         string
		bye            bool
	}{
		{"a number it will not dial", "50<00>", offer, "CALL_FAILED", 400, "destination", true},
		{"attached data with a CR LF", "5000", withAttachedData(t, offer, "Key", "a\r\nVia: evil"), "CALL_FAILED", 400, "attached data", true},
		{"attached data with a bad key", "5000", withAttachedData(t, offer, "Bad Key", "v"), "CALL_FAILED", 400, "attached data", true},
		{"an offer without a usable codec", "5000", strings.NewReplacer("PCMU/8000", "XYZ/8000", "PCMA/8000", "XYZ/8000").Replace(offer), "CALL_FAILED", 400, "codec", true},
		{"an ANSWER with no call", "5001", `RSMP {"messageType":"ANSWER","sdp":"v=0\r\n","offererSessionId":1,"seq":1}`, "CALL_FAILED", 409, "no call", true},
		{"INFO outside a call", "5002", "INFO-MAP a=b", "MESSAGE_REFUSED", 409, "no call", true},
		{"GET-STATS outside a call", "5003", "GET-STATS", "MESSAGE_REFUSED", 409, "no call", true},
	} {
		status, resp := c.send(tc.to, tc.body)
		if status != 200 {
			t.Errorf("%s: /message = %d %q, want 200", tc.what, status, resp)
			continue
		}
		peer, body := c.expect(ctx, "RSMP ERROR")
		typ, st, reason := errorOf(t, body)
		if peer != tc.to || typ != tc.typ || st != tc.status || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: /wait %q from %q, want %s %d %q… from %q", tc.what, body, peer, tc.typ, tc.status, tc.reason, tc.to)
		}
		if tc.bye {
			if peer, body := c.expect(ctx, "BYE"); peer != tc.to {
				t.Errorf("%s: BYE from %q, want %q", tc.what, peer, tc.to)
			} else if body != "BYE" {
				t.Errorf("%s: %q, want BYE", tc.what, body)
			}
		}
	}

	// Malformed requests, which the library never sends, keep their status.
	if status, resp := c.send("5000", "RSMP {not json"); status != 400 || !strings.Contains(resp, "malformed") {
		t.Errorf("malformed ROAP = %d %q, want 400", status, resp)
	}

	// A session that is over: 204 on /wait and on /message.
	c.signOut()
	if status, _, _ := c.g.request("GET", "/wait?id="+c.ssid, ""); status != 204 {
		t.Errorf("/wait after sign-out = %d, want 204", status)
	}
	if status, _ := c.send("5000", offer); status != 204 {
		t.Errorf("/message after sign-out = %d, want 204", status)
	}
}

// withoutTelephoneEvent removes telephone-event from an SDP's audio formats.
func withoutTelephoneEvent(t *testing.T, sdp string) string {
	t.Helper()
	pts := map[string]bool{}
	for _, line := range strings.Split(sdp, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "a=rtpmap:"); ok && strings.Contains(strings.ToLower(rest), "telephone-event/") {
			pt, _, _ := strings.Cut(rest, " ")
			pts[pt] = true
		}
	}
	var out []string
	for _, line := range strings.Split(sdp, "\r\n") {
		switch {
		case strings.HasPrefix(line, "m=audio "):
			f := strings.Fields(line)
			kept := f[:3]
			for _, pt := range f[3:] {
				if !pts[pt] {
					kept = append(kept, pt)
				}
			}
			line = strings.Join(kept, " ")
		case strings.HasPrefix(line, "a=rtpmap:") || strings.HasPrefix(line, "a=fmtp:") || strings.HasPrefix(line, "a=rtcp-fb:"):
			pt, _, _ := strings.Cut(line[strings.Index(line, ":")+1:], " ")
			if pts[pt] {
				continue
			}
		}
		out = append(out, line)
	}
	if len(pts) == 0 || strings.Contains(strings.Join(out, "\n"), "telephone-event") {
		t.Fatalf("withoutTelephoneEvent: no telephone-event removed from %q", sdp)
	}
	return strings.Join(out, "\r\n")
}

// stripTE rewrites the SDP of an "RSMP {…}" message without telephone-event.
func stripTE(t *testing.T, msg string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(msg[strings.Index(msg, "{"):]), &m); err != nil {
		t.Fatal(err)
	}
	m["sdp"] = withoutTelephoneEvent(t, m["sdp"].(string))
	b, _ := json.Marshal(m)
	return "RSMP " + string(b)
}

// TestNoTelephoneEvent: a browser whose offer has no telephone-event still
// gets its call, with audio both ways and DTMF off for that call (an outside
// round saw such a call end with a bare BYE).
func TestNoTelephoneEvent(t *testing.T) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr()})
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	ctx := ctxTimeout(t, 60*time.Second)

	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	c.mustSend("5000", stripTE(t, b.offer(webrtc.RTPTransceiverDirectionSendrecv)))
	_, answer := c.expect(ctx, "RSMP {")
	if strings.Contains(answer, "telephone-event") {
		t.Errorf("ANSWER to an offer without telephone-event has it: %.300q", answer)
	}
	b.applyAnswer(answer)
	b.waitReceived(ctx, 50)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 50 }); err != nil {
		t.Fatalf("far end got no media: %v", err)
	}
	c.mustSend("5000", "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
	// DTMF is off for this call on the SIP side too: a telephone-event the
	// browser cannot take is not offered.
	if msgs := sipp.Messages(); strings.Contains(msgs, "telephone-event/") {
		t.Errorf("the SIP side was offered telephone-event for a browser without it:\n%s", msgs)
	}
}
