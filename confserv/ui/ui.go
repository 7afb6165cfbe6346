// Package ui is the Configuration Server's web UI, served at /ui/ by confserv
// (docs/confserv-ui.md): operators sign in, see hosts and applications with the
// live status their Local Control Agents report, edit an application's
// options with editors generated from its template's metadata, read the audit
// history, import templates and, as admins, manage operators.
//
// # A thin front over the JSON API
//
// The UI holds no state and makes no decision of its own: every page is
// built from, and every form is sent to, the JSON API (docs/confserv-api.md),
// called in process through its http.Handler (apicall.go). So validation,
// revisions and 412 conflicts, roles, the audit log, secret masking, and the
// counting, banning and logging of failed sign-ins stay in one place, and the
// UI cannot drift from gwctl or the daemons:
//
//   - The session cookie carries the API session token that POST /login
//     returned; each UI request calls the API with it as its bearer token.
//   - The in-process request carries the browser's RemoteAddr (and its
//     X-Forwarded-For, believed only from the API's trusted proxies), so a
//     wrong password typed into the sign-in page is counted and banned against
//     the browser's address, and logged in the same fixed-format line
//     (gateway/ban), as one sent to the API. The UI's own log lines name the
//     same address (internal/clientip, with the same trusted proxies).
//   - A viewer's save is refused by the API (403) whatever the page shows; the
//     page only reflects the role by disabling the editors.
//
// The price is one in-process API call per read (a map lookup and a JSON
// round trip in memory), which is small next to rendering the page.
//
// # Security
//
//   - The session cookie is HttpOnly, SameSite=Strict, Secure when the request
//     came over TLS (to confserv, or to a trusted proxy that says so in
//     X-Forwarded-Proto), limited to /ui/ and expires with the API session.
//   - Cross-site request forgery is refused twice: by Go's
//     http.CrossOriginProtection (Sec-Fetch-Site, then Origin against Host)
//     for every unsafe request, and by a token in every form of a signed-in
//     page (an HMAC of the session token with a key of this process), checked
//     on every POST.
//   - Every page carries a Content-Security-Policy that allows scripts and
//     styles from /ui/static only (no inline script, style or style
//     attribute), no framing, and forms posting to this origin only.
//   - Secret options (type secret in the metadata) are never rendered: the API
//     masks them and the editor shows only whether one is set; a new value
//     typed into the page is never sent back to the browser, even when the
//     save fails.
//
// # Forms and conflicts
//
// The options editor posts, besides each editor's value ("v:KEY"), the value
// the untouched editor held when the page was rendered ("b:KEY") and the
// revision it was read at. Only the fields whose value differs from their
// base are applied, onto a fresh read of the application, and written with
// If-Match: the revision. When someone else saved meanwhile (412), the page
// is rendered again over the current application with the operator's edits
// kept, each field changed meanwhile marked, and the audit entries since the
// operator's revision listed; saving again applies the edits over the new
// revision. Invalid values (422) are shown next to their option, nothing is
// saved, and the edits stay in the form.
package ui

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/api"
	"webrtcgw/internal/clientip"
)

//go:embed templates/*.html static
var files embed.FS

// Prefix is the path the UI is served under.
const Prefix = "/ui/"

// cookieName is the session cookie: the API session token.
const cookieName = "confserv_session"

// maxForm bounds a posted form (a template import is the largest).
const maxForm = 8 << 20

// csp is the Content-Security-Policy of every UI response.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Deps are the UI's collaborators.
type Deps struct {
	// API is the JSON API handler (server.Server.Handler), which answers
	// under /api/v1.
	API http.Handler
	Log hclog.Logger
	Now func() time.Time // nil: time.Now
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (the API's, server.Deps.TrustedProxies).
	TrustedProxies []netip.Prefix
}

// UI serves the web UI.
type UI struct {
	api     http.Handler
	log     hclog.Logger
	now     func() time.Time
	proxies []netip.Prefix
	csrfKey []byte
	pages   map[string]*template.Template
	static  map[string]staticFile
}

type staticFile struct {
	data        []byte
	contentType string
	hash        string
}

// pageNames are the templates/*.html files other than layout.html.
var pageNames = []string{"login", "apps", "app", "audit", "hosts", "host", "templates", "template", "operators", "error"}

// New returns the UI over deps.API. It fails only if an embedded template
// does not parse.
func New(deps Deps) (*UI, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = hclog.NewNullLogger()
	}
	u := &UI{api: deps.API, log: deps.Log, now: deps.Now, proxies: deps.TrustedProxies, csrfKey: make([]byte, 32),
		pages: map[string]*template.Template{}, static: map[string]staticFile{}}
	rand.Read(u.csrfKey)
	statics, err := fs.Glob(files, "static/*")
	if err != nil {
		return nil, err
	}
	for _, name := range statics {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		u.static[path.Base(name)] = staticFile{data: data, contentType: ct, hash: hex.EncodeToString(sum[:8])}
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(u.funcs()).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// Handler returns the UI's handler for every path under Prefix.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/apps", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /ui/static/{file}", u.serveStatic)
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.login)
	mux.HandleFunc("POST /ui/logout", u.signedIn(u.logout))

	mux.HandleFunc("GET /ui/apps", u.signedIn(u.appsPage))
	mux.HandleFunc("POST /ui/apps", u.signedIn(u.createApp))
	mux.HandleFunc("GET /ui/apps/{name}", u.signedIn(u.appPage))
	mux.HandleFunc("POST /ui/apps/{name}", u.signedIn(u.saveApp))
	mux.HandleFunc("POST /ui/apps/{name}/delete", u.signedIn(u.deleteApp))
	mux.HandleFunc("GET /ui/apps/{name}/audit", u.signedIn(u.appAudit))

	mux.HandleFunc("GET /ui/hosts", u.signedIn(u.hostsPage))
	mux.HandleFunc("POST /ui/hosts", u.signedIn(u.createHost))
	mux.HandleFunc("GET /ui/hosts/{name}", u.signedIn(u.hostPage))
	mux.HandleFunc("POST /ui/hosts/{name}", u.signedIn(u.saveHost))
	mux.HandleFunc("POST /ui/hosts/{name}/delete", u.signedIn(u.deleteHost))

	mux.HandleFunc("GET /ui/templates", u.signedIn(u.templatesPage))
	mux.HandleFunc("POST /ui/templates", u.signedIn(u.importTemplate))
	mux.HandleFunc("GET /ui/templates/{name}", u.signedIn(u.templatePage))
	mux.HandleFunc("POST /ui/templates/{name}/delete", u.signedIn(u.deleteTemplate))

	mux.HandleFunc("GET /ui/operators", u.signedIn(u.operatorsPage))
	mux.HandleFunc("POST /ui/operators", u.signedIn(u.createOperator))
	mux.HandleFunc("POST /ui/operators/{name}", u.signedIn(u.saveOperator))
	mux.HandleFunc("POST /ui/operators/{name}/delete", u.signedIn(u.deleteOperator))

	mux.HandleFunc("GET /ui/audit", u.signedIn(u.auditPage))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		u.errorPage(w, r, nil, http.StatusNotFound, "There is no such page.")
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "client_ip", u.clientIP(r))
		u.errorPage(w, r, nil, http.StatusForbidden,
			"Refused: this form was sent from another site. Changes are accepted only from the Configuration Server's own pages.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets the headers every UI response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := u.static[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.hash+`"`)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// asset returns the versioned URL of a static file.
func (u *UI) asset(name string) string {
	return Prefix + "static/" + name + "?v=" + u.static[name].hash
}

// request is one signed-in request.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	api  *apiClient
	user api.Whoami
	csrf string
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// canWrite reports whether the operator's role may change configuration
// objects (the API decides; this only shapes the page).
func (rq *request) canWrite() bool {
	return rq.user.Role == api.RoleAdmin || rq.user.Role == api.RoleOperator
}

// signedIn resolves the session cookie through the API (whoami), sends the
// browser to the sign-in page when it is missing or expired, and checks the
// CSRF token of a POST.
func (u *UI) signedIn(next func(*request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		if err != nil || c.Value == "" {
			u.toLogin(w, r)
			return
		}
		rq := &request{w: w, r: r, api: &apiClient{h: u.api, from: r, token: c.Value}, csrf: u.csrfToken(c.Value)}
		if _, err := rq.api.call(r.Context(), http.MethodGet, "whoami", nil, &rq.user, 0); err != nil {
			if statusOf(err) == http.StatusUnauthorized {
				u.clearCookie(w, r)
				u.toLogin(w, r)
				return
			}
			u.errorPage(w, r, nil, http.StatusBadGateway, "The Configuration Server API did not answer: "+err.Error())
			return
		}
		if rq.user.Role == api.RoleApplication || rq.user.Role == api.RoleHost {
			u.errorPage(w, r, nil, http.StatusForbidden, "The web UI is for operators.")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			var err error
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				err = r.ParseMultipartForm(maxForm)
			} else {
				err = r.ParseForm()
			}
			if err != nil {
				u.errorPage(w, r, rq, http.StatusBadRequest, "The form could not be read: "+err.Error())
				return
			}
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(rq.csrf)) {
				u.log.Warn("form without a valid csrf token refused", "path", r.URL.Path, "operator", rq.user.Name, "client_ip", u.clientIP(r))
				u.errorPage(w, r, rq, http.StatusForbidden,
					"Refused: the form did not come from this session's pages (it is from an older session, or from another site). Reload the page and try again.")
				return
			}
		}
		next(rq)
	}
}

// csrfToken is the token of the forms of a session.
func (u *UI) csrfToken(session string) string {
	m := hmac.New(sha256.New, u.csrfKey)
	m.Write([]byte("csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// toLogin sends the browser to the sign-in page, back here afterwards.
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/ui/login"
	if r.Method == http.MethodGet && r.URL.Path != "/ui/apps" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns next when it is a path of the UI, else the default page:
// the sign-in page must not redirect elsewhere.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(next, Prefix) || strings.ContainsAny(next, "\\\r\n\t") || strings.HasPrefix(next, "//") {
		return "/ui/apps"
	}
	return next
}

// clientIP is the browser's address: the peer, or the client a trusted
// proxy forwarded (as the API sees it).
func (u *UI) clientIP(r *http.Request) netip.Addr {
	ip, _ := clientip.From(r, u.proxies)
	return ip
}

// https reports whether the browser used HTTPS: to confserv, or to a
// trusted proxy that says so.
func (u *UI) https(r *http.Request) bool {
	_, forwardedHTTPS := clientip.From(r, u.proxies)
	return r.TLS != nil || forwardedHTTPS
}

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: token, Path: Prefix, Expires: expires,
		HttpOnly: true, Secure: u.https(r), SameSite: http.SameSiteStrictMode})
}

func (u *UI) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: u.https(r), SameSite: http.SameSiteStrictMode})
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string // the navigation entry of the page
	User     *api.Whoami
	CSRF     string
	CanWrite bool
	Admin    bool
	Flash    string   // a success message
	Error    string   // a failure message
	Problems []string // its details
	Data     any
}

// newPage returns a page for rq (nil: not signed in).
func newPage(rq *request, title, nav string, data any) *page {
	p := &page{Title: title, Nav: nav, Data: data}
	if rq != nil {
		p.User, p.CSRF, p.CanWrite, p.Admin = &rq.user, rq.csrf, rq.canWrite(), rq.user.Role == api.RoleAdmin
		p.Flash = flash(rq.r)
	}
	return p
}

// render writes template name (the "layout", or the fragment named by
// ?fragment= when the page defines it) with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := u.pages[name]
	root := "layout"
	if f := r.URL.Query().Get("fragment"); f != "" && r.Method == http.MethodGet {
		if t.Lookup("fragment-"+f) == nil {
			http.NotFound(w, r)
			return
		}
		root = "fragment-" + f
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, root, p); err != nil {
		u.log.Error("render", "page", name, "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage renders a message with status; rq may be nil.
func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, rq *request, status int, msg string, problems ...string) {
	p := newPage(rq, http.StatusText(status), "", status)
	p.Error, p.Problems = msg, problems
	u.render(w, r, status, "error", p)
}

// apiFailure renders a failed API call: 401 sends to the sign-in page.
func (u *UI) apiFailure(rq *request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		u.errorPage(rq.w, rq.r, rq, http.StatusInternalServerError, err.Error())
		return
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		u.clearCookie(rq.w, rq.r)
		u.toLogin(rq.w, rq.r)
	case http.StatusForbidden:
		u.errorPage(rq.w, rq.r, rq, http.StatusForbidden,
			fmt.Sprintf("Your role (%s) does not allow this: %s", rq.user.Role, ae.Message))
	default:
		u.errorPage(rq.w, rq.r, rq, ae.Status, ae.Message, ae.Problems...)
	}
}

// redirect answers a successful POST (post/redirect/get) with a message
// named by code (flashes) and its argument, a revision or an object name.
func redirect(rq *request, target, code, arg string) {
	q := url.Values{"done": {code}}
	if arg != "" {
		q.Set("arg", arg)
	}
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	http.Redirect(rq.w, rq.r, target+sep+q.Encode(), http.StatusSeeOther)
}

// flashes are the messages a redirect can ask for: the URL names one and
// its argument, never free text, so a link cannot make a page say anything
// else.
var flashes = map[string]string{
	"saved":    "Saved: revision %s.",
	"nothing":  "Nothing to save: no value was changed.",
	"created":  "Created %s.",
	"deleted":  "Deleted %s.",
	"imported": "Imported template %s.",
	"password": "Password of %s changed.",
	"role":     "Role of %s changed.",
}

// flash returns the message a redirect asked for.
func flash(r *http.Request) string {
	format, ok := flashes[r.URL.Query().Get("done")]
	if !ok {
		return ""
	}
	if !strings.Contains(format, "%s") {
		return format
	}
	arg := r.URL.Query().Get("arg")
	if api.CheckName(arg) != nil {
		return ""
	}
	return fmt.Sprintf(format, arg)
}
