package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"webrtcgw/confserv/api"
	csclient "webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
)

// maxMediaGap is the longest silence a reload may cause on a call that is up.
const maxMediaGap = 200 * time.Millisecond

// TestReloadUnderLoad changes options of every subsystem through the
// Configuration Server while a call is up and a client keeps long-polling
// and sending requests: zero failed requests, the call never dropped and
// its media continuous (no gap over 200 ms either way), the registration
// kept; and what comes after uses the new settings — the CORS decision, the
// new HTTPS port, the new certificate, the new SIP port and transport, the
// new RTP range and codecs. Invalid values are refused with the option
// named, by confserv (422) or by the gateway (reported rejected).
func TestReloadUnderLoad(t *testing.T) {
	// The far ends: one sipp UAS per number, each with its RTP echo peer.
	numbers := []string{"5000", "5001", "5002", "5003", "5004"}
	kcfg := testpeers.KamailioConfig{Users: map[string]string{}, Routes: map[string]string{}}
	sippPort := map[string]int{}
	for i, n := range numbers {
		sippPort[n] = testpeers.FreePort(t, "udp")
		kcfg.Routes[n] = fmt.Sprintf("sip:127.0.0.1:%d", sippPort[n])
		kcfg.Users[fmt.Sprintf("700%d", i+1)] = fmt.Sprintf("secret%d", i+1)
	}
	kcfg.Users["7009"] = "secret9"
	k := testpeers.StartKamailio(t, kcfg)

	ctx := ctxTimeout(t, 5*time.Minute)
	admin, g, app := reloadGateway(t, ctx, k.Addr(), map[string]string{"polling-timeout": "3"})

	views := &gatewayViews{t: t, port: app.Options["web"]["https-port"]}

	// The load: a signed-in client long-polling and asking for /health in a
	// loop, counting every request that fails.
	load := startLoad(t, views, "7009", "secret9")

	// Call 1 stays up through every change.
	call1 := startCall(t, ctx, views, "7001", "secret1", "5000", sippPort["5000"])

	// change applies one change, checks the call's media stayed
	// continuous through it, then runs verify.
	change := func(name string, edit func(opts api.Sections), verify func()) {
		t.Helper()
		call1.b.ResetContinuity()
		call1.far.ResetGaps()
		cur, err := admin.App(ctx, "gw1")
		if err != nil {
			t.Fatal(err)
		}
		edit(cur.Options)
		next, err := admin.UpdateApp(ctx, cur)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep := waitReport(t, admin, next.Revision); rep.Status != api.ReportApplied {
			t.Fatalf("%s: report %+v, want applied", name, rep)
		}
		if verify != nil {
			verify()
		}
		// A second of media after the change, then the gaps across it.
		call1.b.waitReceived(ctx, 50)
		if _, err := call1.far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return time.Since(s.Last) < 100*time.Millisecond }); err != nil {
			t.Fatalf("%s: far end: %v", name, err)
		}
		if gap, seqGap := call1.b.Continuity(); gap > maxMediaGap || seqGap > 0 {
			t.Errorf("%s: the browser's media stopped for %v (%d packets missing)", name, gap, seqGap)
		}
		if s := call1.far.Stats(); s.MaxGap > maxMediaGap || s.MaxSeqGap > 0 {
			t.Errorf("%s: the far end's media stopped for %v (%d packets missing)", name, s.MaxGap, s.MaxSeqGap)
		}
		if n := load.failures(); n > 0 {
			t.Fatalf("%s: %d failed requests: %v", name, n, load.errors())
		}
	}

	// web: the CORS decision changes with the next request.
	change("web/domain-whitelist", func(o api.Sections) { o["web"]["domain-whitelist"] = "https://good.example.com" }, func() {
		v := views.current()
		if st := originStatus(t, v, "https://good.example.com"); st != 200 {
			t.Errorf("a whitelisted origin: %d", st)
		}
		if st := originStatus(t, v, "https://evil.example.com"); st != 403 {
			t.Errorf("an origin off the whitelist: %d, want 403", st)
		}
	})
	// web: a new HTTPS port; the load moves to it while the old one lingers.
	newPort := fmt.Sprint(testpeers.FreePort(t, "tcp"))
	change("web/https-port", func(o api.Sections) { o["web"]["https-port"] = newPort }, func() {
		views.setPort(newPort)
		if st, _, _ := views.current().request("GET", "/health", ""); st != 200 {
			t.Errorf("the new HTTPS port: %d", st)
		}
	})
	// web: a new certificate for new handshakes; a mismatched pair is
	// rejected by the gateway, naming the option, and the pair kept.
	certDir := t.TempDir()
	cert1, key1, fp1 := writeCert(t, certDir, "one")
	change("web/certificate", func(o api.Sections) {
		o["web"]["certificate"], o["web"]["certificate-key"] = cert1, key1
	}, func() {
		if fp := serverFingerprint(t, views.current()); fp != fp1 {
			t.Errorf("a new TLS client sees %s, want the new certificate %s", fp, fp1)
		}
	})
	_, key2, _ := writeCert(t, certDir, "two")
	bad, _ := admin.App(ctx, "gw1")
	bad.Options["web"]["certificate-key"] = key2
	bad, err := admin.UpdateApp(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitReport(t, admin, bad.Revision); rep.Status != api.ReportRejected || !strings.Contains(rep.Error, "web/certificate") {
		t.Errorf("a mismatched pair: report %+v, want rejected naming web/certificate", rep)
	}
	if fp := serverFingerprint(t, views.current()); fp != fp1 {
		t.Errorf("after a rejected pair the gateway serves %s, want the kept %s", fp, fp1)
	}
	// Back to a valid set before going on.
	bad.Options["web"]["certificate-key"] = key1
	if bad, err = admin.UpdateApp(ctx, bad); err != nil {
		t.Fatal(err)
	}
	waitReport(t, admin, bad.Revision)

	// sip: a new port; DNs re-register through it; call 1 stays on the old
	// one; a new call goes through the new one.
	sipPort := fmt.Sprint(testpeers.FreePort(t, "udp"))
	change("sip/sip-port", func(o api.Sections) { o["sip"]["sip-port"] = sipPort }, func() {
		g.waitLog("SIP transport listening: transport=udp address=127.0.0.1:"+sipPort, 10*time.Second)
		c := startCall(t, ctx, views, "7002", "secret2", "5001", sippPort["5001"])
		c.end(t, ctx)
	})
	// sip: TCP; new registrations and calls use it.
	change("sip/sip-transport", func(o api.Sections) { o["sip"]["sip-transport"] = "tcp" }, func() {
		g.waitLog("SIP transport listening: transport=tcp", 10*time.Second)
		c := startCall(t, ctx, views, "7003", "secret3", "5002", sippPort["5002"])
		c.end(t, ctx)
	})
	// media: a new RTP range for new calls; call 1 keeps its ports.
	change("media/rtp-port-min", func(o api.Sections) {
		o["media"]["rtp-port-min"], o["media"]["rtp-port-max"] = "23000", "23999"
	}, func() {
		c := startCall(t, ctx, views, "7004", "secret4", "5003", sippPort["5003"])
		if p := c.far.Stats().Source.Port(); p < 23000 || p > 23999 {
			t.Errorf("a new call's RTP comes from port %d, want 23000-23999", p)
		}
		if p := call1.far.Stats().Source.Port(); p < 20000 || p > 20999 {
			t.Errorf("call 1's RTP moved to port %d", p)
		}
		c.end(t, ctx)
	})
	// media: codecs, DTLS role and SRTP profiles; a new call negotiates
	// PCMA only, with the gateway as DTLS server.
	change("media/codecs", func(o api.Sections) {
		o["media"]["codecs"] = "PCMA,telephone-event"
		o["media"]["dtls-role"] = "server"
		o["media"]["srtp-profiles"] = "AES128_CM_HMAC_SHA1_80"
	}, func() {
		c := startCall(t, ctx, views, "7005", "secret5", "5004", sippPort["5004"])
		if s := c.far.Stats(); s.PayloadTypes[8] == 0 || s.PayloadTypes[0] != 0 {
			t.Errorf("a new call after codecs=PCMA: payload types %v, want 8 only", s.PayloadTypes)
		}
		c.end(t, ctx)
	})
	// security and log: at once.
	change("security/ban-max-failures", func(o api.Sections) {
		o["security"] = map[string]string{"ban-max-failures": "7"}
		o["log"]["verbose"] = "standard"
	}, func() {
		g.waitLog("option changed: option=security/ban-max-failures old=3 new=7", 5*time.Second)
	})

	// Invalid values are refused by confserv with the option named.
	inv, _ := admin.App(ctx, "gw1")
	inv.Options["media"]["rtp-port-min"] = "70000"
	inv.Options["web"]["https-port"] = "http"
	if _, err := admin.UpdateApp(ctx, inv); !csclient.HasStatus(err, 422) ||
		!strings.Contains(err.Error(), "media/rtp-port-min") || !strings.Contains(err.Error(), "web/https-port") {
		t.Errorf("invalid values: %v, want 422 naming both options", err)
	}

	// The end: call 1 hangs up normally; nothing failed, nothing dropped.
	call1.end(t, ctx)
	load.stop()
	if n := load.failures(); n > 0 {
		t.Errorf("%d failed requests over %d: %v", n, load.requests(), load.errors())
	}
	if load.requests() < 200 {
		t.Errorf("the load made only %d requests", load.requests())
	}
	if strings.Contains(g.log(), "registration lost") {
		t.Error("a registration was lost")
	}
}

// TestReloadChromiumCall: a real browser's call stays up, its media
// continuous, while options of every subsystem change — SIP port and
// transport, RTP range and codecs, web limits, security and log — written
// by an operator through the confserv API, and in local mode through the
// configuration file (the same reload pipeline). The call ends normally.
func TestReloadChromiumCall(t *testing.T) {
	t.Run("confserv", func(t *testing.T) {
		sip := startSIPSide(t, testpeers.KamailioConfig{})
		ctx := ctxTimeout(t, 3*time.Minute)
		httpPort := testpeers.FreePort(t, "tcp") // the demo page, on loopback
		admin, g, _ := reloadGateway(t, ctx, sip.k.Addr(), map[string]string{"http-port": fmt.Sprint(httpPort), "trusted-proxies": "127.0.0.1"})
		// Writes "section/option" values; waits for the gateway's report of
		// the revision as applied.
		setOptions := func(kv map[string]string) {
			t.Helper()
			cur, err := admin.App(ctx, "gw1")
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range kv {
				sec, opt, _ := strings.Cut(k, "/")
				if cur.Options[sec] == nil {
					cur.Options[sec] = map[string]string{}
				}
				cur.Options[sec][opt] = v
			}
			next, err := admin.UpdateApp(ctx, cur)
			if err != nil {
				t.Fatalf("%v: %v", kv, err)
			}
			if rep := waitReport(t, admin, next.Revision); rep.Status != api.ReportApplied {
				t.Fatalf("%v: report %+v, want applied", kv, rep)
			}
		}
		chromiumCallThroughChanges(t, ctx, sip, fmt.Sprintf("http://127.0.0.1:%d", httpPort), setOptions, g.log)
	})
	t.Run("local", func(t *testing.T) {
		sip, g, url := browserGateway(t, testpeers.KamailioConfig{}, nil)
		chromiumCallThroughChanges(t, ctxTimeout(t, 3*time.Minute), sip, url, g.setOptions, g.log)
	})
}

// reloadGateway starts confserv and the gateway application gw1 on it
// (SIP Server sipServer, the web options added), and returns an admin
// client, the running gateway and gw1 as created, once the gateway has
// applied it.
func reloadGateway(t *testing.T, ctx context.Context, sipServer string, web map[string]string) (*csclient.Client, *csGateway, api.Application) {
	t.Helper()
	gwDir := t.TempDir()
	cs := confservtest.Start(t, t.TempDir(), 0)
	admin := cs.Client("", "")
	app := gatewayApp(t, "gw1", filepath.Join(gwDir, "gateway.log"))
	app.Connections = nil
	app.Options["sip"]["sip-server"] = sipServer
	for k, v := range web {
		app.Options["web"][k] = v
	}
	app, err := admin.CreateApp(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	token, err := admin.NewCredential(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	g := startCSGateway(t, cs.Port, "gw1", token, gwDir)
	g.waitLog("started", 30*time.Second)
	waitReport(t, admin, app.Revision)
	return admin, g, app
}

// chromiumCallThroughChanges places a Chromium call from the demo page at
// url to sipp (an echo far end) and applies option changes with
// setOptions while it talks; the media must stay continuous.
func chromiumCallThroughChanges(t *testing.T, ctx context.Context, sip *sipSide, url string, setOptions func(map[string]string), gwLog func() string) {
	t.Helper()
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	tab := testpeers.StartBrowser(t).NewTab(t)
	openDemo(t, tab, url)
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "registered")
	run(t, tab, 5*time.Second, chromedp.SetValue(chromedp.CSS("#number"), "5000"))
	click(t, tab, "#call")
	waitState(t, tab, "talking")
	mediaFlows(t, tab)

	for _, change := range []map[string]string{
		{"sip/sip-port": fmt.Sprint(testpeers.FreePort(t, "udp"))},
		{"sip/sip-transport": "tcp"},
		{"media/rtp-port-min": "24000", "media/rtp-port-max": "24999", "media/codecs": "PCMA,PCMU,telephone-event"},
		{"web/max-sessions": "50", "web/session-timeout": "30"},
		{"security/ban-max-failures": "9", "log/verbose": "standard"},
	} {
		far.ResetGaps()
		before := callStats(t, tab)
		setOptions(change)
		// A second of media after the change; the far end's gaps across it.
		if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return time.Since(s.Last) < 50*time.Millisecond && s.Packets > 0 }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // a second of audio through the change, measured below
		after := callStats(t, tab)
		if after.In-before.In < 40 || after.Out-before.Out < 40 {
			t.Errorf("%v: the browser's audio stalled: received %d→%d, sent %d→%d", change, before.In, after.In, before.Out, after.Out)
		}
		if s := far.Stats(); s.MaxGap > maxMediaGap || s.MaxSeqGap > 0 {
			t.Errorf("%v: the far end's media stopped for %v (%d packets missing)", change, s.MaxGap, s.MaxSeqGap)
		}
		if st := eval[string](t, tab, `document.body.dataset.state`); st != "talking" {
			t.Fatalf("%v: the call is %q, want talking", change, st)
		}
	}
	click(t, tab, "#hangup")
	waitState(t, tab, "registered")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("the call did not end normally: %v\n%s", err, sipp.Messages())
	}
	if strings.Contains(gwLog(), "registration lost") {
		t.Error("a registration was lost")
	}
}

// gatewayViews gives each user of the gateway a view of it on the current
// HTTPS port; clients skip certificate checks (the certificate changes —
// serverFingerprint checks which one is served).
type gatewayViews struct {
	t    *testing.T
	mu   sync.Mutex
	port string
}

func (v *gatewayViews) setPort(p string) {
	v.mu.Lock()
	v.port = p
	v.mu.Unlock()
}

func (v *gatewayViews) current() *gateway {
	v.mu.Lock()
	defer v.mu.Unlock()
	return &gateway{t: v.t, base: "https://127.0.0.1:" + v.port, client: insecureClient}
}

var insecureClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 16}}

// load is a signed-in client that long-polls and asks for /health in a
// loop, on whatever port is current, counting failures.
type load struct {
	views         *gatewayViews
	id            string
	reqs, fails   atomic.Int64
	mu            sync.Mutex
	errs          []string
	quit, stopped chan struct{}
}

func startLoad(t *testing.T, views *gatewayViews, dn, password string) *load {
	t.Helper()
	c, status, body := views.current().signIn(dn, password)
	if status != 200 {
		t.Fatalf("load sign-in: %d %q", status, body)
	}
	l := &load{views: views, id: c.ssid, quit: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	t.Cleanup(l.stop)
	return l
}

// run keeps a /wait outstanding in one goroutine and asks for /health
// every 20 ms in another, until stop.
func (l *load) run() {
	defer close(l.stopped)
	var wg sync.WaitGroup
	for _, path := range []string{"/wait?id=" + l.id, "/health"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				status, _, body, err := l.views.current().tryRequest("GET", path, "")
				l.reqs.Add(1)
				if err != nil || status != 200 {
					l.fails.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("%s: %d %.80q %v", path, status, body, err))
					}
					l.mu.Unlock()
				}
				if path == "/health" {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}

func (l *load) stop() {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.stopped
}

func (l *load) failures() int64 { return l.fails.Load() }
func (l *load) requests() int64 { return l.reqs.Load() }
func (l *load) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// call is a call from a pion browser to a sipp UAS with an echo RTP peer.
type call struct {
	c      *client
	b      *pionBrowser
	far    *testpeers.RTPPeer
	sipp   *testpeers.Sipp
	number string
}

// startCall signs dn in and calls number (a sipp on sippPort); it returns
// once media flows both ways.
func startCall(t *testing.T, ctx context.Context, views *gatewayViews, dn, password, number string, sippPort int) *call {
	t.Helper()
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sippPort, MediaPort: far.Port()})
	c := views.current().mustSignIn(dn, password)
	c.follow = views.current // like a browser behind a load balancer that moves with the port
	b := newPionBrowser(t)
	c.mustSend(number, b.offer(webrtc.RTPTransceiverDirectionSendrecv))
	_, answer := c.expect(ctx, "RSMP {")
	b.applyAnswer(answer)
	c.mustSend(number, `RSMP {"messageType":"OK","offererSessionId":102,"answererSessionId":1,"seq":1}`)
	b.waitReceived(ctx, 50)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 50 }); err != nil {
		t.Fatalf("call to %s: far end: %v", number, err)
	}
	return &call{c: c, b: b, far: far, sipp: sipp, number: number}
}

// end hangs up from the browser; the far end must see the BYE (sipp ends
// its scenario successfully only then).
func (c *call) end(t *testing.T, ctx context.Context) {
	t.Helper()
	c.c.mustSend(c.number, "BYE")
	if err := c.sipp.Wait(ctx); err != nil {
		t.Fatalf("call to %s did not end normally: %v\n%s", c.number, err, c.sipp.Messages())
	}
	c.b.close()
}

// originStatus is the status of /health asked with an Origin header.
func originStatus(t *testing.T, g *gateway, origin string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.base+"/health", nil)
	req.Header.Set("Origin", origin)
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// serverFingerprint is the SHA-256 of the certificate a new TLS client sees.
func serverFingerprint(t *testing.T, g *gateway) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.base, "https://"), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return fmt.Sprintf("%x", sum)
}

// writeCert writes a self-signed certificate and key for 127.0.0.1 and
// returns their paths and the certificate's SHA-256.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "reload " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return certFile, keyFile, fmt.Sprintf("%x", sum)
}
