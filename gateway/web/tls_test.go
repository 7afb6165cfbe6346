package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/options"
)

// writePair writes a certificate valid from notBefore for validity, and its
// key, into dir with the given base name.
func writePair(t *testing.T, dir, name string, notBefore time.Time) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := generateSelfSigned(notBefore.Add(time.Hour)) // NotBefore = now-1h
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// fingerprint returns the SHA-256 of the certificate a new TLS client sees.
func fingerprint(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	return hex.EncodeToString(sum[:])
}

func fileFingerprint(t *testing.T, certFile string) string {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}

func TestSelfSignedKept(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, created, err := SelfSigned(dir, now)
	if err != nil || !created {
		t.Fatalf("first SelfSigned = %v created=%v", err, created)
	}
	b, created, err := SelfSigned(dir, now)
	if err != nil || created || !bytes.Equal(a.Certificate[0], b.Certificate[0]) {
		t.Fatalf("second SelfSigned: created=%v err=%v; want the kept certificate", created, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls", "self-signed.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	// Close to expiry it is replaced.
	c, created, err := SelfSigned(dir, now.Add(selfSignedValidity-selfSignedRenew+time.Hour))
	if err != nil || !created || bytes.Equal(a.Certificate[0], c.Certificate[0]) {
		t.Fatalf("SelfSigned near expiry: created=%v err=%v; want a new certificate", created, err)
	}
	// A damaged file is reported, not silently replaced.
	os.WriteFile(filepath.Join(dir, "tls", "self-signed.crt"), []byte("garbage"), 0o600)
	if _, _, err := SelfSigned(dir, now); err == nil || !strings.Contains(err.Error(), "delete both files") {
		t.Errorf("SelfSigned with a damaged file = %v, want an error saying what to do", err)
	}
}

// TestCertificateReload is SECURITY-CASES 23: new handshakes use a new pair;
// an expired, mismatched or unreadable pair is refused and the old one kept.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert1, key1 := writePair(t, dir, "one", now)
	cert2, key2 := writePair(t, dir, "two", now)
	expiredCert, expiredKey := writePair(t, dir, "old", now.Add(-2*selfSignedValidity))
	ts := startServer(t, map[string]string{"certificate": cert1, "certificate-key": key1})
	addr := strings.TrimPrefix(ts.base, "https://")
	if got, want := fingerprint(t, addr), fileFingerprint(t, cert1); got != want {
		t.Fatalf("served certificate %s, want the configured one %s", got, want)
	}
	reload(t, ts, map[string]string{"certificate": cert2, "certificate-key": key2})
	if got, want := fingerprint(t, addr), fileFingerprint(t, cert2); got != want {
		t.Fatalf("after reload: served %s, want the new one %s", got, want)
	}
	port := strconv.Itoa(ts.srv.cfg.Load().web.HTTPSPort)
	for name, web := range map[string]map[string]string{
		"expired":    {"certificate": expiredCert, "certificate-key": expiredKey},
		"mismatched": {"certificate": cert1, "certificate-key": key2},
		"missing":    {"certificate": filepath.Join(dir, "nope.crt"), "certificate-key": key1},
	} {
		sections := options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": port}}
		for k, v := range web {
			sections["web"][k] = v
		}
		set, err := options.Parse(sections)
		if err != nil {
			t.Fatal(err)
		}
		err = ts.srv.Reload(context.Background(), set)
		if err == nil || !strings.HasPrefix(err.Error(), "web/certificate: ") {
			t.Errorf("%s pair: Reload = %v, want a web/certificate error", name, err)
		}
		if name == "expired" && !errors.Is(err, ErrCertificateTime) {
			t.Errorf("expired pair: %v, want ErrCertificateTime", err)
		}
		if got, want := fingerprint(t, addr), fileFingerprint(t, cert2); got != want {
			t.Errorf("%s pair: served %s, want the old one kept", name, got)
		}
	}
	// TLS 1.3 minimum: a TLS 1.2 client is refused on the next handshake.
	reload(t, ts, map[string]string{"certificate": cert2, "certificate-key": key2, "tls-min-version": "1.3"})
	if _, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Error("a TLS 1.2 client was accepted with tls-min-version 1.3")
	}
}

// TestListenerReload: a changed port binds the new listener first, then the
// old one answers its hanging /wait and closes.
func TestListenerReload(t *testing.T) {
	ts := startServer(t, map[string]string{"polling-timeout": "20"})
	id := ts.signIn("7001", "secret")
	held := make(chan int, 1)
	go func() {
		res, _ := ts.do("GET", "/wait?id="+id, "", nil)
		held <- res.StatusCode
	}()
	waitFor(t, func() bool {
		s := ts.srv.sessions.get(id)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.waiting == 1
	}, "the /wait is held")
	oldAddr := strings.TrimPrefix(ts.base, "https://")
	newPort := freePort(t)
	set, err := options.Parse(options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(newPort)}})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.linger = time.Second
	if err := ts.srv.Reload(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	// Both listeners serve for the linger: clients move without a refusal.
	if res, _ := ts.do("GET", "/health", "", nil); res.StatusCode != 200 {
		t.Errorf("the old listener during the linger: %d", res.StatusCode)
	}
	select {
	case <-held:
		t.Fatal("the held /wait was answered before the linger ended")
	default:
	}
	select {
	case status := <-held:
		if status != 200 {
			t.Errorf("held /wait on the old listener = %d, want an empty 200", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held /wait on the old listener was not answered")
	}
	ts.base = "https://127.0.0.1:" + strconv.Itoa(newPort)
	if res, body := ts.do("POST", "/message?from="+id+"&to=5000", "PING", nil); res.StatusCode != 200 {
		t.Fatalf("the session on the new listener: %d %q", res.StatusCode, body)
	}
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", oldAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the old listener closed")
	// A port in use is refused and the running listener kept.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	set, _ = options.Parse(options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)}})
	if err := ts.srv.Reload(context.Background(), set); err == nil || !strings.HasPrefix(err.Error(), "web/https-port: ") {
		t.Errorf("Reload onto a busy port = %v, want a web/https-port error", err)
	}
	if res, _ := ts.do("GET", "/health", "", nil); res.StatusCode != 200 {
		t.Errorf("running listener after a refused reload: %d", res.StatusCode)
	}
}

// TestListenerRetireAnswersEveryConnection: during the linger the old
// listener's answers say "Connection: close", and a client that connected
// to it just before it closed still gets the answer to its request.
func TestListenerRetireAnswersEveryConnection(t *testing.T) {
	ts := startServer(t, nil)
	oldAddr := strings.TrimPrefix(ts.base, "https://")
	tlsConf := ts.client.Transport.(*http.Transport).TLSClientConfig
	request := func(c net.Conn) (*http.Response, error) {
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
			return nil, err
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			res.Body.Close()
		}
		return res, err
	}
	// A connection that keeps alive before the change.
	before, err := tls.Dial("tcp", oldAddr, tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if res, err := request(before); err != nil || res.Close {
		t.Fatalf("before the change: %v, Connection: close %v; want kept alive", err, res != nil && res.Close)
	}

	set, err := options.Parse(options.Sections{"web": {"listen-address": "127.0.0.1", "https-port": strconv.Itoa(freePort(t))}})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.linger = 500 * time.Millisecond
	// Connected during the linger, the request sent only once the old
	// listener has stopped accepting.
	if err := ts.srv.Reload(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	late, err := tls.Dial("tcp", oldAddr, tlsConf)
	if err != nil {
		t.Fatalf("the old listener during the linger: %v", err)
	}
	defer late.Close()
	// A connection that never sends a request (a browser's preconnect)
	// holds the drain for a moment only.
	silent, err := tls.Dial("tcp", oldAddr, tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if res, err := request(before); err == nil && !res.Close {
		t.Error("an answer on the old listener during the linger keeps the connection alive; want Connection: close")
	}
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", oldAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the old listener stops accepting")
	res, err := request(late)
	if err != nil {
		t.Fatalf("a request on a connection the old listener accepted before it closed: %v; want an answer", err)
	}
	if res.StatusCode != 200 || !res.Close {
		t.Errorf("answer = %d, Connection: close %v; want 200 and close", res.StatusCode, res.Close)
	}
	silent.SetReadDeadline(time.Now().Add(freshConnWait + 2*time.Second)) // well before ReadHeaderTimeout
	if _, err := silent.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection without a request still open %v after the old listener stopped accepting", freshConnWait+2*time.Second)
	}
}
