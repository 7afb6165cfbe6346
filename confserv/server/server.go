// Package server is the Configuration Server's HTTP API (docs/confserv-api.md)
// over the store: authentication and roles, revisioned writes, option
// validation against template metadata, watch and audit.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/store"
	"webrtcgw/gateway/ban"
	"webrtcgw/internal/clientip"
)

// sessionLife is how long an operator's session token lasts.
const sessionLife = 12 * time.Hour

// maxBody bounds a request body (a template import is the largest).
const maxBody = 4 << 20

// Deps are the server's collaborators.
type Deps struct {
	Log   hclog.Logger
	Store *store.Store
	Bans  *ban.Bans
	Now   func() time.Time // nil: time.Now
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: the client of a request from one of them is the rightmost
	// hop that is not one (confserv -trusted-proxies). Empty: the peer.
	TrustedProxies []netip.Prefix
}

// Server answers the API.
type Server struct {
	log   hclog.Logger
	st    *store.Store
	bans  *ban.Bans
	now   func() time.Time
	proxy []netip.Prefix

	mu        sync.Mutex
	sessions  map[string]session           // by SHA-256 of the token
	templates map[string]*compiledTemplate // by name
}

type session struct {
	name    string
	role    string
	expires time.Time
}

// principal is who makes a request.
type principal struct {
	name string
	role string // an operator role, api.RoleApplication or api.RoleHost
}

// daemon reports whether p is a daemon's credential rather than an operator.
func (p principal) daemon() bool { return p.role == api.RoleApplication || p.role == api.RoleHost }

// New returns a server over deps.Store.
func New(deps Deps) *Server {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Server{log: deps.Log, st: deps.Store, bans: deps.Bans, now: deps.Now, proxy: deps.TrustedProxies,
		sessions: map[string]session{}, templates: map[string]*compiledTemplate{}}
}

// Handler returns the API handler, mounted at /api/v1.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter().PathPrefix("/api/v1").Subrouter()
	r.HandleFunc("/login", s.login).Methods(http.MethodPost)
	r.HandleFunc("/logout", s.auth(anyone, s.logout)).Methods(http.MethodPost)
	r.HandleFunc("/whoami", s.auth(anyone, s.whoami)).Methods(http.MethodGet)

	for _, k := range []struct {
		path string
		kind kind
	}{{"hosts", hostKind}, {"apps", appKind}, {"templates", templateKind}, {"operators", operatorKind}} {
		k := k.kind
		read, write := readers, writers
		if k == operatorKind {
			read, write = admins, admins
		}
		r.HandleFunc("/"+k.path(), s.auth(read, s.listObjects(k))).Methods(http.MethodGet)
		r.HandleFunc("/"+k.path()+"/{name}", s.auth(read, s.getObject(k))).Methods(http.MethodGet)
		if k != templateKind {
			r.HandleFunc("/"+k.path(), s.auth(write, s.createObject(k))).Methods(http.MethodPost)
			r.HandleFunc("/"+k.path()+"/{name}", s.auth(write, s.updateObject(k))).Methods(http.MethodPut)
		}
		r.HandleFunc("/"+k.path()+"/{name}", s.auth(write, s.deleteObject(k))).Methods(http.MethodDelete)
	}
	r.HandleFunc("/templates/import", s.auth(writers, s.importTemplate)).Methods(http.MethodPost)
	for _, c := range credentialKinds {
		coll := "/apps/{name}/credentials"
		if c.role == api.RoleHost {
			coll = "/hosts/{name}/credentials"
		}
		r.HandleFunc(coll, s.auth(admins, s.newCredential(c.prefix, c.aux, c.kind))).Methods(http.MethodPost)
		r.HandleFunc(coll, s.auth(admins, s.revokeCredential(c.aux, c.kind))).Methods(http.MethodDelete)
	}
	r.HandleFunc("/apps/{name}/report", s.auth(applications, s.putReport)).Methods(http.MethodPut)
	r.HandleFunc("/apps/{name}/status", s.auth(hosts, s.putStatus)).Methods(http.MethodPut)
	r.HandleFunc("/watch", s.auth(readers, s.watch)).Methods(http.MethodGet)
	r.HandleFunc("/audit", s.auth(readers, s.audit)).Methods(http.MethodGet)
	r.HandleFunc("/backup", s.auth(admins, s.backup)).Methods(http.MethodGet)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	})
	return r
}

// Role sets.
var (
	anyone       = []string{api.RoleAdmin, api.RoleOperator, api.RoleViewer, api.RoleApplication, api.RoleHost}
	readers      = anyone
	writers      = []string{api.RoleAdmin, api.RoleOperator}
	admins       = []string{api.RoleAdmin}
	applications = []string{api.RoleApplication}
	hosts        = []string{api.RoleHost}
)

// auth resolves the bearer token and checks the role.
func (s *Server) auth(roles []string, next func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeError(w, http.StatusUnauthorized, "not signed in: send Authorization: Bearer <token>")
			return
		}
		p, ok := s.principal(token)
		if !ok {
			writeError(w, http.StatusUnauthorized, "unknown or expired token: sign in again")
			return
		}
		for _, role := range roles {
			if role == p.role {
				next(w, r, p)
				return
			}
		}
		writeError(w, http.StatusForbidden, fmt.Sprintf("%s %s is not allowed for role %s", r.Method, r.URL.Path, p.role))
	}
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// principal returns who holds token: an operator session, an application
// credential ("gwapp_<app>_<secret>") or a host credential
// ("gwhost_<host>_<secret>"). Names may contain "_"; secrets are hex.
func (s *Server) principal(token string) (principal, bool) {
	for _, c := range credentialKinds {
		rest, ok := strings.CutPrefix(token, c.prefix)
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, '_')
		if i <= 0 {
			return principal{}, false
		}
		name := rest[:i]
		var stored credential
		data, err := s.st.Aux(c.aux + name)
		if err != nil || data == nil || json.Unmarshal(data, &stored) != nil {
			return principal{}, false
		}
		if subtle.ConstantTimeCompare([]byte(stored.Hash), []byte(tokenHash(token))) != 1 {
			return principal{}, false
		}
		return principal{name: name, role: c.role}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[tokenHash(token)]
	if !ok || s.now().After(sess.expires) {
		delete(s.sessions, tokenHash(token))
		return principal{}, false
	}
	return principal{name: sess.name, role: sess.role}, true
}

// credentialKinds are the daemons' tokens: an application's, and a host's
// for its Local Control Agent.
var credentialKinds = []struct{ prefix, aux, role, kind string }{
	{"gwapp_", "credential:", api.RoleApplication, api.KindApplication},
	{"gwhost_", "hostcredential:", api.RoleHost, api.KindHost},
}

// credential is a daemon's token, stored hashed: it is 256 random bits, so
// a fast hash is enough.
type credential struct {
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// storedOperator is an operator as stored: the API's Password is replaced
// by its bcrypt hash.
type storedOperator struct {
	api.Operator
	Hash string `json:"password_hash"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ip := s.clientIP(r)
	if banned, left := s.bans.Banned(ip); banned {
		w.Header().Set("Retry-After", strconv.Itoa(int(left/time.Second)+1))
		writeError(w, http.StatusTooManyRequests, "too many failed sign-ins from this address; try again later")
		return
	}
	var in api.Login
	if !readJSON(w, r, &in) {
		return
	}
	var op storedOperator
	data, err := s.st.Get(api.KindOperator, in.Name)
	if err == nil {
		err = json.Unmarshal(data, &op)
	}
	if err == nil {
		err = bcrypt.CompareHashAndPassword([]byte(op.Hash), []byte(in.Password))
	} else {
		// Spend the same time as for a known name.
		bcrypt.CompareHashAndPassword(dummyHash, []byte(in.Password))
	}
	if err != nil {
		s.bans.Fail(ip, in.Name, "wrong operator name or password")
		writeError(w, http.StatusUnauthorized, "wrong operator name or password")
		return
	}
	token := "s_" + randomToken()
	expires := s.now().Add(sessionLife)
	s.mu.Lock()
	s.sessions[tokenHash(token)] = session{name: op.Name, role: op.Role, expires: expires}
	s.mu.Unlock()
	s.log.Info("operator signed in", "operator", op.Name, "role", op.Role, "client_ip", ip)
	writeJSON(w, http.StatusOK, api.Session{Token: token, Role: op.Role, Expires: expires.UTC()})
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("dummy password"), bcrypt.DefaultCost)

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ principal) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	delete(s.sessions, tokenHash(token))
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p principal) {
	writeJSON(w, http.StatusOK, api.Whoami{Name: p.name, Role: p.role})
}

// dropSessions ends the sessions of an operator (deleted, or role changed).
func (s *Server) dropSessions(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, sess := range s.sessions {
		if sess.name == name {
			delete(s.sessions, k)
		}
	}
}

// clientIP is the client behind r: the peer, or, when the peer is a trusted
// proxy, the rightmost X-Forwarded-For hop that is not one (clientip.From,
// as the gateway does).
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ip, _ := clientip.From(r, s.proxy)
	return ip
}

// readJSON decodes a bounded JSON body, answering 400 on failure.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		} else {
			writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		}
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "malformed JSON: data after the object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string, problems ...string) {
	writeJSON(w, status, api.Error{Error: msg, Problems: problems})
}

// Bootstrap prepares an empty store: the admin operator with a random
// password (returned, to be shown once) and the shipped templates.
func (s *Server) Bootstrap(templates map[string][2]string) (adminPassword string, err error) {
	if !s.st.Empty() {
		return "", nil
	}
	adminPassword = randomToken()[:24]
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	op := storedOperator{Operator: api.Operator{Meta: api.Meta{Name: "admin", Created: now, Updated: now, UpdatedBy: "confserv"}, Role: api.RoleAdmin}, Hash: string(hash)}
	if _, _, err := s.st.Apply(store.Write{Kind: api.KindOperator, Name: "admin", Op: api.OpPut, Who: "confserv",
		Changes: []api.FieldChange{{Field: "role", New: api.RoleAdmin}},
		Value:   func(rev uint64) ([]byte, error) { op.Revision = rev; return json.Marshal(op) }}); err != nil {
		return "", err
	}
	for name, files := range templates {
		t, err := parseTemplate(files[0], files[1])
		if err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
		if _, err := s.putTemplate(t, 0, "confserv"); err != nil {
			return "", fmt.Errorf("template %s: %w", name, err)
		}
	}
	return adminPassword, nil
}

// Serve runs the handler on ln until ctx is done, then shuts down.
//
// Requests run under a context cancelled at shutdown, so that long polls
// (watch) end at once instead of holding the shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsCert, tlsKey string, log hclog.Logger) error {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog:    log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		BaseContext: func(net.Listener) context.Context { return base }}
	errc := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			errc <- srv.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// backup streams a consistent copy of the store file (docs/confserv-api.md).
func (s *Server) backup(w http.ResponseWriter, _ *http.Request, p principal) {
	rev := s.st.Revision()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="confserv-%d.db"`, rev))
	n, err := s.st.Backup(w)
	if err != nil {
		// The status went with the first byte: abort the connection so the
		// client cannot take a truncated copy for a whole one.
		s.log.Error("backup failed", "operator", p.name, "error", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("backup taken", "operator", p.name, "revision", rev, "bytes", n)
}
