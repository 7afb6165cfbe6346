package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"webrtcgw/internal/soak/rtpmeter"
)

// maxExamples bounds the examples kept per kind of problem.
const maxExamples = 20

// metrics collects what the run counts. Every method is safe for
// concurrent use.
type metrics struct {
	mu sync.Mutex
	s  Summary
	// examples per problem kind, at most maxExamples each
	examples map[string][]string
	latency  []time.Duration
}

func newMetrics() *metrics {
	m := &metrics{examples: map[string][]string{}}
	m.s.Calls.DroppedBy = map[string]int{}
	m.s.HTTP.FailedBy = map[string]int{}
	m.s.Options.RejectedBy = map[string]int{}
	m.s.Options.RefusedBy = map[string]int{}
	return m
}

func (m *metrics) exampleLocked(kind, format string, args ...any) {
	if len(m.examples[kind]) < maxExamples {
		m.examples[kind] = append(m.examples[kind], time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// Example records one example of a problem kind without counting anything.
func (m *metrics) example(kind, format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exampleLocked(kind, format, args...)
}

func (m *metrics) request() {
	m.mu.Lock()
	m.s.HTTP.Requests++
	m.mu.Unlock()
}

// resentRequest counts a request sent again after its reused connection
// closed before any answer (what a browser does too).
func (m *metrics) resentRequest(what, format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.HTTP.Resent++
	m.exampleLocked("resent request", what+": "+format, args...)
}

// failedRequest counts a request that did not get its expected status.
func (m *metrics) failedRequest(what, format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.HTTP.Failed++
	m.s.HTTP.FailedBy[what]++
	m.exampleLocked("failed request", what+": "+format, args...)
}

func (m *metrics) callPlaced(incoming bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Calls.Placed++
	if incoming {
		m.s.Calls.Incoming++
	} else {
		m.s.Calls.Outgoing++
	}
}

func (m *metrics) callEstablished() {
	m.mu.Lock()
	m.s.Calls.Established++
	m.mu.Unlock()
}

func (m *metrics) callCompleted() {
	m.mu.Lock()
	m.s.Calls.Completed++
	m.mu.Unlock()
}

// callDropped counts a call that ended other than as scripted.
func (m *metrics) callDropped(id, reason, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Calls.Dropped++
	m.s.Calls.DroppedBy[reason]++
	m.exampleLocked("dropped call", "%s: %s: %s", id, reason, detail)
}

func (m *metrics) signIn() {
	m.mu.Lock()
	m.s.Registrations.SignIns++
	m.mu.Unlock()
}

// registrationLost counts a DN whose session or registration the gateway
// ended without the browser signing out.
func (m *metrics) registrationLost(dn, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Registrations.Lost++
	m.exampleLocked("registration lost", "%s: %s", dn, detail)
}

// media adds a call's continuity in one direction (browser: what the
// browser received; far: what the far end received).
func (m *metrics) media(id string, browser bool, st rtpmeter.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := &m.s.Media.Far
	side := "far end"
	if browser {
		d, side = &m.s.Media.Browser, "browser"
	}
	d.Packets += st.Packets
	d.Gaps += st.Gaps
	d.SeqGaps += st.SeqGaps
	if ms := float64(st.MaxGap.Microseconds()) / 1000; ms > d.MaxGapMs {
		d.MaxGapMs = ms
	}
	d.MaxSeqGap = max(d.MaxSeqGap, st.MaxSeqGap)
	if st.Gaps > 0 || st.SeqGaps > 0 {
		d.CallsWithGaps++
		m.s.Media.Gaps += st.Gaps + st.SeqGaps
		m.exampleLocked("media gap", "%s at the %s: %d arrival gaps (longest %v), %d sequence gaps (longest %d packets)",
			id, side, st.Gaps, st.MaxGap.Round(time.Millisecond), st.SeqGaps, st.MaxSeqGap)
	}
}

// iceDisconnected counts a browser connection that went "disconnected".
func (m *metrics) iceDisconnected(id string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Media.ICEDisconnected += n
	m.exampleLocked("ICE disconnected", "%s: %d times", id, n)
}

// option records the outcome of one option change.
func (m *metrics) option(c *change, outcome string, latency time.Duration, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := &m.s.Options
	o.Changes++
	switch outcome {
	case outcomeApplied:
		o.Applied++
		m.latency = append(m.latency, latency)
	case outcomeRejected:
		o.Rejected++
		o.RejectedBy[c.key]++
	case outcomeRefused:
		o.Refused++
		o.RefusedBy[c.key]++
	case outcomeUnchanged:
		o.Unchanged++
	}
	if outcome != c.want && !(c.want == outcomeApplied && outcome == outcomeUnchanged) {
		o.Mismatches++
		m.exampleLocked("option change not as expected", "%s (%s): expected %s, got %s: %s", c.name, c.describe(), c.want, outcome, detail)
	}
}

// revert records a write that restored the last applied options after a
// rejected revision.
func (m *metrics) revert(outcome string, latency time.Duration, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s.Options.Reverts++
	switch outcome {
	case outcomeApplied:
		m.latency = append(m.latency, latency)
	case outcomeUnchanged:
	default:
		m.s.Options.Mismatches++
		m.exampleLocked("option change not as expected", "revert to the applied options: %s: %s", outcome, detail)
	}
}

func (m *metrics) gatewayStatus(status string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.s.Gateway.Statuses); n == 0 || m.s.Gateway.Statuses[n-1] != status {
		m.s.Gateway.Statuses = append(m.s.Gateway.Statuses, status)
	}
}

// Summary is the result of a run, printed at the end and written as JSON
// with -json.
type Summary struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Browsers int       `json:"browsers"`
	LCA      bool      `json:"lca"`
	Seed     uint64    `json:"seed"`

	Calls struct {
		Placed      int            `json:"placed"`
		Outgoing    int            `json:"outgoing"`
		Incoming    int            `json:"incoming"`
		Established int            `json:"established"`
		Completed   int            `json:"completed"`
		Dropped     int            `json:"dropped"`
		DroppedBy   map[string]int `json:"dropped_by"`
	} `json:"calls"`

	HTTP struct {
		Requests int64          `json:"requests"`
		Failed   int            `json:"failed"`
		FailedBy map[string]int `json:"failed_by"`
		// Resent counts requests sent again, as browsers do, because a
		// reused keep-alive connection closed before any answer.
		Resent int `json:"resent"`
	} `json:"http"`

	Registrations struct {
		SignIns int `json:"sign_ins"`
		Lost    int `json:"lost"`
	} `json:"registrations"`

	Media struct {
		// Gaps counts arrival gaps over the threshold and sequence gaps
		// over the threshold, both directions.
		Gaps            int            `json:"gaps"`
		GapThresholdMs  int            `json:"gap_threshold_ms"`
		Browser         directionStats `json:"browser_received"`
		Far             directionStats `json:"far_end_received"`
		ICEDisconnected int            `json:"ice_disconnected"`
	} `json:"media"`

	Options struct {
		Changes    int            `json:"changes"`
		Applied    int            `json:"applied"`
		Rejected   int            `json:"rejected"`
		Refused    int            `json:"refused"`
		Unchanged  int            `json:"unchanged"`
		Reverts    int            `json:"reverts"`
		Mismatches int            `json:"not_as_expected"`
		RejectedBy map[string]int `json:"rejected_by"`
		RefusedBy  map[string]int `json:"refused_by"`
		// Write → applied: from sending the write to the time of the
		// gateway's applied report (set by confserv when it arrived).
		LatencyP50Ms float64 `json:"write_to_applied_p50_ms"`
		LatencyP99Ms float64 `json:"write_to_applied_p99_ms"`
		LatencyMaxMs float64 `json:"write_to_applied_max_ms"`
	} `json:"options"`

	Gateway struct {
		Statuses       []string `json:"statuses,omitempty"`
		Restarts       int      `json:"restarts"`
		ExitCode       int      `json:"exit_code"`
		Panics         int      `json:"panics"`
		DataRaces      int      `json:"data_races"`
		RollbackFailed int      `json:"rollback_failed"`
		ErrorLines     int      `json:"error_lines"`
	} `json:"gateway"`

	Examples map[string][]string `json:"examples,omitempty"`
	WorkDir  string              `json:"work_dir"`
	Failures []string            `json:"failures,omitempty"`
	Pass     bool                `json:"pass"`
}

type directionStats struct {
	Packets       int64   `json:"packets"`
	Gaps          int     `json:"arrival_gaps"`
	SeqGaps       int     `json:"sequence_gaps"`
	MaxGapMs      float64 `json:"max_gap_ms"`
	MaxSeqGap     int     `json:"max_sequence_gap"`
	CallsWithGaps int     `json:"calls_with_gaps"`
}

// summary returns the final summary: latency percentiles, examples, and the
// verdict — the run fails when a call dropped, a request failed, a
// registration was lost, an option change did not end as expected, or the
// gateway restarted, panicked or did not stop cleanly.
func (m *metrics) summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.s
	s.Calls.DroppedBy = maps.Clone(m.s.Calls.DroppedBy)
	s.HTTP.FailedBy = maps.Clone(m.s.HTTP.FailedBy)
	s.Options.RejectedBy = maps.Clone(m.s.Options.RejectedBy)
	s.Options.RefusedBy = maps.Clone(m.s.Options.RefusedBy)
	s.Gateway.Statuses = slices.Clone(m.s.Gateway.Statuses)
	lat := slices.Clone(m.latency)
	slices.Sort(lat)
	if len(lat) > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		s.Options.LatencyP50Ms = ms(percentile(lat, 50))
		s.Options.LatencyP99Ms = ms(percentile(lat, 99))
		s.Options.LatencyMaxMs = ms(lat[len(lat)-1])
	}
	s.Examples = map[string][]string{}
	for k, v := range m.examples {
		s.Examples[k] = slices.Clone(v)
	}
	s.Failures = nil
	fail := func(format string, args ...any) { s.Failures = append(s.Failures, fmt.Sprintf(format, args...)) }
	if s.Calls.Dropped > 0 {
		fail("%d dropped calls", s.Calls.Dropped)
	}
	if s.HTTP.Failed > 0 {
		fail("%d failed HTTP requests", s.HTTP.Failed)
	}
	if s.Registrations.Lost > 0 {
		fail("%d registrations lost", s.Registrations.Lost)
	}
	if s.Options.Mismatches > 0 {
		fail("%d option changes did not end as expected", s.Options.Mismatches)
	}
	if s.Gateway.Restarts > 0 {
		fail("the gateway restarted %d times", s.Gateway.Restarts)
	}
	if s.Gateway.Panics > 0 || s.Gateway.DataRaces > 0 {
		fail("the gateway logged %d panics and %d data races", s.Gateway.Panics, s.Gateway.DataRaces)
	}
	if s.Gateway.RollbackFailed > 0 {
		fail("%d failed rollbacks: the gateway runs on options it reported rejected", s.Gateway.RollbackFailed)
	}
	if s.Gateway.ExitCode != 0 {
		fail("the gateway exited with %d when stopped", s.Gateway.ExitCode)
	}
	if s.Calls.Established == 0 {
		fail("no call was established")
	}
	s.Pass = len(s.Failures) == 0
	return s
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

// WriteText prints the summary for people.
func (s Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\nsoak summary: %s with %d browsers", s.Duration, s.Browsers)
	if s.LCA {
		fmt.Fprint(w, " (gateway under the LCA)")
	}
	fmt.Fprintf(w, ", seed %d, work dir %s\n", s.Seed, s.WorkDir)
	fmt.Fprintf(w, "  calls placed          %d (%d outgoing, %d incoming); established %d, completed %d\n",
		s.Calls.Placed, s.Calls.Outgoing, s.Calls.Incoming, s.Calls.Established, s.Calls.Completed)
	fmt.Fprintf(w, "  calls dropped         %d%s\n", s.Calls.Dropped, byText(s.Calls.DroppedBy))
	fmt.Fprintf(w, "  HTTP requests         %d, failed %d%s; resent on a closed keep-alive connection %d\n", s.HTTP.Requests, s.HTTP.Failed, byText(s.HTTP.FailedBy), s.HTTP.Resent)
	fmt.Fprintf(w, "  registrations         %d sign-ins, lost %d\n", s.Registrations.SignIns, s.Registrations.Lost)
	fmt.Fprintf(w, "  media gaps > %d ms     %d (browser received %d packets: %d arrival gaps, %d sequence gaps, longest %.0f ms; far end received %d: %d arrival gaps, %d sequence gaps, longest %.0f ms); ICE disconnected %d\n",
		s.Media.GapThresholdMs, s.Media.Gaps,
		s.Media.Browser.Packets, s.Media.Browser.Gaps, s.Media.Browser.SeqGaps, s.Media.Browser.MaxGapMs,
		s.Media.Far.Packets, s.Media.Far.Gaps, s.Media.Far.SeqGaps, s.Media.Far.MaxGapMs, s.Media.ICEDisconnected)
	fmt.Fprintf(w, "  option changes        %d: applied %d, rejected by the gateway %d, refused by confserv %d, unchanged %d; %d reverts; not as expected %d\n",
		s.Options.Changes, s.Options.Applied, s.Options.Rejected, s.Options.Refused, s.Options.Unchanged, s.Options.Reverts, s.Options.Mismatches)
	fmt.Fprintf(w, "  write → applied       p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", s.Options.LatencyP50Ms, s.Options.LatencyP99Ms, s.Options.LatencyMaxMs)
	statuses := strings.Join(s.Gateway.Statuses, " → ")
	if statuses == "" {
		statuses = "(no LCA)"
	}
	fmt.Fprintf(w, "  gateway               statuses %s; restarts %d; exit %d; panics %d, data races %d, rollbacks failed %d, error lines %d\n",
		statuses, s.Gateway.Restarts, s.Gateway.ExitCode, s.Gateway.Panics, s.Gateway.DataRaces, s.Gateway.RollbackFailed, s.Gateway.ErrorLines)
	kinds := slices.Sorted(maps.Keys(s.Examples))
	for _, k := range kinds {
		fmt.Fprintf(w, "  examples: %s\n", k)
		for _, e := range s.Examples[k] {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	if s.Pass {
		fmt.Fprintln(w, "PASS: no dropped call, no failed request, no registration lost")
		return
	}
	fmt.Fprintf(w, "FAIL: %s\n", strings.Join(s.Failures, "; "))
}

func byText(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// WriteJSON writes the summary as indented JSON.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
