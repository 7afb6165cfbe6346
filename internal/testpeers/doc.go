// Package testpeers starts the real peers that the end-to-end tests of the
// gateway talk to, and checks what they saw:
//
//   - Kamailio as the SIP Server (registrar with digest authentication, a
//     record-routing proxy for calls), see [StartKamailio];
//   - sipp as a scripted SIP user agent, with scenarios embedded in the
//     package, see [StartSipp] and [ScenarioNames];
//   - a Go RTP endpoint that echoes or sends G.711 with RFC 4733 events and
//     records what it receives, see [StartRTPPeer];
//   - headless Chromium driven by chromedp, see [StartBrowser].
//
// Browser tests must run inside a private network namespace that has only a
// loopback interface, so that nothing a test starts can reach another
// address. A package gets one by calling [RunInNetns] from its TestMain:
//
//	func TestMain(m *testing.M) {
//		os.Exit(testpeers.RunInNetns(m))
//	}
//
// A test of a browser calling through the gateway to a SIP phone then reads:
//
//	kam := testpeers.StartKamailio(t, testpeers.KamailioConfig{
//		Users:  map[string]string{"1001": "secret"},
//		Routes: map[string]string{"2000": "sip:127.0.0.1:" + strconv.Itoa(uasPort)},
//	})
//	echo := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true, TelephoneEvents: []uint8{101}})
//	uas := testpeers.StartSipp(t, testpeers.SippConfig{
//		Scenario: testpeers.ScenarioUASAnswer, Port: uasPort, MediaPort: echo.Port(),
//	})
//	// ... start the gateway with kam.Addr() as its SIP Server ...
//	b := testpeers.StartBrowser(t)
//	tab := b.NewTab(t)
//	chromedp.Do(tab, chromedp.Navigate(gatewayPageURL))
//	// ... call 2000 from the page, poll getStats, hang up ...
//	err := uas.Wait(ctx) // nil when the scenario passed
//
// Every Start function binds 127.0.0.1 only, waits until its peer is ready
// (never a fixed sleep), registers its shutdown with t.Cleanup, and prints
// the peer's log when the test fails. A missing peer binary skips the test,
// or fails it when the environment variable E2E_REQUIRED=1 is set (see
// [Require]). scripts/install-deps installs the Debian packages.
package testpeers
