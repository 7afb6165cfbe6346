package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

func runAppList(ctx context.Context, c *cli, path string, args []string) error {
	return listObjects(ctx, c, path, args, "applications", (*client.Client).Apps,
		[]string{"NAME", "TYPE", "HOST", "TEMPLATE", "REVISION", "REPORT", "STATUS"},
		func(a api.Application) []string {
			status := ""
			if a.Status != nil {
				status = a.Status.Status
			}
			return []string{a.Name, a.Type, a.Host, a.Template, rev(a.Revision), reportText(a.Report), status}
		})
}

func runAppShow(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	a, err := readApp(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if c.json() {
		return printJSON(c.stdout, a)
	}
	tmpl, _ := readTemplate(ctx, cl, a.Template) // only for the order of sections
	ports := make([]string, 0, len(a.Ports))
	for _, k := range slices.Sorted(maps.Keys(a.Ports)) {
		ports = append(ports, k+"="+strconv.Itoa(a.Ports[k]))
	}
	updated := when(a.Updated)
	if a.UpdatedBy != "" {
		updated += " by " + a.UpdatedBy
	}
	report := ""
	if r := a.Report; r != nil {
		report = fmt.Sprintf("%s revision %d", r.Status, r.Revision)
		if !r.Time.IsZero() {
			report += " at " + when(r.Time)
		}
		if r.Error != "" {
			report += ": " + r.Error
		}
	}
	status := ""
	if st := a.Status; st != nil {
		status = st.Status
		if !st.Since.IsZero() {
			status += " since " + when(st.Since)
		}
		var more []string
		if st.PID != 0 {
			more = append(more, fmt.Sprintf("pid %d", st.PID))
		}
		if st.Restarts != 0 {
			more = append(more, fmt.Sprintf("%d restarts", st.Restarts))
		}
		if st.Detail != "" {
			more = append(more, st.Detail)
		}
		if len(more) > 0 {
			status += " (" + strings.Join(more, ", ") + ")"
		}
	}
	err = fields(c.stdout, [][2]string{
		{"name", a.Name},
		{"type", a.Type},
		{"template", a.Template},
		{"host", a.Host},
		{"working dir", a.WorkingDir},
		{"command line", a.CommandLine},
		{"args", quoteArgs(a.Args)},
		{"auto restart", strconv.FormatBool(a.AutoRestart)},
		{"connections", strings.Join(a.Connections, ", ")},
		{"ports", strings.Join(ports, ", ")},
		{"revision", rev(a.Revision)},
		{"created", when(a.Created)},
		{"updated", updated},
		{"report", report},
		{"status", status},
	})
	if err != nil {
		return err
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(c.stdout, "warning: %s\n", w)
	}
	showSections(c, "options", a.Options, newCatalog(tmpl, false))
	showSections(c, "annex", a.Annex, newCatalog(tmpl, true))
	return nil
}

// showSections prints the options set in secs as "[section]" blocks of
// "option = value", in the template's order when k is not nil.
func showSections(c *cli, title string, secs api.Sections, k *catalog) {
	if len(secs) == 0 {
		return
	}
	fmt.Fprintf(c.stdout, "\n%s:\n", title)
	section := ""
	var tw *tabwriter.Writer
	for _, r := range optionRows(secs, k) {
		if !r.Set {
			continue
		}
		if r.Section != section {
			if tw != nil {
				tw.Flush()
			}
			section = r.Section
			fmt.Fprintf(c.stdout, "[%s]\n", section)
			tw = newTable(c.stdout)
		}
		note := ""
		if r.Unknown {
			note = "\t(not in the template)"
		}
		fmt.Fprintf(tw, "  %s\t= %s%s\n", r.Option, r.Value, note)
	}
	if tw != nil {
		tw.Flush()
	}
}

// orderedSections returns the sections of secs: those in order first, in
// that order, then the others sorted.
func orderedSections(secs api.Sections, order []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range order {
		if _, ok := secs[name]; ok && !seen[name] {
			out = append(out, name)
			seen[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(secs)) {
		if !seen[name] {
			out = append(out, name)
		}
	}
	return out
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func runAppCreate(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	var a api.Application
	var connect, arg, port stringsFlag
	fs.StringVar(&a.Template, "template", "", "application `template` (required; gwctl template list)")
	fs.StringVar(&a.Host, "host", "", "`host` the application runs on (gwctl host list)")
	fs.StringVar(&a.Type, "type", "", "application `type` (default: the template's)")
	fs.Var(&connect, "connect", "`application` this one connects to, such as its SIP Server (repeatable)")
	fs.Var(&arg, "arg", "command-line `argument` of the daemon (repeatable, in order)")
	fs.Var(&port, "port", "a `port` of the application: NAME=N, or N for \"default\" (repeatable)")
	fs.StringVar(&a.WorkingDir, "working-dir", "", "working `directory` of the daemon")
	fs.StringVar(&a.CommandLine, "command-line", "", "the daemon's `executable`")
	fs.BoolVar(&a.AutoRestart, "auto-restart", false, "restart the daemon when it stops")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	a.Name = pos[0]
	if err := api.CheckName(a.Name); err != nil {
		return usagef(path, "application %v", err)
	}
	if a.Template == "" {
		return usagef(path, "--template is needed (gwctl template list shows them)")
	}
	a.Connections, a.Args = connect, arg
	for _, p := range port {
		name, num, found := strings.Cut(p, "=")
		if !found {
			name, num = "default", p
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 65535 || name == "" {
			return usagef(path, "--port %q: want NAME=N or N, N from 1 to 65535", p)
		}
		if a.Ports == nil {
			a.Ports = map[string]int{}
		}
		a.Ports[name] = n
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	created, err := cl.CreateApp(ctx, a)
	if client.HasStatus(err, http.StatusConflict) {
		return &codeError{code: exitError, msg: fmt.Sprintf("an application named %s exists already (gwctl app show %s)", a.Name, a.Name)}
	}
	if err != nil {
		return fmt.Errorf("create application %s: %w", a.Name, err)
	}
	c.warn(created.Name, created.Warnings)
	if c.json() {
		return printJSON(c.stdout, created)
	}
	fmt.Fprintf(c.stdout, "created application %s (type %s, template %s) at revision %d\n", created.Name, created.Type, created.Template, created.Revision)
	return nil
}

func runAppDelete(ctx context.Context, c *cli, path string, args []string) error {
	return deleteObject(ctx, c, path, args, deleteSpec[api.Application]{
		kind: api.KindApplication, noun: "application", read: readApp,
		meta: func(a api.Application) (string, uint64) { return a.Name, a.Revision },
		del:  (*client.Client).DeleteApp,
	})
}

// readApp reads an application; a missing one is said plainly.
func readApp(ctx context.Context, cl *client.Client, name string) (api.Application, error) {
	a, err := cl.App(ctx, name)
	if client.HasStatus(err, http.StatusNotFound) {
		return a, &codeError{code: exitError, msg: fmt.Sprintf("no application %s (gwctl app list shows them)", name)}
	}
	if err != nil {
		return a, fmt.Errorf("read application %s: %w", name, err)
	}
	return a, nil
}

// readTemplate reads a template; a missing one is said plainly.
func readTemplate(ctx context.Context, cl *client.Client, name string) (*api.Template, error) {
	t, err := cl.Template(ctx, name)
	if client.HasStatus(err, http.StatusNotFound) {
		return nil, &codeError{code: exitError, msg: fmt.Sprintf("no template %s (gwctl template list shows them)", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", name, err)
	}
	return &t, nil
}

// warn prints the server's warnings about an object on stderr.
func (c *cli) warn(name string, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "gwctl: warning: %s: %s\n", name, w)
	}
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
