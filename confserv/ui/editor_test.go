package ui

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/confserv/api"
	"webrtcgw/options"
)

// gatewayTemplate is the shipped WebRTC_Gateway template as the API shows
// it: its metadata comes from the option catalog.
func gatewayTemplate() *api.Template {
	m := options.NewMetadata()
	t := &api.Template{Meta: api.Meta{Name: m.Type}, Type: m.Type, Metadata: &api.Metadata{}}
	for _, sec := range m.Sections {
		ms := api.MetadataSection{Name: sec.Name, Annex: sec.Annex, Description: sec.Description}
		for _, o := range sec.Options {
			mo := api.MetadataOption{Name: o.Name, Type: string(o.Type), Default: o.Default, Min: o.Min, Max: o.Max, Off: o.Off,
				Effect: string(o.Effect), Owner: string(o.Owner), Allowed: o.Allowed, Description: o.Description}
			if o.Valid != nil {
				mo.Values = o.Valid.Values
			}
			ms.Options = append(ms.Options, mo)
		}
		t.Metadata.Sections = append(t.Metadata.Sections, ms)
	}
	return t
}

// TestEditorPerType: every option of the catalog gets the editor of its
// type, with its metadata.
func TestEditorPerType(t *testing.T) {
	tpl := gatewayTemplate()
	app := &api.Application{Meta: api.Meta{Name: "gw1"}, Options: api.Sections{}, Annex: api.Sections{}}
	af := buildForm(app, tpl, nil, nil, false)
	want := map[options.Type]string{
		options.TypeInt: edNumber, options.TypePort: edNumber, options.TypeSeconds: edNumber, options.TypeBool: edCheckbox,
		options.TypeEnum: edSelect, options.TypeCIDRList: edList, options.TypeOriginList: edList, options.TypeURLList: edList,
		options.TypeOutputList: edList, options.TypeSecret: edSecret, options.TypePath: edText, options.TypeSize: edText,
		options.TypeString: edText, options.TypeHost: edText, options.TypeHostPort: edText, options.TypeAddress: edText,
	}
	n := 0
	for _, d := range options.Catalog() {
		where := "options/"
		if d.Annex() {
			where = "annex/"
		}
		f := af.byKey[where+d.Key()]
		if f == nil {
			t.Errorf("no editor for %s", d.Key())
			continue
		}
		n++
		w := want[d.Type]
		if d.Type == options.TypeList {
			w = edList
			if len(d.Enum) > 0 {
				w = edListSelect
			}
		}
		if f.Editor != w {
			t.Errorf("%s (%s): editor %s, want %s", d.Key(), d.Type, f.Editor, w)
		}
		if f.Description != d.Doc || f.Default != d.Default || f.Effect != string(d.Effect) || f.Allowed == "" {
			t.Errorf("%s: description/default/effect/allowed = %q/%q/%q/%q", d.Key(), f.Description, f.Default, f.Effect, f.Allowed)
		}
		if f.Editor == edNumber && d.Off && f.Min != "0" {
			t.Errorf("%s: min %q, want 0 (off)", d.Key(), f.Min)
		}
	}
	if n == 0 {
		t.Fatal("no option checked")
	}
}

// submit is what a browser posts for the untouched editors of af, with
// change applied to the values: key → items.
func submit(af *appForm, change map[string][]string) url.Values {
	form := url.Values{}
	for key, f := range af.byKey {
		vals := f.Base
		if f.IsList() {
			vals = append([]string{""}, f.Items...) // the hidden empty value first
		}
		if f.Editor == edSecret {
			vals = []string{""}
		}
		if c, ok := change[key]; ok {
			vals = c
		}
		form["v:"+key] = vals
		form["b:"+key] = f.Base
	}
	return form
}

// TestRoundTrip: untouched editors change nothing, whatever the stored
// spelling; changed ones are applied, secrets kept unless replaced.
func TestRoundTrip(t *testing.T) {
	tpl := gatewayTemplate()
	stored := func() *api.Application {
		return &api.Application{Meta: api.Meta{Name: "gw1", Revision: 7}, Host: "host1", Connections: []string{"sip1"}, Args: []string{"-app", "gw1"},
			Ports: map[string]int{"default": 8443},
			Options: api.Sections{
				"web":   {"https-port": " 8443", "demo-page": "yes", "domain-whitelist": "https://a.example, *.b.example"},
				"media": {"codecs": "PCMU , PCMA", "turn-password": api.Masked},
				"x":     {"unknown": "kept"},
			},
			Annex: api.Sections{"sml": {"autostart": "on"}},
		}
	}
	app := stored()
	af := buildForm(app, tpl, []string{"host1", "host2"}, []string{"gw1", "sip1"}, false)
	sub := readSubmission(submit(af, nil), af)
	if e, s := sub.edits(), sub.secretEdits(); len(e) != 0 || len(s) != 0 {
		t.Fatalf("untouched form: edits %v secrets %v, want none", e, s)
	}

	change := map[string][]string{
		"options/web/https-port":       {"9443"},
		"options/web/domain-whitelist": {"", "https://a.example", "", "https://c.example"},
		"options/web/demo-page":        {"false"},         // the checkbox off: only its hidden false
		"annex/sml/autostart":          {"false", "true"}, // stored "on": unchanged
		"options/media/turn-password":  {"new-secret"},
		"host":                         {"host2"},
		"connections":                  {""},
		"args":                         {"", "-app", "gw1", "-v"},
		"ports":                        {"", "default=9443", "admin=8080"},
		"options/x/unknown":            {""},
	}
	sub = readSubmission(submit(af, change), af)
	edits, secrets := sub.edits(), sub.secretEdits()
	if len(edits) != len(change)-2 || len(secrets) != 1 {
		t.Errorf("edits %v secrets %v", edits, secrets)
	}
	if problems := apply(app, af, edits, secrets); len(problems) != 0 {
		t.Fatalf("apply: %v", problems)
	}
	want := stored()
	want.Host, want.Connections, want.Args, want.Ports = "host2", nil, []string{"-app", "gw1", "-v"}, map[string]int{"default": 9443, "admin": 8080}
	want.Options["web"] = map[string]string{"https-port": "9443", "demo-page": "false", "domain-whitelist": "https://a.example,https://c.example"}
	want.Options["media"]["turn-password"] = "new-secret"
	want.Options["x"] = map[string]string{}
	if diff := cmp.Diff(want, app); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}

	// A malformed port is refused before the API is asked.
	app = stored()
	af = buildForm(app, tpl, nil, nil, false)
	sub = readSubmission(submit(af, map[string][]string{"ports": {"default=x"}}), af)
	if p := apply(app, af, sub.edits(), nil); len(p["ports"]) != 1 {
		t.Errorf("ports default=x: problems %v", p)
	}
	// Clearing a secret.
	form := submit(af, nil)
	form.Set("clear:options/media/turn-password", "1")
	if s := readSubmission(form, af).secretEdits(); s["options/media/turn-password"] != "" || len(s) != 1 {
		t.Errorf("clear: %v", s)
	}
}

// TestSecretNeverInForm: the editor of a set secret holds no value.
func TestSecretNeverInForm(t *testing.T) {
	app := &api.Application{Options: api.Sections{"media": {"turn-password": api.Masked}}}
	f := buildForm(app, gatewayTemplate(), nil, nil, false).byKey["options/media/turn-password"]
	if f.Value != "" || len(f.Items) != 0 || !f.Set || slices.Contains(f.Base, api.Masked) {
		t.Errorf("secret field = %+v", f)
	}
}

// TestConflictMarks: after a conflict, fields changed meanwhile are marked
// and the operator's edits are put back.
func TestConflictMarks(t *testing.T) {
	tpl := gatewayTemplate()
	old := &api.Application{Options: api.Sections{"web": {"https-port": "8443"}, "sip": {"sip-port": "5060"}}}
	af := buildForm(old, tpl, nil, nil, false)
	sub := readSubmission(submit(af, map[string][]string{"options/web/https-port": {"8444"}}), af)
	cur := &api.Application{Options: api.Sections{"web": {"https-port": "8443"}, "sip": {"sip-port": "5070"}}}
	af2 := buildForm(cur, tpl, nil, nil, false)
	if n := af2.markMeanwhile(sub.bases); n != 1 {
		t.Errorf("%d fields changed meanwhile, want 1", n)
	}
	lines := af2.editLines(sub.edits(), nil)
	af2.overlay(sub.edits(), nil)
	if m := af2.byKey["options/sip/sip-port"].Meanwhile; m == nil || m.Old != "5060" || m.New != "5070" {
		t.Errorf("sip-port meanwhile = %+v", m)
	}
	if f := af2.byKey["options/web/https-port"]; f.Value != "8444" || !f.Edited || f.Meanwhile != nil {
		t.Errorf("https-port after the conflict = %+v", f)
	}
	if len(lines) != 1 || lines[0].Label != "options/web/https-port" || lines[0].Old != "8443" || lines[0].New != "8444" {
		t.Errorf("edit lines = %+v", lines)
	}
}

func TestAttachProblems(t *testing.T) {
	af := buildForm(&api.Application{Options: api.Sections{}}, gatewayTemplate(), nil, nil, false)
	rest := af.attachProblems([]string{
		"web/https-port: \"70000\": out of range",
		"sml/autostart: not a boolean",
		"ports: \"x\": write name=port",
		"something else entirely",
	})
	if got := af.byKey["options/web/https-port"].Problems; !slices.Equal(got, []string{`"70000": out of range`}) {
		t.Errorf("https-port problems = %q", got)
	}
	if got := af.byKey["annex/sml/autostart"].Problems; len(got) != 1 {
		t.Errorf("autostart problems = %q", got)
	}
	if got := af.byKey["ports"].Problems; len(got) != 1 {
		t.Errorf("ports problems = %q", got)
	}
	if !slices.Equal(rest, []string{"something else entirely"}) {
		t.Errorf("problems naming no field = %q", rest)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/apps/gw1?x=1":  "/ui/apps/gw1?x=1",
		"":                  "/ui/apps",
		"/ui":               "/ui/apps",
		"//evil.example/ui": "/ui/apps",
		"https://e.x/ui/":   "/ui/apps",
		"/api/v1/apps":      "/ui/apps",
		"/ui/\r\nX: y":      "/ui/apps",
		"/ui/\\\\evil":      "/ui/apps",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 192 * time.Second: "3m 12s",
		2*time.Hour + 5*time.Minute: "2h 05m", 76 * time.Hour: "3d 4h",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStatusAndReport(t *testing.T) {
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	v := newStatusView(&api.AppStatus{Status: "Running", PID: 7, Started: now.Add(-90 * time.Minute), Since: now.Add(-time.Hour)}, now)
	if v.Class != "ok" || v.Uptime != "1h 30m" || v.For != "1h 00m" {
		t.Errorf("running: %+v", v)
	}
	if v := newStatusView(&api.AppStatus{Status: "Stopped", Started: now.Add(-time.Hour)}, now); v.Uptime != "" || v.Class != "off" {
		t.Errorf("stopped: %+v", v)
	}
	if v := newStatusView(nil, now); v.Present || v.Status != "no status" {
		t.Errorf("absent: %+v", v)
	}
	app := &api.Application{Meta: api.Meta{Revision: 15}, Report: &api.Report{Revision: 15, Status: api.ReportRejected, Error: "media/rtp-port-min: too high", Time: now}}
	if r := newReportView(app); r.Applied || r.Pending || r.Text != "rejected revision 15 at 2026-11-26 09:00:00 UTC" || r.Error == "" {
		t.Errorf("rejected: %+v", r)
	}
	app.Report = &api.Report{Revision: 14, Status: api.ReportApplied, Time: now}
	if r := newReportView(app); !r.Applied || !r.Pending || r.Text != "applied revision 14 at 2026-11-26 09:00:00 UTC" {
		t.Errorf("applied, then changed: %+v", r)
	}
}

func TestFlash(t *testing.T) {
	for q, want := range map[string]string{
		"done=saved&arg=12":                           "Saved: revision 12.",
		"done=nothing":                                "Nothing to save: no value was changed.",
		"done=created&arg=gw2":                        "Created gw2.",
		"done=created&arg=%3Cb%3E":                    "",
		"done=Hello+there&arg=gw2":                    "",
		"done=deleted&arg=" + strings.Repeat("a", 65): "",
	} {
		r := httptest.NewRequest("GET", "/ui/apps?"+q, nil)
		if got := flash(r); got != want {
			t.Errorf("flash(%s) = %q, want %q", q, got, want)
		}
	}
}

func TestDiffLine(t *testing.T) {
	d := newDiffLine(api.FieldChange{Field: "connections", Old: `["sip1","sip2"]`, New: `["sip2","sip3"]`})
	if !d.List || !slices.Equal(d.Removed, []string{"sip1"}) || !slices.Equal(d.Added, []string{"sip3"}) {
		t.Errorf("JSON list diff = %+v", d)
	}
	d = newDiffLine(api.FieldChange{Field: "options/media/codecs", Old: "PCMU,PCMA", New: "PCMA,G722"})
	if !slices.Equal(d.Removed, []string{"PCMU"}) || !slices.Equal(d.Added, []string{"G722"}) {
		t.Errorf("option list diff = %+v", d)
	}
	if d := newDiffLine(api.FieldChange{Field: "options/web/https-port", Old: "8443", New: "9443"}); d.List {
		t.Errorf("scalar diff = %+v", d)
	}
}
