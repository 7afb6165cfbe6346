package hostcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReportSchema is the version of the JSON report; it changes when a field
// changes meaning or goes away (new fields do not change it).
const ReportSchema = 1

// Report is check-host's output.
type Report struct {
	Schema   int       `json:"schema"`
	Version  string    `json:"version"` // of webrtc-gateway
	Time     time.Time `json:"time"`
	Root     string    `json:"root"`
	Live     bool      `json:"live"` // root is "/": processes and sockets are this host's
	Config   string    `json:"config"`
	Checks   []Result  `json:"checks"`
	Summary  Counts    `json:"summary"`
	ExitCode int       `json:"exit_code"`
}

// Counts are the number of results of each status.
type Counts struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
	Skip int `json:"skip"`
}

// NewReport assembles the report of a snapshot's results.
func NewReport(s *Snapshot, rs []Result, version string) Report {
	sum := Summary(rs)
	return Report{
		Schema: ReportSchema, Version: version, Time: s.Now.UTC().Truncate(time.Second),
		Root: s.Root, Live: s.Live, Config: s.Gateway.ConfigPath,
		Checks:   rs,
		Summary:  Counts{Pass: sum[Pass], Warn: sum[Warn], Fail: sum[Fail], Skip: sum[Skip]},
		ExitCode: ExitCode(rs),
	}
}

// WriteJSON writes the report as one indented JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// textWidth is where the text report wraps its lines.
const textWidth = 100

// WriteText writes the report as a table: a line per check with its status,
// id and title, then its findings and, for WARN and FAIL, the remedy.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	where := "this host"
	if !r.Live {
		where = "the tree " + r.Root
	}
	fmt.Fprintf(&b, "webrtc-gateway check-host %s: %s, options %s, %s\n\n", r.Version, where, r.Config, r.Time.Format("2006-01-02 15:04 MST"))
	idWidth := len("CHECK")
	for _, c := range r.Checks {
		idWidth = max(idWidth, len(c.ID))
	}
	indent := strings.Repeat(" ", 8+idWidth+2)
	fmt.Fprintf(&b, "%-8s%-*s  %s\n", "STATUS", idWidth, "CHECK", "FINDING / REMEDY")
	unreadable := 0
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-8s%-*s  %s\n", c.Status, idWidth, c.ID, c.Title)
		for _, line := range strings.Split(c.Finding, "\n") {
			if line != "" {
				wrap(&b, indent, "", line)
			}
		}
		for _, line := range strings.Split(c.Remedy, "\n") {
			if line != "" {
				wrap(&b, indent, "remedy: ", line)
			}
		}
		unreadable += len(c.Unreadable)
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d checks: %d passed, %d with warnings, %d failed, %d skipped; exit code %d\n",
		len(r.Checks), s.Pass, s.Warn, s.Fail, s.Skip, r.ExitCode)
	if unreadable > 0 {
		fmt.Fprintf(&b, "%d item(s) could not be read: the checks concerned say \"cannot read\" (run as root for a complete audit)\n", unreadable)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes text after prefix, wrapped at textWidth, each line indented
// (continuation lines under the text, not the prefix).
func wrap(b *strings.Builder, indent, prefix, text string) {
	width := max(textWidth-len(indent), 40)
	cont := strings.Repeat(" ", len(prefix))
	cur, empty := prefix, true
	for _, word := range strings.Fields(text) {
		if !empty && len(cur)+1+len(word) > width {
			b.WriteString(indent + cur + "\n")
			cur, empty = cont, true
		}
		if !empty {
			cur += " "
		}
		cur += word
		empty = false
	}
	if !empty {
		b.WriteString(indent + cur + "\n")
	}
}
