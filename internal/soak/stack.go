package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/internal/childproc"
	"webrtcgw/internal/soak/farend"
	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

// Names of the objects the harness creates in the Configuration Server.
const (
	gwApp       = "gw1"
	sipApp      = "sip1"
	gwHost      = "soak-host"
	sipHost     = "sip-host"
	operator    = "soak"
	number      = "2000" // Kamailio routes it to the far end
	turnUser    = "soak"
	turnPass    = "soak-turn-secret"
	intruderDN  = "6666"
	intruderIP  = "127.0.0.2"
	firstDN     = 7001
	dnPasswordF = "pw-%d"
)

// stack is the system under test and its peers.
type stack struct {
	dir      string
	bin      string
	kam      *childproc.Process
	kamPort  int
	cs       *childproc.Process
	csPort   int
	admin    *client.Client // the admin, for credentials
	op       *client.Client // the operator who changes options
	lca      *childproc.Process
	lcaPort  int
	lcaCtl   *control.Client
	gw       *childproc.Process // nil under the LCA
	gwDir    string
	far      *farend.FarEnd
	turn     *turn.Server
	turnPort int
	held     []func() error // sockets held so that the gateway cannot bind them
}

// dnPassword returns the SIP password of a browser's DN.
func dnPassword(dn int) string { return fmt.Sprintf(dnPasswordF, dn) }

// startPeers starts the far end, Kamailio (DNs firstDN.., the number routed
// to the far end, INVITEs from the DNs challenged) and the TURN server.
func (h *harness) startPeers() error {
	s := h.st
	var err error
	if s.kamPort, err = freePort(); err != nil {
		return err
	}
	farLog, err := os.Create(filepath.Join(s.dir, "far-end.log"))
	if err != nil {
		return err
	}
	h.closers = append(h.closers, farLog.Close)
	s.far, err = farend.Start(farend.Config{
		Server:       net.JoinHostPort("127.0.0.1", strconv.Itoa(s.kamPort)),
		OnCall:       h.farCalls.deliver,
		AnswerDelay:  200 * time.Millisecond,
		GapThreshold: h.cfg.gapThreshold,
		SeqThreshold: seqThreshold(h.cfg.gapThreshold),
		Log:          slog.New(slog.NewTextHandler(farLog, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("far end: %w", err)
	}
	kcfg := testpeers.KamailioConfig{Users: map[string]string{}, AuthInvites: true,
		Routes: map[string]string{number: "sip:127.0.0.1:" + strconv.Itoa(s.far.Port())}}
	for i := range h.cfg.browsers {
		kcfg.Users[strconv.Itoa(firstDN+i)] = dnPassword(firstDN + i)
	}
	text, err := kcfg.Render(s.kamPort)
	if err != nil {
		return err
	}
	kdir := filepath.Join(s.dir, "kamailio")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(kdir, "kamailio.cfg"), text, 0o600); err != nil {
		return err
	}
	bin, err := testpeers.LookBinary(testpeers.BinKamailio)
	if err != nil {
		return err
	}
	s.kam, err = startProc("kamailio", filepath.Join(kdir, "kamailio.log"), kdir, bin, "-f", filepath.Join(kdir, "kamailio.cfg"),
		"-DD", "-E", "-Y", kdir, "-P", filepath.Join(kdir, "kamailio.pid"), "-w", kdir, "-m", "64", "-M", "8")
	if err != nil {
		return err
	}
	if err := waitFor(20*time.Second, s.kam, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return testpeers.SIPPing(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.kamPort)))
	}); err != nil {
		return fmt.Errorf("kamailio (log %s): %w", filepath.Join(kdir, "kamailio.log"), err)
	}
	h.log.Printf("Kamailio on 127.0.0.1:%d; far end on 127.0.0.1:%d (number %s)", s.kamPort, s.far.Port(), number)
	if h.cfg.turn {
		if err := s.startTURN(); err != nil {
			return fmt.Errorf("turn server: %w", err)
		}
		h.log.Printf("STUN/TURN server on 127.0.0.1:%d", s.turnPort)
	}
	return nil
}

// startTURN runs a pion TURN server (STUN binding requests too) on a free
// UDP port of 127.0.0.1, relaying on 127.0.0.1.
func (s *stack) startTURN() error {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.turnPort = conn.LocalAddr().(*net.UDPAddr).Port
	key := turn.GenerateAuthKey(turnUser, "soak", turnPass)
	s.turn, err = turn.NewServer(turn.ServerConfig{
		Realm: "soak",
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}},
	})
	if err != nil {
		conn.Close()
	}
	return err
}

// waitFor calls check until it succeeds, p exits, or within passes.
func waitFor(within time.Duration, p *childproc.Process, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%v): %w", p.Name(), p.Err(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startConfserv runs confserv and signs in its admin and an operator.
func (h *harness) startConfserv(ctx context.Context) error {
	s := h.st
	var err error
	if s.csPort, err = freePort(); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, "confserv")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s.cs, err = startProc("confserv", filepath.Join(dir, "confserv.log"), dir, filepath.Join(s.bin, "confserv"),
		"-listen", "127.0.0.1", "-port", strconv.Itoa(s.csPort), "-data", dir)
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(s.csPort)
	if err := waitFor(30*time.Second, s.cs, func() error {
		if _, err := os.Stat(filepath.Join(dir, "initial-admin-password")); err != nil {
			return err
		}
		res, err := http.Get(url + "/api/v1/whoami")
		if err == nil {
			res.Body.Close()
		}
		return err
	}); err != nil {
		return fmt.Errorf("confserv (log %s): %w", filepath.Join(dir, "confserv.log"), err)
	}
	pw := strings.TrimSpace(readFile(filepath.Join(dir, "initial-admin-password")))
	if s.admin, err = client.New(client.Config{URL: url}); err != nil {
		return err
	}
	if _, err := s.admin.Login(ctx, "admin", pw); err != nil {
		return fmt.Errorf("confserv admin login: %w", err)
	}
	opPass := "soak-operator-" + strconv.FormatUint(h.cfg.seed, 36)
	if _, err := s.admin.CreateOperator(ctx, api.Operator{Meta: api.Meta{Name: operator}, Role: api.RoleOperator, Password: opPass}); err != nil {
		return fmt.Errorf("create operator: %w", err)
	}
	if s.op, err = client.New(client.Config{URL: url}); err != nil {
		return err
	}
	if _, err := s.op.Login(ctx, operator, opPass); err != nil {
		return fmt.Errorf("operator login: %w", err)
	}
	h.log.Printf("confserv on %s (operator %s)", url, operator)
	return nil
}

// provision creates the hosts, the SIP Server application (Kamailio) and
// the gateway application with the initial options, and the credentials.
func (h *harness) provision(ctx context.Context, initial api.Sections, annex api.Sections) (api.Application, string, string, error) {
	s := h.st
	admin := s.admin
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: gwHost}, Address: "127.0.0.1", LCAPort: s.lcaPort}); err != nil {
		return api.Application{}, "", "", err
	}
	if _, err := admin.CreateHost(ctx, api.Host{Meta: api.Meta{Name: sipHost}, Address: "127.0.0.1"}); err != nil {
		return api.Application{}, "", "", err
	}
	if _, err := admin.CreateApp(ctx, api.Application{Meta: api.Meta{Name: sipApp}, Template: "SIP_Server", Host: sipHost,
		Ports: map[string]int{"default": s.kamPort}}); err != nil {
		return api.Application{}, "", "", err
	}
	tokenFile := filepath.Join(s.gwDir, "token")
	app := api.Application{Meta: api.Meta{Name: gwApp}, Template: "WebRTC_Gateway", Host: gwHost,
		Connections: []string{sipApp}, Options: initial, Annex: annex}
	if h.cfg.lca {
		app.WorkingDir = s.gwDir
		app.CommandLine = filepath.Join(s.bin, "webrtc-gateway")
		app.Args = h.gatewayArgs(tokenFile)
		app.AutoRestart = true
	}
	created, err := admin.CreateApp(ctx, app)
	if err != nil {
		return api.Application{}, "", "", fmt.Errorf("create %s: %w", gwApp, err)
	}
	token, err := admin.NewCredential(ctx, gwApp)
	if err != nil {
		return api.Application{}, "", "", err
	}
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return api.Application{}, "", "", err
	}
	hostToken := ""
	if h.cfg.lca {
		if hostToken, err = admin.NewHostCredential(ctx, gwHost); err != nil {
			return api.Application{}, "", "", err
		}
	}
	return created, tokenFile, hostToken, nil
}

func (h *harness) gatewayArgs(tokenFile string) []string {
	lcaPort := 0
	if h.cfg.lca {
		lcaPort = h.st.lcaPort
	}
	return []string{"-host", "127.0.0.1", "-port", strconv.Itoa(h.st.csPort), "-app", gwApp,
		"-app-token-file", tokenFile, "-data", filepath.Join(h.st.gwDir, "data"), "-lca-port", strconv.Itoa(lcaPort)}
}

// startGateway runs the gateway, directly or through the LCA, and waits
// until it serves HTTPS with its self-signed certificate.
func (h *harness) startGateway(ctx context.Context, tokenFile, hostToken string) error {
	s := h.st
	if h.cfg.lca {
		dir := filepath.Join(s.dir, "lca")
		if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
			return err
		}
		tf := filepath.Join(dir, "host-token")
		if err := os.WriteFile(tf, []byte(hostToken+"\n"), 0o600); err != nil {
			return err
		}
		var err error
		s.lca, err = startProc("lca", filepath.Join(dir, "lca.log"), dir, filepath.Join(s.bin, "lca"),
			"-port", strconv.Itoa(s.lcaPort), "-data", dir, "-logs", filepath.Join(dir, "logs"),
			"-confserv-host", "127.0.0.1", "-confserv-port", strconv.Itoa(s.csPort), "-host-name", gwHost, "-token-file", tf)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.lcaPort))
		if err := waitFor(30*time.Second, s.lca, func() error {
			token, err := os.ReadFile(filepath.Join(dir, "control-token"))
			if err != nil {
				return err
			}
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			s.lcaCtl, err = control.Dial(dctx, addr, strings.TrimSpace(string(token)))
			return err
		}); err != nil {
			return fmt.Errorf("lca (log %s): %w", filepath.Join(dir, "lca.log"), err)
		}
		h.log.Printf("LCA on %s starts %s", addr, gwApp)
	} else {
		var err error
		s.gw, err = startProc("webrtc-gateway", filepath.Join(s.gwDir, "gateway.out"), s.gwDir,
			filepath.Join(s.bin, "webrtc-gateway"), h.gatewayArgs(tokenFile)...)
		if err != nil {
			return err
		}
	}
	certFile := filepath.Join(s.gwDir, "data", "tls", "self-signed.crt")
	return waitFor(60*time.Second, s.gw, func() error {
		if h.cfg.lca && s.lca.Exited() {
			return errors.New("the LCA exited")
		}
		pem, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(readFile(h.certs.CAFile)))
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("no certificate in " + certFile)
		}
		h.pool = pool
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer c.CloseIdleConnections()
		res, err := c.Get(h.ep.get() + "/health")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("/health: %d", res.StatusCode)
		}
		return nil
	})
}

// stopGateway stops the gateway gracefully: through the LCA, or SIGTERM.
// It returns the exit code (under the LCA: 0 when it reached Stopped).
func (h *harness) stopGateway() int {
	s := h.st
	if !h.cfg.lca {
		if s.gw == nil {
			return 0
		}
		if !stopProc(s.gw, 60*time.Second) {
			h.log.Printf("the gateway did not stop within 60 s of SIGTERM: killed")
			return -1
		}
		return s.gw.ExitCode()
	}
	if s.lcaCtl == nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.lcaCtl.Stop(ctx, gwApp, false); err != nil {
		h.log.Printf("stop %s through the LCA: %v", gwApp, err)
		return -1
	}
	for ctx.Err() == nil {
		apps, err := s.lcaCtl.List(ctx)
		if err != nil {
			h.log.Printf("LCA list: %v", err)
			return -1
		}
		for _, a := range apps {
			if a.Name == gwApp && a.Status == wire.Stopped {
				if a.Detail != "" {
					h.log.Printf("%s stopped: %s", gwApp, a.Detail)
				}
				switch {
				case strings.Contains(a.Detail, "killed by"):
					return -1
				case strings.Contains(a.Detail, "exit code ") && !strings.Contains(a.Detail, "exit code 0"):
					return 1
				}
				return 0
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	h.log.Printf("%s did not stop within 60 s", gwApp)
	return -1
}

// stop stops everything that is still running, gateway first.
func (h *harness) stopStack() {
	s := h.st
	if s.lcaCtl != nil {
		s.lcaCtl.Close()
	}
	stopProc(s.lca, 15*time.Second)
	stopProc(s.cs, 15*time.Second)
	stopProc(s.kam, 5*time.Second)
	if s.far != nil {
		s.far.Close()
	}
	if s.turn != nil {
		s.turn.Close()
	}
	for _, c := range s.held {
		c()
	}
}
