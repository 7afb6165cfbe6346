// Command devstack is `make run`: the whole system on one machine, on its
// embedded defaults —
//
//  1. a demo SIP Server (Kamailio, when installed) with DNs 1001 and 1002;
//  2. the Configuration Server, its data under VAR/confserv;
//  3. on the first run: hosts "localhost" and "sip-host", the SIP Server
//     application "demo-sip" and the gateway application "gw1" (autostart,
//     auto-restart) created in it, with their credentials;
//  4. the Local Control Agent, which reads its applications from the
//     Configuration Server and starts gw1.
//
// It prints where everything is, and on Ctrl-C (or SIGTERM) stops gw1
// gracefully through the LCA, then the LCA, the Configuration Server and
// Kamailio.
//
//	go run ./internal/devstack [-var var] [-bin bin] [-https-port 8443] ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

const (
	gwApp   = "gw1"
	sipApp  = "demo-sip"
	host    = "localhost" // the gateway's host, whose LCA runs it
	sipHost = "sip-host"  // the demo SIP Server's: Kamailio is not the LCA's to run
	demoDNs = "1001:demo1001,1002:demo1002"
)

type config struct {
	varDir, binDir                              string
	httpsPort, confservPort, lcaPort, sipPort   int
	rtpMin, rtpMax, webrtcMin, webrtcMax, calls int
}

func main() {
	var c config
	flag.StringVar(&c.varDir, "var", "var", "`directory` of the local state")
	flag.StringVar(&c.binDir, "bin", "bin", "`directory` of the built binaries (webrtc-gateway, confserv, lca)")
	flag.IntVar(&c.httpsPort, "https-port", 8443, "the gateway's HTTPS `port` (first run)")
	flag.IntVar(&c.confservPort, "confserv-port", 2020, "the Configuration Server's `port`")
	flag.IntVar(&c.lcaPort, "lca-port", 4999, "the Local Control Agent's `port`")
	flag.IntVar(&c.sipPort, "sip-port", 5070, "the demo SIP Server's `port`")
	flag.IntVar(&c.rtpMin, "rtp-port-min", 0, "first RTP `port` of the gateway (first run; 0: the default)")
	flag.IntVar(&c.rtpMax, "rtp-port-max", 0, "last RTP `port` (first run)")
	flag.IntVar(&c.webrtcMin, "webrtc-port-min", 0, "first WebRTC `port` (first run)")
	flag.IntVar(&c.webrtcMax, "webrtc-port-max", 0, "last WebRTC `port` (first run)")
	flag.IntVar(&c.calls, "max-calls", 0, "the gateway's call limit (first run; 0: the default)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintf(os.Stderr, "run: %v\n", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("run: "+format+"\n", args...) }

// proc is a process of the stack.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func start(name, logFile string, bin string, args ...string) (*proc, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: Ctrl-C at the terminal reaches devstack only,
	// which stops the stack in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		say("%s did not stop within %v: killed", p.name, grace)
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func run(c config) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	varDir, err := filepath.Abs(c.varDir)
	if err != nil {
		return err
	}
	binDir, err := filepath.Abs(c.binDir)
	if err != nil {
		return err
	}
	for _, d := range []string{"confserv", "lca", "log", gwApp, "demo-sip"} {
		if err := os.MkdirAll(filepath.Join(varDir, d), 0o700); err != nil {
			return err
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	// 1. The demo SIP Server.
	var kamailio *proc
	if exe, err := testpeers.LookBinary(testpeers.BinKamailio); err == nil {
		cfg := testpeers.KamailioConfig{Users: map[string]string{}}
		for _, pair := range strings.Split(demoDNs, ",") {
			u, pw, _ := strings.Cut(pair, ":")
			cfg.Users[u] = pw
		}
		text, err := cfg.Render(c.sipPort)
		if err != nil {
			return err
		}
		dir := filepath.Join(varDir, "demo-sip")
		if err := os.WriteFile(filepath.Join(dir, "kamailio.cfg"), text, 0o600); err != nil {
			return err
		}
		kamailio, err = start("Kamailio", filepath.Join(dir, "kamailio.log"), exe, "-f", filepath.Join(dir, "kamailio.cfg"),
			"-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-m", "64", "-M", "8")
		if err != nil {
			return err
		}
		defer kamailio.stop(5 * time.Second)
		say("demo SIP Server (Kamailio) on 127.0.0.1:%d, log %s; DNs 1001/demo1001 and 1002/demo1002", c.sipPort, rel(root, filepath.Join(dir, "kamailio.log")))
	} else {
		say("Kamailio is not installed (make deps as root installs it): no demo SIP Server; point gw1's sip/sip-server at yours")
	}

	// 2. The Configuration Server.
	csURL := fmt.Sprintf("http://127.0.0.1:%d", c.confservPort)
	csDir := filepath.Join(varDir, "confserv")
	confserv, err := start("confserv", filepath.Join(varDir, "log", "confserv.log"), filepath.Join(binDir, "confserv"),
		"-listen", "127.0.0.1", "-port", strconv.Itoa(c.confservPort), "-data", csDir)
	if err != nil {
		return err
	}
	defer confserv.stop(10 * time.Second)
	if err := waitHTTP(ctx, confserv, csURL+"/api/v1/whoami"); err != nil {
		return fmt.Errorf("confserv (log %s): %w", rel(root, filepath.Join(varDir, "log", "confserv.log")), err)
	}
	say("Configuration Server on %s (web UI %s/ui/), log %s", csURL, csURL, rel(root, filepath.Join(varDir, "log", "confserv.log")))

	// 3. The applications, on the first run.
	hostToken := filepath.Join(varDir, "lca", "host-token")
	if _, err := os.Stat(hostToken); errors.Is(err, os.ErrNotExist) {
		if err := provision(ctx, c, csURL, csDir, root, varDir, binDir); err != nil {
			return fmt.Errorf("first run: %w", err)
		}
	}
	if pw, err := os.ReadFile(filepath.Join(csDir, "initial-admin-password")); err == nil {
		say("sign in as admin with the password in %s (%s)", rel(root, filepath.Join(csDir, "initial-admin-password")), strings.TrimSpace(string(pw)))
	}

	// 4. The LCA, which starts gw1.
	lcaDir := filepath.Join(varDir, "lca")
	lca, err := start("lca", filepath.Join(varDir, "log", "lca.log"), filepath.Join(binDir, "lca"),
		"-port", strconv.Itoa(c.lcaPort), "-data", lcaDir, "-logs", filepath.Join(varDir, "log"),
		"-confserv-host", "127.0.0.1", "-confserv-port", strconv.Itoa(c.confservPort),
		"-host-name", host, "-token-file", hostToken)
	if err != nil {
		return err
	}
	defer lca.stop(10 * time.Second)
	lcaAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.lcaPort))
	ctl, err := dialLCA(ctx, lca, lcaAddr, filepath.Join(lcaDir, "control-token"))
	if err != nil {
		return fmt.Errorf("lca (log %s): %w", rel(root, filepath.Join(varDir, "log", "lca.log")), err)
	}
	defer ctl.Close()
	say("Local Control Agent on %s, log %s", lcaAddr, rel(root, filepath.Join(varDir, "log", "lca.log")))
	say("  bin/gwctl -lca %s -lca-token-file %s status", lcaAddr, rel(root, filepath.Join(lcaDir, "control-token")))
	// gw1 stops first: gracefully, through the LCA (which otherwise leaves
	// its applications running when it stops).
	defer stopGateway(ctl)

	gwLog := rel(root, filepath.Join(varDir, "log", gwApp+".log"))
	if err := waitRunning(ctx, ctl); err != nil {
		return fmt.Errorf("%s (log %s): %w", gwApp, gwLog, err)
	}
	say("gateway %s running, log %s", gwApp, gwLog)
	say("open https://localhost:%d/ (the demo softphone; accept the self-signed certificate once),", c.httpsPort)
	say("  register 1001 with password demo1001 in one tab and 1002 / demo1002 in another, then call 1002.")
	say("change gw1's options in the web UI or with gwctl: they apply live. Ctrl-C stops everything.")
	<-ctx.Done()
	say("stopping")
	return nil
}

// provision creates the host, the applications and the credentials.
func provision(ctx context.Context, c config, csURL, csDir, root, varDir, binDir string) error {
	pw, err := os.ReadFile(filepath.Join(csDir, "initial-admin-password"))
	if err != nil {
		return fmt.Errorf("no initial admin password (%w): remove %s to start afresh", err, csDir)
	}
	cs, err := client.New(client.Config{URL: csURL})
	if err != nil {
		return err
	}
	if _, err := cs.Login(ctx, "admin", strings.TrimSpace(string(pw))); err != nil {
		return err
	}
	for _, h := range []api.Host{{Meta: api.Meta{Name: host}, Address: "127.0.0.1", LCAPort: c.lcaPort}, {Meta: api.Meta{Name: sipHost}, Address: "127.0.0.1"}} {
		if _, err := cs.CreateHost(ctx, h); err != nil && !client.HasStatus(err, http.StatusConflict) {
			return err
		}
	}
	if _, err := cs.CreateApp(ctx, api.Application{Meta: api.Meta{Name: sipApp}, Template: "SIP_Server", Host: sipHost,
		Ports: map[string]int{"default": c.sipPort}}); err != nil && !client.HasStatus(err, http.StatusConflict) {
		return err
	}
	gwDir := filepath.Join(varDir, gwApp)
	tokenFile := filepath.Join(gwDir, "token")
	opts := api.Sections{"web": {"https-port": strconv.Itoa(c.httpsPort)}}
	media := map[string]string{}
	for k, v := range map[string]int{"rtp-port-min": c.rtpMin, "rtp-port-max": c.rtpMax, "webrtc-port-min": c.webrtcMin, "webrtc-port-max": c.webrtcMax, "max-calls": c.calls} {
		if v != 0 {
			media[k] = strconv.Itoa(v)
		}
	}
	if len(media) > 0 {
		opts["media"] = media
	}
	app := api.Application{Meta: api.Meta{Name: gwApp}, Template: "WebRTC_Gateway", Host: host,
		WorkingDir: root, CommandLine: filepath.Join(binDir, "webrtc-gateway"),
		Args: []string{"-host", "127.0.0.1", "-port", strconv.Itoa(c.confservPort), "-app", gwApp,
			"-app-token-file", tokenFile, "-data", gwDir, "-lca-port", strconv.Itoa(c.lcaPort)},
		AutoRestart: true, Connections: []string{sipApp}, Options: opts,
		Annex: api.Sections{"sml": {"autostart": "true", "heartbeat-period": "10"}}}
	if _, err := cs.CreateApp(ctx, app); err != nil && !client.HasStatus(err, http.StatusConflict) {
		return err
	}
	token, err := cs.NewCredential(ctx, gwApp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	hostToken, err := cs.NewHostCredential(ctx, host)
	if err != nil {
		return err
	}
	// Last: its presence says the first run is complete.
	if err := os.WriteFile(filepath.Join(varDir, "lca", "host-token"), []byte(hostToken+"\n"), 0o600); err != nil {
		return err
	}
	say("first run: created hosts %s and %s, the SIP Server application %s and the gateway application %s in the Configuration Server", host, sipHost, sipApp, gwApp)
	return nil
}

// waitHTTP waits until url answers (any status) while p runs.
func waitHTTP(ctx context.Context, p *proc, url string) error {
	hc := &http.Client{Timeout: time.Second}
	for {
		res, err := hc.Get(url)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return nil
		}
		if p.exited() {
			return errors.New("exited at start")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dialLCA connects to the LCA's control port once it serves.
func dialLCA(ctx context.Context, p *proc, addr, tokenFile string) (*control.Client, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		token, err := os.ReadFile(tokenFile)
		if err == nil {
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			c, err := control.Dial(dctx, addr, strings.TrimSpace(string(token)))
			cancel()
			if err == nil {
				return c, nil
			}
		}
		if p.exited() {
			return nil, errors.New("exited at start")
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("does not answer on %s: %v", addr, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitRunning waits until gw1 is Running (or ServiceUnavailable: up, its
// SIP Server silent), saying each status on the way.
func waitRunning(ctx context.Context, ctl *control.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last wire.Status
	for {
		apps, err := ctl.List(ctx)
		if err != nil {
			return err
		}
		for _, a := range apps {
			if a.Name != gwApp {
				continue
			}
			if a.Status != last {
				last = a.Status
				detail := ""
				if a.Detail != "" {
					detail = " (" + a.Detail + ")"
				}
				say("%s: %s%s", gwApp, a.Status, detail)
			}
			switch a.Status {
			case wire.Running, wire.ServiceUnavailable:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not running after 60 s (last status %s)", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stopGateway stops gw1 through the LCA and waits until it has stopped.
func stopGateway(ctl *control.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := ctl.Stop(ctx, gwApp, false); err != nil {
		say("stop %s: %v", gwApp, err)
		return
	}
	for ctx.Err() == nil {
		apps, err := ctl.List(ctx)
		if err != nil {
			say("stop %s: %v", gwApp, err)
			return
		}
		for _, a := range apps {
			if a.Name == gwApp && a.Status == wire.Stopped {
				say("%s stopped", gwApp)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	say("%s did not stop within 60 s", gwApp)
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
