package sipua

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

func TestMain(m *testing.M) { os.Exit(testpeers.RunInNetns(m)) }

// startUA runs a user agent towards k on a free port.
func startUA(t *testing.T, server string, sip map[string]string, incoming func(*Incoming)) *UA {
	t.Helper()
	return startUAWith(t, server, sip, Deps{Incoming: incoming})
}

// startUAWith is startUA with deps; a nil deps.Log logs to the test log.
func startUAWith(t *testing.T, server string, sip map[string]string, deps Deps) *UA {
	t.Helper()
	sec := options.Sections{"sip": {"sip-server": server, "sip-port": strconv.Itoa(testpeers.FreePort(t, "udp"))},
		// Media ranges out of the ephemeral ports the SIP port comes from.
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"}}
	for k, v := range sip {
		sec["sip"][k] = v
	}
	set, err := options.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	if deps.Log == nil {
		deps.Log = hclog.New(&hclog.LoggerOptions{Name: "sipua", Level: hclog.Debug, Output: newTestWriter(t)})
	}
	u := New(set, deps)
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		u.Stop(ctx)
	})
	return u
}

// testWriter sends log lines to the test log (shown on failure) until the
// test ends: sipgo's TCP readers outlive the UA's Stop and log the close
// of their connection, and t.Log after the test is a data race.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

// newTestWriter returns t's writer; create it before what logs into it, so
// that its cleanup runs after theirs.
func newTestWriter(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testSDP(port int) []byte {
	return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " + strconv.Itoa(port) + " RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
}

func TestRegister(t *testing.T) {
	for _, alg := range []string{testpeers.DigestMD5, testpeers.DigestSHA256} {
		t.Run(alg, func(t *testing.T) {
			k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret", "7002": "p#ss:word"}, Algorithm: alg})
			u := startUA(t, k.Addr(), nil, nil)
			ctx := context.Background()
			r, err := u.Register(ctx, "7001", "secret", nil)
			if err != nil {
				t.Fatalf("Register(right password) = %v", err)
			}
			if u.Registered("7001") != r {
				t.Error("Registered(7001) is not the registration")
			}
			if _, err := u.Register(ctx, "7002", "p#ss:word", nil); err != nil {
				t.Errorf("Register(password with # and :) = %v", err)
			}
			if _, err := u.Register(ctx, "7001", "wrong", nil); !errors.Is(err, ErrAuth) {
				t.Errorf("Register(wrong password) = %v, want ErrAuth", err)
			}
			if _, err := u.Register(ctx, "7099", "x", nil); !errors.Is(err, ErrAuth) {
				t.Errorf("Register(unknown user) = %v, want ErrAuth", err)
			}
			if _, err := u.Register(ctx, "7001", "", nil); !errors.Is(err, ErrAuth) {
				t.Errorf("Register(no password) = %v, want ErrAuth", err)
			}
			r.Unregister(ctx)
			if u.Registered("7001") != nil {
				t.Error("still registered after Unregister")
			}
		})
	}
}

func TestRegisterRefusesBadDN(t *testing.T) {
	u := startUA(t, "127.0.0.1:9", nil, nil)
	for _, dn := range []string{"70 01", "7001\r\nVia: x", "7001;x=1", "<7001>", "a@b", "7001\x00", "", strings.Repeat("1", 65)} {
		if _, err := u.Register(context.Background(), dn, "x", nil); !errors.Is(err, ErrBadUser) {
			t.Errorf("Register(%q) = %v, want ErrBadUser", dn, err)
		}
	}
}

func TestRegisterUnreachable(t *testing.T) {
	u := startUAWith(t, "127.0.0.1:"+strconv.Itoa(testpeers.FreePort(t, "udp")), nil, Deps{Timing: fastTiming})
	start := time.Now()
	_, err := u.Register(context.Background(), "7001", "x", nil)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Register with no SIP Server = %v, want ErrUnreachable", err)
	}
	if time.Since(start) > registerTimeout+5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	for deadline := time.Now().Add(5 * time.Second); u.Reachable(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Reachable() = true with the SIP Server down")
		}
	}
}

// TestIncomingCall: sipp calls 7001 through Kamailio; the UA hands the
// INVITE over, answers it, and hears the caller's BYE.
func TestIncomingCall(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	calls := make(chan *Incoming, 1)
	u := startUA(t, k.Addr(), nil, func(inc *Incoming) { calls <- inc })
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: k.Addr(), Service: "7001", MediaPort: 40000, Keys: map[string]string{"hold_ms": "1000"}})
	var inc *Incoming
	select {
	case inc = <-calls:
	case <-time.After(10 * time.Second):
		t.Fatal("no incoming call")
	}
	if inc.DN != "7001" || inc.Caller != "sipp" || !strings.Contains(string(inc.SDP), "m=audio 40000") {
		t.Errorf("Incoming = DN %q caller %q SDP %q", inc.DN, inc.Caller, inc.SDP)
	}
	byes := make(chan struct{})
	inc.Dialog().SetEvents(Events{Bye: func() { close(byes) }})
	if err := inc.Ringing(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := inc.Answer(ctx, testSDP(41000)); err != nil {
		t.Fatalf("Answer = %v", err)
	}
	select {
	case <-byes:
	case <-time.After(10 * time.Second):
		t.Fatal("the caller's BYE was not reported")
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v", err)
	}
}

// TestIncomingRejectAndUnknown: a rejected call gets 486; a DN not
// registered here gets 404.
func TestIncomingReject(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	u := startUA(t, k.Addr(), nil, func(inc *Incoming) { inc.Reject(486, "Busy Here") })
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: k.Addr(), Service: "7001", MediaPort: 40000})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := sipp.Wait(ctx)
	if err == nil || !strings.Contains(sipp.Messages(), "SIP/2.0 486 Busy Here") {
		t.Errorf("sipp against a rejecting DN: %v; want the call to fail with 486", err)
	}
}

// TestOutgoingCall: the UA calls 5000, which Kamailio routes to a sipp UAS;
// INFO, hold and resume re-INVITEs and BYE go through the dialog.
func TestOutgoingCall(t *testing.T) {
	sippPort := testpeers.FreePort(t, "udp")
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"},
		Routes: map[string]string{"5000": "sip:127.0.0.1:" + strconv.Itoa(sippPort)}, AuthInvites: true})
	u := startUA(t, k.Addr(), nil, nil)
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_call.xml", Port: sippPort, MediaPort: 42000})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var provisional []int
	d, answer, err := u.Invite(ctx, InviteRequest{From: "7001", Password: "secret", To: "5000", SDP: testSDP(41000),
		Provisional: func(code int, _ string, _ []byte) { mu.Lock(); provisional = append(provisional, code); mu.Unlock() }})
	if err != nil {
		t.Fatalf("Invite = %v\n%s", err, sipp.Messages())
	}
	if !strings.Contains(string(answer), "m=audio 42000") {
		t.Errorf("answer SDP = %q", answer)
	}
	hold := strings.Replace(string(testSDP(41000)), "a=sendrecv", "a=sendonly", 1)
	if ans, err := d.Reinvite(ctx, []byte(hold)); err != nil || !strings.Contains(string(ans), "a=recvonly") {
		t.Fatalf("hold re-INVITE = %q, %v", ans, err)
	}
	if ans, err := d.Reinvite(ctx, testSDP(41000)); err != nil || strings.Contains(string(ans), "a=recvonly") {
		t.Fatalf("resume re-INVITE = %q, %v", ans, err)
	}
	if err := d.Info(ctx, "application/x-www-form-urlencoded", []byte("key=value")); err != nil {
		t.Errorf("INFO = %v", err)
	}
	if err := d.Bye(ctx); err != nil {
		t.Errorf("BYE = %v", err)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v\n%s", err, sipp.Messages())
	}
	if u.Dialogs() != 0 {
		t.Errorf("Dialogs() = %d after BYE", u.Dialogs())
	}
}

// TestOutgoingBusy: a 486 from the far end is a StatusError.
func TestOutgoingBusy(t *testing.T) {
	sippPort := testpeers.FreePort(t, "udp")
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Routes: map[string]string{"5001": "sip:127.0.0.1:" + strconv.Itoa(sippPort)}})
	u := startUA(t, k.Addr(), nil, nil)
	testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_busy.xml", Port: sippPort})
	_, _, err := u.Invite(context.Background(), InviteRequest{To: "5001", SDP: testSDP(41000)})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("Invite to a busy number = %v, want 486", err)
	}
	if _, _, err := u.Invite(context.Background(), InviteRequest{To: "5001>;evil", SDP: testSDP(1)}); !errors.Is(err, ErrBadUser) {
		t.Errorf("Invite with SIP syntax in the number = %v, want ErrBadUser", err)
	}
}

// TestRegistrationRefresh: the registrar grants 3 s; the registration is
// refreshed before it expires, so a call 7 s later still reaches the DN.
func TestRegistrationRefresh(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}, MaxExpires: 3})
	calls := make(chan *Incoming, 1)
	u := startUA(t, k.Addr(), nil, func(inc *Incoming) { calls <- inc; inc.Reject(486, "Busy Here") })
	r, err := u.Register(context.Background(), "7001", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	granted := r.expires
	r.mu.Unlock()
	if granted != 3*time.Second {
		t.Fatalf("granted expiry = %v, want the registrar's 3 s", granted)
	}
	time.Sleep(7 * time.Second) // more than twice the granted expiry: only refreshes keep the binding
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: k.Addr(), Service: "7001", MediaPort: 40000})
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatalf("the call did not reach the DN: registration not refreshed\n%s", sipp.Messages())
	}
}

// TestTCPTransport: with sip-transport=tcp, registration and a call go over
// TCP to Kamailio (which relays the call to sipp over UDP).
func TestTCPTransport(t *testing.T) {
	sippPort := testpeers.FreePort(t, "udp")
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"},
		Routes: map[string]string{"5000": "sip:127.0.0.1:" + strconv.Itoa(sippPort)}})
	u := startUA(t, k.Addr(), map[string]string{"sip-transport": "tcp", "sip-port": strconv.Itoa(testpeers.FreePort(t, "tcp"))}, nil)
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatalf("Register over TCP: %v", err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_answer.xml", Port: sippPort, MediaPort: 42000})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, _, err := u.Invite(ctx, InviteRequest{From: "7001", Password: "secret", To: "5000", SDP: testSDP(41000)})
	if err != nil {
		t.Fatalf("Invite over TCP: %v", err)
	}
	if d.Transport() != "tcp" {
		t.Errorf("dialog transport = %s", d.Transport())
	}
	if err := d.Bye(ctx); err != nil {
		t.Errorf("BYE over TCP: %v", err)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v", err)
	}
	if !strings.Contains(k.Log(), "(tcp)") {
		t.Log("kamailio log does not mention tcp; check the transport")
	}
}

// TestTLSTransport: with sip-transport=tls the gateway registers over TLS,
// verifying Kamailio's certificate against tls-ca; an outgoing call goes out
// over TLS and an incoming one comes in over TLS to the gateway's own
// certificate.
func TestTLSTransport(t *testing.T) {
	sippPort := testpeers.FreePort(t, "udp")
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"},
		Routes: map[string]string{"5000": "sip:127.0.0.1:" + strconv.Itoa(sippPort)}, TLS: true})
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	calls := make(chan *Incoming, 1)
	u := startUA(t, k.TLSAddr(), map[string]string{"sip-transport": "tls", "sip-port": strconv.Itoa(testpeers.FreePort(t, "tcp")),
		"tls-ca": k.CertFile(), "tls-certificate": cert, "tls-certificate-key": key}, func(inc *Incoming) { calls <- inc; inc.Reject(486, "Busy Here") })
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatalf("Register over TLS: %v", err)
	}
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_answer.xml", Port: sippPort, MediaPort: 42000})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, _, err := u.Invite(ctx, InviteRequest{From: "7001", Password: "secret", To: "5000", SDP: testSDP(41000)})
	if err != nil {
		t.Fatalf("Invite over TLS: %v", err)
	}
	if d.Transport() != "tls" {
		t.Errorf("dialog transport = %s", d.Transport())
	}
	if err := d.Bye(ctx); err != nil {
		t.Errorf("BYE over TLS: %v", err)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v", err)
	}
	// An incoming call: Kamailio opens TLS to the gateway's Contact.
	caller := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: k.Addr(), Service: "7001", MediaPort: 40000})
	select {
	case <-calls:
	case <-time.After(10 * time.Second):
		t.Fatalf("no incoming call over TLS\n%s", k.Log())
	}
	caller.Wait(ctx)
}

// writeTestCert writes a self-signed certificate for 127.0.0.1.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = dir+"/gw.crt", dir+"/gw.key"
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return certFile, keyFile
}

// TestServerDownAndBack is SECURITY-CASES 17: while the SIP Server is down
// the registration is retried with backoff and the server reported
// unreachable; when it is back the registration is restored and the server
// reported reachable.
func TestServerDownAndBack(t *testing.T) {
	port := testpeers.FreePort(t, testpeers.NetSIP)
	cfg := testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}, MaxExpires: 3, Port: port}
	k := testpeers.StartKamailio(t, cfg)
	changes := make(chan bool, 8)
	sec := options.Sections{"sip": {"sip-server": k.Addr(), "sip-port": strconv.Itoa(testpeers.FreePort(t, "udp"))},
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"}}
	set, err := options.Parse(sec)
	if err != nil {
		t.Fatal(err)
	}
	incoming := make(chan struct{}, 1)
	u := New(set, Deps{Log: hclog.NewNullLogger(), Reachability: func(up bool) { changes <- up }, Timing: fastTiming,
		Incoming: func(inc *Incoming) { incoming <- struct{}{}; inc.Reject(486, "Busy Here") }})
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer u.Stop(context.Background())
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	k.Stop()
	select {
	case up := <-changes:
		if up {
			t.Fatal("reported reachable while down")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the SIP Server going down was not noticed")
	}
	if u.Registered("7001") == nil {
		t.Fatal("the registration was dropped while the server is down; it must be retried")
	}
	k2 := testpeers.StartKamailio(t, cfg)
	select {
	case up := <-changes:
		if !up {
			t.Fatal("reported unreachable twice")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the SIP Server coming back was not noticed")
	}
	// The registration is back: a call to 7001 reaches the DN.
	time.Sleep(2 * time.Second) // let the refresh that found the server register again
	testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: k2.Addr(), Service: "7001", MediaPort: 40000})
	select {
	case <-incoming:
	case <-time.After(10 * time.Second):
		t.Fatal("no call after the server came back: not registered again")
	}
}

// TestTransportChangeMovesBinding: a new SIP transport (another port, TCP
// instead of UDP) re-registers the DN through it and removes the binding of
// the old one, so that the registrar does not fork incoming calls to the
// old transport as well (twice to the gateway while the old transport
// drains its dialogs, to a closed port after it).
func TestTransportChangeMovesBinding(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	oldPort := strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))
	u := startUA(t, k.Addr(), map[string]string{"sip-port": oldPort}, nil)
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	if got := bindings(t, k.Addr(), "7001", "secret"); len(got) != 1 || !strings.Contains(got[0], ":"+oldPort) {
		t.Fatalf("bindings after Register = %v, want the one on port %s", got, oldPort)
	}
	newPort := strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))
	next, err := options.Parse(options.Sections{"sip": {"sip-server": k.Addr(), "sip-port": newPort, "sip-transport": "tcp"},
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = bindings(t, k.Addr(), "7001", "secret")
		if len(got) == 1 && strings.Contains(got[0], ":"+newPort) && strings.Contains(got[0], "transport=tcp") {
			return
		}
	}
	t.Fatalf("bindings after the transport change = %v, want only the TCP one on port %s", got, newPort)
}

// bindings asks the registrar for the Contacts bound to dn: a REGISTER
// without a Contact (RFC 3261 section 10.2.3), with digest authentication.
func bindings(t *testing.T, server, dn, password string) []string {
	t.Helper()
	host, portText, _ := net.SplitHostPort(server)
	port, _ := strconv.Atoi(portText)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	aor := sip.Uri{Scheme: "sip", User: dn, Host: host, Port: port}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: port})
	from := sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := sip.ToHeader{Address: aor}
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: dn, Password: password})
	}
	if err != nil || !res.IsSuccess() {
		t.Fatalf("query of %s's bindings: %v %v", dn, res, err)
	}
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			out = append(out, c.Address.String())
		}
	}
	return out
}

// TestTransportSameSocket: a change that needs the socket a transport
// holds. An address that resolves to the one in use changes nothing; the
// same socket advertised under another name is reopened in place when no
// call uses it and refused (naming the option) while one does; going back to
// the transport that is still finishing a call (a rollback) takes it back.
func TestTransportSameSocket(t *testing.T) {
	sippPort := testpeers.FreePort(t, "udp")
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"},
		Routes: map[string]string{"5000": "sip:127.0.0.1:" + strconv.Itoa(sippPort)}})
	port := strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))
	u := startUA(t, k.Addr(), map[string]string{"sip-port": port}, nil)
	if _, err := u.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	reload := func(kv map[string]string) error {
		t.Helper()
		sec := options.Sections{"sip": {"sip-server": k.Addr(), "sip-port": port},
			"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"}}
		for k, v := range kv {
			sec["sip"][k] = v
		}
		set, err := options.Parse(sec)
		if err != nil {
			t.Fatal(err)
		}
		return u.Reload(context.Background(), set)
	}
	first := u.tr.Load()
	// 127.0.0.1 is where the transport is bound already: nothing changes.
	if err := reload(map[string]string{"sip-address": "127.0.0.1"}); err != nil || u.tr.Load() != first {
		t.Fatalf("sip-address = the address in use: %v, transport replaced %v", err, u.tr.Load() != first)
	}
	// The same socket under another advertised name, no call: reopened.
	if err := reload(map[string]string{"sip-address": "gw.invalid"}); err != nil {
		t.Fatalf("another advertised host without calls: %v", err)
	}
	if tr := u.tr.Load(); tr == first || tr.advertise != "gw.invalid" {
		t.Fatalf("the transport was not reopened as gw.invalid: %+v", tr)
	}
	if err := reload(nil); err != nil {
		t.Fatal(err)
	}
	// Two reopens in quick succession: the DN ends registered once, at the
	// address in use (a re-REGISTER cut by the second reopen went through
	// the transport that took its place).
	want := "sip:7001@127.0.0.1:" + port
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := bindings(t, k.Addr(), "7001", "secret")
		if len(got) == 1 && got[0] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bindings after the reopens = %v, want [%s]", got, want)
		}
	}

	// A call on this transport; then the port moves, and moves back.
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sippPort, MediaPort: 42000})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, _, err := u.Invite(ctx, InviteRequest{From: "7001", Password: "secret", To: "5000", SDP: testSDP(41000)})
	if err != nil {
		t.Fatalf("Invite = %v\n%s", err, sipp.Messages())
	}
	withCall := u.tr.Load()
	if err := reload(map[string]string{"sip-address": "gw2.invalid"}); err == nil || !strings.HasPrefix(err.Error(), "sip/sip-address: ") || !strings.Contains(err.Error(), "1 calls") {
		t.Errorf("another advertised host while a call uses the socket = %v, want refused naming sip/sip-address", err)
	}
	if u.tr.Load() != withCall {
		t.Fatal("a refused change replaced the transport")
	}
	other := strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))
	if err := reload(map[string]string{"sip-port": other}); err != nil {
		t.Fatal(err)
	}
	if err := reload(nil); err != nil || u.tr.Load() != withCall {
		t.Fatalf("back to the transport finishing its call: %v; taken back %v", err, u.tr.Load() == withCall)
	}
	if err := d.Bye(ctx); err != nil {
		t.Errorf("BYE on the transport taken back: %v", err)
	}
	if err := sipp.Wait(ctx); err != nil {
		t.Errorf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// TestSignOutAfterTransportClosed: a DN still bound through a transport
// that a reload has closed (its re-REGISTER through the new one had
// failed) signs out: the binding is removed through the transport in use.
func TestSignOutAfterTransportClosed(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	u := startUA(t, k.Addr(), nil, nil)
	r, err := u.Register(context.Background(), "7001", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bindings(t, k.Addr(), "7001", "secret"); len(got) != 1 {
		t.Fatalf("bindings = %v, want one", got)
	}
	// The state a reload leaves when the DN's re-REGISTER failed: a new
	// transport in use, the DN's binding on the old one, now closed.
	o := *u.opts.Load()
	o.Port = testpeers.FreePort(t, testpeers.NetSIP)
	next, err := u.newTransport(o)
	if err != nil {
		t.Fatal(err)
	}
	old := u.tr.Swap(next)
	old.close()
	r.Unregister(context.Background())
	if got := bindings(t, k.Addr(), "7001", "secret"); len(got) != 0 {
		t.Errorf("bindings after the sign-out = %v, want none", got)
	}
}

// TestCloseCancelsRequestsInFlight: a transport that closes under a
// REGISTER the server never answers cancels it first, waits for it, and
// only then releases its socket — sipgo would open a fresh socket on the
// SIP port for a request still going out afterwards, and keep it.
func TestCloseCancelsRequestsInFlight(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	got := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}()
	u := startUA(t, silent.LocalAddr().String(), nil, nil)
	tr := u.tr.Load()
	done := make(chan error, 1)
	go func() { _, err := u.Register(context.Background(), "7001", "secret", nil); done <- err }()
	<-got // the REGISTER is out; no answer will come
	start := time.Now()
	tr.close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("close took %v with a REGISTER in flight, want it cancelled at once", d)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Register succeeded without an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the REGISTER in flight did not end when its transport closed")
	}
	// The SIP port is free: nothing of the closed transport holds it.
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tr.port))
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("the closed transport's port %s: %v", addr, err)
	}
	c.Close()
}

// TestReregisterTakesTheDNLock: a re-registration after a reload is one
// REGISTER exchange of its DN like the others — it waits for the one under
// way — and one whose DN signed out meanwhile sends nothing.
func TestReregisterTakesTheDNLock(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	u := startUA(t, k.Addr(), nil, nil)
	r, err := u.Register(context.Background(), "7001", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	cseq := func() uint32 { r.mu.Lock(); defer r.mu.Unlock(); return r.cseq }
	before := cseq()
	unlock, err := u.lockDN(context.Background(), "7001")
	if err != nil {
		t.Fatal(err)
	}
	u.reregisterAll()
	time.Sleep(300 * time.Millisecond)
	if got := cseq(); got != before {
		t.Fatalf("a re-registration went out while the DN's lock was held (CSeq %d → %d)", before, got)
	}
	unlock()
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	waitFor(func() bool { return cseq() > before }, "the re-registration did not go out once the lock was free")

	// Signed out while the re-registration waited: it sends nothing.
	before = cseq()
	if unlock, err = u.lockDN(context.Background(), "7001"); err != nil {
		t.Fatal(err)
	}
	u.reregisterAll()
	time.Sleep(100 * time.Millisecond)
	r.halt()
	unlock()
	time.Sleep(300 * time.Millisecond)
	if got := cseq(); got != before {
		t.Errorf("a re-registration of a DN halted while it waited went out (CSeq %d → %d)", before, got)
	}
}

// TestReplacedTransportLingers: after a port change the old transport
// keeps answering for its linger (the SIP Server may still route a request
// to a DN's old binding), then closes and frees its port.
func TestReplacedTransportLingers(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	u := startUA(t, k.Addr(), nil, nil)
	u.linger = time.Second
	old := u.tr.Load()
	oldAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(old.port))
	set, err := options.Parse(options.Sections{"sip": {"sip-server": k.Addr(), "sip-port": strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))},
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Reload(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return testpeers.SIPPing(ctx, oldAddr)
	}
	if err := ping(); err != nil {
		t.Fatalf("the replaced transport right after the change: %v; want it still answering", err)
	}
	deadline := time.Now().Add(u.linger + 5*time.Second)
	for {
		c, err := net.ListenPacket("udp", oldAddr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced transport still holds %s %v after its linger", oldAddr, u.linger+5*time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSignOutThenIn: a DN signed out and at once in again stays registered
// — the new REGISTER waits for the sign-out's Expires 0, which would
// otherwise remove the binding both share.
func TestSignOutThenIn(t *testing.T) {
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}})
	u := startUA(t, k.Addr(), nil, nil)
	ctx := context.Background()
	if _, err := u.Register(ctx, "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	// The wait itself: a Register does not go out while the DN's lock is
	// held by a removal.
	unlock, err := u.lockDN(ctx, "7001")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := u.Register(ctx, "7001", "secret", nil); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Register went ahead of a removal in progress: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// And for real, many times over.
	r := u.Registered("7001")
	for i := range 10 {
		go r.Unregister(ctx)
		if r, err = u.Register(ctx, "7001", "secret", nil); err != nil {
			t.Fatal(err)
		}
		if got := bindings(t, k.Addr(), "7001", "secret"); len(got) != 1 {
			t.Fatalf("round %d: bindings after sign-out then in = %v, want one", i, got)
		}
	}
}
