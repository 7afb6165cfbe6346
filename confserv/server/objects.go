package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/store"
)

// kind is one object collection of the API.
type kind int

const (
	hostKind kind = iota
	appKind
	templateKind
	operatorKind
)

func (k kind) path() string {
	return [...]string{"hosts", "apps", "templates", "operators"}[k]
}

func (k kind) name() string {
	return [...]string{api.KindHost, api.KindApplication, api.KindTemplate, api.KindOperator}[k]
}

// problemError is a write refused with a status and the problems found.
type problemError struct {
	status   int
	msg      string
	problems []string
}

func (e *problemError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *problemError {
	return &problemError{status: status, msg: fmt.Sprintf(format, args...)}
}

// decode reads a stored object of kind k into its Go type (a pointer).
func decode(k kind, data []byte) (any, error) {
	var v any
	switch k {
	case hostKind:
		v = &api.Host{}
	case appKind:
		v = &api.Application{}
	case templateKind:
		v = &api.Template{}
	case operatorKind:
		v = &storedOperator{}
	}
	return v, json.Unmarshal(data, v)
}

func metaOf(v any) *api.Meta {
	switch o := v.(type) {
	case *api.Host:
		return &o.Meta
	case *api.Application:
		return &o.Meta
	case *api.Template:
		return &o.Meta
	case *storedOperator:
		return &o.Meta
	}
	return nil
}

// show is an object as principal p may see it: operators never see password
// hashes or set secrets, and get the application's last report.
func (s *Server) show(p principal, v any) any {
	switch o := v.(type) {
	case *storedOperator:
		op := o.Operator
		op.Password = ""
		return &op
	case *api.Application:
		app := *o
		if p.role != api.RoleApplication { // an application reads its own secrets
			app.Options = s.maskSecrets(app.Template, app.Options)
			app.Annex = s.maskSecrets(app.Template, app.Annex)
		}
		if data, _ := s.st.Aux("report:" + app.Name); data != nil {
			var r api.Report
			if json.Unmarshal(data, &r) == nil {
				app.Report = &r
			}
		}
		if data, _ := s.st.Aux("status:" + app.Name); data != nil {
			var st api.AppStatus
			if json.Unmarshal(data, &st) == nil {
				app.Status = &st
			}
		}
		return &app
	}
	return v
}

// visible reports whether p may read object name of kind k: operators read
// everything; a daemon reads its application, the applications it connects
// to, their templates and hosts; a host's LCA reads the host, the
// applications on it and their templates.
func (s *Server) visible(p principal, k kind, name string) bool {
	scope := s.scope(p)
	if scope == nil {
		return true
	}
	return scope[k.name()+"/"+name]
}

// scope lists "kind/name" of what a daemon or host may read; nil for
// operators, who read everything.
func (s *Server) scope(p principal) map[string]bool {
	switch p.role {
	case api.RoleApplication:
		return s.daemonScope(p.name)
	case api.RoleHost:
		return s.hostScope(p.name)
	}
	return nil
}

// daemonScope lists "kind/name" of what the daemon of app may read.
func (s *Server) daemonScope(app string) map[string]bool {
	scope := map[string]bool{}
	a, ok := s.application(app)
	if !ok {
		return scope
	}
	addScope(scope, a)
	for _, c := range a.Connections {
		if ca, ok := s.application(c); ok {
			addScope(scope, ca)
		}
	}
	return scope
}

// hostScope lists what the LCA of host may read.
func (s *Server) hostScope(host string) map[string]bool {
	scope := map[string]bool{api.KindHost + "/" + host: true}
	all, _ := s.st.List(api.KindApplication)
	for _, data := range all {
		var a api.Application
		if json.Unmarshal(data, &a) == nil && a.Host == host {
			addScope(scope, &a)
		}
	}
	return scope
}

func addScope(scope map[string]bool, a *api.Application) {
	scope[api.KindApplication+"/"+a.Name] = true
	scope[api.KindTemplate+"/"+a.Template] = true
	if a.Host != "" {
		scope[api.KindHost+"/"+a.Host] = true
	}
}

// application reads a stored application.
func (s *Server) application(name string) (*api.Application, bool) {
	data, err := s.st.Get(api.KindApplication, name)
	if err != nil {
		return nil, false
	}
	var a api.Application
	if json.Unmarshal(data, &a) != nil {
		return nil, false
	}
	return &a, true
}

func (s *Server) listObjects(k kind) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, _ *http.Request, p principal) {
		w.Header().Set("X-Revision", strconv.FormatUint(s.st.Revision(), 10))
		all, err := s.st.List(k.name())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out := []any{}
		for _, data := range all {
			v, err := decode(k, data)
			if err != nil {
				continue
			}
			if s.visible(p, k, metaOf(v).Name) {
				out = append(out, s.show(p, v))
			}
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) getObject(k kind) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		name := mux.Vars(r)["name"]
		if !s.visible(p, k, name) {
			writeError(w, http.StatusForbidden, "not visible to this application")
			return
		}
		// The store's revision before the read: a watch from it misses
		// nothing that happens after (docs/confserv-api.md, X-Revision).
		w.Header().Set("X-Revision", strconv.FormatUint(s.st.Revision(), 10))
		data, err := s.st.Get(k.name(), name)
		if err != nil {
			s.storeError(w, err, k, name, nil)
			return
		}
		v, err := decode(k, data)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("ETag", `"`+strconv.FormatUint(metaOf(v).Revision, 10)+`"`)
		writeJSON(w, http.StatusOK, s.show(p, v))
	}
}

// ifMatch reads the If-Match revision; it answers 428 when absent.
func ifMatch(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	if v == "" {
		writeError(w, http.StatusPreconditionRequired, "If-Match with the revision you read is required for this write")
		return 0, false
	}
	rev, err := strconv.ParseUint(v, 10, 64)
	if err != nil || rev == 0 {
		writeError(w, http.StatusBadRequest, "If-Match must be a revision number")
		return 0, false
	}
	return rev, true
}

// decodeInput reads the API form of an object of kind k from the body.
func decodeInput(w http.ResponseWriter, r *http.Request, k kind) (any, bool) {
	switch k {
	case hostKind:
		var h api.Host
		return &h, readJSON(w, r, &h)
	case appKind:
		var a api.Application
		return &a, readJSON(w, r, &a)
	case operatorKind:
		var o api.Operator
		if !readJSON(w, r, &o) {
			return nil, false
		}
		return &storedOperator{Operator: o}, true
	}
	return nil, false
}

func (s *Server) createObject(k kind) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		v, ok := decodeInput(w, r, k)
		if !ok {
			return
		}
		s.write(w, p, k, v, nil, 0)
	}
}

func (s *Server) updateObject(k kind) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		name := mux.Vars(r)["name"]
		rev, ok := ifMatch(w, r)
		if !ok {
			return
		}
		v, ok := decodeInput(w, r, k)
		if !ok {
			return
		}
		if m := metaOf(v); m.Name == "" {
			m.Name = name
		} else if m.Name != name {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("the body names %q, the URL %q: renaming is not supported", m.Name, name))
			return
		}
		data, err := s.st.Get(k.name(), name)
		if err != nil {
			s.storeError(w, err, k, name, nil)
			return
		}
		old, err := decode(k, data)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.write(w, p, k, v, old, rev)
	}
}

// write validates v (against old for an update), then stores it expecting
// revision rev (0: create).
func (s *Server) write(w http.ResponseWriter, p principal, k kind, v, old any, rev uint64) {
	m := metaOf(v)
	if err := api.CheckName(m.Name); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// A stale revision is a conflict before anything else: a writer that
	// fixes invalid values and retries must not overwrite a change it
	// never saw.
	if old != nil && rev != metaOf(old).Revision {
		current, _ := json.Marshal(old)
		s.storeError(w, store.ErrStale, k, m.Name, current)
		return
	}
	warnings, err := s.prepare(k, v, old)
	if err != nil {
		var pe *problemError
		if errors.As(err, &pe) {
			writeError(w, pe.status, pe.msg, pe.problems...)
		} else {
			writeError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	changes := diff(s, k, old, v)
	if old != nil && len(changes) == 0 {
		// Nothing changes: no new revision, no watcher woken.
		w.Header().Set("ETag", `"`+strconv.FormatUint(metaOf(old).Revision, 10)+`"`)
		writeJSON(w, http.StatusOK, s.show(p, old))
		return
	}
	now := s.now().UTC()
	if old != nil {
		m.Created = metaOf(old).Created
	} else {
		m.Created = now
	}
	m.Updated, m.UpdatedBy = now, p.name
	if a, ok := v.(*api.Application); ok {
		a.Report, a.Status, a.Warnings = nil, nil, warnings // read-only: never stored
	}
	newRev, current, err := s.st.Apply(store.Write{Kind: k.name(), Name: m.Name, Op: api.OpPut, Expect: rev, Who: p.name, Changes: changes,
		Value: func(rev uint64) ([]byte, error) { m.Revision = rev; return json.Marshal(v) }})
	if err != nil {
		s.storeError(w, err, k, m.Name, current)
		return
	}
	m.Revision = newRev
	if op, ok := v.(*storedOperator); ok && old != nil && old.(*storedOperator).Role != op.Role {
		s.dropSessions(op.Name)
	}
	s.log.Info("object written", "kind", k.name(), "name", m.Name, "revision", newRev, "by", p.name, "changes", len(changes))
	w.Header().Set("ETag", `"`+strconv.FormatUint(newRev, 10)+`"`)
	status := http.StatusOK
	if old == nil {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.show(p, v))
}

// storeError answers a store failure.
func (s *Server) storeError(w http.ResponseWriter, err error, k kind, name string, current []byte) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %q", k.name(), name))
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, fmt.Sprintf("%s %q already exists", k.name(), name))
	case errors.Is(err, store.ErrStale):
		v, derr := decode(k, current)
		if derr != nil {
			writeError(w, http.StatusPreconditionFailed, "stale revision")
			return
		}
		w.Header().Set("ETag", `"`+strconv.FormatUint(metaOf(v).Revision, 10)+`"`)
		writeJSON(w, http.StatusPreconditionFailed, struct {
			api.Error
			Current any `json:"current"`
		}{api.Error{Error: fmt.Sprintf("%s %q changed meanwhile: it is at revision %d now; read it again and redo your change", k.name(), name, metaOf(v).Revision)}, s.show(principal{role: api.RoleOperator}, v)})
	default:
		s.log.Error("store", "error", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// prepare validates v and completes it from old (write-only and masked
// fields keep their stored value). It returns warnings.
func (s *Server) prepare(k kind, v, old any) ([]string, error) {
	switch o := v.(type) {
	case *api.Host:
		return nil, validateHost(o)
	case *storedOperator:
		return nil, s.prepareOperator(o, old)
	case *api.Application:
		var oldApp *api.Application
		if old != nil {
			oldApp = old.(*api.Application)
		}
		return s.prepareApplication(o, oldApp)
	}
	return nil, nil
}

func validateHost(h *api.Host) error {
	if h.Address == "" || strings.ContainsAny(h.Address, " /\\\r\n\x00") {
		return refuse(http.StatusBadRequest, "host %q: address %q is not a host name or IP address", h.Name, h.Address)
	}
	if h.LCAPort < 0 || h.LCAPort > 65535 {
		return refuse(http.StatusBadRequest, "host %q: lca_port %d is not a port", h.Name, h.LCAPort)
	}
	return nil
}

func (s *Server) prepareOperator(o *storedOperator, old any) error {
	switch o.Role {
	case api.RoleAdmin, api.RoleOperator, api.RoleViewer:
	default:
		return refuse(http.StatusBadRequest, "operator %q: role %q is not admin, operator or viewer", o.Name, o.Role)
	}
	switch {
	case o.Password != "":
		if len(o.Password) < 8 || len(o.Password) > 72 {
			return refuse(http.StatusBadRequest, "operator %q: a password has 8 to 72 characters", o.Name)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		o.Hash, o.Password = string(hash), ""
	case old != nil:
		o.Hash = old.(*storedOperator).Hash
	default:
		return refuse(http.StatusBadRequest, "operator %q: a new operator needs a password", o.Name)
	}
	if old != nil && old.(*storedOperator).Role == api.RoleAdmin && o.Role != api.RoleAdmin && s.admins() == 1 {
		return refuse(http.StatusConflict, "operator %q is the last admin: it keeps the admin role", o.Name)
	}
	return nil
}

// admins counts the admin operators.
func (s *Server) admins() int {
	all, _ := s.st.List(api.KindOperator)
	n := 0
	for _, data := range all {
		var o storedOperator
		if json.Unmarshal(data, &o) == nil && o.Role == api.RoleAdmin {
			n++
		}
	}
	return n
}

func (s *Server) deleteObject(k kind) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		name := mux.Vars(r)["name"]
		rev, ok := ifMatch(w, r)
		if !ok {
			return
		}
		if users := s.referrers(k, name); len(users) > 0 {
			writeError(w, http.StatusConflict, fmt.Sprintf("%s %q is used by %s", k.name(), name, strings.Join(users, ", ")))
			return
		}
		if k == operatorKind {
			if data, err := s.st.Get(api.KindOperator, name); err == nil {
				var o storedOperator
				if json.Unmarshal(data, &o) == nil && o.Role == api.RoleAdmin && s.admins() == 1 {
					writeError(w, http.StatusConflict, fmt.Sprintf("operator %q is the last admin", name))
					return
				}
			}
		}
		_, current, err := s.st.Apply(store.Write{Kind: k.name(), Name: name, Op: api.OpDelete, Expect: rev, Who: p.name})
		if err != nil {
			s.storeError(w, err, k, name, current)
			return
		}
		switch k {
		case operatorKind:
			s.dropSessions(name)
		case appKind:
			for _, aux := range []string{"credential:", "report:", "status:"} {
				s.st.SetAux(aux+name, nil)
			}
		case hostKind:
			s.st.SetAux("hostcredential:"+name, nil)
		}
		s.log.Info("object deleted", "kind", k.name(), "name", name, "by", p.name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// referrers lists the applications that use a host, a template or an
// application (connection).
func (s *Server) referrers(k kind, name string) []string {
	if k == operatorKind {
		return nil
	}
	all, _ := s.st.List(api.KindApplication)
	var out []string
	for _, data := range all {
		var a api.Application
		if json.Unmarshal(data, &a) != nil {
			continue
		}
		if (k == hostKind && a.Host == name) || (k == templateKind && a.Template == name) ||
			(k == appKind && slices.Contains(a.Connections, name)) {
			out = append(out, "application "+a.Name)
		}
	}
	sort.Strings(out)
	return out
}
