package calls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pion/webrtc/v4"
)

// The browser ↔ gateway messages (PROTOCOL.md): ROAP offers and answers as
// "RSMP {json}", and the plain-text messages.

// roap is a ROAP message as the Genesys library sends and reads it.
type roap struct {
	MessageType       string         `json:"messageType"`
	SDP               string         `json:"sdp,omitempty"`
	Candidates        []candidate    `json:"Candidates,omitempty"`
	OffererSessionID  int64          `json:"offererSessionId,omitempty"`
	AnswererSessionID int64          `json:"answererSessionId,omitempty"`
	Seq               int64          `json:"seq,omitempty"`
	Tiebreaker        int64          `json:"tiebreaker,omitempty"`
	AttachedData      []attachedItem `json:"attacheddata,omitempty"`
}

type candidate struct {
	SDPMLineIndex *uint16 `json:"sdpMLineIndex"`
	SDPMid        *string `json:"sdpMid"`
	Candidate     string  `json:"candidate"`
}

type attachedItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Limits on what a browser message may hold.
const (
	maxCandidates   = 64
	maxAttachedData = 32
)

// message is one parsed /message body.
type message struct {
	kind string // OFFER, ANSWER, OK, BYE, INFO-MAP, INFO-PEER, GET-STATS
	roap roap
	data []byte // INFO payload
}

var errUnknownMessage = errors.New("unknown message")

// parseMessage classifies and parses a /message body.
func parseMessage(body []byte) (message, error) {
	text := bytes.TrimSpace(body)
	switch {
	case bytes.HasPrefix(text, []byte("RSMP")):
		rest := bytes.TrimSpace(text[4:])
		var r roap
		dec := json.NewDecoder(bytes.NewReader(rest))
		if err := dec.Decode(&r); err != nil {
			return message{}, fmt.Errorf("malformed ROAP JSON: %v", err)
		}
		switch r.MessageType {
		case "OFFER", "ANSWER", "OK":
		default:
			return message{}, fmt.Errorf("unknown ROAP messageType %q", r.MessageType)
		}
		if (r.MessageType == "OFFER" || r.MessageType == "ANSWER") && !strings.HasPrefix(r.SDP, "v=0") {
			return message{}, fmt.Errorf("%s without SDP", r.MessageType)
		}
		if len(r.Candidates) > maxCandidates {
			return message{}, fmt.Errorf("%d candidates: at most %d", len(r.Candidates), maxCandidates)
		}
		if len(r.AttachedData) > maxAttachedData {
			return message{}, fmt.Errorf("%d attached data items: at most %d", len(r.AttachedData), maxAttachedData)
		}
		return message{kind: r.MessageType, roap: r}, nil
	case bytes.Equal(text, []byte("BYE")), bytes.HasPrefix(text, []byte("BYE ")):
		return message{kind: "BYE"}, nil
	case bytes.Equal(text, []byte("GET-STATS")):
		return message{kind: "GET-STATS"}, nil
	case bytes.HasPrefix(text, []byte("INFO-MAP ")):
		return message{kind: "INFO-MAP", data: text[len("INFO-MAP "):]}, nil
	case bytes.HasPrefix(text, []byte("INFO-PEER ")):
		return message{kind: "INFO-PEER", data: text[len("INFO-PEER "):]}, nil
	}
	return message{}, errUnknownMessage
}

// iceCandidates converts the Candidates of a ROAP message for pion.
func (r roap) iceCandidates() []webrtc.ICECandidateInit {
	out := make([]webrtc.ICECandidateInit, 0, len(r.Candidates))
	for _, c := range r.Candidates {
		if c.Candidate == "" {
			continue
		}
		out = append(out, webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
	}
	return out
}

// Messages the gateway sends to the browser. An ANSWER or OK never contains
// "OFFER" and an incoming offer starts with "SDP" (how the library tells
// them apart); errors carry "ERROR" after the first character.

func answerMessage(sdp string, offererID, answererID, seq int64) []byte {
	b, _ := json.Marshal(roap{MessageType: "ANSWER", SDP: sdp, OffererSessionID: offererID, AnswererSessionID: answererID, Seq: seq})
	return append([]byte("RSMP "), b...)
}

func offerMessage(sdp string, offererID, tiebreaker int64) []byte {
	b, _ := json.Marshal(roap{MessageType: "OFFER", SDP: sdp, OffererSessionID: offererID, Seq: 1, Tiebreaker: tiebreaker})
	return append([]byte("SDP "), b...)
}

// errorMessage is a gateway error for the browser (its onGatewayError).
func errorMessage(errorType string, status int, reason string) []byte {
	b, _ := json.Marshal(struct {
		ErrorType string `json:"errorType"`
		Status    int    `json:"status,omitempty"`
		Reason    string `json:"reason,omitempty"`
	}{errorType, status, reason})
	return append([]byte("RSMP ERROR "), b...)
}

// infoPeerMessage delivers INFO data from the far end, URL-encoded.
func infoPeerMessage(body []byte) []byte {
	text := string(body)
	if _, err := url.ParseQuery(text); err != nil || strings.ContainsAny(text, " \r\n\x00") {
		text = url.QueryEscape(text)
	}
	return []byte("INFO-PEER " + text)
}
