package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/webrtc/v4"

	"webrtcgw/internal/testpeers"
)

// rfc4475Dir holds the torture messages of RFC 4475, bit-exact from the
// archive of its Appendix A (they also seed the SIP fuzz targets).
const rfc4475Dir = "../gateway/sipua/testdata/fuzz/rfc4475/invalid"

// A torture is one RFC 4475 message that is invalid for a UA, and what the
// RFC expects of the UA that receives it.
type torture struct {
	name    string // file name in rfc4475Dir, without .dat
	section string // RFC 4475 section
	want    answer
}

// answer is what a UA may do with a torture message.
type answer int

const (
	refuse  answer = iota // a 4xx or 5xx (RFC 4475 names the usual one), or nothing
	version               // 505 Version Not Supported, and nothing else
	drop                  // nothing: a response no request of ours asked for
)

// tortures are the messages of RFC 4475 sections 3.1.2 (invalid syntax) and
// 3.3 (semantics) that apply to a UA. Left out: those only a proxy or a
// registrar can judge (cparam01, cparam02, regaut01, regescrt, zeromf), the
// valid and backward-compatible ones (unksm2, inv2543), and baddate (an
// element that does not use Date may process the request).
var tortures = []torture{
	{"badinv01", "3.1.2.1 extraneous header field separators", refuse},  // 400
	{"clerr", "3.1.2.2 Content-Length larger than the message", refuse}, // 400 (UDP); over TCP the rest never comes
	{"ncl", "3.1.2.3 negative Content-Length", refuse},                  // 400
	{"scalar02", "3.1.2.4 request scalar fields with overlarge values", refuse},
	{"scalarlg", "3.1.2.5 response scalar fields with overlarge values", drop},
	{"quotbal", "3.1.2.6 unterminated quoted string in display name", refuse},
	{"ltgtruri", "3.1.2.7 <> enclosing Request-URI", refuse},
	{"lwsruri", "3.1.2.8 malformed Request-URI (embedded LWS)", refuse},
	{"lwsstart", "3.1.2.9 multiple SP separating Request-Line elements", refuse},
	{"trws", "3.1.2.10 SP characters at end of Request-Line", refuse},
	{"escruri", "3.1.2.11 escaped headers in SIP Request-URI", refuse},
	{"regbadct", "3.1.2.13 failure to enclose name-addr URI in <>", refuse},
	{"badaspec", "3.1.2.14 spaces within addr-spec", refuse},
	{"baddn", "3.1.2.15 non-token characters in display name", refuse},
	{"badvers", "3.1.2.16 unknown protocol version SIP/7.0", version},
	{"mismatch01", "3.1.2.17 start line and CSeq method mismatch", refuse}, // 400
	{"mismatch02", "3.1.2.18 unknown method with CSeq method mismatch", refuse},
	{"bigcode", "3.1.2.19 overlarge response code", drop},
	{"insuf", "3.3.1 missing required header fields", refuse},               // 400
	{"unkscm", "3.3.2 Request-URI with unknown scheme", refuse},             // 416
	{"novelsc", "3.3.3 Request-URI with known but atypical scheme", refuse}, // 416
	{"bext01", "3.3.6 unknown Require and Proxy-Require", refuse},           // 420
	{"invut", "3.3.7 unknown Content-Type", refuse},                         // 415
	{"multi01", "3.3.9 multiple values in single-value headers", refuse},    // 400
	{"mcl01", "3.3.10 multiple Content-Length values", refuse},              // 400
	{"bcast", "3.3.11 200 OK with broadcast Via", drop},
	{"sdp01", "3.3.14 unacceptable Accept offering", refuse}, // 406
	{"test", "request without SIP version", refuse},
}

// exactly are the torture messages the gateway parses and must refuse with
// the status the RFC names: the inspection of a request a UAS makes before
// it acts on it (RFC 3261 section 8.2). Those the UA hands on to call
// control reach a DN that is in a call (486) before their body is read.
var exactly = map[string]int{
	"badvers":    505, // section 21.5.7
	"mismatch01": 400, // CSeq method, section 8.1.1.5
	"multi01":    400, // single-valued headers given twice
	"mcl01":      400, // two Content-Lengths
	"unkscm":     416, // section 8.2.2.1
	"novelsc":    416,
	"bext01":     420, // section 8.2.2.3
}

// requestTarget is the user@host of a Request-URI, which the test points at
// the DN in the call.
var requestTarget = regexp.MustCompile(`^([A-Z]+ +<?sip:)[^@ ;?>]+@[^ ;?>]+`)

// topVia is the sent-by of a message's first Via. Over UDP a UA answers
// there (RFC 3261 section 18.2.2: the RFC's hosts, such as 192.0.2.15, are
// unreachable here), so the test puts the address of its own socket in it;
// over TCP the answer comes back on the connection.
var topVia = regexp.MustCompile(`(?im)^((?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[0-9.]+[ \t]*/[ \t]*[A-Z]+[ \t]+)([^;,\r\n]+)`)

// TestTorture, with RFC 4475: during an established call (a pion browser
// through the gateway and Kamailio to sipp), the torture messages that
// apply to a UA are sent at the gateway's SIP port, over UDP and over TCP,
// each from a socket of its own, with their Request-URI aimed at the DN in
// the call. Each one is refused (a 4xx or 5xx; the status the RFC names for
// those in exactly) or dropped, never accepted, and every answer is a
// SIP/2.0 response; responses nobody asked for get nothing. A huge Content-Length over TCP neither hangs nor
// grows the gateway, which serves other connections meanwhile. Afterwards
// the process is up and answers OPTIONS, media still flows both ways, the
// browser heard nothing of it, and new sign-ins work.
func TestTorture(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { testTorture(t, transport) })
	}
}

func testTorture(t *testing.T, transport string) {
	sip := startSIPSide(t, testpeers.KamailioConfig{})
	port := testpeers.FreePort(t, transport)
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: map[string]string{"sip/sip-transport": transport, "sip/sip-port": fmt.Sprint(port)}})
	gwAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	ctx := ctxTimeout(t, 120*time.Second)

	// The call: browser → gateway → Kamailio → sipp, media echoed back.
	c := g.mustSignIn("7001", "secret1")
	b := newPionBrowser(t)
	c.mustSend("5000", b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, ans := c.expect(ctx, "RSMP {")
	b.applyAnswer(ans)
	c.mustSend("5000", `RSMP {"messageType":"OK","offererSessionId":102,"answererSessionId":1,"seq":1}`)
	b.waitReceived(ctx, 50)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 50 }); err != nil {
		t.Fatalf("no media at the far end before the torture: %v", err)
	}
	rssBefore := rss(t, g.cmd.Process.Pid)

	// The torture messages, all at once, each from a socket of its own.
	results := make([]tortureResult, len(tortures))
	var wg sync.WaitGroup
	for i, tc := range tortures {
		data, err := os.ReadFile(filepath.Join(rfc4475Dir, tc.name+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		line, rest, _ := bytes.Cut(data, []byte("\r\n"))
		line = requestTarget.ReplaceAll(line, []byte("${1}7001@"+gwAddr))
		msg := append(append(line, "\r\n"...), rest...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = sendTorture(transport, gwAddr, msg, false)
		}()
	}
	// A huge Content-Length over TCP: the gateway must wait for the body
	// or close the connection, neither hang nor take the memory.
	var huge hugeResult
	if transport == "tcp" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			huge = sendHugeContentLength(gwAddr)
		}()
	}
	wg.Wait()

	for i, tc := range tortures {
		r := results[i]
		t.Logf("%-10s %-55s %s", tc.name, tc.section, r)
		if r.err != nil {
			t.Errorf("%s (%s): %v", tc.name, tc.section, r.err)
			continue
		}
		for _, code := range r.codes {
			if code < 200 {
				continue // provisional: 100 Trying before the refusal
			}
			switch {
			case tc.want == drop:
				t.Errorf("%s (%s): a response no request asked for was answered %d", tc.name, tc.section, code)
			case tc.want == version && code != 505:
				t.Errorf("%s (%s): answered %d, want 505 Version Not Supported", tc.name, tc.section, code)
			case exactly[tc.name] != 0 && code != exactly[tc.name]:
				t.Errorf("%s (%s): answered %d, want %d", tc.name, tc.section, code, exactly[tc.name])
			case code < 400:
				t.Errorf("%s (%s): answered %d: an invalid request was accepted", tc.name, tc.section, code)
			}
		}
		if tc.want == version && !slices.Contains(r.codes, 505) {
			t.Errorf("%s (%s): no 505 Version Not Supported (answers %v)", tc.name, tc.section, r.codes)
		}
	}
	if transport == "tcp" {
		t.Logf("huge Content-Length over TCP: %s", huge)
		if huge.err != nil {
			t.Errorf("huge Content-Length over TCP: %v", huge.err)
		}
	}

	// Still there: the process, its SIP port, the call's media both ways.
	if err := g.cmd.Process.Signal(syscall.Signal(0)); err != nil || g.cmd.ProcessState != nil {
		t.Fatalf("the gateway process is gone: %v", err)
	}
	if r := sendTorture(transport, gwAddr, []byte(optionsProbe(transport)), true); len(r.codes) == 0 || r.codes[len(r.codes)-1] != 200 {
		t.Errorf("OPTIONS after the torture: %s", r)
	}
	if grown := rss(t, g.cmd.Process.Pid) - rssBefore; grown > 64<<20 {
		t.Errorf("the gateway grew by %d MB during the torture", grown>>20)
	}
	browserBefore, farBefore := b.Received(), far.Stats().Packets
	b.waitReceived(ctx, 50)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > farBefore+50 }); err != nil {
		t.Fatalf("media to the far end stopped after the torture: %v", err)
	}
	t.Logf("media after the torture: browser %d → %d packets, far end %d → %d", browserBefore, b.Received(), farBefore, far.Stats().Packets)

	// Nothing reached the browser: the INVITEs for its DN were refused.
	select {
	case m := <-c.msgs:
		t.Errorf("the browser got %.100q from %q during the torture", m.body, m.peer)
	default:
	}

	// New sign-ins work, registered and anonymous, and the call ends cleanly.
	c2 := g.mustSignIn("7002", "secret2")
	c2.signOut()
	g.mustSignIn("anon-after-torture", "").signOut()
	c.mustSend("5000", "BYE")
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// tortureResult is what the gateway answered to one message.
type tortureResult struct {
	codes []int // status codes of the answers, in order
	err   error // an answer that does not parse, or the socket failed
}

func (r tortureResult) String() string {
	switch {
	case r.err != nil:
		return "error: " + r.err.Error()
	case len(r.codes) == 0:
		return "dropped (no answer)"
	}
	return fmt.Sprintf("answered %v", r.codes)
}

// sendTorture sends msg from a socket of its own (a UDP datagram, or a new
// TCP connection) and collects the answers: for 3 s (the refusal of an
// INVITE and its retransmissions), or until the first final one when
// untilFinal is set (5 s at most).
func sendTorture(transport, addr string, msg []byte, untilFinal bool) tortureResult {
	var r tortureResult
	conn, err := net.Dial(transport, addr)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	wait := 3 * time.Second
	if untilFinal {
		wait = 5 * time.Second
	}
	conn.SetDeadline(time.Now().Add(wait))
	if transport == "udp" {
		msg = topVia.ReplaceAll(msg, []byte("${1}"+conn.LocalAddr().String()))
	}
	if _, err := conn.Write(msg); err != nil {
		r.err = err
		return r
	}
	buf := make([]byte, 65536)
	stream := sip.NewParser().NewSIPStream()
	final := false
	handle := func(m sip.Message) {
		res, ok := m.(*sip.Response)
		switch {
		case !ok:
			r.err = fmt.Errorf("the gateway sent a request: %q", m.String())
		case res.SipVersion != "SIP/2.0":
			r.err = fmt.Errorf("the gateway answered in %q", res.SipVersion)
		default:
			r.codes = append(r.codes, res.StatusCode)
			final = final || res.StatusCode >= 200
		}
	}
	for !(untilFinal && final) {
		n, err := conn.Read(buf)
		if err != nil {
			return r // the deadline, or the gateway closed the connection
		}
		if transport == "udp" {
			m, err := sip.NewParser().ParseSIP(buf[:n])
			if err != nil {
				r.err = fmt.Errorf("an answer that does not parse (%v): %q", err, buf[:n])
				return r
			}
			handle(m)
			continue
		}
		if err := stream.ParseSIPStream(buf[:n], handle); err != nil && err != sip.ErrParseSipPartial {
			r.err = fmt.Errorf("an answer that does not parse: %v", err)
			return r
		}
	}
	return r
}

// optionsProbe is a well-formed OPTIONS (over UDP, sendTorture puts its
// socket's address in the Via).
func optionsProbe(transport string) string {
	return "OPTIONS sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/" + strings.ToUpper(transport) + " 127.0.0.1:9;branch=z9hG4bK-torture-probe;rport\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: torture-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

// hugeResult is what happened to the huge Content-Length.
type hugeResult struct {
	sent   int           // body bytes written before the gateway stopped reading or closed
	closed bool          // the gateway closed the connection
	took   time.Duration // how long the exchange took
	err    error
}

func (h hugeResult) String() string {
	return fmt.Sprintf("%d body bytes taken in %v, closed by the gateway: %v", h.sent, h.took.Round(time.Millisecond), h.closed)
}

// sendHugeContentLength sends an INVITE announcing a 2 GB body, then up to
// 32 MB of it, for at most 10 s, and checks that another connection is
// served meanwhile.
func sendHugeContentLength(addr string) hugeResult {
	var h hugeResult
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		h.err = err
		return h
	}
	defer conn.Close()
	head := "INVITE sip:7001@" + addr + " SIP/2.0\r\nVia: SIP/2.0/TCP " + conn.LocalAddr().String() + ";branch=z9hG4bK-huge\r\n" +
		"From: <sip:huge@127.0.0.1>;tag=huge\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: huge-content-length\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: 2147483647\r\n\r\n"
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(head)); err != nil {
		h.err = err
		return h
	}
	chunk := bytes.Repeat([]byte("a=x\r\n"), 13107) // 64 KB
	for h.sent < 32<<20 {
		n, err := conn.Write(chunk)
		h.sent += n
		if err != nil {
			var ne net.Error
			h.closed = !(errors.As(err, &ne) && ne.Timeout())
			break
		}
	}
	// Meanwhile, another connection is served.
	if r := sendTorture("tcp", addr, []byte(optionsProbe("tcp")), true); len(r.codes) == 0 || r.codes[len(r.codes)-1] != 200 {
		h.err = fmt.Errorf("OPTIONS on another connection while the huge body was coming: %s", r)
	}
	h.took = time.Since(start)
	return h
}

// rss returns the resident memory of pid in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("the gateway process: %v", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/pid/status")
	return 0
}
