package ui

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"webrtcgw/confserv/api"
)

// Editors of a field, by the option types of the metadata (options/def.go).
const (
	edNumber     = "number"      // integer, port, seconds
	edCheckbox   = "checkbox"    // boolean
	edSelect     = "select"      // enum; the application's host
	edList       = "list"        // comma-separated lists: one text row per item
	edListSelect = "list-select" // a list whose items are one of Values
	edSecret     = "secret"      // never shown: replace or clear
	edText       = "text"        // everything else on one line
)

// field is one editor of the application page. Its form inputs are
// "v:KEY" (the value: several for lists), "b:KEY" (the base: what the
// untouched editor submits) and, for secrets, "clear:KEY".
type field struct {
	Key         string // options/SECTION/NAME, annex/SECTION/NAME, or a property (host, args…)
	ID          string // the HTML id of its input
	Label       string
	Editor      string
	Type        string   // the metadata type
	Value       string   // scalar editors
	Items       []string // list editors
	Base        []string // the untouched editor's submission
	Choices     []string // select and list-select
	Datalist    string   // the id of a datalist of suggestions for list items
	Min, Max    string   // number inputs
	Default     string   // the default, as text ("" for none)
	Effect      string
	Allowed     string
	Description string
	Set         bool // a secret is stored
	Absent      bool // the application does not set the option: the default applies
	NonDefault  bool // set to another value than the default
	Edited      bool // holds the operator's unsaved value (after a refused save)
	SecretTyped bool // a new secret was typed and not saved (it is not shown back)
	Problems    []string
	Meanwhile   *meanwhile // changed by someone else since the operator read it
	ReadOnly    bool
}

// meanwhile is a field changed by someone else since the operator's
// revision.
type meanwhile struct{ Old, New string }

// group is a section of the editor.
type group struct {
	ID          string
	Title       string
	Description string
	Annex       bool
	Note        string
	Fields      []*field
}

// Checked reports whether a checkbox is on.
func (f *field) Checked() bool { return f.Value == "true" }

// Selected reports whether choice is the selected value of a select.
func (f *field) Selected(choice string) bool { return f.Value == choice }

// IsList reports whether the editor has one row per item.
func (f *field) IsList() bool { return f.Editor == edList || f.Editor == edListSelect }

// ShowDefault reports whether the field has a default worth a reset button.
func (f *field) ShowDefault() bool {
	return strings.HasPrefix(f.Key, "options/") || strings.HasPrefix(f.Key, "annex/")
}

// DefaultText is the default as shown to the operator.
func (f *field) DefaultText() string {
	if f.Default == "" {
		return "(empty)"
	}
	return f.Default
}

// editorFor returns the editor of a metadata option type.
func editorFor(o api.MetadataOption) string {
	switch o.Type {
	case "integer", "port", "seconds":
		return edNumber
	case "boolean":
		return edCheckbox
	case "enum":
		return edSelect
	case "list":
		if len(o.Values) > 0 {
			return edListSelect
		}
		return edList
	case "cidr-list", "origin-list", "url-list", "output-list":
		return edList
	case "secret":
		return edSecret
	}
	return edText
}

// fieldID turns a key into an HTML id.
func fieldID(key string) string {
	return "f-" + strings.NewReplacer("/", "--", ".", "-_").Replace(key)
}

// splitList returns the items of a comma-separated value, trimmed, without
// empty ones.
func splitList(v string) []string {
	var out []string
	for _, it := range strings.Split(v, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// parseBool reads a boolean option the way the gateway does (options
// package); ok is false for anything else.
func parseBool(v string) (b, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// optionField builds the editor of option o of section sec (in the annex when
// annex), from the application's stored values.
func optionField(sec api.MetadataSection, o api.MetadataOption, stored api.Sections, readOnly bool) *field {
	where := "options"
	if sec.Annex {
		where = "annex"
	}
	key := where + "/" + sec.Name + "/" + o.Name
	f := &field{Key: key, ID: fieldID(key), Label: o.Name, Editor: editorFor(o), Type: o.Type,
		Default: o.Default, Effect: o.Effect, Allowed: o.Allowed, Description: o.Description, ReadOnly: readOnly}
	raw, present := stored[sec.Name][o.Name]
	f.Absent = !present
	switch f.Editor {
	case edNumber:
		f.Min, f.Max = o.Min, o.Max
		if o.Off {
			f.Min = "0"
		}
		f.Value = strings.TrimSpace(raw)
		f.Base = []string{f.Value}
		f.NonDefault = present && f.Value != "" && f.Value != o.Default
	case edCheckbox:
		v, ok := parseBool(raw)
		if !present || strings.TrimSpace(raw) == "" || !ok {
			v, _ = parseBool(o.Default)
		}
		f.Value = strconv.FormatBool(v)
		f.Base = []string{f.Value}
		def, _ := parseBool(o.Default)
		f.NonDefault = present && strings.TrimSpace(raw) != "" && v != def
	case edSelect:
		f.Choices = slices.Clone(o.Values)
		f.Value = strings.TrimSpace(raw)
		if f.Value == "" {
			f.Value = o.Default
		}
		if !slices.Contains(f.Choices, f.Value) {
			// Keep what is stored (the API will say what is wrong with it).
			f.Choices = append([]string{f.Value}, f.Choices...)
		}
		f.Base = []string{f.Value}
		f.NonDefault = present && strings.TrimSpace(raw) != "" && f.Value != o.Default
	case edList, edListSelect:
		f.Items = splitList(raw)
		f.Base = slices.Clone(f.Items)
		f.Choices = slices.Clone(o.Values)
		for _, it := range f.Items {
			if f.Editor == edListSelect && !slices.Contains(f.Choices, it) {
				f.Choices = append(f.Choices, it)
			}
		}
		f.NonDefault = present && len(f.Items) > 0 && strings.Join(f.Items, ",") != strings.Join(splitList(o.Default), ",")
	case edSecret:
		// The API shows a set secret as the mask; its value never comes here.
		f.Set = present && raw != ""
		f.Base = []string{""}
		if f.Set {
			f.Base = []string{"set"}
		}
	default:
		f.Value = strings.TrimSpace(raw)
		f.Base = []string{f.Value}
		f.NonDefault = present && f.Value != "" && f.Value != o.Default
	}
	return f
}

// appForm is the editor of one application.
type appForm struct {
	Groups []*group
	// fields by key, and by "section/name" of the options (how the API's
	// problems name them).
	byKey    map[string]*field
	byOption map[string]*field
}

// knownHosts and knownApps feed the host select and the connection
// suggestions.
func buildForm(app *api.Application, t *api.Template, hosts, apps []string, readOnly bool) *appForm {
	af := &appForm{byKey: map[string]*field{}, byOption: map[string]*field{}}
	add := func(g *group, f *field) {
		g.Fields = append(g.Fields, f)
		af.byKey[f.Key] = f
	}

	props := &group{ID: "g-properties", Title: "Application", Description: "Where and how the daemon runs, and the applications it connects to."}
	hostChoices := append([]string{""}, hosts...)
	if !slices.Contains(hostChoices, app.Host) {
		hostChoices = append(hostChoices, app.Host)
	}
	text := func(key, label, value, desc string) *field {
		return &field{Key: key, ID: fieldID(key), Label: label, Editor: edText, Value: value, Base: []string{value}, Description: desc, ReadOnly: readOnly}
	}
	list := func(key, label string, items []string, desc string) *field {
		return &field{Key: key, ID: fieldID(key), Label: label, Editor: edList, Items: items, Base: slices.Clone(items), Description: desc, ReadOnly: readOnly}
	}
	add(props, &field{Key: "host", ID: fieldID("host"), Label: "host", Editor: edSelect, Value: app.Host, Base: []string{app.Host},
		Choices: hostChoices, Description: "The host the application runs on; its Local Control Agent starts, stops and reports it.", ReadOnly: readOnly})
	conns := list("connections", "connections", slices.Clone(app.Connections),
		"Applications this one connects to. A gateway uses its connection to a SIP_Server application (that host's address and port default) when sip/sip-server is empty.")
	conns.Datalist = "apps-list"
	add(props, conns)
	add(props, text("working_dir", "working directory", app.WorkingDir, "The directory the Local Control Agent starts the daemon in."))
	add(props, text("command_line", "command line", app.CommandLine, "The program the Local Control Agent starts."))
	add(props, list("args", "arguments", slices.Clone(app.Args), "Command-line arguments, one per row, in order."))
	add(props, &field{Key: "auto_restart", ID: fieldID("auto_restart"), Label: "auto-restart", Editor: edCheckbox,
		Value: strconv.FormatBool(app.AutoRestart), Base: []string{strconv.FormatBool(app.AutoRestart)},
		Description: "Restart the daemon when it exits unexpectedly.", ReadOnly: readOnly})
	var ports []string
	for _, name := range slices.Sorted(maps.Keys(app.Ports)) {
		ports = append(ports, name+"="+strconv.Itoa(app.Ports[name]))
	}
	add(props, list("ports", "listening ports", ports, "Ports the application listens on, as name=port (default=8443). Connected applications reach it on port default."))
	known := map[string]bool{}
	if t != nil && t.Metadata != nil {
		for _, sec := range t.Metadata.Sections {
			stored := app.Options
			title := "[" + sec.Name + "]"
			if sec.Annex {
				stored = app.Annex
				title = "[" + sec.Name + "] annex"
			}
			g := &group{ID: "g-" + map[bool]string{false: "options-", true: "annex-"}[sec.Annex] + sec.Name, Title: title, Description: sec.Description, Annex: sec.Annex}
			if sec.Annex {
				g.Note = "Read by the Local Control Agent of the host, not by the daemon."
			}
			for _, o := range sec.Options {
				f := optionField(sec, o, stored, readOnly)
				add(g, f)
				af.byOption[sec.Name+"/"+o.Name] = f
				known[f.Key] = true
			}
			af.Groups = append(af.Groups, g)
		}
	}
	// Options the template does not know: kept, editable as text, removed
	// when emptied.
	other := &group{ID: "g-other", Title: "Not in the template", Note: "The template's metadata does not describe these options: the daemon may ignore them. Empty one to remove it."}
	for _, where := range []string{"options", "annex"} {
		secs := app.Options
		if where == "annex" {
			secs = app.Annex
		}
		for _, sec := range slices.Sorted(maps.Keys(secs)) {
			for _, name := range slices.Sorted(maps.Keys(secs[sec])) {
				key := where + "/" + sec + "/" + name
				if known[key] {
					continue
				}
				f := text(key, sec+"/"+name, secs[sec][name], "")
				if where == "annex" {
					f.Label = "annex " + f.Label
				}
				add(other, f)
				af.byOption[sec+"/"+name] = f
			}
		}
	}
	if len(other.Fields) > 0 {
		af.Groups = append(af.Groups, other)
	}
	af.Groups = append(af.Groups, props)
	return af
}

// submission is what the form posted for the editors.
type submission struct {
	values  map[string][]string // v:KEY, normalized like field.Base
	bases   map[string][]string // b:KEY
	secrets map[string]string   // a new secret typed
	clears  map[string]bool     // clear:KEY
}

// readSubmission reads the posted form for the fields of af.
func readSubmission(form url.Values, af *appForm) submission {
	s := submission{values: map[string][]string{}, bases: map[string][]string{}, secrets: map[string]string{}, clears: map[string]bool{}}
	for key, f := range af.byKey {
		vals, ok := form["v:"+key]
		if !ok {
			continue
		}
		switch {
		case f.Editor == edSecret:
			if v := vals[len(vals)-1]; v != "" {
				s.secrets[key] = v
			}
			s.clears[key] = form.Get("clear:"+key) != ""
		case f.IsList():
			s.values[key] = listItems(vals)
		default:
			s.values[key] = []string{strings.TrimSpace(vals[len(vals)-1])}
		}
		if b, ok := form["b:"+key]; ok {
			if f.IsList() {
				s.bases[key] = listItems(b)
			} else {
				s.bases[key] = []string{strings.TrimSpace(b[len(b)-1])}
			}
		}
	}
	return s
}

func listItems(vals []string) []string {
	var out []string
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// edits returns the fields the operator changed: the value posted differs
// from the base posted with it. A field posted without a base counts as
// changed (a hand-made request).
func (s submission) edits() map[string][]string {
	out := map[string][]string{}
	for key, v := range s.values {
		if b, ok := s.bases[key]; !ok || !slices.Equal(v, b) {
			out[key] = v
		}
	}
	return out
}

// secretEdits returns the secrets to write: a new value, or "" to clear.
func (s submission) secretEdits() map[string]string {
	out := map[string]string{}
	for key, v := range s.secrets {
		out[key] = v
	}
	for key, clear := range s.clears {
		if _, typed := out[key]; clear && !typed {
			out[key] = ""
		}
	}
	return out
}

// apply writes edits and secrets onto app (a fresh read). It returns the
// problems of values the API cannot even be sent (a malformed port).
func apply(app *api.Application, af *appForm, edits map[string][]string, secrets map[string]string) map[string][]string {
	problems := map[string][]string{}
	set := func(key, value string, remove bool) {
		where, rest, _ := strings.Cut(key, "/")
		sec, name, _ := strings.Cut(rest, "/")
		secs := &app.Options
		if where == "annex" {
			secs = &app.Annex
		}
		if *secs == nil {
			*secs = api.Sections{}
		}
		if remove {
			delete((*secs)[sec], name)
			return
		}
		if (*secs)[sec] == nil {
			(*secs)[sec] = map[string]string{}
		}
		(*secs)[sec][name] = value
	}
	for key, items := range edits {
		f := af.byKey[key]
		one := ""
		if len(items) > 0 {
			one = items[0]
		}
		switch key {
		case "host":
			app.Host = one
		case "connections":
			app.Connections = items
		case "working_dir":
			app.WorkingDir = one
		case "command_line":
			app.CommandLine = one
		case "args":
			app.Args = items
		case "auto_restart":
			app.AutoRestart = one == "true"
		case "ports":
			ports := map[string]int{}
			for _, it := range items {
				name, p, ok := strings.Cut(it, "=")
				n, err := strconv.Atoi(strings.TrimSpace(p))
				if !ok || strings.TrimSpace(name) == "" || err != nil {
					problems[key] = append(problems[key], fmt.Sprintf("%q: write name=port, such as default=8443", it))
					continue
				}
				ports[strings.TrimSpace(name)] = n
			}
			app.Ports = ports
		default:
			if f.IsList() {
				set(key, strings.Join(items, ","), false)
			} else {
				// An emptied option the template does not know is removed.
				set(key, one, one == "" && f.Type == "")
			}
		}
	}
	for key, v := range secrets {
		set(key, v, false)
	}
	return problems
}

// overlay puts the operator's unsaved values back into the editors of af
// (built over the application as it is now) and marks them edited; typed
// secrets are only marked, never shown.
func (af *appForm) overlay(edits map[string][]string, secrets map[string]string) {
	for key, items := range edits {
		f := af.byKey[key]
		if f == nil {
			continue
		}
		if f.IsList() {
			f.Items = items
			for _, it := range items {
				if f.Editor == edListSelect && !slices.Contains(f.Choices, it) {
					f.Choices = append(f.Choices, it)
				}
			}
		} else if len(items) > 0 {
			f.Value = items[0]
			if f.Editor == edSelect && !slices.Contains(f.Choices, f.Value) {
				f.Choices = append(f.Choices, f.Value)
			}
		}
		f.Edited = !slices.Equal(items, f.Base)
	}
	for key, v := range secrets {
		if f := af.byKey[key]; f != nil {
			f.Edited = true
			f.SecretTyped = v != ""
		}
	}
}

// editLine is one unsaved change, listed above the editor after a refused
// save.
type editLine struct {
	ID, Label, Old, New string
}

// editLines lists the operator's edits against the editors of af (after
// overlay): the value now, and theirs. A secret's value is never shown.
func (af *appForm) editLines(edits map[string][]string, secrets map[string]string) []editLine {
	var out []editLine
	for _, g := range af.Groups {
		for _, f := range g.Fields {
			if items, ok := edits[f.Key]; ok && !slices.Equal(items, f.Base) {
				out = append(out, editLine{ID: f.ID, Label: f.Key, Old: showItems(f.Base), New: showItems(items)})
			}
			if v, ok := secrets[f.Key]; ok {
				l := editLine{ID: f.ID, Label: f.Key, Old: "(not shown)", New: "a new value (not shown)"}
				if v == "" {
					l.New = "(empty)"
				}
				out = append(out, l)
			}
		}
	}
	return out
}

// markMeanwhile marks the fields whose base, as the operator's page had it,
// differs from the base now: someone else changed them.
func (af *appForm) markMeanwhile(bases map[string][]string) int {
	n := 0
	for key, old := range bases {
		f := af.byKey[key]
		if f == nil || slices.Equal(old, f.Base) {
			continue
		}
		f.Meanwhile = &meanwhile{Old: showItems(old), New: showItems(f.Base)}
		n++
	}
	return n
}

func showItems(items []string) string {
	if len(items) == 0 || (len(items) == 1 && items[0] == "") {
		return "(empty)"
	}
	return strings.Join(items, ", ")
}

// attachProblems puts the API's problems ("section/option: what is wrong")
// next to their option; it returns those that name no field.
func (af *appForm) attachProblems(problems []string) []string {
	var rest []string
	for _, p := range problems {
		name, msg, ok := strings.Cut(p, ": ")
		f := af.byOption[name]
		if f == nil {
			f = af.byKey[name]
		}
		if ok && f != nil {
			f.Problems = append(f.Problems, msg)
			continue
		}
		rest = append(rest, p)
	}
	return rest
}
