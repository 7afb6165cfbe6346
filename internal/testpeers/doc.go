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
// Every Start function binds 127.0.0.1 only, waits until its peer is ready
// (never a fixed sleep), registers its shutdown with t.Cleanup, and prints
// the peer's log when the test fails. A missing peer binary skips the test,
// or fails it when the environment variable E2E_REQUIRED=1 is set (see
// [Require]). scripts/install-deps installs the Debian packages.
package testpeers
