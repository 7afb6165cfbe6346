// Package e2e runs the gateway binary against real peers: Kamailio as the
// SIP Server, sipp as the far end, Go RTP endpoints, pion as a browser for
// the protocol-level tests and Chromium for the browser tests. Everything
// runs inside a network namespace with only loopback (testpeers.RunInNetns).
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
)

// binary is the webrtc-gateway under test, built by TestMain.
var binary string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv("TESTPEERS_NETNS") == "" && !testpeers.InPrivateNetns() {
			// Build once, before RunInNetns re-executes this binary.
			dir, err := os.MkdirTemp("", "e2e-gw")
			if err != nil {
				panic(err)
			}
			defer os.RemoveAll(dir)
			bin := filepath.Join(dir, "webrtc-gateway")
			// Under the race detector for tests; as shipped for benchmarks.
			flag.Parse()
			args := []string{"build", "-race", "-o", bin, "../cmd/webrtc-gateway"}
			if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
				args = slices.Delete(args, 1, 2)
			}
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build webrtc-gateway: %v\n%s", err, out)
				return 1
			}
			os.Setenv("E2E_GATEWAY_BINARY", bin)
		}
		binary = os.Getenv("E2E_GATEWAY_BINARY")
		return testpeers.RunInNetns(m)
	}()
	os.Exit(code)
}

// gateway is a running webrtc-gateway process.
type gateway struct {
	t       *testing.T
	dir     string
	conf    string
	logFile string
	base    string // https://127.0.0.1:port
	http    int    // plain HTTP port (0: off)
	sipPort int
	cmd     *exec.Cmd
	client  *http.Client
	opts    map[string]map[string]string // the configuration file's options
}

// gatewayConfig is what a test wants of the gateway.
type gatewayConfig struct {
	SIPServer string            // host:port of Kamailio
	Options   map[string]string // "section/name" → value, on top of the harness's
}

// startGateway writes a configuration with free loopback ports and runs the
// gateway on it until the test ends.
func startGateway(t *testing.T, cfg gatewayConfig) *gateway {
	t.Helper()
	g, httpsPort := writeGatewayConfig(t, cfg)
	g.cmd = exec.Command(binary, "-config", g.conf, "-data", filepath.Join(g.dir, "data"))
	var out bytes.Buffer
	g.cmd.Stdout, g.cmd.Stderr = &out, &out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { g.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			g.cmd.Process.Kill()
			<-done
			t.Error("the gateway did not stop within 45 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("gateway output:\n%s\ngateway log:\n%s", out.String(), g.log())
		}
	})
	g.ready(httpsPort)
	return g
}

// ready waits until the gateway has started, then sets up its client.
func (g *gateway) ready(httpsPort int) {
	g.t.Helper()
	g.waitLog("started")
	g.base = fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	g.client = trustClient(g.t, filepath.Join(g.dir, "data", "tls", "self-signed.crt"))
}

// writeGatewayConfig writes the gateway's configuration file, with free
// loopback ports, and returns the gateway to run on it.
func writeGatewayConfig(t *testing.T, cfg gatewayConfig) (*gateway, int) {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir()}
	g.logFile = filepath.Join(g.dir, "gateway.log")
	g.sipPort = testpeers.FreePort(t, "udp")
	httpsPort := testpeers.FreePort(t, "tcp")
	opts := map[string]map[string]string{
		"web":      {"listen-address": "127.0.0.1", "https-port": fmt.Sprint(httpsPort), "polling-timeout": "5", "session-timeout": "20"},
		"sip":      {"sip-server": cfg.SIPServer, "sip-port": fmt.Sprint(g.sipPort), "register-expires": "60", "invite-timeout": "30"},
		"media":    {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100", "rtp-timeout": "30"},
		"security": {"ban-max-failures": "3", "ban-find-time": "60", "ban-time": "60"},
		"log":      {"verbose": "debug", "all": g.logFile},
	}
	for k, v := range cfg.Options {
		section, name, _ := strings.Cut(k, "/")
		if opts[section] == nil {
			opts[section] = map[string]string{}
		}
		opts[section][name] = v
	}
	if p := opts["web"]["http-port"]; p != "" && p != "0" {
		fmt.Sscan(p, &g.http)
	}
	g.opts = opts
	g.conf = filepath.Join(g.dir, "gateway.ini")
	g.writeConfig()
	return g, httpsPort
}

// writeConfig writes g.opts to g.conf.
func (g *gateway) writeConfig() {
	g.t.Helper()
	var b strings.Builder
	for section, kv := range g.opts {
		fmt.Fprintf(&b, "[%s]\n", section)
		for k, v := range kv {
			fmt.Fprintf(&b, "%s = %s\n", k, v)
		}
	}
	if err := os.WriteFile(g.conf, []byte(b.String()), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

// setOptions changes "section/name" options in the configuration file and
// waits until the gateway has applied them (local mode's reload).
func (g *gateway) setOptions(kv map[string]string) {
	g.t.Helper()
	before := strings.Count(g.log(), "options applied")
	for k, v := range kv {
		section, name, _ := strings.Cut(k, "/")
		if g.opts[section] == nil {
			g.opts[section] = map[string]string{}
		}
		g.opts[section][name] = v
	}
	g.writeConfig()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(g.log(), "options applied") == before {
		if time.Now().After(deadline) {
			g.t.Fatalf("the gateway did not apply %v:\n%s", kv, g.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trustClient returns an HTTP client that trusts the certificate in certFile
// (a gateway's self-signed one) and no other.
func trustClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 60 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func (g *gateway) log() string {
	data, _ := os.ReadFile(g.logFile)
	return string(data)
}

// waitLog waits until the gateway's log contains fragment.
func (g *gateway) waitLog(fragment string) {
	g.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.log(), fragment) {
		if time.Now().After(deadline) {
			g.t.Fatalf("the gateway log never showed %q:\n%s", fragment, g.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client speaks the browser protocol (PROTOCOL.md) to the gateway. Like
// the library, it keeps a /wait outstanding all the time (poll), so the
// session never expires while a test waits for something else.
type client struct {
	t        *testing.T
	g        *gateway
	follow   func() *gateway // when set, the gateway as it is now (its port may move)
	ssid     string
	name     string
	msgs     chan polled
	stopPoll chan struct{}
	polling  sync.Once
}

// polled is one non-empty /wait response, or the status that ended polling.
type polled struct {
	status     int
	peer, body string
}

func (g *gateway) request(method, path, body string) (int, http.Header, string) {
	g.t.Helper()
	status, h, data, err := g.tryRequest(method, path, body)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, h, data
}

func (g *gateway) tryRequest(method, path, body string) (int, http.Header, string, error) {
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := g.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(data), nil
}

// signIn registers dn (password "" registers without one; names starting
// with anon sign in anonymously). It returns the HTTP status and body.
func (g *gateway) signIn(dn, password string) (*client, int, string) {
	g.t.Helper()
	var status int
	var body string
	if password == "" {
		status, _, body = g.request("GET", "/sign_in?"+url.QueryEscape(dn), "")
	} else {
		status, _, body = g.request("POST", "/sign_in", dn+":"+password)
	}
	if status != 200 {
		return nil, status, body
	}
	line, _, _ := strings.Cut(body, "\n")
	_, id, _ := strings.Cut(line, "=")
	return &client{t: g.t, g: g, ssid: id, name: dn, msgs: make(chan polled, 64), stopPoll: make(chan struct{})}, status, body
}

// poll starts the background /wait loop (once).
func (c *client) poll() {
	c.polling.Do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-c.stopPoll:
					return
				default:
				}
				status, h, body, err := c.gw().tryRequest("GET", "/wait?id="+c.ssid, "")
				if err != nil {
					return
				}
				if status != 200 {
					c.msgs <- polled{status: status, body: body}
					return
				}
				if body != "" {
					c.msgs <- polled{status: 200, peer: h.Get("Pragma"), body: body}
				}
			}
		}()
		c.t.Cleanup(func() {
			close(c.stopPoll)
			// Ends the /wait in flight; the gateway may be gone already.
			c.gw().tryRequest("GET", "/sign_out?id="+c.ssid, "")
			<-done
		})
	})
}

func (g *gateway) mustSignIn(dn, password string) *client {
	g.t.Helper()
	c, status, body := g.signIn(dn, password)
	if c == nil {
		g.t.Fatalf("sign in %s: %d %q", dn, status, body)
	}
	return c
}

// send posts one message to peer; it returns the HTTP status.
func (c *client) send(to, body string) (int, string) {
	c.t.Helper()
	status, _, resp := c.gw().request("POST", "/message?from="+c.ssid+"&to="+url.QueryEscape(to), body)
	return status, resp
}

func (c *client) mustSend(to, body string) {
	c.t.Helper()
	if status, resp := c.send(to, body); status != 200 {
		c.t.Fatalf("message %.40q to %s: %d %q", body, to, status, resp)
	}
}

// wait does one /wait; an empty body means nothing arrived in time.
func (c *client) wait() (status int, peer, body string) {
	c.t.Helper()
	status, h, body := c.gw().request("GET", "/wait?id="+c.ssid, "")
	return status, h.Get("Pragma"), body
}

// next returns the next message the background poll received.
func (c *client) next(ctx context.Context) (peer, body string) {
	c.t.Helper()
	c.poll()
	select {
	case m := <-c.msgs:
		if m.status != 200 {
			c.t.Fatalf("/wait = %d %q", m.status, m.body)
		}
		return m.peer, m.body
	case <-ctx.Done():
		c.t.Fatalf("no message: %v", ctx.Err())
	}
	return "", ""
}

// expect polls until a message starting with prefix arrives; other
// messages before it fail the test unless they start with one of skip.
func (c *client) expect(ctx context.Context, prefix string, skip ...string) (peer, body string) {
	c.t.Helper()
	for {
		peer, body = c.next(ctx)
		if strings.HasPrefix(body, prefix) {
			return peer, body
		}
		ok := false
		for _, s := range skip {
			ok = ok || strings.HasPrefix(body, s)
		}
		if !ok {
			c.t.Fatalf("got %.200q from %s, want %s…", body, peer, prefix)
		}
	}
}

// gw is the gateway to send to: the one signed in to, or where it moved.
func (c *client) gw() *gateway {
	if c.follow != nil {
		return c.follow()
	}
	return c.g
}

func (c *client) signOut() {
	c.gw().request("GET", "/sign_out?id="+c.ssid, "")
}
