package main

import (
	"context"
	"fmt"
	"strings"

	"webrtcgw/confserv/api"
)

func runAudit(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	kind := fs.String("kind", "", "only changes of objects of this `kind`: application, host, template, operator")
	name := fs.String("name", "", "only changes of the object with this `name`")
	limit := fs.Int("limit", 50, "at most `N` entries, newest first")
	all := fs.Bool("all", false, "show every field change of an entry (default: the first 10)")
	pos, err := c.parse(fs, path, args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		if (*kind != "" && *kind != api.KindApplication) || (*name != "" && *name != pos[0]) {
			return usagef(path, "APP and --kind/--name say different things: give one or the other")
		}
		*kind, *name = api.KindApplication, pos[0]
	}
	switch *kind {
	case "", api.KindApplication, api.KindHost, api.KindTemplate, api.KindOperator:
	default:
		return usagef(path, "--kind %q: want application, host, template or operator", *kind)
	}
	if *limit < 1 {
		return usagef(path, "--limit %d: want 1 or more", *limit)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	entries, err := cl.Audit(ctx, *kind, *name, *limit)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	if c.json() {
		return printJSON(c.stdout, nonNil(entries))
	}
	perEntry := auditChanges
	if *all {
		perEntry = -1
	}
	return printAudit(c, entries, perEntry)
}

// auditChanges is how many field changes an audit entry shows without --all.
const auditChanges = 10

// printAudit prints one line per entry, its field changes indented below:
// at most perEntry of them unless it is negative.
func printAudit(c *cli, entries []api.AuditEntry, perEntry int) error {
	rows := make([][]string, len(entries))
	for i, e := range entries {
		rows[i] = []string{rev(e.Revision), when(e.Time), e.Who, e.Kind, e.Name, e.Op}
	}
	lines := columns([]string{"REVISION", "TIME", "WHO", "KIND", "NAME", "OP"}, rows)
	fmt.Fprintln(c.stdout, lines[0])
	for i, e := range entries {
		fmt.Fprintln(c.stdout, lines[i+1])
		for i, ch := range e.Changes {
			if perEntry >= 0 && i == perEntry {
				fmt.Fprintf(c.stdout, "    … and %d more (--all shows them)\n", len(e.Changes)-perEntry)
				break
			}
			fmt.Fprintf(c.stdout, "    %s\n", changeLine(ch))
		}
	}
	return nil
}

// changeLine is "options/web/https-port: 8443 → 9443".
func changeLine(ch api.FieldChange) string {
	return fmt.Sprintf("%s: %s → %s", ch.Field, changeText(oneLine(ch.Old)), changeText(oneLine(ch.New)))
}

// oneLine keeps a long or multi-line value (a template's XML) readable.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "…"
	}
	return s
}
