package sipua

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/internal/testpeers"
	"webrtcgw/logging/loggingtest"
)

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"OPTIONS sip:x SIP/2.0", 64, "OPTIONS sip:x SIP/2.0"},
		{"abcdef", 3, "abc... (6 bytes)"},
		{"a\r\nb\x00\xff", 64, `a\r\nb\x00\xff`},
		{"日本", 64, `\u65e5\u672c`},
		{"", 64, ""},
	} {
		if got := excerpt(tc.in, tc.max); got != tc.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// sipConn is a test's own SIP socket towards the gateway.
type sipConn struct {
	t       *testing.T
	network string
	conn    net.Conn
	r       *bufio.Reader // TCP
}

func dialSIP(t *testing.T, network, addr string) *sipConn {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sipConn{t: t, network: network, conn: conn, r: bufio.NewReader(conn)}
}

// request is a request in version with the headers a transaction needs.
func (c *sipConn) request(method, version, branch string) string {
	local := c.conn.LocalAddr().String()
	return method + " sip:7001@" + c.conn.RemoteAddr().String() + " " + version + "\r\n" +
		"Via: " + version + "/" + strings.ToUpper(c.network) + " " + local + ";branch=z9hG4bK-" + branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:tester@127.0.0.1>;tag=t-" + branch + "\r\n" +
		"To: <sip:7001@127.0.0.1>\r\n" +
		"Call-ID: " + branch + "@127.0.0.1\r\n" +
		"CSeq: 1 " + method + "\r\n" +
		"Contact: <sip:tester@" + local + ">\r\n" +
		"Content-Length: 0\r\n\r\n"
}

func (c *sipConn) send(msg string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

// final reads responses until a final one and returns it.
func (c *sipConn) final() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		msg, err := c.read()
		if err != nil {
			c.t.Fatalf("no final response: %v", err)
		}
		if !strings.HasPrefix(msg, "SIP/2.0 1") {
			return msg
		}
	}
}

func (c *sipConn) read() (string, error) {
	if c.network == "udp" {
		buf := make([]byte, 65536)
		n, err := c.conn.Read(buf)
		return string(buf[:n]), err
	}
	var b strings.Builder
	length := 0
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		b.WriteString(line)
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, length)
	_, err := io.ReadFull(c.r, body)
	return b.String() + string(body), err
}

// summaryRE matches the warning that sums up malformed messages.
var summaryRE = regexp.MustCompile(`\[WARN\]  sipua: malformed SIP messages dropped: count=(\d+) period=\S+ last_from=(\S+) last_excerpt=.* total=(\d+)`)

// TestMalformedFlood is SECURITY-CASES 29: garbage datagrams and TCP
// streams to the SIP port grow the log by a few summary lines — each was
// logged at ERROR with its whole content (10 s of flood, 10 MB of log) —
// the summary counts them, and the UA still answers.
func TestMalformedFlood(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{})
	valid := "OPTIONS sip:7001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-flood;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:flood@127.0.0.1>;tag=f\r\nTo: <sip:7001@127.0.0.1>\r\nCall-ID: flood@127.0.0.1\r\n" +
		"CSeq: 1 OPTIONS\r\nContent-Type: application/sdp\r\nContent-Length: 40\r\n\r\n" + strings.Repeat("x", 40)
	rng := rand.New(rand.NewPCG(29, 29))
	garbage := func(i int) []byte {
		if i%2 == 0 { // random bytes
			b := make([]byte, 8+rng.IntN(500))
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
			return b
		}
		return []byte(valid[:rng.IntN(len(valid)-1)+1]) // truncated SIP
	}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			logs := &loggingtest.Buffer{}
			port := testpeers.FreePort(t, network)
			u := startUAWith(t, k.Addr(), map[string]string{"sip-transport": network, "sip-port": strconv.Itoa(port)},
				Deps{Log: hclog.New(&hclog.LoggerOptions{Name: "sipua", Level: hclog.Info, Output: logs}), Timing: fastTiming})
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			before := logs.Len()
			sent, from := 0, ""
			if network == "udp" {
				c := dialSIP(t, "udp", addr)
				from = c.conn.LocalAddr().String()
				for i := 0; i < 5000; i++ {
					if i < 100 && i%10 == 0 {
						// Parsed, but without what a transaction needs
						// (sipgo answers 400 to requests).
						c.send([]string{"OPTIONS sip:7001@127.0.0.1 SIP/2.0\r\n\r\n", "SIP/2.0 200 OK\r\n\r\n"}[i/10%2])
					} else {
						c.send(string(garbage(i)))
					}
					sent++
					if i%100 == 99 {
						// Pace the flood to what the socket buffer holds: a
						// probe answered means the UA read all before it.
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						if err := testpeers.SIPPing(ctx, addr); err != nil {
							t.Fatalf("after %d datagrams: %v", sent, err)
						}
						cancel()
					}
				}
			} else {
				for i := 0; i < 200; i++ {
					// A line that ends the start line: random bytes are
					// then a parse error. Truncated SIP can also be a
					// message waiting for its body: closing drops it.
					c := dialSIP(t, "tcp", addr)
					c.send(string(garbage(i)) + "\r\nno colon here\r\n\r\n")
					c.conn.Close()
					sent++
				}
			}
			// Wait for the summary of everything counted: at least the
			// random half, which cannot parse.
			var summaries [][]string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				summaries = summaryRE.FindAllStringSubmatch(logs.String()[before:], -1)
				n, dropped := len(summaries), u.malformed.dropped()
				if n > 0 && dropped >= uint64(sent/2) && summaries[n-1][3] == strconv.FormatUint(dropped, 10) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("no summary of the %d malformed messages dropped", u.malformed.dropped())
					break
				}
			}
			counted := 0
			for _, s := range summaries {
				n, _ := strconv.Atoi(s[1])
				counted += n
			}
			if min := sent / 2; network == "udp" && counted < sent*9/10 || counted < min || counted > sent {
				t.Errorf("summaries counted %d malformed messages, sent %d", counted, sent)
			}
			if n := len(summaries); n > 0 && from != "" && summaries[n-1][2] != from {
				t.Errorf("last_from=%s, want the sender %s", summaries[n-1][2], from)
			}
			t.Logf("%d malformed messages sent, %d counted in %d summaries; the log grew by %d bytes", sent, counted, len(summaries), logs.Len()-before)
			if grown := logs.Len() - before; grown > 10<<10 {
				t.Errorf("the log grew by %d bytes for %d malformed messages, want < 10 KB:\n%.4000s", grown, sent, logs.String()[before:])
			}
			if strings.Contains(logs.String()[before:], "[ERROR]") {
				t.Errorf("errors logged for malformed messages:\n%.4000s", logs.String()[before:])
			}
			c := dialSIP(t, network, addr)
			c.send(c.request("OPTIONS", "SIP/2.0", "after-flood"))
			if got := c.final(); !strings.HasPrefix(got, "SIP/2.0 200 OK\r\n") {
				t.Errorf("OPTIONS after the flood answered\n%s", got)
			}
		})
	}
}
