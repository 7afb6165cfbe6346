package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"webrtcgw/confserv/api"
	"webrtcgw/lca/wire"
	"webrtcgw/options"
)

// maxEvents bounds one watch answer.
const maxEvents = 1000

// watch is the long poll of changes after ?since=N (docs/confserv-api.md).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, p principal) {
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "since must be a revision number")
		return
	}
	timeout := 25 * time.Second
	if v := r.URL.Query().Get("timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "timeout must be a number of seconds")
			return
		}
		timeout = min(time.Duration(n)*time.Second, 60*time.Second)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	for {
		changes, last, reset, err := s.st.Changes(since, maxEvents)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if reset {
			writeJSON(w, http.StatusOK, api.Watch{Revision: last, Reset: true})
			return
		}
		out := api.Watch{Revision: last}
		scope := s.scope(p)
		for _, c := range changes {
			if scope != nil && !scope[c.Kind+"/"+c.Name] {
				continue
			}
			ev := api.Event{Revision: c.Revision, Kind: c.Kind, Name: c.Name, Op: c.Op}
			if c.Op == api.OpPut {
				k := kindOf(c.Kind)
				v, err := decode(k, c.Object)
				if err != nil {
					continue
				}
				ev.Object = eventObject(s.show(p, v))
			}
			out.Events = append(out.Events, ev)
		}
		// Answer when something visible changed, or when revisions moved on
		// that this principal does not see (so it never re-reads them).
		if len(out.Events) > 0 || (last > since && scope != nil) {
			writeJSON(w, http.StatusOK, out)
			return
		}
		if err := s.st.Wait(ctx, last); err != nil {
			writeJSON(w, http.StatusOK, api.Watch{Revision: last})
			return
		}
		since = last
	}
}

func kindOf(name string) kind {
	switch name {
	case api.KindHost:
		return hostKind
	case api.KindApplication:
		return appKind
	case api.KindTemplate:
		return templateKind
	}
	return operatorKind
}

func eventObject(v any) *api.EventObject {
	switch o := v.(type) {
	case *api.Host:
		return &api.EventObject{Host: o}
	case *api.Application:
		return &api.EventObject{Application: o}
	case *api.Template:
		return &api.EventObject{Template: o}
	case *api.Operator:
		return &api.EventObject{Operator: o}
	}
	return nil
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, p principal) {
	if p.daemon() {
		writeError(w, http.StatusForbidden, "the audit log is for operators")
		return
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be from 1 to 10000")
			return
		}
		limit = n
	}
	var before uint64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "before must be a revision number")
			return
		}
		before = n
	}
	entries, err := s.st.Audit(q.Get("kind"), q.Get("name"), before, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if entries == nil {
		entries = []api.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, api.Audit{Entries: entries})
}

// newCredential issues a daemon's token (prefix: gwapp_ or gwhost_) for the
// object {name} of kind, stored hashed under aux+name.
func (s *Server) newCredential(prefix, aux, kind string) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		name := mux.Vars(r)["name"]
		if _, err := s.st.Get(kind, name); err != nil {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no %s %q", kind, name))
			return
		}
		token := prefix + name + "_" + randomToken()
		data, _ := json.Marshal(credential{Hash: tokenHash(token), Created: s.now().UTC()})
		if err := s.st.SetAux(aux+name, data); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.log.Info("credential issued", kind, name, "by", p.name)
		writeJSON(w, http.StatusCreated, api.Credential{Token: token})
	}
}

func (s *Server) revokeCredential(aux, kind string) func(http.ResponseWriter, *http.Request, principal) {
	return func(w http.ResponseWriter, r *http.Request, p principal) {
		name := mux.Vars(r)["name"]
		if err := s.st.SetAux(aux+name, nil); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.log.Info("credential revoked", kind, name, "by", p.name)
		w.WriteHeader(http.StatusNoContent)
	}
}

// putStatus records what a host's LCA says about one of its applications.
func (s *Server) putStatus(w http.ResponseWriter, r *http.Request, p principal) {
	name := mux.Vars(r)["name"]
	a, ok := s.application(name)
	if !ok || a.Host != p.name {
		writeError(w, http.StatusForbidden, fmt.Sprintf("application %q is not on host %s", name, p.name))
		return
	}
	var st api.AppStatus
	if !readJSON(w, r, &st) {
		return
	}
	if !wire.Status(st.Status).Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q is not one of %v", st.Status, wire.Statuses))
		return
	}
	if len(st.Detail) > 1024 {
		st.Detail = st.Detail[:1024]
	}
	st.Updated = s.now().UTC()
	data, _ := json.Marshal(st)
	if err := s.st.SetAux("status:"+name, data); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Debug("status", "application", name, "status", st.Status, "detail", st.Detail, "host", p.name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putReport(w http.ResponseWriter, r *http.Request, p principal) {
	app := mux.Vars(r)["name"]
	if app != p.name {
		writeError(w, http.StatusForbidden, "an application reports for itself only")
		return
	}
	var rep api.Report
	if !readJSON(w, r, &rep) {
		return
	}
	if rep.Status != api.ReportApplied && rep.Status != api.ReportRejected {
		writeError(w, http.StatusBadRequest, "status must be applied or rejected")
		return
	}
	if len(rep.Error) > 4096 {
		rep.Error = rep.Error[:4096]
	}
	rep.Time = s.now().UTC()
	data, _ := json.Marshal(rep)
	if err := s.st.SetAux("report:"+app, data); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("report", "application", app, "revision", rep.Revision, "status", rep.Status, "error", rep.Error)
	w.WriteHeader(http.StatusNoContent)
}

// diff lists the fields that differ between old (nil: a creation) and v, for
// the audit log. Secret options show as the mask.
func diff(s *Server, k kind, old, v any) []api.FieldChange {
	flat := func(x any) map[string]string {
		out := map[string]string{}
		if x == nil {
			return out
		}
		switch o := x.(type) {
		case *api.Host:
			out["address"] = o.Address
			out["lca_port"] = strconv.Itoa(o.LCAPort)
		case *storedOperator:
			out["role"] = o.Role
		case *api.Application:
			out["type"], out["template"], out["host"] = o.Type, o.Template, o.Host
			out["working_dir"], out["command_line"] = o.WorkingDir, o.CommandLine
			out["args"], out["connections"], out["ports"] = listJSON(len(o.Args), o.Args), listJSON(len(o.Connections), o.Connections), listJSON(len(o.Ports), o.Ports)
			out["auto_restart"] = strconv.FormatBool(o.AutoRestart)
			masked := s.maskSecrets(o.Template, o.Options)
			for section, opts := range masked {
				for name, val := range opts {
					out["options/"+section+"/"+name] = val
				}
			}
			for section, opts := range s.maskSecrets(o.Template, o.Annex) {
				for name, val := range opts {
					out["annex/"+section+"/"+name] = val
				}
			}
		}
		return out
	}
	a, b := flat(old), flat(v)
	var out []api.FieldChange
	for _, f := range slices.Sorted(maps.Keys(b)) {
		if a[f] != b[f] {
			out = append(out, api.FieldChange{Field: f, Old: a[f], New: b[f]})
		}
	}
	for _, f := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[f]; !ok && a[f] != "" {
			out = append(out, api.FieldChange{Field: f, Old: a[f]})
		}
	}
	// A changed password or secret shows as changed, never its value.
	switch o := v.(type) {
	case *storedOperator:
		if old == nil || old.(*storedOperator).Hash != o.Hash {
			out = append(out, api.FieldChange{Field: "password", New: "(changed)"})
		}
	case *api.Application:
		if old != nil {
			for _, f := range changedSecrets(s, o, old.(*api.Application)) {
				if a[f] != "" && b[f] != "" { // a set-to-set change the mask hides
					out = append(out, api.FieldChange{Field: f, Old: api.Masked, New: api.Masked + " (changed)"})
				}
			}
		}
	}
	return out
}

// changedSecrets lists the secret options ("options/section/name") whose
// value differs between a and old.
func changedSecrets(s *Server, a, old *api.Application) []string {
	_, ds, err := s.templateDefs(a.Template)
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range ds {
		if d.Type != options.TypeSecret {
			continue
		}
		secs, oldSecs, prefix := a.Options, old.Options, "options/"
		if d.Annex() {
			secs, oldSecs, prefix = a.Annex, old.Annex, "annex/"
		}
		if secs[d.Section][d.Name] != oldSecs[d.Section][d.Name] {
			out = append(out, prefix+d.Key())
		}
	}
	return out
}

// listJSON shows a list or map field in the audit: JSON, or "" when empty
// (so none and empty are the same, not "null" against "[]").
func listJSON(n int, v any) string {
	if n == 0 {
		return ""
	}
	data, _ := json.Marshal(v)
	return string(data)
}
