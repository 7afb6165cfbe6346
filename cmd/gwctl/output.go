package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

// newTable returns a writer aligning tab-separated columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

// table prints a header and rows as aligned columns; empty cells show "-".
func table(w io.Writer, header []string, rows [][]string) error {
	for _, line := range columns(header, rows) {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// columns formats a header and rows as aligned lines (two spaces between
// columns, no trailing spaces); empty cells show "-". The first line is the
// header.
func columns(header []string, rows [][]string) []string {
	all := append([][]string{header}, rows...)
	var widths []int
	for _, row := range all {
		for i, cell := range row {
			if cell == "" {
				cell = "-"
			}
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	lines := make([]string, 0, len(all))
	for _, row := range all {
		var b strings.Builder
		for i, cell := range row {
			if cell == "" {
				cell = "-"
			}
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)+2))
			}
		}
		lines = append(lines, b.String())
	}
	return lines
}

// fields prints name: value lines, aligned, skipping empty values.
func fields(w io.Writer, kv [][2]string) error {
	tw := newTable(w)
	for _, f := range kv {
		if f[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", f[0], f[1])
		}
	}
	return tw.Flush()
}

func (c *cli) json() bool { return c.set.output == outputJSON }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// when formats a time for people: local, to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func rev(n uint64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatUint(n, 10)
}

// reportText is a report in one cell: "applied@14", "rejected@15".
func reportText(r *api.Report) string {
	if r == nil {
		return ""
	}
	return r.Status + "@" + strconv.FormatUint(r.Revision, 10)
}

// changeText shows a value in an audit line or a diff; empty is "(unset)".
func changeText(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// listObjects runs a "list" command: no arguments, the objects fetched
// with list, printed as JSON (-json) or as a table of header and one row
// per object. what names them in errors.
func listObjects[T any](ctx context.Context, c *cli, path string, args []string, what string,
	list func(*client.Client, context.Context) ([]T, error), header []string, row func(T) []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	objs, err := list(cl, ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	if c.json() {
		return printJSON(c.stdout, nonNil(objs))
	}
	rows := make([][]string, 0, len(objs))
	for _, o := range objs {
		rows = append(rows, row(o))
	}
	return table(c.stdout, header, rows)
}

// deleteSpec describes the "delete NAME" command of one kind of object.
type deleteSpec[T any] struct {
	kind, noun string                                                   // api.KindHost, "host"
	read       func(context.Context, *client.Client, string) (T, error) // says a missing one plainly
	meta       func(T) (name string, revision uint64)
	del        func(*client.Client, context.Context, string, uint64) error
	inUse      string // what a 409 means ("%s": the name); "" when none can come
}

// deleteObject runs a "delete NAME" command: the object is read, then
// deleted at the revision read (so a change made meanwhile is not lost).
func deleteObject[T any](ctx context.Context, c *cli, path string, args []string, spec deleteSpec[T]) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	obj, err := spec.read(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	name, revision := spec.meta(obj)
	err = spec.del(cl, ctx, name, revision)
	if spec.inUse != "" && client.HasStatus(err, http.StatusConflict) {
		return &codeError{code: exitError, msg: fmt.Sprintf(spec.inUse, name)}
	}
	if err != nil {
		return fmt.Errorf("delete %s %s (read at revision %d): %w", spec.noun, name, revision, err)
	}
	if c.json() {
		return printJSON(c.stdout, map[string]any{"deleted": name, "kind": spec.kind, "revision": revision})
	}
	fmt.Fprintf(c.stdout, "deleted %s %s (it was at revision %d)\n", spec.noun, name, revision)
	return nil
}
