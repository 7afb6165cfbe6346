package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"webrtcgw/confserv/api"
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
