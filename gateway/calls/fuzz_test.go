package calls

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Every /message body is outside input. The seed corpus has what the
// Genesys library (grtc 8.5, PROTOCOL.md) and our library send, with the
// offer and answer of a real Chromium 156 (captured on loopback, its media
// protocol rewritten to RTP/SAVPF as grtc does) in
// testdata/fuzz/FuzzParseMessage, and the table below.
var messageSeeds = []string{
	`RSMP {"messageType":"OFFER","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/SAVPF 0\r\n","offererSessionId":102,"seq":1,"tiebreaker":12345}`,
	`RSMP {"messageType":"ANSWER","sdp":"v=0\r\n","offererSessionId":1,"answererSessionId":102,"seq":1}`,
	`RSMP {"messageType":"OK","offererSessionId":102,"answererSessionId":1,"seq":1}`,
	`RSMP {"messageType":"OFFER","sdp":"v=0\r\n","Candidates":[{"sdpMLineIndex":0,"sdpMid":"audio","candidate":"candidate:1 1 udp 2122260223 127.0.0.1 42001 typ host"},{"sdpMLineIndex":null,"sdpMid":null,"candidate":""}],"attacheddata":[{"key":"Customer_Id","value":"42"},{"key":"Name","value":"José Núñez"}]}`,
	`RSMP {"messageType":"OFFER","sdp":"not sdp"}`,
	`RSMP {"messageType":"PRANSWER","sdp":"v=0"}`,
	`RSMP {"messageType":"OK"} {"messageType":"OFFER"}`,
	`RSMP {"messageType":"OK","seq":1e999}`,
	`RSMP {"messageType":"OK","offererSessionId":"102"}`,
	"RSMP",
	"BYE",
	"BYE now",
	"GET-STATS",
	"INFO-MAP key1=value1&key2=value%202",
	"INFO-PEER a=b",
	"INFO-PEER ",
	"  \r\nBYE\r\n",
	"ERROR",
	"",
}

// FuzzParseMessage: a /message body parses into one of the messages of
// PROTOCOL.md within the bounds (candidates, attached data), or is refused
// with an error that says what is wrong; a ROAP message survives its own
// JSON round trip; and the ERROR the browser is sent for a refusal lands in
// the library's gateway-error branch whatever the refusal says.
func FuzzParseMessage(f *testing.F) {
	for _, s := range messageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseMessage(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("parseMessage(%q): an error with no text", body)
			}
			checkErrorMessage(t, errorMessage("MESSAGE_REFUSED", 400, err.Error()))
			checkErrorMessage(t, errorMessage("CALL_FAILED", 486, string(body)))
			return
		}
		text := bytes.TrimSpace(body)
		switch m.kind {
		case "OFFER", "ANSWER", "OK":
			if !bytes.HasPrefix(text, []byte("RSMP")) || m.roap.MessageType != m.kind {
				t.Fatalf("parseMessage(%q) = %s from %q", body, m.kind, m.roap.MessageType)
			}
			if m.kind != "OK" && !strings.HasPrefix(m.roap.SDP, "v=0") {
				t.Fatalf("parseMessage(%q): %s without SDP accepted", body, m.kind)
			}
			if len(m.roap.Candidates) > maxCandidates || len(m.roap.AttachedData) > maxAttachedData {
				t.Fatalf("parseMessage(%q): %d candidates, %d attached data accepted", body, len(m.roap.Candidates), len(m.roap.AttachedData))
			}
			data, err := json.Marshal(m.roap)
			if err != nil {
				t.Fatal(err)
			}
			again, err := parseMessage(append([]byte("RSMP "), data...))
			if err != nil {
				t.Fatalf("the ROAP message %s does not parse again: %v", data, err)
			}
			if diff := cmp.Diff(m.roap, again.roap, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("ROAP round trip of %q (-first +again):\n%s", body, diff)
			}
			n := 0
			for _, c := range m.roap.Candidates {
				if c.Candidate != "" {
					n++
				}
			}
			if got := len(m.roap.iceCandidates()); got != n {
				t.Fatalf("iceCandidates = %d candidates, want %d", got, n)
			}
		case "BYE", "GET-STATS":
			if !bytes.HasPrefix(text, []byte(m.kind)) {
				t.Fatalf("parseMessage(%q) = %s", body, m.kind)
			}
		case "INFO-MAP", "INFO-PEER":
			if !bytes.Equal(text, append([]byte(m.kind+" "), m.data...)) {
				t.Fatalf("parseMessage(%q) = %s %q: not the rest of the body", body, m.kind, m.data)
			}
		default:
			t.Fatalf("parseMessage(%q) = unknown kind %q", body, m.kind)
		}
	})
}

// checkErrorMessage checks that the library classifies body as a gateway
// error (PROTOCOL.md, "How the client classifies what /wait delivers",
// steps 1 to 6).
func checkErrorMessage(t *testing.T, body []byte) {
	t.Helper()
	s := string(body)
	for _, p := range []string{"BYE", "INVITE", "EVENT-TALK", "EVENT-HOLD", "INFO-PEER ", "PUT-STATS"} {
		if strings.HasPrefix(s, p) {
			t.Fatalf("error message %q starts with %s", s, p)
		}
	}
	if i := strings.Index(s, "ERROR"); i < 1 || !strings.Contains(s, "errorType") || !strings.Contains(s, "{") {
		t.Fatalf("error message %q is not in the library's error branch", s)
	}
	var e struct {
		ErrorType string `json:"errorType"`
	}
	if err := json.Unmarshal(body[strings.Index(s, "{"):], &e); err != nil || e.ErrorType == "" {
		t.Fatalf("error message %q: JSON from the first { = %v, %v", s, e, err)
	}
}

// FuzzInfoPeerMessage: INFO data from the far end (SIP, outside input)
// reaches the browser as "INFO-PEER <urlencoded>": one line the library's
// branch 4 takes, whose rest URL-decodes (url.ParseQuery, as the library
// does) and gives back what the far end sent when it had to be escaped.
func FuzzInfoPeerMessage(f *testing.F) {
	for _, s := range []string{"a=b&c=d", "key=value%202", "not urlencoded at all", "x;y", "\r\nBYE", "%zz", "", "a=b\x00", "é=ü"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg := string(infoPeerMessage(body))
		rest, ok := strings.CutPrefix(msg, "INFO-PEER ")
		if !ok {
			t.Fatalf("infoPeerMessage(%q) = %q", body, msg)
		}
		if strings.ContainsAny(rest, " \r\n\x00") {
			t.Fatalf("infoPeerMessage(%q) = %q: space, CR, LF or NUL in the data", body, msg)
		}
		if _, err := url.ParseQuery(rest); err != nil {
			t.Fatalf("infoPeerMessage(%q) = %q: the library cannot decode it: %v", body, msg, err)
		}
		if rest != string(body) {
			if un, err := url.QueryUnescape(rest); err != nil || un != string(body) {
				t.Fatalf("infoPeerMessage(%q) = %q: decodes to %q (%v)", body, msg, un, err)
			}
		}
	})
}
