// Package web is the gateway's HTTP(S) signalling towards browsers: the
// long-polling protocol of the Genesys WebRTC JavaScript API (sign_in, wait,
// message, sign_out), CORS against domain-whitelist, sessions, the JavaScript
// library and the demo page. What the browser asks for is done by an Engine.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"

	"webrtcgw/gateway/ban"
	"webrtcgw/options"
)

// Engine does what browsers ask for; gateway/calls implements it.
type Engine interface {
	// SignIn registers the session's DN (Name) with password, or admits it
	// anonymously. It returns once the registration succeeded or failed.
	SignIn(ctx context.Context, s *Session, req SignIn) error
	// Message handles one /message body addressed to peer to. It validates
	// and starts work, and returns without waiting for the far end: what the
	// far end answers reaches the browser through s.Deliver. It returns an
	// error only for a request the Genesys library would never send (a body
	// that does not parse) or ErrNotFound for a session it does not know: a
	// message it reads and refuses is refused on /wait, because the library
	// re-sends a message answered with an error status every 3 s.
	Message(ctx context.Context, s *Session, to string, body []byte) error
	// SignOut ends the session's registration and calls. It is called once
	// per session: on sign-out, expiry, or when the gateway stops.
	SignOut(s *Session, reason string)
}

// SignIn is a sign-in request.
type SignIn struct {
	Password    string
	HasPassword bool // POST dn:password
	Anonymous   bool // connect(): no registration
}

// Errors an Engine returns (wrapped in *Error) and the HTTP status each one
// gets.
var (
	ErrInvalid      = errors.New("invalid request")           // 400
	ErrLoginRefused = errors.New("login refused")             // 403, counts as a failed login
	ErrNotFound     = errors.New("not found")                 // 404
	ErrConflict     = errors.New("not possible now")          // 409
	ErrUnavailable  = errors.New("service unavailable")       // 503
	ErrTimeout      = errors.New("SIP Server did not answer") // 504
)

// Error is an Engine error with a detail that is safe to show the browser.
type Error struct {
	Kind   error
	Detail string
}

// Errorf returns an *Error of kind with a formatted detail.
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

// Deps are the server's collaborators.
type Deps struct {
	Log     hclog.Logger
	Engine  Engine
	Bans    *ban.Bans
	DataDir string           // where the self-signed certificate is kept
	Now     func() time.Time // nil: time.Now
}

// config is everything a request reads, swapped atomically on reload.
type config struct {
	web options.Web
	tls *tls.Config // nil when HTTPS is off
}

// Server is the web subsystem.
type Server struct {
	log  hclog.Logger
	deps Deps
	now  func() time.Time

	cfg       atomic.Pointer[config]
	initial   *options.Set
	sessions  sessions
	admission *admission
	fullLog   rate.Sometimes // max-sessions refusals: a warning a minute, not one a request
	handler   http.Handler

	mu        sync.Mutex // guards listeners
	listeners []*listener

	sweepStop chan struct{}
	sweepDone chan struct{}
	stopOnce  sync.Once
	stopErr   error

	headerTimeout time.Duration // http.Server.ReadHeaderTimeout (slow clients are cut off)
	flushWait     time.Duration // Stop's wait for the browsers (flushWait)

	unavailable atomic.Pointer[string] // why /health answers 503; nil: healthy

	// Retired listeners keep serving for linger before they drain, so that
	// clients (or the load balancer before them) can move to the new port
	// without a refused connection; Stop cuts the linger short.
	linger     time.Duration
	stopLinger chan struct{}
	retiring   sync.WaitGroup
}

// listenerLinger is how long an old listener keeps serving after a port or
// address change.
const listenerLinger = 5 * time.Second

// SetUnavailable makes /health answer 503 with reason (a load balancer then
// sends new users elsewhere); "" makes it healthy again.
func (s *Server) SetUnavailable(reason string) {
	if reason == "" {
		s.unavailable.Store(nil)
		return
	}
	s.unavailable.Store(&reason)
}

// listener is one bound port with its http.Server.
type listener struct {
	key      string // listenerSpec.key
	srv      *http.Server
	ln       net.Listener
	https    bool
	draining chan struct{} // closed when this listener is being retired: /wait answers at once
	served   chan struct{} // closed when Serve has returned
	closed   atomic.Bool   // drain closed the socket

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState // accepted and not yet closed
}

// trackConn follows a connection's state (http.Server.ConnState).
func (l *listener) trackConn(c net.Conn, st http.ConnState) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(l.conns, c)
		return
	}
	l.conns[c] = st
}

// connCounts says how many of the listener's connections have not sent a
// request yet (fresh) and how many are in a request (busy).
func (l *listener) connCounts() (fresh, busy int) {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	for _, st := range l.conns {
		switch st {
		case http.StateNew:
			fresh++
		case http.StateActive:
			busy++
		}
	}
	return fresh, busy
}

// freshConnWait is how long a draining listener waits for the request of
// a connection it accepted just before it stopped accepting.
const freshConnWait = 2 * time.Second

// New returns a server for set; Start binds it.
func New(set *options.Set, deps Deps) *Server {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{log: deps.Log, deps: deps, now: deps.Now, initial: set,
		sessions: sessions{byID: map[string]*Session{}}, admission: newAdmission(deps.Log), flushWait: flushWait,
		fullLog: rate.Sometimes{First: 1, Interval: time.Minute}, headerTimeout: 10 * time.Second,
		linger: listenerLinger, stopLinger: make(chan struct{})}
	s.handler = s.routes()
	return s
}

// Start loads the certificate, binds the listeners and starts serving.
func (s *Server) Start(ctx context.Context) error {
	cfg, err := s.buildConfig(s.initial.Web(), nil)
	if err != nil {
		return err
	}
	s.cfg.Store(cfg)
	ls, err := s.bind(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.listeners = ls
	s.mu.Unlock()
	for _, l := range ls {
		s.serve(l)
	}
	s.sweepStop, s.sweepDone = make(chan struct{}), make(chan struct{})
	go s.sweep()
	s.warnings(cfg.web)
	return nil
}

// Reload applies next. Immediate options apply to the next request. For a
// changed port or address, the new listeners are bound first (with
// SO_REUSEPORT, so an address change on the same port overlaps too); only
// then are the old ones retired: they keep serving for a few seconds
// (listenerLinger), then answer their hanging /wait at once and finish
// their in-flight requests. Unchanged listeners are kept as they are.
// On error nothing changes.
func (s *Server) Reload(ctx context.Context, next *options.Set) error {
	old := s.cfg.Load()
	cfg, err := s.buildConfig(next.Web(), old)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]*listener{}
	for _, l := range s.listeners {
		keep[l.key] = l
	}
	var (
		nextLs  []*listener
		started []*listener
	)
	for _, spec := range listenerSpecs(cfg.web) {
		if l := keep[spec.key()]; l != nil {
			delete(keep, spec.key())
			nextLs = append(nextLs, l)
			continue
		}
		l, err := s.bindOne(spec)
		if err != nil {
			for _, l := range started {
				l.ln.Close()
			}
			return err
		}
		started = append(started, l)
		nextLs = append(nextLs, l)
	}
	s.cfg.Store(cfg)
	s.listeners = nextLs
	for _, l := range started {
		s.serve(l)
	}
	if len(keep) > 0 {
		var retired []*listener
		for _, l := range keep {
			retired = append(retired, l)
		}
		// The old listeners' idle connections close now, and their
		// answers say "Connection: close" from now on: clients move to
		// the new listener request by request during the linger, and
		// none is left idle to close under a client when it stops.
		for _, l := range retired {
			l.srv.SetKeepAlivesEnabled(false)
		}
		s.retiring.Add(1)
		go func() {
			defer s.retiring.Done()
			select {
			case <-time.After(s.linger):
			case <-s.stopLinger:
			}
			s.retire(retired, 30*time.Second)
		}()
	}
	s.warnings(cfg.web)
	return nil
}

// flushWait bounds how long Stop waits for the browsers to take what is
// queued for them and come back: a polling browser asks again at once, one
// whose /wait failed after 3 s.
const flushWait = 3 * time.Second

// Stop ends the signalling, the browsers told before the listeners close
// (the gateway has hung up the calls, queuing their BYE, before):
//
//  1. sessions are no longer expired;
//  2. it waits (flushWait at most, or until ctx is done) until every
//     session's queue has been taken and its browser is back with a /wait
//     — a browser between two polls would otherwise find the listener
//     closed, take it for a network error and retry forever;
//  3. every session ends: its hanging /wait is answered 204, which the
//     browser library takes for "signed out";
//  4. the listeners retire: sockets closed, any /wait left answered,
//     in-flight requests finished until ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	if s.sweepStop != nil {
		close(s.sweepStop)
		<-s.sweepDone
	}
	s.flush(ctx, s.flushWait)
	for _, sess := range s.sessions.all() {
		s.end(sess, "gateway stopping")
	}
	s.mu.Lock()
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	close(s.stopLinger)
	defer s.retiring.Wait()
	for _, l := range ls {
		l.srv.SetKeepAlivesEnabled(false)
	}
	var first error
	for _, err := range s.drain(ctx, ls) {
		if first == nil {
			first = err
		}
	}
	return first
}

// flush waits until every polling browser has taken what is queued for it
// and is back with a /wait, for at most max.
func (s *Server) flush(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		away := 0
		now := s.now()
		for _, sess := range s.sessions.all() {
			if sess.awaited(now) {
				away++
			}
		}
		if away == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.log.Info("stopping: browsers not back for their messages or the end of their session", "sessions", away)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Addrs returns the bound addresses, HTTPS first ("https://127.0.0.1:8443").
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.listeners {
		scheme := "http"
		if l.https {
			scheme = "https"
		}
		out = append(out, scheme+"://"+l.ln.Addr().String())
	}
	return out
}

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int { return s.sessions.len() }

func (s *Server) warnings(w options.Web) {
	if len(w.DomainWhitelist) == 0 {
		s.log.Warn("domain-whitelist is empty: web pages from every origin may use the gateway")
	}
}

// buildConfig loads the certificate for w. old is the running config, whose
// certificate is reused when the files did not change.
func (s *Server) buildConfig(w options.Web, old *config) (*config, error) {
	cfg := &config{web: w}
	if w.HTTPSPort == 0 {
		return cfg, nil
	}
	var cert *tls.Certificate
	if w.Certificate != "" {
		c, err := LoadCertificate(w.Certificate, w.CertificateKey, s.now())
		if err != nil {
			return nil, fmt.Errorf("web/certificate: %w", err)
		}
		cert = c
	} else {
		c, created, err := SelfSigned(s.deps.DataDir, s.now())
		if err != nil {
			return nil, fmt.Errorf("web/certificate: %w", err)
		}
		if created || old == nil || old.tls == nil {
			s.log.Warn("no web/certificate configured: using a self-signed certificate; browsers will warn until it is trusted",
				"certificate", s.deps.DataDir+"/tls/self-signed.crt", "created", created)
		}
		cert = c
	}
	min := uint16(tls.VersionTLS12)
	if w.TLSMinVersion == "1.3" {
		min = tls.VersionTLS13
	}
	cfg.tls = &tls.Config{
		MinVersion:   min,
		Certificates: []tls.Certificate{*cert},
	}
	return cfg, nil
}

// listenerSpec is one listener the options ask for.
type listenerSpec struct {
	addr  string // host:port
	https bool
}

func (l listenerSpec) key() string { return strconv.FormatBool(l.https) + "|" + l.addr }

func listenerSpecs(w options.Web) []listenerSpec {
	host := ""
	if w.ListenAddress.IsValid() {
		host = w.ListenAddress.String()
	}
	var out []listenerSpec
	if w.HTTPSPort != 0 {
		out = append(out, listenerSpec{net.JoinHostPort(host, strconv.Itoa(w.HTTPSPort)), true})
	}
	if w.HTTPPort != 0 {
		out = append(out, listenerSpec{net.JoinHostPort(host, strconv.Itoa(w.HTTPPort)), false})
	}
	return out
}

// bind opens the listeners cfg asks for.
func (s *Server) bind(cfg *config) ([]*listener, error) {
	var out []*listener
	for _, spec := range listenerSpecs(cfg.web) {
		l, err := s.bindOne(spec)
		if err != nil {
			for _, l := range out {
				l.ln.Close()
			}
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// bindOne binds one listener with SO_REUSEPORT: during a reload the new
// socket and the one it replaces may overlap on the same port.
func (s *Server) bindOne(spec listenerSpec) (*listener, error) {
	lc := net.ListenConfig{Control: reusePort}
	ln, err := lc.Listen(context.Background(), "tcp", spec.addr)
	if err != nil {
		key := "web/https-port"
		if !spec.https {
			key = "web/http-port"
		}
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	l := s.newListener(ln, spec.https)
	l.key = spec.key()
	return l, nil
}

type drainKey struct{}

func (s *Server) newListener(ln net.Listener, https bool) *listener {
	l := &listener{ln: ln, https: https, draining: make(chan struct{}), served: make(chan struct{}), conns: map[net.Conn]http.ConnState{}}
	l.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.headerTimeout,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // /wait extends its own deadline
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          s.log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		ConnState:         l.trackConn,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), drainKey{}, l.draining)
		},
	}
	if https {
		l.srv.TLSConfig = &tls.Config{
			// Every handshake reads the running config: a reloaded
			// certificate or minimum version applies to new connections.
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				cfg := s.cfg.Load()
				if cfg.tls == nil {
					return nil, errors.New("https is off")
				}
				return cfg.tls, nil
			},
		}
	}
	return l
}

func (s *Server) serve(l *listener) {
	s.log.Info("listening", "address", l.ln.Addr().String(), "https", l.https)
	go func() {
		defer close(l.served)
		var err error
		if l.https {
			err = l.srv.ServeTLS(l.ln, "", "")
		} else {
			err = l.srv.Serve(l.ln)
		}
		if l.closed.Load() {
			return // drain closed the socket
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener failed", "address", l.ln.Addr().String(), "error", err)
		}
	}()
}

// retire drains old listeners after a reload.
func (s *Server) retire(ls []*listener, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	errs := s.drain(ctx, ls)
	for _, l := range ls {
		if err := errs[l]; err != nil {
			s.log.Warn("old listener did not drain in time", "address", l.ln.Addr().String(), "error", err)
		}
		s.log.Info("stopped listening", "address", l.ln.Addr().String())
	}
}

// drain stops ls accepting, answers their hanging /wait and lets every
// connection they accepted finish its request, until ctx is done; then it
// closes what is left. It returns the listeners that did not drain in time.
//
// http.Server.Shutdown alone would drop a connection that was accepted
// but had not sent its request yet (a client that had just connected): it
// closes such a connection without an answer once its request arrives. So
// the listening socket is closed first; connections in a request finish
// (keep-alives are off by now: each closes after its answer) and one that
// has not sent its request gets freshConnWait to send it (a browser's
// preconnected socket may never send one); then the rest is closed.
func (s *Server) drain(ctx context.Context, ls []*listener) map[*listener]error {
	for _, l := range ls {
		// The socket first: the clients whose /wait is answered below come
		// back at once on new connections, and while an old and a new
		// listener share the port (SO_REUSEPORT), those the kernel queued
		// on the old socket would be reset when it closes.
		l.closed.Store(true)
		l.ln.Close()
		close(l.draining)
	}
	freshUntil := time.Now().Add(freshConnWait)
	errs := map[*listener]error{}
	for _, l := range ls {
		<-l.served // every accepted connection is tracked now
		for ctx.Err() == nil {
			fresh, busy := l.connCounts()
			if busy == 0 && (fresh == 0 || time.Now().After(freshUntil)) {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		if _, busy := l.connCounts(); busy > 0 {
			errs[l] = fmt.Errorf("%d requests still in progress: %w", busy, ctx.Err())
		}
		l.srv.Close()
	}
	return errs
}

// sweep expires sessions that stopped polling. It runs until Stop.
func (s *Server) sweep() {
	defer close(s.sweepDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			w := s.cfg.Load().web
			now := s.now()
			cutoff := func(sess *Session) time.Time {
				if sess.Anonymous {
					return now.Add(-w.AnonymousSessionTimeout)
				}
				return now.Add(-w.SessionTimeout)
			}
			for _, sess := range s.sessions.idle(cutoff) {
				s.end(sess, "session expired")
			}
		}
	}
}

// end closes a session once: it is removed and the engine releases its
// registration and calls.
func (s *Server) end(sess *Session, reason string) {
	if !sess.close() {
		return
	}
	s.sessions.remove(sess)
	s.admission.release(sess.ClientIP, sess.Anonymous)
	s.log.Debug("session ended", "session", sess.ID[:8], "name", sess.Name, "reason", reason)
	s.deps.Engine.SignOut(sess, reason)
}
