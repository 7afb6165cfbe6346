package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"webrtcgw/confserv/api"
	csclient "webrtcgw/confserv/client"
	"webrtcgw/confserv/confservtest"
	"webrtcgw/internal/testpeers"
)

// csGateway is a gateway process in Configuration Server mode.
type csGateway struct {
	t       testing.TB
	cmd     *exec.Cmd
	logFile string
	mu      sync.Mutex
	out     bytes.Buffer
	base    string
}

func (g *csGateway) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

func (g *csGateway) log() string {
	g.mu.Lock()
	out := g.out.String()
	g.mu.Unlock()
	data, _ := os.ReadFile(g.logFile)
	return out + string(data)
}

func (g *csGateway) waitLog(fragment string, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(g.log(), fragment) {
		if time.Now().After(deadline) {
			g.t.Fatalf("gateway log never showed %q within %v:\n%s", fragment, within, g.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *csGateway) stop() {
	if g.cmd.ProcessState != nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	g.cmd.Wait()
}

// startCSGateway runs the gateway with -host/-port/-app against cs, with
// its data (and confserv cache) in dataDir.
func startCSGateway(t testing.TB, csPort int, app, token, dataDir string) *csGateway {
	t.Helper()
	tokenFile := filepath.Join(dataDir, "token")
	os.MkdirAll(dataDir, 0o700)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &csGateway{t: t, logFile: filepath.Join(dataDir, "gateway.log")}
	g.cmd = exec.Command(binary, "-host", "127.0.0.1", "-port", fmt.Sprint(csPort), "-app", app,
		"-app-token-file", tokenFile, "-data", dataDir)
	g.cmd.Stdout, g.cmd.Stderr = g, g
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway output and log:\n%s", g.log())
		}
	})
	return g
}

// gatewayApp is a WebRTC_Gateway application on free loopback ports,
// logging to a file, connected to the SIP Server application sip1.
func gatewayApp(t testing.TB, name, logFile string) api.Application {
	return api.Application{Meta: api.Meta{Name: name}, Template: "WebRTC_Gateway", Connections: []string{"sip1"},
		Options: api.Sections{
			"web":   {"listen-address": "127.0.0.1", "https-port": fmt.Sprint(testpeers.FreePort(t, "tcp")), "polling-timeout": "5"},
			"sip":   {"sip-port": fmt.Sprint(testpeers.FreePort(t, "udp"))}, // sip-server empty: from sip1
			"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"},
			"log":   {"verbose": "debug", "all": logFile},
		}}
}

// confservSetup starts Kamailio and confserv with host h1, the SIP Server
// application sip1 (Kamailio) and the gateway application gw1, and returns
// an admin client and gw1's credential.
func confservSetup(t testing.TB, csDir, gwDataDir string) (*confservtest.Server, *csclient.Client, string) {
	t.Helper()
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{Users: map[string]string{"7001": "secret1"}})
	cs := confservtest.Start(t, csDir, 0)
	admin := cs.Client("", "")
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: "h1"}, Address: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: "sip1"}, Template: "SIP_Server", Host: "h1",
		Ports: map[string]int{"default": k.Port()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateApp(ctx, gatewayApp(t, "gw1", filepath.Join(gwDataDir, "gateway.log"))); err != nil {
		t.Fatal(err)
	}
	token, err := admin.NewCredential(ctx, "gw1")
	if err != nil {
		t.Fatal(err)
	}
	return cs, admin, token
}

// waitReport waits until gw1's report covers revision rev.
func waitReport(t testing.TB, admin *csclient.Client, rev uint64) *api.Report {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, err := admin.App(context.Background(), "gw1")
		if err == nil && a.Report != nil && a.Report.Revision >= rev {
			return a.Report
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report for revision %d (app: %+v, %v)", rev, a.Report, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGatewayOnConfserv: the gateway takes its options from confserv, uses
// the connected SIP Server application when sip-server is empty, applies a
// change promptly and reports applied and rejected revisions.
func TestGatewayOnConfserv(t *testing.T) {
	gwDir := t.TempDir()
	cs, admin, token := confservSetup(t, t.TempDir(), gwDir)
	app, _ := admin.App(context.Background(), "gw1")
	g := startCSGateway(t, cs.Port, "gw1", token, gwDir)
	g.waitLog("started", 30*time.Second)
	if rep := waitReport(t, admin, app.Revision); rep.Status != api.ReportApplied {
		t.Fatalf("first report = %+v", rep)
	}
	// The SIP Server comes from sip1: a DN registers through it.
	g.base = "https://127.0.0.1:" + app.Options["web"]["https-port"]
	gw := &gateway{t: t, base: g.base, client: trustClient(t, filepath.Join(gwDir, "tls", "self-signed.crt"))}
	if _, status, body := gw.signIn("7001", "secret1"); status != 200 {
		t.Fatalf("sign-in through the connected SIP Server: %d %q", status, body)
	}

	// An option change is applied promptly and reported.
	app, _ = admin.App(context.Background(), "gw1")
	app.Options["web"]["max-sessions"] = "123"
	start := time.Now()
	app, err := admin.UpdateApp(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	g.waitLog("option changed: option=web/max-sessions old=10000 new=123", 10*time.Second)
	t.Logf("change applied %v after the write", time.Since(start))
	if rep := waitReport(t, admin, app.Revision); rep.Status != api.ReportApplied {
		t.Errorf("report = %+v, want applied", rep)
	}
	// A set valid on paper that a subsystem cannot apply is rejected and
	// reported, and the gateway keeps running on its options.
	app.Options["log"]["all"] = "/nonexistent-dir/gw.log"
	if app, err = admin.UpdateApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	rep := waitReport(t, admin, app.Revision)
	if rep.Status != api.ReportRejected || !strings.Contains(rep.Error, "log output /nonexistent-dir/gw.log") {
		t.Errorf("report = %+v, want rejected naming the log output", rep)
	}
	if status, _, _ := gw.request("GET", "/health", ""); status != 200 {
		t.Errorf("gateway after a rejected revision: /health = %d", status)
	}
}

// TestGatewayStartsFromCache: with confserv down the gateway starts from
// its cached options and says so; when confserv is back it catches up with
// the change made while it was away.
func TestGatewayStartsFromCache(t *testing.T) {
	gwDir, csDir := t.TempDir(), t.TempDir()
	cs, admin, token := confservSetup(t, csDir, gwDir)
	g := startCSGateway(t, cs.Port, "gw1", token, gwDir)
	g.waitLog("started", 30*time.Second)
	g.stop()
	if _, err := os.Stat(filepath.Join(gwDir, "confserv-cache-gw1.json")); err != nil {
		t.Fatalf("no cache after a run: %v", err)
	}
	// Change an option, then take confserv down.
	app, _ := admin.App(context.Background(), "gw1")
	app.Options["web"]["max-sessions"] = "321"
	app, err := admin.UpdateApp(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	port := cs.Port
	cs.Stop()

	os.Remove(filepath.Join(gwDir, "gateway.log"))
	g2 := startCSGateway(t, port, "gw1", token, gwDir)
	g2.waitLog("starting from the cached configuration", 60*time.Second)
	g2.waitLog("started", 30*time.Second)
	if strings.Contains(g2.log(), "new=321") {
		t.Fatal("the change was applied with confserv down")
	}
	cs2 := confservtest.Start(t, csDir, port)
	g2.waitLog("option changed: option=web/max-sessions old=10000 new=321", 60*time.Second)
	if rep := waitReport(t, cs2.Client("", ""), app.Revision); rep.Status != api.ReportApplied {
		t.Errorf("report after catching up = %+v", rep)
	}
}

// BenchmarkOptionApplied measures an operator's option write until the
// gateway reports the revision applied: confserv commits and notifies, the
// gateway fetches, validates, reloads and reports. The report is polled
// every millisecond, which bounds the resolution.
func BenchmarkOptionApplied(b *testing.B) {
	gwDir := b.TempDir()
	cs, admin, token := confservSetup(b, b.TempDir(), gwDir)
	g := startCSGateway(b, cs.Port, "gw1", token, gwDir)
	g.waitLog("started", 30*time.Second)
	ctx := context.Background()
	app, err := admin.App(ctx, "gw1")
	if err != nil {
		b.Fatal(err)
	}
	waitReport(b, admin, app.Revision)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		app.Options["web"]["max-sessions"] = fmt.Sprint(1000 + i%2)
		start := time.Now()
		if app, err = admin.UpdateApp(ctx, app); err != nil {
			b.Fatal(err)
		}
		for {
			a, err := admin.App(ctx, "gw1")
			if err != nil {
				b.Fatal(err)
			}
			if r := a.Report; r != nil && r.Revision >= app.Revision {
				if r.Status != api.ReportApplied {
					b.Fatalf("report = %+v", r)
				}
				break
			}
			if time.Since(start) > 20*time.Second {
				b.Fatalf("revision %d not reported applied", app.Revision)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "p99-ms")
}
