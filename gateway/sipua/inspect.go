package sipua

import (
	"errors"
	"fmt"
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

// singleValued are headers a request carries at most once (RFC 3261
// section 7.3.1 and the grammar of section 25.1): two of them leave the
// request ambiguous (RFC 4475 section 3.1.2.11 and 3.1.2.19).
var singleValued = []string{"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type", "Expires"}

// checkRequest inspects a request before h sees it, as RFC 3261 section 8.2
// asks of a UAS, and answers what it refuses in SIP/2.0 (sipgo parses any
// version and would answer in it):
//
//  1. another SIP version: 505 Version Not Supported (section 21.5.7);
//  2. a single-valued header given twice, or a CSeq whose method is not
//     the request's (section 8.1.1.5): 400 Bad Request;
//  3. a Request-URI scheme other than sip or sips: 416 Unsupported URI
//     Scheme (section 8.2.2.1);
//  4. an option tag in Require: 420 Bad Extension with Unsupported, as the
//     gateway supports no extension (section 8.2.2.3; not for CANCEL).
//
// An ACK is never answered (section 17): one that fails is dropped.
func checkRequest(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		code, reason, extra := inspect(req)
		if code == 0 {
			req.SipVersion = sipVersion // responses copy it
			h(req, tx)
			return
		}
		if req.IsAck() {
			return
		}
		res := sip.NewResponseFromRequest(req, code, reason, nil)
		res.SipVersion = sipVersion
		if extra != nil {
			res.AppendHeader(extra)
		}
		tx.Respond(res)
	}
}

// inspect returns the status that refuses req, or 0 when it is fine.
func inspect(req *sip.Request) (code int, reason string, extra sip.Header) {
	if !strings.EqualFold(req.SipVersion, sipVersion) {
		return 505, "Version Not Supported", nil
	}
	for _, name := range singleValued {
		if n := len(req.GetHeaders(name)); n > 1 {
			return 400, fmt.Sprintf("Bad Request (%d %s headers)", n, name), nil
		}
	}
	if cseq := req.CSeq(); cseq != nil && !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return 400, "Bad Request (CSeq method does not match)", nil
	}
	if s := strings.ToLower(req.Recipient.Scheme); s != "" && s != "sip" && s != "sips" {
		return 416, "Unsupported URI Scheme", nil
	}
	if !req.IsCancel() {
		var tags []string
		for _, h := range req.GetHeaders("Require") {
			for _, tag := range strings.Split(h.Value(), ",") {
				if tag = strings.TrimSpace(tag); tag != "" {
					tags = append(tags, tag)
				}
			}
		}
		if len(tags) > 0 {
			return 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(tags, ", "))
		}
	}
	return 0, "", nil
}
