package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"webrtcgw/internal/testpeers"
)

// The browser tests drive the demo page in real Chromium. Pages and API go
// over the gateway's plain HTTP listener on 127.0.0.1 (a secure context for
// getUserMedia, and no certificate for Chromium to refuse); the HTTPS
// listener is covered by the protocol tests.

// browserGateway starts Kamailio (DNs 7001-7003, numbers to sipp) and a
// gateway with an HTTP listener; it returns the demo URL.
func browserGateway(t *testing.T, kcfg testpeers.KamailioConfig, opts map[string]string) (*sipSide, *gateway, string) {
	t.Helper()
	sip := startSIPSide(t, kcfg)
	if opts == nil {
		opts = map[string]string{}
	}
	httpPort := testpeers.FreePort(t, "tcp")
	opts["web/http-port"] = fmt.Sprint(httpPort)
	opts["web/trusted-proxies"] = "127.0.0.1"
	g := startGateway(t, gatewayConfig{SIPServer: sip.k.Addr(), Options: opts})
	return sip, g, fmt.Sprintf("http://127.0.0.1:%d", httpPort)
}

// run runs chromedp actions on a tab, within d.
func run(t *testing.T, tab context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("chromedp: %v", err)
	}
}

// eval evaluates a JavaScript expression in a tab (promises awaited).
func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.60q: %v", expr, err)
	}
	return v
}

// waitState waits until the demo's body has data-state state.
func waitState(t *testing.T, tab context.Context, state string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	expr := fmt.Sprintf(`document.body.dataset.state === %q`, state)
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		sctx, scancel := context.WithTimeout(tab, 3*time.Second)
		defer scancel()
		got, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body.dataset.state`))
		errText, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
		t.Fatalf("demo never reached state %q: it is %q, error %q (%v)", state, got, errText, err)
	}
}

// openDemo loads the demo page and fills in the gateway URL.
func openDemo(t *testing.T, tab context.Context, url string) {
	t.Helper()
	run(t, tab, 30*time.Second, chromedp.Navigate(url+"/"), chromedp.WaitReady(chromedp.CSS("#register")))
	waitState(t, tab, "idle")
	run(t, tab, 5*time.Second, chromedp.SetValue(chromedp.CSS("#gateway"), url))
}

func register(t *testing.T, tab context.Context, dn, password string) {
	t.Helper()
	run(t, tab, 5*time.Second,
		chromedp.SetValue(chromedp.CSS("#dn"), dn),
		chromedp.SetValue(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#register")))
}

func click(t *testing.T, tab context.Context, sel string) {
	t.Helper()
	run(t, tab, 5*time.Second, chromedp.Click(sel))
}

// rtpStats is what getStats says of the call's audio.
type rtpStats struct {
	In, Out int
	Codec   string
}

func callStats(t *testing.T, tab context.Context) rtpStats {
	t.Helper()
	return eval[rtpStats](t, tab, `(async () => {
		const s = window.demo.session; if (!s || !s.peerConnection) return {In: 0, Out: 0, Codec: ""};
		const r = await s.peerConnection.getStats(); const o = {In: 0, Out: 0, Codec: ""}; const codecs = {};
		r.forEach(x => { if (x.type === "codec") codecs[x.id] = x.mimeType; });
		r.forEach(x => {
			if (x.type === "inbound-rtp" && x.kind === "audio") { o.In = x.packetsReceived; o.Codec = codecs[x.codecId] || ""; }
			if (x.type === "outbound-rtp" && x.kind === "audio") o.Out = x.packetsSent;
		});
		return o; })()`)
}

// mediaFlows checks for 3 s that packets keep arriving and leaving.
func mediaFlows(t *testing.T, tab context.Context) rtpStats {
	t.Helper()
	first := callStats(t, tab)
	time.Sleep(3 * time.Second) // the test measures 3 s of audio, as asked; no readiness is awaited here
	second := callStats(t, tab)
	if second.In-first.In < 100 || second.Out-first.Out < 100 {
		t.Fatalf("audio over 3 s: received %d→%d, sent %d→%d packets; want about 150 more each way", first.In, second.In, first.Out, second.Out)
	}
	return second
}

// TestBrowserOutgoingCall is test (a): Chromium registers 7001, calls 5000
// (Kamailio → sipp with an echoing RTP peer): audio both ways, DTMF digits
// at the far end, hold and resume re-INVITEs with the right directions
// (uas_call.xml checks them), hang-up by BYE.
func TestBrowserOutgoingCall(t *testing.T) {
	sip, g, url := browserGateway(t, testpeers.KamailioConfig{AuthInvites: true}, nil)
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true, TelephoneEvents: []uint8{101}})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uas_call.xml", Port: sip.sippPort, MediaPort: far.Port()})
	tab := testpeers.StartBrowser(t).NewTab(t)

	openDemo(t, tab, url)
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "registered")
	testpeers.Screenshot(t, tab, "demo-registered")
	run(t, tab, 5*time.Second, chromedp.SetValue(chromedp.CSS("#number"), "5000"))
	click(t, tab, "#call")
	waitState(t, tab, "talking")
	st := mediaFlows(t, tab)
	if !strings.EqualFold(st.Codec, "audio/PCMU") {
		t.Errorf("codec = %q, want audio/PCMU (the SIP side's choice)", st.Codec)
	}
	testpeers.Screenshot(t, tab, "demo-talking")

	for _, d := range []string{"#dtmf-1", "#dtmf-5", "#dtmf-9"} {
		click(t, tab, d)
	}
	ctx := ctxTimeout(t, 30*time.Second)
	if err := far.WaitDigits(ctx, "159"); err != nil {
		t.Fatalf("DTMF at the far end: %q: %v", far.Digits(), err)
	}

	click(t, tab, "#hold")
	waitState(t, tab, "held")
	click(t, tab, "#resume")
	waitState(t, tab, "talking")
	mediaFlows(t, tab)

	click(t, tab, "#hangup")
	waitState(t, tab, "registered")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp (hold, resume, BYE): %v\n%s", err, sipp.Messages())
	}
	g.waitLog("call ended")
}

// TestBrowserIncomingCall is test (b): sipp calls 7001 through Kamailio; the
// demo shows the call, answers it, audio flows both ways, the caller hangs
// up and the demo sees it.
func TestBrowserIncomingCall(t *testing.T) {
	sip, _, url := browserGateway(t, testpeers.KamailioConfig{}, nil)
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMU, TelephoneEvents: []uint8{101}})
	tab := testpeers.StartBrowser(t).NewTab(t)
	openDemo(t, tab, url)
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "registered")

	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: "uac_call.xml", Remote: sip.k.Addr(), Service: "7001",
		MediaPort: far.Port(), Keys: map[string]string{"hold_ms": "8000", "from_user": "customer9"}})
	waitState(t, tab, "incoming")
	caller := eval[string](t, tab, `document.getElementById("incoming-caller").textContent`)
	if !strings.Contains(caller, "customer9") {
		t.Errorf("incoming caller shown = %q, want customer9", caller)
	}
	testpeers.Screenshot(t, tab, "demo-incoming")
	click(t, tab, "#answer")
	waitState(t, tab, "talking")
	mediaFlows(t, tab)
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := far.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.Packets > 100 }); err != nil {
		t.Fatalf("the caller got no audio from the browser: %v", err)
	}
	waitState(t, tab, "registered") // the caller hung up (hold_ms)
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
}

// TestBrowserWrongPassword is test (c): a wrong password is an HTTP error
// shown by the demo; after ban-max-failures the address is refused even
// with the right password, until ban-time has passed.
func TestBrowserWrongPassword(t *testing.T) {
	_, g, url := browserGateway(t, testpeers.KamailioConfig{}, map[string]string{"security/ban-time": "4"})
	tab := testpeers.StartBrowser(t).NewTab(t)
	openDemo(t, tab, url)
	for i := 0; i < 3; i++ {
		register(t, tab, "7001", "wrong")
		waitState(t, tab, "failed")
		errText := eval[string](t, tab, `document.getElementById("error").textContent`)
		if !strings.Contains(strings.ToLower(errText), "wrong dn or password") {
			t.Errorf("attempt %d: error shown = %q", i+1, errText)
		}
	}
	g.waitLog("client banned: client_ip=127.0.0.1")
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "failed")
	errText := eval[string](t, tab, `document.getElementById("error").textContent`)
	if !strings.Contains(strings.ToLower(errText), "too many failed logins") {
		t.Errorf("banned sign-in: error shown = %q, want the ban explained", errText)
	}
	testpeers.Screenshot(t, tab, "demo-banned")
	time.Sleep(4 * time.Second) // ban-time
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "registered")
}

// TestBrowserCrossOrigin is test (d): a web application served from another
// origin uses the library from the gateway: allowed when its origin is in
// domain-whitelist, refused when it is not.
func TestBrowserCrossOrigin(t *testing.T) {
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appOrigin := "http://" + appLn.Addr().String()
	otherLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, _, gwURL := browserGateway(t, testpeers.KamailioConfig{}, map[string]string{"web/domain-whitelist": appOrigin})
	// The web application: its own page, the library loaded from the gateway.
	page := `<!doctype html><html><head><script src="` + gwURL + `/js/webrtc-gateway.js"></script></head><body data-result="pending"><script>
		const c = new WebRTCGateway.Client({webrtc_gateway: "` + gwURL + `"});
		c.onRegister.add(() => { document.body.dataset.result = "registered"; });
		c.onFailed.add((e) => { document.body.dataset.result = "failed"; });
		c.register("7002", "secret2").catch(() => { document.body.dataset.result = "failed"; });
	</script></body></html>`
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(page))
	})
	for _, ln := range []net.Listener{appLn, otherLn} {
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	b := testpeers.StartBrowser(t)
	for _, tc := range []struct {
		origin, want string
	}{{appOrigin, "registered"}, {"http://" + otherLn.Addr().String(), "failed"}} {
		tab := b.NewTab(t)
		run(t, tab, 30*time.Second, chromedp.Navigate(tc.origin+"/"),
			chromedp.Poll[chromedp.Void](`document.body.dataset.result !== "pending"`, chromedp.WithPollingInterval(50*time.Millisecond)))
		got := eval[string](t, tab, `document.body.dataset.result`)
		if got != tc.want {
			t.Errorf("page from %s: %s, want %s (console: %v)", tc.origin, got, tc.want, testpeers.TabConsole(tab))
		}
	}
}

// TestBrowserToBrowserCall is test (e): two browsers registered as 7002 and
// 7003 call each other through Kamailio with audio both ways.
func TestBrowserToBrowserCall(t *testing.T) {
	_, _, url := browserGateway(t, testpeers.KamailioConfig{}, nil)
	b := testpeers.StartBrowser(t)
	alice, bob := b.NewTab(t), b.NewTab(t)
	openDemo(t, alice, url)
	openDemo(t, bob, url)
	register(t, alice, "7002", "secret2")
	register(t, bob, "7003", "secret3")
	waitState(t, alice, "registered")
	waitState(t, bob, "registered")
	run(t, alice, 5*time.Second, chromedp.SetValue(chromedp.CSS("#number"), "7003"))
	click(t, alice, "#call")
	waitState(t, bob, "incoming")
	click(t, bob, "#answer")
	waitState(t, alice, "talking")
	waitState(t, bob, "talking")
	mediaFlows(t, alice)
	mediaFlows(t, bob)
	click(t, bob, "#hangup")
	waitState(t, alice, "registered")
}

// TestBrowserRefusedCall: the gateway refuses a call it has read (a number
// it will not dial): the library gets 200 for its OFFER (the Genesys library
// would otherwise re-send it every 3 s, silently), then CALL_FAILED and BYE
// on /wait; the demo shows why and is ready for the next call, which
// connects.
func TestBrowserRefusedCall(t *testing.T) {
	sip, g, url := browserGateway(t, testpeers.KamailioConfig{}, nil)
	far := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	sipp := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASAnswer, Port: sip.sippPort, MediaPort: far.Port()})
	tab := testpeers.StartBrowser(t).NewTab(t)

	openDemo(t, tab, url)
	register(t, tab, "7001", "secret1")
	waitState(t, tab, "registered")
	run(t, tab, 5*time.Second, chromedp.SetValue(chromedp.CSS("#number"), "50<00>"))
	click(t, tab, "#call")
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	errText, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const e = document.getElementById("error").textContent;
		return e && document.body.dataset.state === "registered" ? e : null; })()`, chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("the refused call did not end with an error shown: %v", err)
	}
	if !strings.Contains(errText, "Call failed: 400") || !strings.Contains(errText, "destination") {
		t.Errorf("error shown = %q, want the gateway's refusal (Call failed: 400 destination …)", errText)
	}
	g.waitLog(`message=OFFER to=50<00> status=400`)
	if n := strings.Count(g.log(), "message refused"); n != 1 {
		t.Errorf("the refused OFFER reached the gateway %d times, want once (no re-sending)", n)
	}

	run(t, tab, 5*time.Second, chromedp.SetValue(chromedp.CSS("#number"), "5000"))
	click(t, tab, "#call")
	waitState(t, tab, "talking")
	mediaFlows(t, tab)
	click(t, tab, "#hangup")
	waitState(t, tab, "registered")
	if err := sipp.Wait(ctx); err != nil {
		t.Fatalf("sipp: %v\n%s", err, sipp.Messages())
	}
}
