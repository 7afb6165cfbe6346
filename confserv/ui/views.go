package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"webrtcgw/confserv/api"
)

// statusView is an application's status as the Local Control Agent of its
// host last reported it.
type statusView struct {
	Present  bool
	Status   string
	Class    string // the badge colour
	Detail   string
	PID      int
	Since    time.Time
	For      string // how long in this status
	Uptime   string // how long the process has run
	Restarts int
	Managed  bool
	Updated  time.Time
}

// statusClasses colour the LCA status model (docs/lca-protocol.md).
var statusClasses = map[string]string{
	"Running":            "ok",
	"ServiceUnavailable": "warn",
	"Suspending":         "warn",
	"Suspended":          "warn",
	"StartPending":       "busy",
	"Initializing":       "busy",
	"StopPending":        "busy",
	"Stopped":            "off",
	"Unknown":            "off",
}

// running lists the statuses in which a process exists.
var running = map[string]bool{"Running": true, "ServiceUnavailable": true, "Suspending": true, "Suspended": true,
	"Initializing": true, "StopPending": true}

func newStatusView(st *api.AppStatus, now time.Time) statusView {
	if st == nil {
		return statusView{Status: "no status", Class: "none"}
	}
	v := statusView{Present: true, Status: st.Status, Class: statusClasses[st.Status], Detail: st.Detail, PID: st.PID,
		Since: st.Since, Restarts: st.Restarts, Managed: st.Managed, Updated: st.Updated}
	if v.Class == "" {
		v.Class = "off"
	}
	if !st.Since.IsZero() {
		v.For = duration(now.Sub(st.Since))
	}
	if !st.Started.IsZero() && running[st.Status] {
		v.Uptime = duration(now.Sub(st.Started))
	}
	return v
}

// reportView is what the daemon did with the last change.
type reportView struct {
	Present  bool
	Applied  bool
	Text     string
	Error    string
	Pending  bool   // the application is at a newer revision than the report
	Revision uint64 // the application's revision
}

func newReportView(app *api.Application) reportView {
	r := app.Report
	if r == nil {
		return reportView{Text: "no report from the daemon yet", Revision: app.Revision}
	}
	v := reportView{Present: true, Applied: r.Status == api.ReportApplied, Error: r.Error, Revision: app.Revision,
		Pending: r.Revision < app.Revision}
	at := ""
	if !r.Time.IsZero() {
		at = " at " + fmtTime(r.Time)
	}
	if v.Applied {
		v.Text = fmt.Sprintf("applied revision %d%s", r.Revision, at)
	} else {
		v.Text = fmt.Sprintf("rejected revision %d%s", r.Revision, at)
	}
	return v
}

// duration is a short human form: 45s, 3m 12s, 2h 05m, 3d 4h.
func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// fmtTime shows a time in UTC, to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// effectTexts explain the takes-effect classes (options.Effect).
var effectTexts = map[string]string{
	"immediate": "applied to the next request or packet",
	"listener":  "a new listener starts, then the old one drains: no connection is refused",
	"transport": "a new SIP transport starts; dialogs on the old one finish there",
	"new-calls": "applies to calls set up after the change; calls in progress keep their settings",
}

// diffLine is one change of an audit entry, with list items compared.
type diffLine struct {
	Field   string
	Old     string
	New     string
	Removed []string // list items only in Old
	Added   []string // list items only in New
	List    bool
}

// diffItems returns the items of an audit value that is a list: a JSON
// array (args, connections) or a comma-separated option.
func diffItems(v string) ([]string, bool) {
	if strings.HasPrefix(v, "[") {
		var items []string
		if json.Unmarshal([]byte(v), &items) == nil {
			return items, true
		}
	}
	if strings.Contains(v, ",") {
		return splitList(v), true
	}
	return splitList(v), false
}

func newDiffLine(c api.FieldChange) diffLine {
	d := diffLine{Field: c.Field, Old: c.Old, New: c.New}
	oldItems, oldList := diffItems(c.Old)
	newItems, newList := diffItems(c.New)
	if oldList || newList {
		d.List = true
		for _, it := range oldItems {
			if !contains(newItems, it) {
				d.Removed = append(d.Removed, it)
			}
		}
		for _, it := range newItems {
			if !contains(oldItems, it) {
				d.Added = append(d.Added, it)
			}
		}
	}
	return d
}

func contains(items []string, s string) bool {
	for _, it := range items {
		if it == s {
			return true
		}
	}
	return false
}

// auditView is an audit entry for the page.
type auditView struct {
	api.AuditEntry
	Lines []diffLine
}

func newAuditViews(entries []api.AuditEntry) []auditView {
	out := make([]auditView, 0, len(entries))
	for _, e := range entries {
		v := auditView{AuditEntry: e}
		for _, c := range e.Changes {
			v.Lines = append(v.Lines, newDiffLine(c))
		}
		out = append(out, v)
	}
	return out
}

// funcs are the template functions.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":   u.asset,
		"time":    fmtTime,
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":     func(t time.Time) string { return duration(u.now().Sub(t)) + " ago" },
		"effect":  func(e string) string { return effectTexts[e] },
		"join":    strings.Join,
		"showall": showItems,
		"items":   listItemsOf,
		"newItem": func(f *field) listItem { return listItem{F: f} },
		"kinds": func() []string {
			return []string{api.KindApplication, api.KindHost, api.KindTemplate, api.KindOperator}
		},
	}
}

// listItem is one row of a list editor; the first carries the field's id,
// which its label points to.
type listItem struct {
	F  *field
	V  string
	ID string
}

// listItemsOf returns the rows of a list editor: its items, or one empty
// row to type the first (the Add button adds more).
func listItemsOf(f *field) []listItem {
	out := make([]listItem, 0, len(f.Items)+1)
	for _, it := range f.Items {
		out = append(out, listItem{F: f, V: it})
	}
	if len(out) == 0 {
		out = append(out, listItem{F: f})
	}
	out[0].ID = f.ID
	return out
}
