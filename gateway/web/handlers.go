package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// cookieName is the session cookie: load balancers can keep a browser on the
// gateway that holds its session by it.
const cookieName = "WRTCGW_SESSION"

// maxNameLen bounds a DN or anonymous id.
const maxNameLen = 64

type ctxKey int

const (
	keyClientIP ctxKey = iota
	keyHTTPS
)

func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/sign_in", s.signIn).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/wait", s.wait).Methods(http.MethodGet)
	r.HandleFunc("/message", s.message).Methods(http.MethodPost)
	r.HandleFunc("/sign_out", s.signOut).Methods(http.MethodGet, http.MethodPost)
	r.HandleFunc("/health", s.health).Methods(http.MethodGet)
	s.staticRoutes(r)
	for _, p := range []string{"/sign_in", "/wait", "/message", "/sign_out"} {
		r.HandleFunc(p, s.preflight).Methods(http.MethodOptions)
	}
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		textError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		textError(w, http.StatusNotFound, "not found")
	})
	return s.common(r)
}

// common applies to every request: client address, CORS (RFC 6454 origins
// against domain-whitelist; refused → 403 and no CORS headers), and the
// headers every response carries.
func (s *Server) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.cfg.Load()
		ip, forwardedHTTPS := clientIP(r, cfg.web.TrustedProxies)
		https := r.TLS != nil || forwardedHTTPS
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		decision, allowOrigin := checkOrigin(r, cfg.web.DomainWhitelist, selfOrigin(r, https))
		switch decision {
		case corsRefused:
			s.log.Debug("origin refused", "origin", truncate(r.Header.Get("Origin"), 100), "client_ip", ip, "path", r.URL.Path)
			textError(w, http.StatusForbidden, "origin not allowed")
			return
		case corsAllowed:
			h.Set("Access-Control-Allow-Origin", allowOrigin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Pragma, Retry-After")
		}
		ctx := context.WithValue(r.Context(), keyClientIP, ip)
		ctx = context.WithValue(ctx, keyHTTPS, https)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// preflight answers CORS preflight requests (the origin was checked by common).
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	method := r.Header.Get("Access-Control-Request-Method")
	if r.Header.Get("Origin") == "" || method == "" {
		w.Header().Set("Allow", "GET, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	headers, ok := preflightHeaders(strings.Join(r.Header.Values("Access-Control-Request-Headers"), ","))
	if (method != http.MethodGet && method != http.MethodPost) || !ok {
		w.Header().Del("Access-Control-Allow-Origin")
		w.Header().Del("Access-Control-Allow-Credentials")
		textError(w, http.StatusForbidden, "preflight refused")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	if headers != "" {
		h.Set("Access-Control-Allow-Headers", headers)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reason := s.unavailable.Load(); reason != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, *reason+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// signIn: GET /sign_in?<name> (anonymous when name starts with "anon",
// otherwise a registration without password) or POST /sign_in with body
// "dn:password".
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	ip := r.Context().Value(keyClientIP).(netip.Addr)
	if banned, left := s.deps.Bans.Banned(ip); banned {
		w.Header().Set("Retry-After", strconv.Itoa(int(left.Round(time.Second)/time.Second)+1))
		textError(w, http.StatusTooManyRequests, "too many failed logins from this address")
		return
	}
	now := s.now()
	if ref := s.admission.allow(ip, cfg.web, now); ref != nil {
		ref.write(w)
		return
	}
	var req SignIn
	var name string
	if r.Method == http.MethodPost {
		body, ok := readBody(w, r, cfg.web.MaxRequestSize)
		if !ok {
			return
		}
		n, pw, found := strings.Cut(string(body), ":")
		if !found {
			textError(w, http.StatusBadRequest, "body must be dn:password")
			return
		}
		name, req.Password, req.HasPassword = n, pw, true
		if strings.ContainsAny(pw, "\x00\r\n") {
			textError(w, http.StatusBadRequest, "password contains a control character")
			return
		}
	} else {
		raw, _, _ := strings.Cut(r.URL.RawQuery, "&")
		n, err := url.QueryUnescape(raw)
		if err != nil {
			textError(w, http.StatusBadRequest, "malformed sign-in id")
			return
		}
		name = n
		req.Anonymous = strings.HasPrefix(name, "anon")
	}
	if msg := checkName(name); msg != "" {
		textError(w, http.StatusBadRequest, msg)
		return
	}
	if req.Anonymous && !cfg.web.AllowAnonymous {
		textError(w, http.StatusForbidden, "anonymous sign-in is turned off on this gateway (web/allow-anonymous)")
		return
	}
	if ref := s.admission.admit(ip, req.Anonymous, cfg.web, now); ref != nil {
		ref.write(w)
		return
	}
	sess := newSession(name, ip, req.Anonymous, now, s.end)
	if !s.sessions.add(sess, cfg.web.MaxSessions) {
		s.admission.release(ip, req.Anonymous)
		s.fullLog.Do(func() {
			s.log.Warn("sign-ins refused: max-sessions reached (logged once a minute)", "max_sessions", cfg.web.MaxSessions, "client_ip", ip)
		})
		textError(w, http.StatusServiceUnavailable, "the gateway is full; try again later")
		return
	}
	if err := s.deps.Engine.SignIn(r.Context(), sess, req); err != nil {
		sess.close()
		s.sessions.remove(sess)
		s.admission.release(ip, req.Anonymous)
		status, detail := ErrorStatus(err)
		if errors.Is(err, ErrLoginRefused) {
			if s.deps.Bans.Fail(ip, name, detail) {
				s.log.Info("client banned after failed logins", "client_ip", ip)
			}
		}
		textError(w, status, detail)
		return
	}
	s.log.Debug("session started", "session", sess.ID[:8], "name", name, "client_ip", ip, "anonymous", req.Anonymous)
	cookie := &http.Cookie{Name: cookieName, Value: sess.ID, Path: "/", HttpOnly: true, MaxAge: 0}
	if r.Context().Value(keyHTTPS).(bool) {
		// Cross-site pages send it only when SameSite=None, which needs Secure.
		cookie.Secure, cookie.SameSite = true, http.SameSiteNoneMode
	} else {
		cookie.SameSite = http.SameSiteLaxMode
	}
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, name+"="+sess.ID+"\n")
}

// sessionOver answers a request for a session that is unknown or has
// ended: 204. The Genesys library signs out on a 2xx other than 200 (and
// tells the application, onPeerClosing); it takes a 404 for a network error
// and would retry every 3 s forever.
func sessionOver(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// wait is the hanging GET: one message per response, an empty 200 when
// polling-timeout passes with nothing to deliver, 204 when the session is
// unknown or ends.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	sess := s.sessions.get(r.URL.Query().Get("id"))
	if sess == nil {
		sessionOver(w)
		return
	}
	hold := s.cfg.Load().web.PollingTimeout
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(s.now().Add(hold + 10*time.Second))
	gen := sess.beginWait(s.now())
	defer func() { sess.endWait(s.now()) }()
	drain, _ := r.Context().Value(drainKey{}).(chan struct{})
	timer := time.NewTimer(hold)
	defer timer.Stop()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for {
		m, res, changed := sess.take(gen)
		switch res {
		case waitMessage:
			w.Header().Set("Pragma", m.Peer)
			if _, err := w.Write(m.Body); err != nil {
				sess.requeue(m)
			}
			return
		case waitSuperseded:
			return // empty 200: the browser's newer /wait takes over
		case waitClosed:
			sessionOver(w)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-drain:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// message: POST /message?from=<session>&to=<peer> with one message as body.
// What the engine refuses after reading it is answered 200 and refused on
// /wait (Engine.Message); an error status is left for requests the Genesys
// library never sends (malformed ones, too large ones). An unknown session
// gets 204, as on /wait.
func (s *Server) message(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess := s.sessions.get(q.Get("from"))
	if sess == nil {
		sessionOver(w)
		return
	}
	sess.touch(s.now())
	body, ok := readBody(w, r, s.cfg.Load().web.MaxRequestSize)
	if !ok {
		return
	}
	to := q.Get("to")
	if len(to) > 256 || strings.ContainsAny(to, "\x00\r\n") {
		textError(w, http.StatusBadRequest, "malformed to")
		return
	}
	if err := s.deps.Engine.Message(r.Context(), sess, to, body); err != nil {
		if errors.Is(err, ErrNotFound) {
			sessionOver(w) // ended while this request was read
			return
		}
		status, detail := ErrorStatus(err)
		s.log.Debug("message refused", "session", sess.ID[:8], "status", status, "error", err)
		textError(w, status, detail)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if sess := s.sessions.get(r.URL.Query().Get("id")); sess != nil {
		s.end(sess, "signed out")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// readBody reads at most max bytes; a larger body gets 413 before anything
// parses it.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	if r.ContentLength > max {
		textError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			textError(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			textError(w, http.StatusBadRequest, "could not read the request body")
		}
		return nil, false
	}
	return bytes.TrimRight(body, "\r\n"), true
}

// checkName validates a DN or anonymous id; it returns what is wrong, or "".
func checkName(n string) string {
	if n == "" || len(n) > maxNameLen {
		return "a DN must have 1 to 64 characters"
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f {
			return "a DN must be printable ASCII without spaces"
		}
		if c == '=' {
			// The answer is "name=<session>", which the library splits
			// on the first '='.
			return "a DN must not contain '='"
		}
	}
	return ""
}

// ErrorStatus maps an Engine error to its status (HTTP, and the status of
// an ERROR message on /wait) and the text shown.
func ErrorStatus(err error) (int, string) {
	detail := ""
	var e *Error
	if errors.As(err, &e) {
		detail = e.Detail
	}
	status := http.StatusInternalServerError
	for kind, st := range map[error]int{
		ErrInvalid: http.StatusBadRequest, ErrLoginRefused: http.StatusForbidden, ErrNotFound: http.StatusNotFound,
		ErrConflict: http.StatusConflict, ErrUnavailable: http.StatusServiceUnavailable, ErrTimeout: http.StatusGatewayTimeout,
	} {
		if errors.Is(err, kind) {
			status = st
			if detail == "" {
				detail = kind.Error()
			}
		}
	}
	if detail == "" {
		detail = "internal error"
	}
	return status, detail
}

func textError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
