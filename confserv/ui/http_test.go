package ui_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/confservtest"
)

// These tests use a plain HTTP client against the real confserv: the
// headers, the cookie and the CSRF defences, request by request.

// TestHeaders: every UI response carries the Content-Security-Policy and
// the other protective headers; static files are versioned and cached.
func TestHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := httpSignIn(t, f.cs.URL, "admin", f.cs.AdminPassword())
	for _, path := range []string{"/ui/login", "/ui/apps", "/ui/no-such-page", "/ui/static/ui.js"} {
		res, _ := s.get(t, path)
		h := res.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q X-Content-Type-Options %q", path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
	}
	res, body := s.get(t, "/ui/apps")
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("page Cache-Control = %q, want no-store", res.Header.Get("Cache-Control"))
	}
	m := strings.Index(body, "/ui/static/ui.js?v=")
	if m < 0 {
		t.Fatal("no versioned script in the page")
	}
	versioned := body[m : m+strings.IndexByte(body[m:], '"')]
	res, _ = s.get(t, versioned)
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("%s: %d %q %q", versioned, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"))
	}
	if res, _ := s.get(t, "/ui/static/nothing.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown static file: %d", res.StatusCode)
	}
	// The API is still where it was.
	if res, _ := s.get(t, "/api/v1/whoami"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/api/v1/whoami without a token: %d, want 401", res.StatusCode)
	}
}

// TestCookie: the session cookie is HttpOnly, SameSite=Strict, limited to
// /ui/, and Secure when confserv serves HTTPS.
func TestCookie(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, res *http.Response, secure bool) {
		t.Helper()
		var c *http.Cookie
		for _, k := range res.Cookies() {
			if k.Name == "confserv_session" {
				c = k
			}
		}
		if c == nil {
			t.Fatalf("no session cookie: %v", res.Header["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure != secure || c.Value == "" {
			t.Errorf("cookie %q: HttpOnly %v SameSite %v Path %q Secure %v, want true Strict /ui/ %v", res.Header.Get("Set-Cookie"), c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
		}
	}
	signIn := func(t *testing.T, hc *http.Client, base, password string) *http.Response {
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := hc.PostForm(base+"/ui/login", url.Values{"name": {"admin"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d", res.StatusCode)
		}
		return res
	}
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		cs := confservtest.Start(t, t.TempDir(), 0)
		check(t, signIn(t, &http.Client{}, cs.URL, cs.AdminPassword()), false)
	})
	t.Run("https", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cert, key, pool := selfSigned(t, dir)
		cs := confservtest.Start(t, filepath.Join(dir, "data"), 0, "-tls-cert", cert, "-tls-key", key)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		check(t, signIn(t, hc, "https://127.0.0.1:"+strconv.Itoa(cs.Port), cs.AdminPassword()), true)
	})
}

// TestBehindProxy: with confserv behind a TLS-terminating proxy listed in
// -trusted-proxies, sign-in failures typed into the page ban the client the
// proxy forwards (not the proxy: another client through it still signs in),
// the UI's own log lines name that client, and the session cookie is
// Secure when the proxy says the browser used HTTPS. From a peer that is
// not a trusted proxy, the headers are ignored.
func TestBehindProxy(t *testing.T) {
	t.Parallel()
	signIn := func(t *testing.T, base, password string, header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/ui/login", strings.NewReader(url.Values{"name": {"admin"}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header[k] = v
		}
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	from := func(client string) http.Header {
		return http.Header{"X-Forwarded-For": {client}, "X-Forwarded-Proto": {"https"}}
	}
	secure := func(res *http.Response) (secure, found bool) {
		for _, c := range res.Cookies() {
			if c.Name == "confserv_session" {
				return c.Secure, true
			}
		}
		return false, false
	}

	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		cs := confservtest.Start(t, t.TempDir(), 0, "-trusted-proxies", "127.0.0.1")
		for i := 0; i < 3; i++ {
			if res := signIn(t, cs.URL, "wrong-password", from("203.0.113.7")); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password %d: %d, want 401", i+1, res.StatusCode)
			}
		}
		if res := signIn(t, cs.URL, cs.AdminPassword(), from("203.0.113.7")); res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("banned client: %d, want 429", res.StatusCode)
		}
		res := signIn(t, cs.URL, cs.AdminPassword(), from("203.0.113.8"))
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("another client through the proxy: %d, want 303", res.StatusCode)
		}
		if s, ok := secure(res); !ok || !s {
			t.Errorf("cookie over HTTPS to the proxy: %q, want Secure", res.Header.Get("Set-Cookie"))
		}
		if s, _ := secure(signIn(t, cs.URL, cs.AdminPassword(), http.Header{"X-Forwarded-For": {"203.0.113.8"}})); s {
			t.Error("cookie over plain HTTP to the proxy is Secure")
		}
		// A cross-site form is refused and logged with the client's address.
		h := from("203.0.113.9")
		h.Set("Sec-Fetch-Site", "cross-site")
		if res := signIn(t, cs.URL, cs.AdminPassword(), h); res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site sign-in: %d, want 403", res.StatusCode)
		}
		out := cs.Output()
		for _, want := range []string{
			`login failed: client_ip=203.0.113.7 user=admin reason="wrong operator name or password"`,
			"client banned: client_ip=203.0.113.7",
			"cross-origin request refused",
			"client_ip=203.0.113.9",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in the log:\n%s", want, out)
			}
		}
	})

	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		cs := confservtest.Start(t, t.TempDir(), 0)
		res := signIn(t, cs.URL, cs.AdminPassword(), from("203.0.113.8"))
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d, want 303", res.StatusCode)
		}
		if s, _ := secure(res); s {
			t.Error("X-Forwarded-Proto from an untrusted peer made the cookie Secure")
		}
		for i := 0; i < 3; i++ {
			signIn(t, cs.URL, "wrong-password", from(fmt.Sprintf("203.0.113.%d", 10+i)))
		}
		if res := signIn(t, cs.URL, cs.AdminPassword(), from("203.0.113.99")); res.StatusCode != http.StatusTooManyRequests {
			t.Errorf("after three failures from the peer: %d, want 429", res.StatusCode)
		}
		if out := cs.Output(); !strings.Contains(out, "client banned: client_ip=127.0.0.1") || strings.Contains(out, "client_ip=203.0.113.") {
			t.Errorf("want the peer banned and no forwarded address logged:\n%s", out)
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// TestCSRF: a save is accepted only with the session's token and from the
// UI's own origin; every refusal changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "gw1")
	s := httpSignIn(t, f.cs.URL, "admin", f.cs.AdminPassword())
	before := f.app("gw1")
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "rev": {strconv.FormatUint(before.Revision, 10)},
			"v:options/web/https-port": {"9999"}, "b:options/web/https-port": {"8443"}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", form(""), nil},
		{"wrong token", form("AAAA" + s.csrf[4:]), nil},
		{"another session's token", form(httpSignIn(t, f.cs.URL, "admin", f.cs.AdminPassword()).csrf), nil},
		{"cross-site fetch", form(s.csrf), http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"same-site fetch", form(s.csrf), http.Header{"Sec-Fetch-Site": {"same-site"}}},
		{"foreign origin", form(s.csrf), http.Header{"Origin": {"https://evil.example"}}},
	} {
		res, body := s.post(t, "/ui/apps/gw1", tc.form, tc.header)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Refused") {
			t.Errorf("%s: status %d, want 403 with a refusal", tc.name, res.StatusCode)
		}
	}
	if a := f.app("gw1"); a.Revision != before.Revision {
		t.Fatalf("a refused post saved revision %d", a.Revision)
	}
	// The same form with the token, from the page's origin, is saved.
	res, _ := s.post(t, "/ui/apps/gw1", form(s.csrf), http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {f.cs.URL}})
	if res.StatusCode != http.StatusSeeOther || f.app("gw1").Options["web"]["https-port"] != "9999" {
		t.Errorf("a valid post: status %d, https-port %q", res.StatusCode, f.app("gw1").Options["web"]["https-port"])
	}
	// Sign-in from another origin is refused too (login CSRF).
	jar, _ := cookiejar.New(nil)
	anon := &session{hc: &http.Client{Jar: jar}, base: f.cs.URL}
	res, _ = anon.post(t, "/ui/login", url.Values{"name": {"admin"}, "password": {f.cs.AdminPassword()}}, http.Header{"Origin": {"https://evil.example"}})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin sign-in: %d, want 403", res.StatusCode)
	}
}

// TestRedirects: the sign-in page goes back only to pages of the UI, and
// a redirect's message is one of the UI's, never text from the URL.
func TestRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for next, want := range map[string]string{
		"/ui/hosts":               "/ui/hosts",
		"https://evil.example/ui": "/ui/apps",
		"//evil.example/ui/":      "/ui/apps",
		"/api/v1/backup":          "/ui/apps",
		"/ui/\\evil":              "/ui/apps",
	} {
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := hc.PostForm(f.cs.URL+"/ui/login", url.Values{"name": {"admin"}, "password": {f.cs.AdminPassword()}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next=%q: Location %q, want %q", next, got, want)
		}
	}
	s := httpSignIn(t, f.cs.URL, "admin", f.cs.AdminPassword())
	_, body := s.get(t, "/ui/apps?done=created&arg=gw9")
	if !strings.Contains(body, "Created gw9.") {
		t.Error("the created message is not shown")
	}
	_, body = s.get(t, "/ui/apps?done="+url.QueryEscape("Your password expired: call +1 555")+"&arg=x")
	if strings.Contains(body, "call +1 555") {
		t.Error("a message from the URL is shown")
	}
	_, body = s.get(t, "/ui/apps?done=created&arg="+url.QueryEscape("<b>evil</b> text"))
	if strings.Contains(body, "evil") {
		t.Error("an argument that is not a name is shown")
	}
}

// TestRoles: the server refuses what a role may not do, whatever the page
// offers; an operator may not manage operators.
func TestRoles(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "gw1")
	f.createOperator("olga", api.RoleOperator, "olga-password")
	f.createOperator("vera", api.RoleViewer, "vera-password")
	before := f.app("gw1")
	v := httpSignIn(t, f.cs.URL, "vera", "vera-password")
	o := httpSignIn(t, f.cs.URL, "olga", "olga-password")
	for _, tc := range []struct {
		who  *session
		name string
		path string
		form url.Values
	}{
		{v, "viewer saves", "/ui/apps/gw1", url.Values{"rev": {strconv.FormatUint(before.Revision, 10)}, "v:options/web/https-port": {"9999"}}},
		{v, "viewer saves over a stale revision", "/ui/apps/gw1", url.Values{"rev": {"1"}, "v:options/web/https-port": {"9999"}}},
		{v, "viewer saves malformed ports", "/ui/apps/gw1", url.Values{"rev": {strconv.FormatUint(before.Revision, 10)}, "v:ports": {"x"}}},
		{v, "viewer creates an application", "/ui/apps", url.Values{"name": {"gw9"}, "template": {"WebRTC_Gateway"}}},
		{v, "viewer deletes an application", "/ui/apps/gw1/delete", url.Values{"rev": {strconv.FormatUint(before.Revision, 10)}}},
		{v, "viewer creates a host", "/ui/hosts", url.Values{"name": {"h9"}, "address": {"10.0.0.9"}}},
		{o, "operator creates an operator", "/ui/operators", url.Values{"name": {"eve"}, "role": {"admin"}, "password": {"eve-password"}}},
		{o, "operator promotes itself", "/ui/operators/olga", url.Values{"role": {"admin"}, "rev": {"1"}}},
	} {
		tc.form.Set("csrf", tc.who.csrf)
		res, _ := tc.who.post(t, tc.path, tc.form, nil)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, res.StatusCode)
		}
	}
	if a := f.app("gw1"); a.Revision != before.Revision {
		t.Errorf("refused writes changed gw1 (revision %d)", a.Revision)
	}
	if ops, _ := f.admin.Operators(f.ctx); len(ops) != 3 {
		t.Errorf("operators after refused writes: %d, want 3", len(ops))
	}
	if res, _ := o.get(t, "/ui/operators"); res.StatusCode != http.StatusForbidden {
		t.Errorf("operator on the operators' page: %d, want 403", res.StatusCode)
	}
	// A daemon's token is not a UI session.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(f.cs.URL + "/ui/")
	jar.SetCookies(u, []*http.Cookie{{Name: "confserv_session", Value: f.appTokens["gw1"], Path: "/ui/"}})
	d := &session{hc: &http.Client{Jar: jar}, base: f.cs.URL}
	if res, _ := d.get(t, "/ui/apps/gw1"); res.StatusCode != http.StatusForbidden {
		t.Errorf("a daemon's token as the session cookie: %d, want 403", res.StatusCode)
	}
}
