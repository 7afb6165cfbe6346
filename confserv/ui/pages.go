package ui

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"webrtcgw/confserv/api"
)

// Sign-in and sign-out.

type loginData struct {
	Name string
	Next string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		// Signed in already (and still valid)? Go on to the page.
		ac := &apiClient{h: u.api, from: r, token: c.Value}
		if _, err := ac.call(r.Context(), http.MethodGet, "whoami", nil, nil, 0); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	p := newPage(nil, "Sign in", "login", loginData{Next: safeNext(r.URL.Query().Get("next"))})
	if r.URL.Query().Get("done") == "signedout" {
		p.Flash = "Signed out."
	}
	u.render(w, r, http.StatusOK, "login", p)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		u.errorPage(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	name, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	data := loginData{Name: name, Next: safeNext(r.PostFormValue("next"))}
	ac := &apiClient{h: u.api, from: r}
	var s api.Session
	_, err := ac.call(r.Context(), http.MethodPost, "login", api.Login{Name: name, Password: password}, &s, 0)
	if err != nil {
		p := newPage(nil, "Sign in", "login", data)
		status := statusOf(err)
		switch status {
		case http.StatusUnauthorized:
			p.Error = "Wrong operator name or password."
		case http.StatusTooManyRequests:
			p.Error = "Too many failed sign-ins from this address: try again later."
			if e, ok := err.(*apiError); ok && e.Header.Get("Retry-After") != "" {
				w.Header().Set("Retry-After", e.Header.Get("Retry-After"))
				if secs, err := strconv.Atoi(e.Header.Get("Retry-After")); err == nil {
					p.Error = fmt.Sprintf("Too many failed sign-ins from this address: try again in %s.", duration(time.Duration(secs)*time.Second))
				}
			}
		case 0:
			status = http.StatusInternalServerError
			p.Error = err.Error()
		default:
			p.Error = err.(*apiError).Message
		}
		u.render(w, r, status, "login", p)
		return
	}
	u.setCookie(w, r, s.Token, s.Expires)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

func (u *UI) logout(rq *request) {
	rq.api.call(rq.ctx(), http.MethodPost, "logout", nil, nil, 0)
	u.clearCookie(rq.w, rq.r)
	http.Redirect(rq.w, rq.r, "/ui/login?done=signedout", http.StatusSeeOther)
}

// Applications.

type appRow struct {
	App    api.Application
	Status statusView
	Report reportView
}

type appsData struct {
	Apps      []appRow
	Hosts     []string
	Templates []string
}

func (u *UI) appsPage(rq *request) {
	var apps []api.Application
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps", nil, &apps, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	now := u.now()
	data := appsData{}
	for i := range apps {
		data.Apps = append(data.Apps, appRow{App: apps[i], Status: newStatusView(apps[i].Status, now), Report: newReportView(&apps[i])})
	}
	sort.Slice(data.Apps, func(i, j int) bool { return data.Apps[i].App.Name < data.Apps[j].App.Name })
	if rq.canWrite() && rq.r.URL.Query().Get("fragment") == "" {
		data.Hosts, _ = u.hostNames(rq)
		data.Templates, _ = u.templateNames(rq)
	}
	p := newPage(rq, "Applications", "apps", data)
	u.render(rq.w, rq.r, http.StatusOK, "apps", p)
}

func (u *UI) hostNames(rq *request) ([]string, error) {
	var hosts []api.Host
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "hosts", nil, &hosts, 0); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out, nil
}

func (u *UI) templateNames(rq *request) ([]string, error) {
	var ts []api.Template
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "templates", nil, &ts, 0); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out, nil
}

func (u *UI) appNames(rq *request) []string {
	var apps []api.Application
	rq.api.call(rq.ctx(), http.MethodGet, "apps", nil, &apps, 0)
	out := make([]string, 0, len(apps))
	for _, a := range apps {
		out = append(out, a.Name)
	}
	sort.Strings(out)
	return out
}

func (u *UI) createApp(rq *request) {
	f := rq.r.PostForm
	a := api.Application{Meta: api.Meta{Name: strings.TrimSpace(f.Get("name"))}, Template: f.Get("template"), Host: f.Get("host")}
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, "apps", a, nil, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/apps/"+url.PathEscape(a.Name), "created", a.Name)
}

func (u *UI) deleteApp(rq *request) {
	name := rq.r.PathValue("name")
	rev, _ := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	if _, err := rq.api.call(rq.ctx(), http.MethodDelete, "apps/"+url.PathEscape(name), nil, nil, rev); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/apps", "deleted", name)
}

// appData is the application page.
type appData struct {
	App      api.Application
	Status   statusView
	Report   reportView
	Form     *appForm
	Hosts    []string
	Apps     []string // for the connections' suggestions
	Rev      uint64   // the revision the form applies to
	Conflict *conflictView
	ReadOnly bool
	Problems []string
	Edits    []editLine // the operator's unsaved changes, after a refused save
}

// conflictView is what changed while the operator edited.
type conflictView struct {
	From, To uint64
	Entries  []auditView
	Fields   int
}

// loadApp reads an application with its template and what its editors
// need.
func (u *UI) loadApp(rq *request, name string) (*api.Application, *api.Template, []string, []string, error) {
	var app api.Application
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps/"+url.PathEscape(name), nil, &app, 0); err != nil {
		return nil, nil, nil, nil, err
	}
	var t api.Template
	tp := &t
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "templates/"+url.PathEscape(app.Template), nil, &t, 0); err != nil {
		tp = nil // shown without metadata: every option as text
	}
	hosts, err := u.hostNames(rq)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return &app, tp, hosts, u.appNames(rq), nil
}

func (u *UI) appPage(rq *request) {
	name := rq.r.PathValue("name")
	if api.CheckName(name) != nil {
		u.errorPage(rq.w, rq.r, rq, http.StatusNotFound, "There is no such application.")
		return
	}
	if rq.r.URL.Query().Get("fragment") == "live" {
		// The status and the report, refreshed by the page.
		var app api.Application
		if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps/"+url.PathEscape(name), nil, &app, 0); err != nil {
			u.apiFailure(rq, err)
			return
		}
		u.render(rq.w, rq.r, http.StatusOK, "app", newPage(rq, name, "apps", &appData{App: app, Status: newStatusView(app.Status, u.now()), Report: newReportView(&app)}))
		return
	}
	app, t, hosts, apps, err := u.loadApp(rq, name)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	d := &appData{App: *app, Status: newStatusView(app.Status, u.now()), Report: newReportView(app),
		Form: buildForm(app, t, hosts, apps, !rq.canWrite()), Hosts: hosts, Apps: apps, Rev: app.Revision, ReadOnly: !rq.canWrite()}
	p := newPage(rq, name, "apps", d)
	u.render(rq.w, rq.r, http.StatusOK, "app", p)
}

// saveApp applies the operator's edits onto the application as it is now,
// and writes it with If-Match: the revision the page was read at.
func (u *UI) saveApp(rq *request) {
	name := rq.r.PathValue("name")
	if api.CheckName(name) != nil {
		u.errorPage(rq.w, rq.r, rq, http.StatusNotFound, "There is no such application.")
		return
	}
	rev, err := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	if err != nil || rev == 0 {
		u.errorPage(rq.w, rq.r, rq, http.StatusBadRequest, "The form has no revision: reload the page.")
		return
	}
	app, t, hosts, apps, err := u.loadApp(rq, name)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	af := buildForm(app, t, hosts, apps, false)
	sub := readSubmission(rq.r.PostForm, af)
	edits, secrets := sub.edits(), sub.secretEdits()
	if len(edits) == 0 && len(secrets) == 0 {
		redirect(rq, "/ui/apps/"+url.PathEscape(name), "nothing", "")
		return
	}
	// again renders the page over cur with the operator's edits kept.
	again := func(status int, cur *api.Application, msg string, problems []string, conflict *conflictView) {
		form := buildForm(cur, t, hosts, apps, !rq.canWrite())
		if conflict != nil {
			conflict.Fields = form.markMeanwhile(sub.bases)
		}
		lines := form.editLines(edits, secrets)
		form.overlay(edits, secrets)
		d := &appData{App: *cur, Status: newStatusView(cur.Status, u.now()), Report: newReportView(cur), Form: form,
			Hosts: hosts, Apps: apps, Rev: cur.Revision, Conflict: conflict, ReadOnly: !rq.canWrite(),
			Problems: form.attachProblems(problems), Edits: lines}
		p := newPage(rq, name, "apps", d)
		p.Error = msg
		u.render(rq.w, rq.r, status, "app", p)
	}
	// A stale revision is a conflict before anything else (the API checks
	// the values before the revision). Those who may not write at all get
	// the API's refusal whatever they send.
	if app.Revision != rev && rq.canWrite() {
		again(http.StatusConflict, app, "", nil, u.conflict(rq, name, rev, app.Revision))
		return
	}
	// apply writes into next: a deep copy, so that app stays as read for
	// the page shown again if the save is refused.
	next := *app
	next.Options, next.Annex = api.CloneSections(app.Options), api.CloneSections(app.Annex)
	next.Report, next.Status, next.Warnings = nil, nil, nil
	if local := apply(&next, af, edits, secrets); len(local) > 0 && rq.canWrite() {
		var problems []string
		for _, key := range slices.Sorted(maps.Keys(local)) {
			for _, p := range local[key] {
				problems = append(problems, key+": "+p)
			}
		}
		again(http.StatusUnprocessableEntity, app, "Not saved: correct the values marked below; nothing was changed.", problems, nil)
		return
	}
	var saved api.Application
	_, err = rq.api.call(rq.ctx(), http.MethodPut, "apps/"+url.PathEscape(name), next, &saved, rev)
	if err == nil {
		u.log.Info("application saved from the ui", "application", name, "revision", saved.Revision, "operator", rq.user.Name, "fields", len(edits)+len(secrets))
		redirect(rq, "/ui/apps/"+url.PathEscape(name), "saved", strconv.FormatUint(saved.Revision, 10))
		return
	}
	e, ok := err.(*apiError)
	if !ok {
		u.apiFailure(rq, err)
		return
	}
	switch e.Status {
	case http.StatusPreconditionFailed:
		var body struct {
			Current api.Application `json:"current"`
		}
		cur := app
		if json.Unmarshal(e.Body, &body) == nil && body.Current.Name != "" {
			cur = &body.Current
		}
		again(http.StatusConflict, cur, "", nil, u.conflict(rq, name, rev, cur.Revision))
	case http.StatusUnprocessableEntity:
		again(e.Status, app, "Not saved: "+e.Message+". Correct the values marked below; nothing was changed.", e.Problems, nil)
	case http.StatusBadRequest, http.StatusConflict:
		again(e.Status, app, "Not saved: "+e.Message, e.Problems, nil)
	default:
		u.apiFailure(rq, err)
	}
}

// conflict describes the changes to application name after revision from.
func (u *UI) conflict(rq *request, name string, from, to uint64) *conflictView {
	c := &conflictView{From: from, To: to}
	var a api.Audit
	q := url.Values{"kind": {api.KindApplication}, "name": {name}, "limit": {"100"}}
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "audit?"+q.Encode(), nil, &a, 0); err == nil {
		var since []api.AuditEntry
		for _, e := range a.Entries {
			if e.Revision > from {
				since = append(since, e)
			}
		}
		c.Entries = newAuditViews(since)
	}
	return c
}

// Audit.

type auditData struct {
	Kind, Name string
	Entries    []auditView
	Older      string // the URL of the next page, or ""
	App        *api.Application
}

func (u *UI) appAudit(rq *request) {
	u.audit(rq, api.KindApplication, rq.r.PathValue("name"), "apps")
}

func (u *UI) auditPage(rq *request) {
	u.audit(rq, rq.r.URL.Query().Get("kind"), rq.r.URL.Query().Get("name"), "audit")
}

const auditPageSize = 50

func (u *UI) audit(rq *request, kind, name, nav string) {
	q := url.Values{"limit": {strconv.Itoa(auditPageSize)}}
	if kind != "" {
		q.Set("kind", kind)
	}
	if name != "" {
		q.Set("name", name)
	}
	if b := rq.r.URL.Query().Get("before"); b != "" {
		q.Set("before", b)
	}
	var a api.Audit
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "audit?"+q.Encode(), nil, &a, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	d := auditData{Kind: kind, Name: name, Entries: newAuditViews(a.Entries)}
	if n := len(a.Entries); n == auditPageSize {
		older := url.Values{"before": {strconv.FormatUint(a.Entries[n-1].Revision, 10)}}
		if nav == "audit" {
			if kind != "" {
				older.Set("kind", kind)
			}
			if name != "" {
				older.Set("name", name)
			}
		}
		d.Older = "?" + older.Encode()
	}
	title := "Audit"
	if nav == "apps" {
		var app api.Application
		if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps/"+url.PathEscape(name), nil, &app, 0); err == nil {
			d.App = &app
		}
		title = "Audit of " + name
	}
	u.render(rq.w, rq.r, http.StatusOK, "audit", newPage(rq, title, nav, d))
}

// Hosts.

type hostRow struct {
	Host api.Host
	Apps []appRow
}

func (u *UI) hostRows(rq *request) ([]hostRow, []appRow, error) {
	var hosts []api.Host
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "hosts", nil, &hosts, 0); err != nil {
		return nil, nil, err
	}
	var apps []api.Application
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps", nil, &apps, 0); err != nil {
		return nil, nil, err
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	now := u.now()
	rows := make([]hostRow, len(hosts))
	at := map[string]int{}
	for i, h := range hosts {
		rows[i].Host = h
		at[h.Name] = i
	}
	var homeless []appRow
	for i := range apps {
		r := appRow{App: apps[i], Status: newStatusView(apps[i].Status, now), Report: newReportView(&apps[i])}
		if i, ok := at[apps[i].Host]; ok {
			rows[i].Apps = append(rows[i].Apps, r)
		} else {
			homeless = append(homeless, r)
		}
	}
	return rows, homeless, nil
}

type hostsData struct {
	Hosts    []hostRow
	Homeless []appRow
}

func (u *UI) hostsPage(rq *request) {
	rows, homeless, err := u.hostRows(rq)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	p := newPage(rq, "Hosts", "hosts", hostsData{Hosts: rows, Homeless: homeless})
	u.render(rq.w, rq.r, http.StatusOK, "hosts", p)
}

func (u *UI) hostPage(rq *request) {
	name := rq.r.PathValue("name")
	rows, _, err := u.hostRows(rq)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	for _, row := range rows {
		if row.Host.Name == name {
			p := newPage(rq, name, "hosts", row)
			u.render(rq.w, rq.r, http.StatusOK, "host", p)
			return
		}
	}
	u.errorPage(rq.w, rq.r, rq, http.StatusNotFound, "There is no such host.")
}

// hostFromForm reads the host fields of a form.
func hostFromForm(f url.Values, name string) (api.Host, error) {
	h := api.Host{Meta: api.Meta{Name: name}, Address: strings.TrimSpace(f.Get("address"))}
	if p := strings.TrimSpace(f.Get("lca_port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return h, fmt.Errorf("LCA port %q is not a number", p)
		}
		h.LCAPort = n
	}
	return h, nil
}

func (u *UI) createHost(rq *request) {
	h, err := hostFromForm(rq.r.PostForm, strings.TrimSpace(rq.r.PostFormValue("name")))
	if err != nil {
		u.errorPage(rq.w, rq.r, rq, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, "hosts", h, nil, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/hosts/"+url.PathEscape(h.Name), "created", h.Name)
}

func (u *UI) saveHost(rq *request) {
	name := rq.r.PathValue("name")
	h, err := hostFromForm(rq.r.PostForm, name)
	if err != nil {
		u.errorPage(rq.w, rq.r, rq, http.StatusBadRequest, err.Error())
		return
	}
	rev, _ := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	var saved api.Host
	if _, err := rq.api.call(rq.ctx(), http.MethodPut, "hosts/"+url.PathEscape(name), h, &saved, rev); err != nil {
		if statusOf(err) == http.StatusPreconditionFailed {
			u.errorPage(rq.w, rq.r, rq, http.StatusConflict, fmt.Sprintf("Host %s was changed by someone else meanwhile: nothing was saved. Open it again to see it as it is now.", name))
			return
		}
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/hosts/"+url.PathEscape(name), "saved", strconv.FormatUint(saved.Revision, 10))
}

func (u *UI) deleteHost(rq *request) {
	name := rq.r.PathValue("name")
	rev, _ := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	if _, err := rq.api.call(rq.ctx(), http.MethodDelete, "hosts/"+url.PathEscape(name), nil, nil, rev); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/hosts", "deleted", name)
}

// Templates.

type templateRow struct {
	Template api.Template
	Options  int
	UsedBy   []string
}

func (u *UI) templateRows(rq *request) ([]templateRow, error) {
	var ts []api.Template
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "templates", nil, &ts, 0); err != nil {
		return nil, err
	}
	var apps []api.Application
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "apps", nil, &apps, 0); err != nil {
		return nil, err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	rows := make([]templateRow, len(ts))
	for i, t := range ts {
		rows[i].Template = t
		if t.Metadata != nil {
			for _, s := range t.Metadata.Sections {
				rows[i].Options += len(s.Options)
			}
		}
		for _, a := range apps {
			if a.Template == t.Name {
				rows[i].UsedBy = append(rows[i].UsedBy, a.Name)
			}
		}
		sort.Strings(rows[i].UsedBy)
	}
	return rows, nil
}

func (u *UI) templatesPage(rq *request) {
	rows, err := u.templateRows(rq)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	p := newPage(rq, "Templates", "templates", rows)
	u.render(rq.w, rq.r, http.StatusOK, "templates", p)
}

func (u *UI) templatePage(rq *request) {
	rows, err := u.templateRows(rq)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	for _, row := range rows {
		if row.Template.Name == rq.r.PathValue("name") {
			u.render(rq.w, rq.r, http.StatusOK, "template", newPage(rq, row.Template.Name, "templates", row))
			return
		}
	}
	u.errorPage(rq.w, rq.r, rq, http.StatusNotFound, "There is no such template.")
}

// maxTemplateFile bounds each uploaded file.
const maxTemplateFile = 2 << 20

// importTemplate sends the two uploaded XML files to the API; "replace"
// replaces the template of the same type, at the revision read just before.
func (u *UI) importTemplate(rq *request) {
	read := func(field string) (string, error) {
		f, fh, err := rq.r.FormFile(field)
		if err != nil {
			return "", fmt.Errorf("choose the %s file", map[string]string{"apd": ".apd", "metadata": ".metadata.xml"}[field])
		}
		defer f.Close()
		if fh.Size > maxTemplateFile {
			return "", fmt.Errorf("%s is larger than %d bytes", fh.Filename, maxTemplateFile)
		}
		buf, err := io.ReadAll(io.LimitReader(f, maxTemplateFile+1))
		if err != nil {
			return "", err
		}
		if len(buf) > maxTemplateFile {
			return "", fmt.Errorf("%s is larger than %d bytes", fh.Filename, maxTemplateFile)
		}
		return string(buf), nil
	}
	apd, err := read("apd")
	var metadata string
	if err == nil {
		metadata, err = read("metadata")
	}
	if err != nil {
		u.templatesWithError(rq, http.StatusBadRequest, "Not imported: "+err.Error(), nil)
		return
	}
	path := "templates/import"
	var rev uint64
	if rq.r.PostFormValue("replace") != "" {
		// The type the .apd names is the template it replaces.
		typ := apdType(apd)
		var cur api.Template
		if _, err := rq.api.call(rq.ctx(), http.MethodGet, "templates/"+url.PathEscape(typ), nil, &cur, 0); err == nil {
			path, rev = "templates/import?replace=true", cur.Revision
		}
	}
	var t api.Template
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, path, api.TemplateImport{APD: apd, Metadata: metadata}, &t, rev); err != nil {
		var ae *apiError
		if e, ok := err.(*apiError); ok && e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden {
			ae = e
		}
		if ae == nil {
			u.apiFailure(rq, err)
			return
		}
		u.templatesWithError(rq, ae.Status, "Not imported: "+ae.Message, ae.Problems)
		return
	}
	redirect(rq, "/ui/templates/"+url.PathEscape(t.Name), "imported", t.Name)
}

// apdType returns the type an .apd file names ("" when it names none).
func apdType(apd string) string {
	var t struct {
		Type string `xml:"type,attr"`
	}
	xml.Unmarshal([]byte(apd), &t)
	return t.Type
}

func (u *UI) templatesWithError(rq *request, status int, msg string, problems []string) {
	rows, err := u.templateRows(rq)
	if err != nil {
		u.apiFailure(rq, err)
		return
	}
	p := newPage(rq, "Templates", "templates", rows)
	p.Error, p.Problems = msg, problems
	u.render(rq.w, rq.r, status, "templates", p)
}

func (u *UI) deleteTemplate(rq *request) {
	name := rq.r.PathValue("name")
	rev, _ := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	if _, err := rq.api.call(rq.ctx(), http.MethodDelete, "templates/"+url.PathEscape(name), nil, nil, rev); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/templates", "deleted", name)
}

// Operators (admin).

var roles = []string{api.RoleAdmin, api.RoleOperator, api.RoleViewer}

type operatorsData struct {
	Operators []api.Operator
	Roles     []string
}

func (u *UI) operatorsPage(rq *request) {
	var ops []api.Operator
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "operators", nil, &ops, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	p := newPage(rq, "Operators", "operators", operatorsData{Operators: ops, Roles: roles})
	u.render(rq.w, rq.r, http.StatusOK, "operators", p)
}

func (u *UI) createOperator(rq *request) {
	f := rq.r.PostForm
	o := api.Operator{Meta: api.Meta{Name: strings.TrimSpace(f.Get("name"))}, Role: f.Get("role"), Password: f.Get("password")}
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, "operators", o, nil, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/operators", "created", o.Name)
}

// saveOperator changes an operator's role, or sets its password.
func (u *UI) saveOperator(rq *request) {
	name := rq.r.PathValue("name")
	f := rq.r.PostForm
	rev, _ := strconv.ParseUint(f.Get("rev"), 10, 64)
	var cur api.Operator
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, "operators/"+url.PathEscape(name), nil, &cur, 0); err != nil {
		u.apiFailure(rq, err)
		return
	}
	o := api.Operator{Meta: api.Meta{Name: name}, Role: cur.Role}
	done := "role"
	if pw := f.Get("password"); pw != "" {
		o.Password, done = pw, "password"
	} else if r := f.Get("role"); r != "" {
		o.Role = r
	}
	if _, err := rq.api.call(rq.ctx(), http.MethodPut, "operators/"+url.PathEscape(name), o, nil, rev); err != nil {
		if statusOf(err) == http.StatusPreconditionFailed {
			u.errorPage(rq.w, rq.r, rq, http.StatusConflict, fmt.Sprintf("Operator %s was changed by someone else meanwhile: nothing was saved.", name))
			return
		}
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/operators", done, name)
}

func (u *UI) deleteOperator(rq *request) {
	name := rq.r.PathValue("name")
	rev, _ := strconv.ParseUint(rq.r.PostFormValue("rev"), 10, 64)
	if _, err := rq.api.call(rq.ctx(), http.MethodDelete, "operators/"+url.PathEscape(name), nil, nil, rev); err != nil {
		u.apiFailure(rq, err)
		return
	}
	redirect(rq, "/ui/operators", "deleted", name)
}
