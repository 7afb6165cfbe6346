package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/options"
)

const optionsSetDetails = `
gwctl reads the application (revision R), applies every assignment, and writes
it back in one request that only succeeds if the application is still at R.
VALUE is taken as is; an empty VALUE (web/certificate=) removes the option so
the template's default applies again. Quote values with spaces or shell
characters: 'web/domain-whitelist=https://a.example.com,https://b.example.com'.

Options the template does not know are refused before writing (a typo would
otherwise be stored and ignored); --force writes them anyway.

If someone else changed the application meanwhile, nothing is written: gwctl
shows what changed for the options you were setting and exits 3; --retry reads
it again and re-applies your assignments once. If the server refuses a value it
prints every problem and gwctl exits 4. With --wait it then waits for the
daemon's report on the new revision: exit 5 when the daemon rejected it, 6 when
it did not report in time.`

// assignment is one SECTION/OPTION=VALUE of options set.
type assignment struct {
	Section, Option, Value string
}

func (a assignment) key() string { return a.Section + "/" + a.Option }

// parseAssignments parses SECTION/OPTION=VALUE arguments.
func parseAssignments(args []string) ([]assignment, error) {
	seen := map[string]bool{}
	out := make([]assignment, 0, len(args))
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want SECTION/OPTION=VALUE (an empty VALUE removes the option)", arg)
		}
		sec, opt, err := parseKey(key)
		if err != nil {
			return nil, err
		}
		if opt == "" {
			return nil, fmt.Errorf("%q: want SECTION/OPTION=VALUE, the option is missing", arg)
		}
		if strings.ContainsAny(value, "\r\n") {
			return nil, fmt.Errorf("%s: a value is one line", key)
		}
		a := assignment{Section: sec, Option: opt, Value: value}
		if seen[a.key()] {
			return nil, fmt.Errorf("%s is assigned twice", a.key())
		}
		seen[a.key()] = true
		out = append(out, a)
	}
	return out, nil
}

// parseKey parses SECTION or SECTION/OPTION.
func parseKey(key string) (section, option string, err error) {
	section, option, hasOption := strings.Cut(key, "/")
	if err := api.CheckName(section); err != nil {
		return "", "", fmt.Errorf("%q: section %v", key, err)
	}
	if hasOption {
		if err := api.CheckName(option); err != nil {
			return "", "", fmt.Errorf("%q: option %v", key, err)
		}
	}
	return section, option, nil
}

// catalog is what a template knows about the options (or the annex) of its
// applications: sections and options in order, with their defaults.
type catalog struct {
	template string
	sections []api.MetadataSection
	// other holds the sections of the other side (annex when these are
	// options), to point at --annex.
	other map[string]bool
}

// newCatalog returns the options (annex false) or annex catalog of t; nil
// when t is nil.
func newCatalog(t *api.Template, annex bool) *catalog {
	if t == nil {
		return nil
	}
	k := &catalog{template: t.Name, other: map[string]bool{}}
	if t.Metadata != nil && len(t.Metadata.Sections) > 0 {
		for _, s := range t.Metadata.Sections {
			if s.Annex == annex {
				k.sections = append(k.sections, s)
			} else {
				k.other[s.Name] = true
			}
		}
		return k
	}
	// No metadata: the template's own values are the defaults.
	mine, theirs := t.Options, t.Annex
	if annex {
		mine, theirs = theirs, mine
	}
	for _, name := range slices.Sorted(maps.Keys(mine)) {
		s := api.MetadataSection{Name: name, Annex: annex}
		for _, opt := range slices.Sorted(maps.Keys(mine[name])) {
			s.Options = append(s.Options, api.MetadataOption{Name: opt, Default: mine[name][opt]})
		}
		k.sections = append(k.sections, s)
	}
	for name := range theirs {
		k.other[name] = true
	}
	return k
}

func (k *catalog) option(section, option string) (api.MetadataOption, bool) {
	if k != nil {
		for _, s := range k.sections {
			if s.Name == section {
				for _, o := range s.Options {
					if o.Name == option {
						return o, true
					}
				}
			}
		}
	}
	return api.MetadataOption{}, false
}

func (k *catalog) hasSection(section string) bool {
	if k != nil {
		for _, s := range k.sections {
			if s.Name == section {
				return true
			}
		}
	}
	return false
}

// suggest returns the known SECTION/OPTION closest to key, or "".
func (k *catalog) suggest(key string) string {
	if k == nil {
		return ""
	}
	best, bestD := "", max(2, len(key)/4)+1
	for _, s := range k.sections {
		for _, o := range s.Options {
			cand := s.Name + "/" + o.Name
			if d := options.EditDistance(key, cand); d < bestD {
				best, bestD = cand, d
			}
		}
	}
	return best
}

// optionRow is one option as options get shows it.
type optionRow struct {
	Section string `json:"section"`
	Option  string `json:"option"`
	Value   string `json:"value"`   // in effect: the application's, or the default
	Set     bool   `json:"set"`     // false: the template's default applies
	Default string `json:"default"` // the template's default
	Unknown bool   `json:"unknown,omitempty"`
}

func (r optionRow) key() string { return r.Section + "/" + r.Option }

// optionRows lists every option of the catalog with its value in secs, in
// the catalog's order, then the options of secs the catalog does not know.
// An empty value counts as not set: the daemon reads it as the default.
func optionRows(secs api.Sections, k *catalog) []optionRow {
	var rows []optionRow
	known := map[string]bool{}
	if k != nil {
		for _, s := range k.sections {
			for _, o := range s.Options {
				r := optionRow{Section: s.Name, Option: o.Name, Value: o.Default, Default: o.Default}
				if v := secs[s.Name][o.Name]; v != "" {
					r.Value, r.Set = v, true
				}
				rows = append(rows, r)
				known[r.key()] = true
			}
		}
	}
	var order []string
	if k != nil {
		for _, s := range k.sections {
			order = append(order, s.Name)
		}
	}
	for _, sec := range orderedSections(secs, order) {
		for _, opt := range slices.Sorted(maps.Keys(secs[sec])) {
			r := optionRow{Section: sec, Option: opt, Value: secs[sec][opt], Set: secs[sec][opt] != "", Unknown: k != nil}
			if !known[r.key()] {
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// sourceText marks a row for the table.
func (r optionRow) sourceText() string {
	switch {
	case r.Unknown:
		return "set, not in the template"
	case r.Set:
		return "set"
	}
	return "default"
}

func valueText(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// sides names options or annex, and the flag that switches.
func sides(annex bool) (this, flagHint string) {
	if annex {
		return "annex", "without --annex"
	}
	return "options", "with --annex"
}

func runOptionsGet(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	annex := fs.Bool("annex", false, "the annex ([sml]…) rather than the options")
	pos, err := c.parse(fs, path, args, 1, 2)
	if err != nil {
		return err
	}
	var section, option string
	if len(pos) == 2 {
		if section, option, err = parseKey(pos[1]); err != nil {
			return usagef(path, "%v", err)
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	a, err := readApp(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	tmpl, err := readTemplate(ctx, cl, a.Template)
	if err != nil {
		fmt.Fprintf(c.stderr, "gwctl: warning: %v; defaults are not shown\n", errors.Unwrap(err))
	}
	k := newCatalog(tmpl, *annex)
	secs := a.Options
	if *annex {
		secs = a.Annex
	}
	rows := optionRows(secs, k)
	if section != "" {
		var in []optionRow
		for _, r := range rows {
			if r.Section == section {
				in = append(in, r)
			}
		}
		if len(in) == 0 {
			this, flagHint := sides(*annex)
			msg := fmt.Sprintf("application %s has no %s section [%s], nor has its template %s", a.Name, this, section, a.Template)
			if k != nil && k.other[section] {
				msg += fmt.Sprintf("\n[%s] is on the other side: run it %s", section, flagHint)
			}
			return &codeError{code: exitError, msg: msg}
		}
		rows = in
	}
	if option != "" {
		for _, r := range rows {
			if r.Option == option {
				if c.json() {
					return printJSON(c.stdout, r)
				}
				_, err := fmt.Fprintln(c.stdout, r.Value)
				return err
			}
		}
		msg := fmt.Sprintf("application %s has no option %s/%s, nor has its template %s", a.Name, section, option, a.Template)
		if s := k.suggest(section + "/" + option); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return &codeError{code: exitError, msg: msg}
	}
	if c.json() {
		return printJSON(c.stdout, nonNil(rows))
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = []string{r.key(), valueText(r.Value), r.sourceText()}
	}
	return table(c.stdout, []string{"OPTION", "VALUE", "SOURCE"}, out)
}

// change is one option changed by options set.
type change struct {
	Option string `json:"option"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// apply makes the assignments on secs (changed in place, made when nil)
// and returns what changed.
func apply(secs *api.Sections, assigns []assignment) []change {
	var changes []change
	if *secs == nil {
		*secs = api.Sections{}
	}
	for _, a := range assigns {
		sec := (*secs)[a.Section]
		old, had := sec[a.Option]
		if had && old == a.Value {
			continue
		}
		if a.Value == "" {
			if !had {
				continue
			}
			delete(sec, a.Option)
			if len(sec) == 0 {
				delete(*secs, a.Section)
			}
		} else {
			if sec == nil {
				sec = map[string]string{}
				(*secs)[a.Section] = sec
			}
			sec[a.Option] = a.Value
		}
		changes = append(changes, change{Option: a.key(), Old: old, New: a.Value})
	}
	return changes
}

// sectionsOf returns the options or the annex of a.
func sectionsOf(a *api.Application, annex bool) *api.Sections {
	if annex {
		return &a.Annex
	}
	return &a.Options
}

func cloneSections(s api.Sections) api.Sections {
	if s == nil {
		return nil
	}
	out := make(api.Sections, len(s))
	for k, v := range s {
		m := make(map[string]string, len(v))
		for o, x := range v {
			m[o] = x
		}
		out[k] = m
	}
	return out
}

// checkKnown refuses assignments of options the template does not know;
// removing one (an empty value) is always allowed.
func checkKnown(assigns []assignment, k *catalog, annex bool) []string {
	if k == nil {
		return nil
	}
	var problems []string
	_, flagHint := sides(annex)
	for _, a := range assigns {
		if _, ok := k.option(a.Section, a.Option); ok || a.Value == "" {
			continue
		}
		p := fmt.Sprintf("%s: template %s has no such option", a.key(), k.template)
		switch {
		case !k.hasSection(a.Section) && k.other[a.Section]:
			p += fmt.Sprintf(" here: [%s] is on the other side, set it %s", a.Section, flagHint)
		default:
			if s := k.suggest(a.key()); s != "" {
				p += fmt.Sprintf(" (did you mean %s?)", s)
			}
		}
		problems = append(problems, p)
	}
	return problems
}

func runOptionsSet(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	annex := fs.Bool("annex", false, "set options of the annex ([sml]…) rather than the options")
	retry := fs.Bool("retry", false, "if the application changed meanwhile, read it again and re-apply once")
	force := fs.Bool("force", false, "write options the template does not know")
	wait := fs.Duration("wait", 0, "after writing, wait up to `DURATION` (30s, 2m) for the daemon to apply or reject the new revision")
	pos, err := c.parse(fs, path, args, 2, -1)
	if err != nil {
		return err
	}
	if *wait < 0 {
		return usagef(path, "--wait %v: want a positive duration", *wait)
	}
	assigns, err := parseAssignments(pos[1:])
	if err != nil {
		return usagef(path, "%v", err)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	read, err := readApp(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	name := read.Name
	if !*force {
		tmpl, err := readTemplate(ctx, cl, read.Template)
		if err != nil {
			return fmt.Errorf("%w\ncannot check the option names against the template: --force writes them unchecked", err)
		}
		if problems := checkKnown(assigns, newCatalog(tmpl, *annex), *annex); len(problems) > 0 {
			return &codeError{code: exitInvalid, msg: fmt.Sprintf("%s: nothing was written:\n%s\n--force writes unknown options anyway", name, strings.Join(problems, "\n"))}
		}
	}

	var written api.Application
	var changes []change
	for attempt := 1; ; attempt++ {
		next := read
		*sectionsOf(&next, *annex) = cloneSections(*sectionsOf(&read, *annex))
		changes = apply(sectionsOf(&next, *annex), assigns)
		if len(changes) == 0 {
			if c.json() {
				return printJSON(c.stdout, setResult{Name: name, Revision: read.Revision, Changes: []change{}})
			}
			fmt.Fprintf(c.stdout, "%s: nothing to change, the values are already these (revision %d)\n", name, read.Revision)
			return nil
		}
		next.Report, next.Status, next.Warnings = nil, nil, nil
		written, err = cl.UpdateApp(ctx, next)
		if err == nil {
			break
		}
		var se *client.StatusError
		if !errors.As(err, &se) {
			return fmt.Errorf("write %s: %w", name, err)
		}
		switch se.Status {
		case http.StatusUnprocessableEntity:
			msg := fmt.Sprintf("%s: the server refused the new values; nothing was written (still revision %d):", name, read.Revision)
			if len(se.Problems) == 0 {
				msg += "\n" + se.Message
			}
			for _, p := range se.Problems {
				msg += "\n" + p
			}
			return &codeError{code: exitInvalid, msg: msg}
		case http.StatusNotFound:
			return &codeError{code: exitError, msg: fmt.Sprintf("%s was deleted meanwhile; nothing was written", name)}
		case http.StatusPreconditionFailed:
		default:
			return fmt.Errorf("write %s: %w", name, err)
		}
		current, err := currentApp(ctx, cl, se, name)
		if err != nil {
			return err
		}
		report := conflictReport(read, current, assigns, *annex)
		if !*retry || attempt > 1 {
			return &codeError{code: exitConflict, msg: report + fmt.Sprintf("\ncheck the values (gwctl options get %s), then run the command again; --retry re-applies your values on the current revision", name)}
		}
		fmt.Fprintf(c.stderr, "gwctl: %s\ngwctl: re-applying your values on revision %d\n", report, current.Revision)
		if read, err = readApp(ctx, cl, name); err != nil {
			return err
		}
	}
	c.warn(name, written.Warnings)
	res := setResult{Name: name, Revision: written.Revision, Previous: read.Revision, Changes: changes, Warnings: written.Warnings}
	if !c.json() {
		fmt.Fprintf(c.stdout, "%s: revision %d written (was %d)\n", name, written.Revision, read.Revision)
		for _, ch := range changes {
			fmt.Fprintf(c.stdout, "  %s: %s → %s\n", ch.Option, changeText(ch.Old), changeText(ch.New))
		}
	}
	if *wait == 0 {
		if c.json() {
			return printJSON(c.stdout, res)
		}
		return nil
	}
	report, werr := c.waitReport(ctx, cl, name, written.Revision, *wait)
	res.Report = report
	if c.json() {
		if err := printJSON(c.stdout, res); err != nil {
			return err
		}
	}
	return werr
}

// setResult is options set's answer for scripts.
type setResult struct {
	Name     string      `json:"name"`
	Revision uint64      `json:"revision"`
	Previous uint64      `json:"previous_revision,omitempty"`
	Changes  []change    `json:"changes"`
	Warnings []string    `json:"warnings,omitempty"`
	Report   *api.Report `json:"report,omitempty"`
}

// currentApp is the application as it is now, after a 412. The server
// sends it in the body: as the body (docs/confserv-api.md) or, as confserv
// does, under "current" next to "error". Otherwise gwctl reads it.
func currentApp(ctx context.Context, cl *client.Client, se *client.StatusError, name string) (api.Application, error) {
	var wrapped struct {
		Current *api.Application `json:"current"`
	}
	if json.Unmarshal(se.Body, &wrapped) == nil && wrapped.Current != nil && wrapped.Current.Name == name && wrapped.Current.Revision != 0 {
		return *wrapped.Current, nil
	}
	var a api.Application
	if json.Unmarshal(se.Body, &a) == nil && a.Name == name && a.Revision != 0 {
		return a, nil
	}
	return readApp(ctx, cl, name)
}

// conflictReport says who changed the application between read and now,
// and how the options being set differ.
func conflictReport(read, now api.Application, assigns []assignment, annex bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s was changed by someone else after you read it (you read revision %d, it is now at %d", read.Name, read.Revision, now.Revision)
	if now.UpdatedBy != "" {
		fmt.Fprintf(&b, ", written by %s", now.UpdatedBy)
	}
	if !now.Updated.IsZero() {
		fmt.Fprintf(&b, " at %s", when(now.Updated))
	}
	b.WriteString("); nothing was written")
	was, is := *sectionsOf(&read, annex), *sectionsOf(&now, annex)
	for _, a := range assigns {
		before, after := was[a.Section][a.Option], is[a.Section][a.Option]
		if before == after {
			fmt.Fprintf(&b, "\n  %s: unchanged meanwhile (%s); you are setting %s", a.key(), changeText(before), changeText(a.Value))
		} else {
			fmt.Fprintf(&b, "\n  %s: you read %s, it is now %s; you are setting %s", a.key(), changeText(before), changeText(after), changeText(a.Value))
		}
	}
	return b.String()
}

// waitPoll is how often --wait reads the application.
const waitPoll = 250 * time.Millisecond

// waitReport polls the application until its daemon reports on revision
// (or a later one), for at most d. It returns the report, and an error with
// exit code 5 if the daemon rejected it, 6 if it did not report in time.
func (c *cli) waitReport(ctx context.Context, cl *client.Client, name string, revision uint64, d time.Duration) (*api.Report, error) {
	if !c.json() {
		fmt.Fprintf(c.stderr, "waiting up to %v for %s's daemon to apply revision %d…\n", d, name, revision)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	var last *api.Report
	for {
		a, err := cl.App(ctx, name)
		switch {
		case err == nil:
			last = a.Report
			if r := a.Report; r != nil && r.Revision >= revision {
				if r.Status == api.ReportRejected {
					msg := fmt.Sprintf("%s's daemon rejected revision %d", name, r.Revision)
					if r.Error != "" {
						msg += ": " + r.Error
					}
					msg += "\nit keeps running with its previous options; fix the values with gwctl options set"
					return r, &codeError{code: exitRejected, msg: msg}
				}
				if !c.json() {
					fmt.Fprintf(c.stdout, "%s: revision %d %s by the daemon\n", name, r.Revision, r.Status)
				}
				return r, nil
			}
		case ctx.Err() == nil:
			return nil, fmt.Errorf("wait for %s's report: %w", name, err)
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%s's daemon did not report on revision %d within %v", name, revision, d)
			if last != nil {
				msg += fmt.Sprintf(" (its last report: %s revision %d)", last.Status, last.Revision)
			} else {
				msg += " (it never reported)"
			}
			msg += "\nthe options are stored: the daemon gets them when it runs and is connected"
			return last, &codeError{code: exitTimeout, msg: msg}
		case <-tick.C:
		}
	}
}
