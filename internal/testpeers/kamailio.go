package testpeers

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"webrtcgw/internal/childproc"
)

// Digest algorithms that Kamailio's auth module (5.6) can challenge with
// (modparam "algorithm"; RFC 8760 for SHA-256 in SIP).
const (
	DigestMD5    = "MD5"
	DigestSHA256 = "SHA-256"
)

// KamailioConfig describes the SIP Server that [StartKamailio] runs.
type KamailioConfig struct {
	// Users maps a user name to its password. REGISTER is challenged
	// (401, realm = the To domain) and only these users can register; a
	// wrong password or an unknown user gets 403. Names may use letters,
	// digits and _ . + - * #; passwords are printable ASCII without
	// ", \ and $.
	Users map[string]string

	// Routes maps a called user (the user part of the Request-URI, such
	// as a number) to a SIP URI such as "sip:127.0.0.1:5070" that initial
	// requests for it are relayed to when it is not registered.
	Routes map[string]string

	// Algorithm is the digest algorithm of the challenges: DigestMD5 (the
	// default when empty) or DigestSHA256.
	Algorithm string

	// AuthInvites challenges INVITEs whose From user is in Users with a
	// 407 (proxy authentication, realm = the From domain); a wrong
	// password gets 403. INVITEs from other users are not challenged.
	AuthInvites bool

	// Port is the UDP and TCP port on 127.0.0.1; 0 picks a free one.
	Port int

	// Verbose logs at debug level instead of info.
	Verbose bool

	// MaxExpires caps the registration expiry the registrar grants
	// (registrar max_expires; 0: 3600), to see clients refresh early.
	MaxExpires int

	// TLS also listens for SIP over TLS (RFC 3261 section 26.2) on a port of
	// its own ([Kamailio.TLSAddr]), with a self-signed certificate for
	// 127.0.0.1 ([Kamailio.CertFile]). It needs the Debian package
	// kamailio-tls-modules.
	TLS bool

	// RegisterStatus, when not 0, answers every REGISTER with this final
	// status (such as 503) before authentication: a SIP Server that cannot
	// serve registrations.
	RegisterStatus int

	// OptionsStatus, when not 0, answers every OPTIONS with this final
	// status (such as 404 or 405): a SIP Server without OPTIONS support.
	// [SIPPing] (From user "probe"), StartKamailio's readiness probe,
	// still gets its 200.
	OptionsStatus int

	tlsPort   int    // set by StartKamailio
	tlsConfig string // path of tls.cfg, set by StartKamailio
}

// kamailioTLSModule is where Debian's kamailio-tls-modules puts tls.so.
const kamailioTLSModule = "/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so"

// writeTLSFiles writes a self-signed certificate for 127.0.0.1 and the tls
// module's configuration into dir; it returns the tls.cfg and cert paths.
func writeTLSFiles(dir string) (cfgPath, certPath string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "testpeers-kamailio"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certPath = filepath.Join(dir, "kamailio-cert.pem")
	keyPath := filepath.Join(dir, "kamailio-key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	cfgPath = filepath.Join(dir, "tls.cfg")
	cfg := fmt.Sprintf("[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\nprivate_key = %s\ncertificate = %s\n\n"+
		"[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n", keyPath, certPath)
	return cfgPath, certPath, os.WriteFile(cfgPath, []byte(cfg), 0o644)
}

// kamailioTemplate is the text/template of the configuration.
//
//go:embed kamailio.cfg.tmpl
var kamailioTemplate string

var kamailioCfg = template.Must(template.New("kamailio.cfg").Parse(kamailioTemplate))

var (
	kamailioNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.+*#-]+$`)
	kamailioPasswordRE = regexp.MustCompile(`^[\x21-\x7e]+$`)
	kamailioRouteRE    = regexp.MustCompile(`^sips?:[A-Za-z0-9_.:;=@\[\]-]+$`)
)

// kv is one entry of an htable in the configuration.
type kv struct{ Key, Value string }

// Render returns the Kamailio configuration for c listening on port, or an
// error when c holds a value the configuration cannot express.
func (c KamailioConfig) Render(port int) ([]byte, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("kamailio: invalid port %d", port)
	}
	algorithm := c.Algorithm
	switch algorithm {
	case "":
		algorithm = DigestMD5
	case DigestMD5, DigestSHA256:
	default:
		return nil, fmt.Errorf("kamailio: unsupported digest algorithm %q (want %s or %s)", c.Algorithm, DigestMD5, DigestSHA256)
	}
	var users, routes []kv
	for name, pw := range c.Users {
		if !kamailioNameRE.MatchString(name) {
			return nil, fmt.Errorf("kamailio: invalid user name %q", name)
		}
		if !kamailioPasswordRE.MatchString(pw) || strings.ContainsAny(pw, `"\$`) {
			return nil, fmt.Errorf("kamailio: invalid password for %q (printable ASCII without \", \\ and $)", name)
		}
		users = append(users, kv{name, pw})
	}
	for number, uri := range c.Routes {
		if !kamailioNameRE.MatchString(number) {
			return nil, fmt.Errorf("kamailio: invalid route number %q", number)
		}
		if !kamailioRouteRE.MatchString(uri) {
			return nil, fmt.Errorf("kamailio: invalid route target %q for %q (want sip:host:port)", uri, number)
		}
		routes = append(routes, kv{number, uri})
	}
	byKey := func(a, b kv) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(users, byKey)
	slices.SortFunc(routes, byKey)
	debug := 2
	if c.Verbose {
		debug = 3
	}
	maxExpires := c.MaxExpires
	if maxExpires <= 0 {
		maxExpires = 3600
	}
	for _, st := range []int{c.RegisterStatus, c.OptionsStatus} {
		if st != 0 && (st < 300 || st > 699) {
			return nil, fmt.Errorf("kamailio: invalid final error status %d (want 300 to 699)", st)
		}
	}
	if c.TLS && (c.tlsPort == 0 || c.tlsConfig == "") {
		return nil, errors.New("kamailio: TLS needs the port and tls.cfg StartKamailio sets")
	}
	var b bytes.Buffer
	err := kamailioCfg.Execute(&b, struct {
		Port          int
		Debug         int
		Algorithm     string
		AuthInvites   bool
		MaxExpires    int
		TLS           bool
		TLSPort       int
		TLSConfig     string
		Users, Routes []kv
		Register      int
		RegisterWhy   string
		Options       int
		OptionsWhy    string
	}{port, debug, algorithm, c.AuthInvites, maxExpires, c.TLS, c.tlsPort, c.tlsConfig, users, routes,
		c.RegisterStatus, reasonPhrase(c.RegisterStatus), c.OptionsStatus, reasonPhrase(c.OptionsStatus)})
	return b.Bytes(), err
}

// reasonPhrase returns the reason phrase of a final error status (RFC 3261
// section 21).
func reasonPhrase(status int) string {
	switch status {
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	}
	return "Refused"
}

// Kamailio is a running Kamailio started by [StartKamailio].
type Kamailio struct {
	port     int
	tlsPort  int    // 0 without TLS
	certPath string // the TLS certificate (and its own CA)
	cfgPath  string
	logPath  string
	proc     *childproc.Process
	stop     sync.Once
}

// kamailioReadyTimeout bounds the wait for Kamailio to answer OPTIONS.
const kamailioReadyTimeout = 15 * time.Second

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("port in use")

// StartKamailio runs Kamailio with the configuration that cfg describes, in
// the foreground (-DD -E) with its runtime directory, configuration and log
// under t.TempDir(), waits until it answers an OPTIONS request, and stops it
// when t ends. Its log is printed when t fails. It skips (or fails under
// E2E_REQUIRED=1) when kamailio is not installed.
func StartKamailio(t testing.TB, cfg KamailioConfig) *Kamailio {
	t.Helper()
	Require(t, BinKamailio)
	bin, _ := LookBinary(BinKamailio)
	dir := t.TempDir()
	var certPath string
	if cfg.TLS {
		if _, err := os.Stat(kamailioTLSModule); err != nil {
			SkipOrFail(t, "kamailio TLS: %s missing (Debian package kamailio-tls-modules)", kamailioTLSModule)
		}
		var err error
		if cfg.tlsConfig, certPath, err = writeTLSFiles(dir); err != nil {
			t.Fatalf("StartKamailio: %v", err)
		}
		cfg.tlsPort = FreePort(t, NetTCP)
	}
	for attempt := 1; ; attempt++ {
		port := cfg.Port
		if port == 0 {
			port = FreePort(t, NetSIP)
		}
		text, err := cfg.Render(port)
		if err != nil {
			t.Fatalf("StartKamailio: %v", err)
		}
		k := &Kamailio{
			port:     port,
			tlsPort:  cfg.tlsPort,
			certPath: certPath,
			cfgPath:  filepath.Join(dir, "kamailio.cfg"),
			logPath:  filepath.Join(dir, fmt.Sprintf("kamailio-%d.log", attempt)),
		}
		if err := os.WriteFile(k.cfgPath, text, 0o644); err != nil {
			t.Fatalf("StartKamailio: %v", err)
		}
		err = k.start(t, bin, dir)
		if err == nil {
			return k
		}
		// Another process can take a free port before Kamailio binds
		// it: try another one.
		if errors.Is(err, errPortInUse) && cfg.Port == 0 && attempt < 3 {
			continue
		}
		t.Fatalf("StartKamailio: %v\n--- %s ---\n%s", err, k.logPath, readTail(k.logPath, maxLogPrint))
	}
}

// start runs the process and waits until it is ready. On success it has
// registered the cleanups that stop it and print its log.
func (k *Kamailio) start(t testing.TB, bin, dir string) error {
	logFile := openLog(t, k.logPath)
	cmd := exec.Command(bin,
		"-f", k.cfgPath,
		"-DD", "-E",
		"-Y", dir,
		"-P", filepath.Join(dir, "kamailio.pid"),
		"-w", dir,
		"-m", "64", "-M", "8",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := childproc.Start("kamailio", cmd)
	if err != nil {
		return err
	}
	k.proc = proc

	ctx, cancel := context.WithTimeout(context.Background(), kamailioReadyTimeout)
	defer cancel()
	if err := k.waitReady(ctx); err != nil {
		proc.Stop(time.Second)
		if strings.Contains(readTail(k.logPath, maxLogPrint), "Address already in use") {
			return fmt.Errorf("kamailio on port %d: %w: %w", k.port, errPortInUse, err)
		}
		return fmt.Errorf("kamailio on port %d: %w", k.port, err)
	}
	printOnFailure(t, "kamailio", k.logPath, k.cfgPath)
	t.Cleanup(k.Stop)
	return nil
}

// waitReady polls with OPTIONS until Kamailio answers 200, the process
// exits, or ctx ends.
func (k *Kamailio) waitReady(ctx context.Context) error {
	const interval = 50 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		err := SIPPing(pctx, k.Addr())
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-k.proc.Done():
			return fmt.Errorf("exited before it was ready (%v)", k.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", kamailioReadyTimeout, err)
		case <-time.After(interval):
		}
	}
}

// Addr returns the host:port of the SIP listener, "127.0.0.1:PORT" (UDP and
// TCP).
func (k *Kamailio) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)) }

// TLSAddr returns the "127.0.0.1:port" of the TLS listener ("" without TLS).
func (k *Kamailio) TLSAddr() string {
	if k.tlsPort == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.tlsPort))
}

// CertFile returns the PEM file of the TLS certificate, self-signed: clients
// trust it as their CA.
func (k *Kamailio) CertFile() string { return k.certPath }

// Port returns the SIP port (UDP and TCP).
func (k *Kamailio) Port() int { return k.port }

// URI returns the SIP URI of the server, "sip:127.0.0.1:PORT".
func (k *Kamailio) URI() string { return "sip:" + k.Addr() }

// ConfigPath returns the path of the generated configuration file.
func (k *Kamailio) ConfigPath() string { return k.cfgPath }

// Log returns what Kamailio has logged so far (the last 64 KiB).
func (k *Kamailio) Log() string { return readTail(k.logPath, maxLogPrint) }

// Stop stops Kamailio (SIGTERM, then SIGKILL of its process group after 5 s)
// and waits for it. It is safe to call more than once; t.Cleanup calls it.
func (k *Kamailio) Stop() {
	k.stop.Do(func() { k.proc.Stop(5 * time.Second) })
}

// SIPPing sends one OPTIONS request over UDP to addr and waits for a 200
// response until ctx ends.
func SIPPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp4", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	local := conn.LocalAddr().String()
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	req := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-probe-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=" + id + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: probe-" + id + "@127.0.0.1\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		return fmt.Errorf("OPTIONS answered %q", line)
	}
	return nil
}
