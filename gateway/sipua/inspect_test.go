package sipua

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"webrtcgw/internal/testpeers"
)

// TestVersionNotSupported: a request in another SIP version gets 505
// Version Not Supported in SIP/2.0 (RFC 3261 section 21.5.7) — sipgo
// answered it in its own version; the version is case-insensitive (section
// 7.1); a method the gateway does not handle gets 405 with Allow, a CANCEL
// that matches nothing 481.
func TestVersionNotSupported(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			port := testpeers.FreePort(t, network)
			startUAWith(t, "127.0.0.1:"+strconv.Itoa(testpeers.FreePort(t, "udp")),
				map[string]string{"sip-transport": network, "sip-port": strconv.Itoa(port)}, Deps{Timing: fastTiming})
			c := dialSIP(t, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			for i, tc := range []struct {
				method, version string
				want            string // start of the final response
				header          string // a header it must carry
			}{
				{"OPTIONS", "SIP/7.0", "SIP/2.0 505 Version Not Supported\r\n", ""},
				{"INVITE", "SIP/7.0", "SIP/2.0 505 Version Not Supported\r\n", ""},
				{"SUBSCRIBE", "SIP/3.0", "SIP/2.0 505 Version Not Supported\r\n", ""},
				{"OPTIONS", "sip/2.0", "SIP/2.0 200 OK\r\n", "Allow: INVITE"},
				{"SUBSCRIBE", "SIP/2.0", "SIP/2.0 405 Method Not Allowed\r\n", "Allow: INVITE"},
				{"CANCEL", "SIP/2.0", "SIP/2.0 481 ", ""},
			} {
				branch := fmt.Sprintf("%s-%d", network, i)
				c.send(c.request(tc.method, tc.version, branch))
				got := c.final()
				if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, "Call-ID: "+branch+"@127.0.0.1\r\n") || !strings.Contains(got, tc.header) {
					t.Errorf("%s in %s answered\n%s\nwant %q with %q", tc.method, tc.version, got, tc.want, tc.header)
				}
				if tc.method == "INVITE" {
					ack := strings.Replace(c.request("ACK", tc.version, branch), "CSeq: 1 ACK", "CSeq: 1 ACK", 1)
					c.send(ack)
				}
			}
		})
	}
}

// TestRequestInspection: a UAS inspects a request before it acts on it
// (RFC 3261 section 8.2), as the RFC 4475 torture messages mismatch01,
// multi01, mcl01, unkscm and bext01 ask: each refusal is answered in
// SIP/2.0, over UDP and TCP, and an ACK that fails is not answered.
func TestRequestInspection(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			port := testpeers.FreePort(t, network)
			startUAWith(t, "127.0.0.1:"+strconv.Itoa(testpeers.FreePort(t, "udp")),
				map[string]string{"sip-transport": network, "sip-port": strconv.Itoa(port)}, Deps{Timing: fastTiming})
			c := dialSIP(t, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			for i, tc := range []struct {
				what   string
				edit   func(string) string
				want   string // start of the final response
				header string // a header it must carry
			}{
				{"a CSeq of another method", func(m string) string { return strings.Replace(m, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1) },
					"SIP/2.0 400 Bad Request (CSeq method does not match)\r\n", ""},
				{"two To headers", func(m string) string {
					return strings.Replace(m, "To: <sip:7001@127.0.0.1>\r\n", "To: <sip:7001@127.0.0.1>\r\nTo: <sip:7002@127.0.0.1>\r\n", 1)
				}, "SIP/2.0 400 Bad Request (2 To headers)\r\n", ""},
				{"two Call-IDs, one compact", func(m string) string {
					return strings.Replace(m, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\ni: other@127.0.0.1\r\n", 1)
				}, "SIP/2.0 400 Bad Request (2 Call-ID headers)\r\n", ""},
				{"two Content-Lengths", func(m string) string {
					return strings.Replace(m, "Content-Length: 0\r\n", "Content-Length: 0\r\nl: 0\r\n", 1)
				}, "SIP/2.0 400 Bad Request (2 Content-Length headers)\r\n", ""},
				{"an unknown Request-URI scheme", func(m string) string {
					return strings.Replace(m, "OPTIONS sip:", "OPTIONS nobodyKnowsThisScheme:", 1)
				}, "SIP/2.0 416 Unsupported URI Scheme\r\n", ""},
				{"Require: an extension", func(m string) string {
					return strings.Replace(m, "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: nothingSupportsThis, nothingSupportsThisEither\r\n", 1)
				}, "SIP/2.0 420 Bad Extension\r\n", "Unsupported: nothingSupportsThis, nothingSupportsThisEither\r\n"},
				{"a fine request", func(m string) string { return m }, "SIP/2.0 200 OK\r\n", "Allow: INVITE"},
			} {
				branch := fmt.Sprintf("inspect-%s-%d", network, i)
				c.send(tc.edit(c.request("OPTIONS", "SIP/2.0", branch)))
				got := c.final()
				if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, tc.header) {
					t.Errorf("%s: answered\n%s\nwant %q with %q", tc.what, got, tc.want, tc.header)
				}
			}
		})
	}
}

// TestResponseInOtherVersion: a REGISTER answered "SIP/7.0 200 OK" is not
// registered — sipgo takes a response of any version as its own.
func TestResponseInOtherVersion(t *testing.T) {
	scenario := filepath.Join(t.TempDir(), "register_sip7.xml")
	if err := os.WriteFile(scenario, []byte(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a REGISTER answered in SIP/7.0, OPTIONS probes in SIP/2.0">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="REGISTER"/>
  <send>
    <![CDATA[
      SIP/7.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=60
      Content-Length: 0

    ]]>
  </send>
  <nop next="end"/>
  <label id="options"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag02[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
</scenario>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	// One call per request: the REGISTER and the UA's probes.
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: scenario, Calls: 1000})
	u := startUAWith(t, sipp.Addr(), nil, Deps{Timing: fastTiming})
	_, err := u.Register(context.Background(), "7001", "", nil)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "SIP/7.0 200 OK") {
		t.Errorf("Register answered SIP/7.0 200 OK = %v, want ErrUnreachable quoting the answer", err)
	}
	if u.Registered("7001") != nil {
		t.Error("registered on an answer in SIP/7.0")
	}
}
