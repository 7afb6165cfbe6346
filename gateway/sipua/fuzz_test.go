package sipua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

// SIP reaches the gateway from anyone who can send to its SIP port: every
// datagram and TCP stream goes through sipgo's parser, then through the
// UA's handlers. The seed corpora are real messages, under testdata/fuzz:
//
//   - rfc4475/valid, rfc4475/invalid: the torture messages of RFC 4475,
//     byte for byte from the archive of its Appendix A;
//   - sipp: what sipp 3.6.1's built-in uac and uas scenarios send
//     (INVITE, ACK, BYE; 180 and 200 with SDP), captured on loopback.
//
// Crashers found by `make fuzz` are kept under testdata/fuzz/FuzzX.

// sipSeeds returns the seed messages by name ("rfc4475/invalid/clerr").
func sipSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"rfc4475/valid", "rfc4475/invalid", "sipp"} {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*.*"))
		if err != nil || len(files) == 0 {
			tb.Fatalf("no seed messages in testdata/fuzz/%s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			out[dir+"/"+strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))] = data
		}
	}
	return out
}

// addSIPSeeds adds every seed message, sorted by name (a stable corpus).
func addSIPSeeds(f *testing.F, add func(data []byte)) {
	seeds := sipSeeds(f)
	names := make([]string, 0, len(seeds))
	for name := range seeds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		add(seeds[name])
	}
}

// FuzzParseSIP: what sipgo's parser accepts, the UA's handlers read. For
// a request that parses, the header accessors the handlers use do not
// panic, the caller's name shown to the browser (callerOf, the Pragma of
// an incoming call) is "unknown" or a valid DN, and the dialog key is
// Call-ID|tag. For a well-formed request (RFC 3261 section 8.1.1) that
// sipgo reads back from its own form, the answer the handlers build
// (sip.NewResponseFromRequest, as respond does) parses back with the
// request's Call-ID, CSeq and status.
func FuzzParseSIP(f *testing.F) {
	addSIPSeeds(f, func(data []byte) { f.Add(data) })
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a parse error with no text")
			}
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		// As sipgo's transport layer does: the answer goes, and its Via
		// received and rport say, where the request came from.
		req.SetSource("127.0.0.1:5099")
		req.SetTransport("UDP")
		readLikeHandlers(t, req)
		if !wellFormed(req) {
			// sipgo is lenient: it takes start lines such as " :00 SIP"
			// and Via values such as "// 0:"; what the UA answers to those
			// is not checked (sipua refuses a version other than SIP/2.0).
			return
		}
		if _, err := sip.NewParser().ParseSIP([]byte(req.String())); err != nil {
			// Nor when sipgo cannot read its own form of the request
			// (a To of "::A" parses, and is written back as <sip::A>).
			return
		}
		for _, code := range []int{400, 404, 481} {
			res := sip.NewResponseFromRequest(req, code, "Refused", nil)
			back, err := sip.NewParser().ParseSIP([]byte(res.String()))
			if err != nil {
				t.Fatalf("the %d the UA answers does not parse: %v\n%s", code, err, res.String())
			}
			r, ok := back.(*sip.Response)
			if !ok || r.StatusCode != code {
				t.Fatalf("the %d the UA answers parses as %s", code, firstLine(back))
			}
			if r.CallID() == nil || r.CallID().Value() != req.CallID().Value() {
				t.Fatalf("answer Call-ID = %v, want %q", r.CallID(), req.CallID().Value())
			}
			if cs := req.CSeq(); r.CSeq() == nil || r.CSeq().SeqNo != cs.SeqNo || r.CSeq().MethodName != cs.MethodName {
				t.Fatalf("answer CSeq = %v, want %v", r.CSeq(), cs)
			}
		}
	})
}

// wellFormed reports whether req has what RFC 3261 section 8.1.1 requires
// for the UA to answer it: version SIP/2.0, a Via with a transport and a
// host, Call-ID, and a CSeq naming the request's method.
func wellFormed(req *sip.Request) bool {
	via, cid, cs := req.Via(), req.CallID(), req.CSeq()
	return req.SipVersion == "SIP/2.0" && req.Method != "" && via != nil && via.ProtocolName == "SIP" && via.ProtocolVersion == "2.0" &&
		via.Transport != "" && via.Host != "" && cid != nil && cid.Value() != "" && cs != nil && cs.MethodName == req.Method
}

// readLikeHandlers reads req the way the UA's handlers do (onInvite,
// onBye, onInfo, onNotify, dialog lookup) and checks what reaches the
// browser.
func readLikeHandlers(t *testing.T, req *sip.Request) {
	t.Helper()
	_ = req.Recipient.User
	_ = req.Body()
	if h := req.ContentType(); h != nil {
		_ = h.Value()
	}
	if h := req.GetHeader("Event"); h != nil {
		_ = strings.Split(h.Value(), ";")[0]
	}
	if cid, to := req.CallID(), req.To(); cid != nil && to != nil {
		tag, _ := to.Params.Get("tag")
		if key := dialogKey(cid.Value(), to.Params); key != cid.Value()+"|"+tag {
			t.Fatalf("dialogKey = %q, want Call-ID|To tag", key)
		}
	}
	if cs := req.CSeq(); cs != nil {
		_ = cs.SeqNo
	}
	if c := callerOf(req); c != "unknown" && CheckUser(c) != nil {
		t.Fatalf("callerOf = %q: neither unknown nor a valid DN (it becomes the browser's Pragma)", c)
	}
	_ = autoAnswer(req)
}

// FuzzUA writes each input to a running UA's SIP port — as one UDP
// datagram, or over a TCP connection, split in two writes — with a DN
// registered at Kamailio, and checks that the UA still answers an OPTIONS
// at once afterwards, that an INVITE reaches the call layer only for the
// registered DN and with a caller that is a valid DN or "unknown", that no
// dialog is left behind (every dialog is a call being rejected), and that
// whatever it answers on the sender's socket is a SIP response. A panic in
// any of sipgo's or the UA's goroutines ends the fuzzing process: the input
// is kept as a crasher.
func FuzzUA(f *testing.F) {
	addSIPSeeds(f, func(data []byte) {
		f.Add(data, false, uint16(0))
		f.Add(data, true, uint16(len(data)/2))
	})
	for _, s := range uaSeeds {
		f.Add([]byte(s), false, uint16(0))
		f.Add([]byte(s), true, uint16(len(s)/3))
	}
	env := startFuzzUAs(f)
	f.Fuzz(func(t *testing.T, data []byte, overTCP bool, split uint16) {
		p := env.udp
		if overTCP {
			p = env.tcp
		}
		p.send(t, data, int(split))
		p.probe(t)
		if bad := env.badCall.Swap(nil); bad != nil {
			t.Fatal(*bad)
		}
		// Every dialog is a call waiting for its rejection to be
		// acknowledged (the fuzz inputs never ACK: sipgo holds the INVITE
		// transaction for Timer H, 32 s); none is left over.
		deadline := time.Now().Add(2 * time.Second)
		for p.ua.Dialogs() > int(env.rejecting.Load()) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if d, r := p.ua.Dialogs(), env.rejecting.Load(); d > int(r) {
			t.Fatalf("%d dialogs, %d calls being rejected: a dialog was left behind", d, r)
		}
	})
}

// fuzzDN is the DN the fuzzed UAs register.
const fuzzDN = "7001"

// uaSeeds are requests aimed at the fuzzed UA's DN and dialogs (the RFC
// and sipp seeds address other users; the UA does not check the
// Request-URI's host), a version the UA refuses (505) and a huge
// Content-Length.
var uaSeeds = []string{
	"INVITE sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f1;rport\r\nFrom: \"Agent 42\" <sip:agent42@127.0.0.1>;tag=a1\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: fuzz-1\r\nCSeq: 1 INVITE\r\nContact: <sip:agent42@127.0.0.1:5099>\r\nMax-Forwards: 70\r\nCall-Info: <sip:127.0.0.1>;answer-after=0\r\nContent-Type: application/sdp\r\nContent-Length: 129\r\n\r\nv=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
	"INVITE sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f2\r\nFrom: <sip:%37001@127.0.0.1>;tag=a2\r\nTo: <sip:7001@127.0.0.1>;tag=gw\r\nCall-ID: fuzz-2\r\nCSeq: 2 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
	"NOTIFY sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f3\r\nFrom: <sip:cc@127.0.0.1>;tag=a3\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: fuzz-3\r\nCSeq: 3 NOTIFY\r\nEvent: talk;x=1\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
	"INFO sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f4\r\nFrom: <sip:cc@127.0.0.1>;tag=a4\r\nTo: <sip:7001@127.0.0.1>;tag=x\r\nCall-ID: fuzz-4\r\nCSeq: 4 INFO\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\na=b",
	"BYE sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK-f5\r\nFrom: <sip:cc@127.0.0.1>;tag=a5\r\nTo: <sip:7001@127.0.0.1>;tag=x\r\nCall-ID: fuzz-5\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
	"CANCEL sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f1;rport\r\nFrom: <sip:agent42@127.0.0.1>;tag=a1\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: fuzz-1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:127.0.0.1 SIP/7.0\r\nVia: SIP/7.0/UDP 127.0.0.1:5099;branch=z9hG4bK-f6\r\nFrom: <sip:a@127.0.0.1>;tag=a6\r\nTo: <sip:127.0.0.1>\r\nCall-ID: fuzz-6\r\nCSeq: 6 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK-f7\r\nFrom: <sip:a@127.0.0.1>;tag=a7\r\nTo: <sip:127.0.0.1>\r\nCall-ID: fuzz-7\r\nCSeq: 7 OPTIONS\r\nContent-Length: 4294967296\r\n\r\n",
	"\r\n\r\n",
}

// fuzzUAs are a UDP and a TCP user agent with fuzzDN registered, each with
// a sender and a prober.
type fuzzUAs struct {
	udp, tcp  *fuzzPort
	badCall   atomic.Pointer[string] // what was wrong with a call handed to the call layer
	rejecting atomic.Int64           // calls whose 486 waits for its ACK
}

func startFuzzUAs(f *testing.F) *fuzzUAs {
	k := testpeers.StartKamailio(f, testpeers.KamailioConfig{Users: map[string]string{fuzzDN: "secret"}})
	env := &fuzzUAs{}
	incoming := func(inc *Incoming) {
		if inc.DN != fuzzDN || (inc.Caller != "unknown" && CheckUser(inc.Caller) != nil) {
			s := fmt.Sprintf("an INVITE reached the call layer for DN %q from caller %q: only %s is registered, and a caller is a valid DN or unknown", inc.DN, inc.Caller, fuzzDN)
			env.badCall.Store(&s)
		}
		env.rejecting.Add(1)
		defer env.rejecting.Add(-1)
		inc.Reject(486, "Busy Here")
	}
	env.udp = startFuzzPort(f, k.Addr(), "udp", incoming)
	env.tcp = startFuzzPort(f, k.Addr(), "tcp", incoming)
	return env
}

// fuzzPort is one fuzzed UA: the fuzz input goes out from a sender socket
// (whose answers are read and checked), the OPTIONS probes from another.
type fuzzPort struct {
	ua      *UA
	network string
	addr    string

	udpSender *net.UDPConn // answers read by readAnswers
	badAnswer atomic.Pointer[string]

	probeMu  sync.Mutex
	probeUDP *net.UDPConn
	probeTCP net.Conn
	probeBuf *sip.ParserStream
	probeSeq int
}

func startFuzzPort(f *testing.F, server, network string, incoming func(*Incoming)) *fuzzPort {
	port := testpeers.FreePort(f, network)
	set, err := options.Parse(options.Sections{
		"sip":   {"sip-server": server, "sip-port": strconv.Itoa(port), "sip-transport": network, "sip-address": "127.0.0.1"},
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"},
	})
	if err != nil {
		f.Fatal(err)
	}
	u := New(set, Deps{Log: hclog.NewNullLogger(), Incoming: incoming})
	if err := u.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		u.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := u.Register(ctx, fuzzDN, "secret", nil); err != nil {
		f.Fatalf("register %s over %s: %v", fuzzDN, network, err)
	}
	p := &fuzzPort{ua: u, network: network, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	if network == "udp" {
		p.udpSender = listenUDP(f)
		p.probeUDP = listenUDP(f)
		go p.readAnswers()
	}
	return p
}

func listenUDP(f *testing.F) *net.UDPConn {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	return c
}

// readAnswers reads what the UA answers to the fuzz inputs: nothing but
// status lines may arrive there (the sender never sends anything the UA
// could answer with a request). The rest of an answer is not checked: the
// UA copies the request's Via, From, To, Call-ID and CSeq, garbage included.
func (p *fuzzPort) readAnswers() {
	buf := make([]byte, 65536)
	for {
		n, err := p.udpSender.Read(buf)
		if err != nil {
			return
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		if !statusLine.Match(line) {
			s := fmt.Sprintf("the UA sent something that is not a SIP response:\n%q", buf[:n])
			p.badAnswer.Store(&s)
		}
	}
}

// statusLine is a status line with any version: sipgo copies the
// request's version into its answers, whatever it is (RFC 3261 section 7
// has SIP/2.0), even with a bare LF in it ("sip1\n: 400 Bad Request" from its
// transaction layer, which answers requests without Via or CSeq).
var statusLine = regexp.MustCompile(`^[^\r]* [1-6][0-9][0-9] `)

// send writes data to the UA: one datagram, or a TCP connection that
// writes it in two parts (at split), then closes.
func (p *fuzzPort) send(t *testing.T, data []byte, split int) {
	t.Helper()
	if p.network == "udp" {
		if len(data) == 0 || len(data) > 65507 {
			return
		}
		if _, err := p.udpSender.WriteToUDP(data, net.UDPAddrFromAddrPort(mustAddrPort(p.addr))); err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatalf("the UA refuses TCP connections: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	split = min(split, len(data))
	if _, err := c.Write(data[:split]); err != nil {
		return // the UA closed the connection: its right
	}
	c.Write(data[split:])
}

// probe sends an OPTIONS and waits for its 200 (5 s at most). It also
// fails on an earlier bad answer to a fuzz input.
func (p *fuzzPort) probe(t *testing.T) {
	t.Helper()
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	if s := p.badAnswer.Swap(nil); s != nil {
		t.Fatal(*s)
	}
	p.probeSeq++
	for attempt := 0; ; attempt++ {
		err := p.probeOnce(p.probeSeq)
		if err == nil {
			return
		}
		if attempt == 1 {
			t.Fatalf("the UA does not answer OPTIONS after the input: %v", err)
		}
		// A TCP probe connection the UA closed (its idle timeout): redial.
		if p.probeTCP != nil {
			p.probeTCP.Close()
			p.probeTCP = nil
		}
	}
}

func (p *fuzzPort) probeOnce(seq int) error {
	branch := fmt.Sprintf("z9hG4bK-probe-%d", seq)
	var local string
	switch p.network {
	case "udp":
		local = p.probeUDP.LocalAddr().String()
	default:
		if p.probeTCP == nil {
			c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if err != nil {
				return err
			}
			p.probeTCP, p.probeBuf = c, sip.NewParser().NewSIPStream()
		}
		local = p.probeTCP.LocalAddr().String()
	}
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s\r\nFrom: <sip:probe@%s>;tag=probe\r\nTo: <sip:%s>\r\nCall-ID: probe-%d\r\nCSeq: %d OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		p.addr, strings.ToUpper(p.network), local, branch, local, p.addr, seq, seq)
	deadline := time.Now().Add(5 * time.Second)
	if p.network == "udp" {
		p.probeUDP.SetDeadline(deadline)
		if _, err := p.probeUDP.WriteToUDP([]byte(req), net.UDPAddrFromAddrPort(mustAddrPort(p.addr))); err != nil {
			return err
		}
		buf := make([]byte, 65536)
		for {
			n, err := p.probeUDP.Read(buf)
			if err != nil {
				return err
			}
			if ok, err := isProbeAnswer(buf[:n], branch); ok || err != nil {
				return err
			}
		}
	}
	p.probeTCP.SetDeadline(deadline)
	if _, err := p.probeTCP.Write([]byte(req)); err != nil {
		return err
	}
	buf := make([]byte, 65536)
	for {
		n, err := p.probeTCP.Read(buf)
		if err != nil {
			return err
		}
		var found bool
		var bad error
		perr := p.probeBuf.ParseSIPStream(buf[:n], func(m sip.Message) {
			ok, err := isProbeAnswer([]byte(m.String()), branch)
			found, bad = found || ok, err
		})
		if perr != nil && perr != sip.ErrParseSipPartial {
			return perr
		}
		if found || bad != nil {
			return bad
		}
	}
}

// isProbeAnswer reports whether data answers the probe of branch; an
// answer other than 200 is an error.
func isProbeAnswer(data []byte, branch string) (bool, error) {
	msg, err := sip.NewParser().ParseSIP(data)
	if err != nil {
		return false, fmt.Errorf("the UA answered something that does not parse: %v", err)
	}
	res, ok := msg.(*sip.Response)
	if !ok || res.Via() == nil {
		return false, nil
	}
	if b, _ := res.Via().Params.Get("branch"); b != branch {
		return false, nil // a late answer to an earlier probe
	}
	if res.StatusCode != 200 {
		return true, fmt.Errorf("OPTIONS answered %d %s", res.StatusCode, res.Reason)
	}
	return true, nil
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// FuzzCheckUser: a DN or number CheckUser accepts goes into a Request-URI
// (escaped by uriUser) and comes back from sipgo's parser as itself, with
// nothing added to the message; a refusal wraps ErrBadUser.
func FuzzCheckUser(f *testing.F) {
	for _, s := range []string{"7001", "+33123456789", "*72#", "a.b_c-d", "70 01", "7001\r\nVia: x", "7001;x=1", "<7001>", "a@b", "7001\x00", "", "%41", strings.Repeat("1", 65), "José"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, user string) {
		if err := CheckUser(user); err != nil {
			if !errors.Is(err, ErrBadUser) {
				t.Fatalf("CheckUser(%q) = %v, want ErrBadUser", user, err)
			}
			return
		}
		uri := sip.Uri{Scheme: "sip", User: uriUser(user), Host: "127.0.0.1", Port: 5060}
		req := testRequest(uri)
		back := reparse(t, req)
		got := back.Recipient.User
		if un, err := url.PathUnescape(got); err == nil {
			got = un
		}
		if got != user {
			t.Fatalf("user %q comes back from the Request-URI as %q (%s)", user, got, req.StartLine())
		}
		if len(back.Headers()) != len(req.Headers()) {
			t.Fatalf("user %q changed the headers: %d, want %d", user, len(back.Headers()), len(req.Headers()))
		}
	})
}

// FuzzCheckHeader: an attached-data header CheckHeader accepts is added to
// an INVITE as Invite does, and comes back from sipgo's parser as one
// header with that name and value (white space around the value is not
// significant, RFC 3261 section 7.3.1; sipgo trims Unicode white space
// there, U+2028 and U+00A0 too), the body and every other header
// untouched: no CR, LF or NUL can end it early or start another. A refusal
// says which header.
func FuzzCheckHeader(f *testing.F) {
	for _, h := range [][2]string{{"X-Genesys-Customer_Id", "42"}, {"X-Genesys-Name", "José Núñez"}, {"X-Genesys-a", "v\r\nVia: x"},
		{"X-Genesys-k", "x\x00y"}, {"X-Genesys-k v", "x"}, {"X-", "x"}, {"X-Genesys-k", strings.Repeat("v", 2000)}, {"X-Genesys-k", " a, b; c=<d> "},
		{"X-Genesys-k", "\u2028"}, {"X-Genesys-~'`", "\"quoted"}} {
		f.Add(h[0], h[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if err := CheckHeader(name, value); err != nil {
			if !strings.Contains(err.Error(), "header") {
				t.Fatalf("CheckHeader(%q, %q) = %v: the refusal does not say which header", name, value, err)
			}
			return
		}
		req := testRequest(sip.Uri{Scheme: "sip", User: "5000", Host: "127.0.0.1", Port: 5060})
		req.AppendHeader(sip.NewHeader(name, value))
		body := []byte("v=0\r\n")
		req.SetBody(body)
		back := reparse(t, req)
		hs := back.GetHeaders(name)
		if len(hs) != 1 {
			t.Fatalf("header %q: %q comes back as %d headers", name, value, len(hs))
		}
		if want := strings.TrimSpace(value); hs[0].Value() != want {
			t.Fatalf("header %q: %q comes back as %q", name, want, hs[0].Value())
		}
		if len(back.Headers()) != len(req.Headers()) || !bytes.Equal(back.Body(), body) {
			t.Fatalf("header %q: %q changed the message:\n%s", name, value, req.String())
		}
	})
}

// testRequest is an INVITE to uri with the headers every request has.
func testRequest(uri sip.Uri) *sip.Request {
	req := sip.NewRequest(sip.INVITE, uri)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5060, Params: sip.NewParams()}
	via.Params.Add("branch", sip.GenerateBranch())
	req.AppendHeader(via)
	from := sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "7001", Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", "t1")
	req.AppendHeader(&from)
	to := sip.ToHeader{Address: uri}
	req.AppendHeader(&to)
	cid := sip.CallIDHeader("fuzz")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	return req
}

// reparse parses req's wire form; it must parse.
func reparse(t *testing.T, req *sip.Request) *sip.Request {
	t.Helper()
	msg, err := sip.NewParser().ParseSIP([]byte(req.String()))
	if err != nil {
		t.Fatalf("the request the gateway builds does not parse: %v\n%q", err, req.String())
	}
	back, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("the request the gateway builds parses as %s", firstLine(msg))
	}
	return back
}

// firstLine is the start line of m.
func firstLine(m sip.Message) string {
	line, _, _ := strings.Cut(m.String(), "\r\n")
	return line
}
