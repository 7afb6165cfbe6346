package sipua

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// sipVersion is the one SIP version the gateway speaks (RFC 3261 section
// 7.1: compared case-insensitively, always sent in upper case).
const sipVersion = "SIP/2.0"

// errVersion is an answer in another SIP version: no answer to a request
// in SIP/2.0.
var errVersion = errors.New("answer in another SIP version")

// checkVersion answers a request in another SIP version with 505 Version
// Not Supported (RFC 3261 section 21.5.7) in SIP/2.0, instead of
// passing it to h: sipgo parses any version and would answer in it. An
// ACK is never answered (RFC 3261 section 17).
func checkVersion(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if strings.EqualFold(req.SipVersion, sipVersion) {
			req.SipVersion = sipVersion // responses copy it
			h(req, tx)
			return
		}
		if req.IsAck() {
			return
		}
		res := sip.NewResponseFromRequest(req, 505, "Version Not Supported", nil)
		res.SipVersion = sipVersion
		tx.Respond(res)
	}
}
