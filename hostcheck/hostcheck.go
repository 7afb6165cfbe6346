// Package hostcheck audits a host that runs the gateway against the
// security guide: legacy services, the firewall, fail2ban, HTTPS, media
// encryption, where the management ports listen, file modes, the daemons'
// users and their units' hardening.
//
// Gathering and judging are apart: Gather reads a root directory (and, for
// the running host, /proc and two read-only commands) into a Snapshot; each
// check is a pure function of the Snapshot, so that it is tested on scratch
// trees.
package hostcheck

import (
	"cmp"
	"slices"
	"strings"
)

// Status is a check's verdict.
type Status string

// The verdicts, from best to worst; SKIP when a check does not apply.
const (
	Skip Status = "SKIP"
	Pass Status = "PASS"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

func (s Status) rank() int {
	switch s {
	case Pass:
		return 1
	case Warn:
		return 2
	case Fail:
		return 3
	}
	return 0
}

// Result is the outcome of one check.
type Result struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Status  Status `json:"status"`
	Finding string `json:"finding"`          // what was found, one item per line
	Remedy  string `json:"remedy,omitempty"` // what to do, one step per line
	// Unreadable lists what the check needed but could not read (a WARN
	// then says "cannot read", not that something is wrong).
	Unreadable []string `json:"unreadable,omitempty"`
}

// A Check is one line of the guide.
type Check struct {
	ID    string
	Title string
	judge func(s *Snapshot) verdict
}

// Checks returns the checks in the order they are reported.
func Checks() []Check {
	return []Check{
		{"options", "The gateway's options are valid", checkOptions},
		{"legacy-listeners", "No telnet, FTP, TFTP or rsh listener", checkLegacyListeners},
		{"legacy-services", "Telnet, FTP, TFTP and rsh services disabled", checkLegacyServices},
		{"xinetd", "xinetd and inetd disabled", checkXinetd},
		{"firewall", "A firewall is active", checkFirewall},
		{"firewall-management", "Management ports closed to the world", checkFirewallManagement},
		{"fail2ban", "The fail2ban jail is loaded", checkFail2ban},
		{"https", "HTTPS on, with a CA-signed certificate not about to expire", checkHTTPS},
		{"dtls-srtp", "DTLS-SRTP towards browsers", checkDTLSSRTP},
		{"sip-tls", "SIP over TLS and SRTP towards a remote SIP Server", checkSIPTLS},
		{"admin-bind", "Management ports bound to non-public addresses", checkAdminBind},
		{"secret-files", "Secrets and tokens not readable by others", checkSecretFiles},
		{"not-root", "The daemons do not run as root", checkNotRoot},
		{"unit-hardening", "The packaged units' hardening is not overridden", checkUnitHardening},
	}
}

// Run judges a snapshot with every check.
func Run(s *Snapshot) []Result {
	var out []Result
	for _, c := range Checks() {
		v := c.judge(s)
		out = append(out, v.result(c.ID, c.Title))
	}
	return out
}

// Exit codes of check-host.
const (
	ExitPass     = 0 // every check passed or was skipped
	ExitWarnings = 1 // warnings, no failure
	ExitFailures = 2 // at least one failure (also: bad command line)
)

// ExitCode is 0 when every check passed (or did not apply), 1 with warnings
// only, 2 with a failure.
func ExitCode(rs []Result) int {
	worst := Skip
	for _, r := range rs {
		if r.Status.rank() > worst.rank() {
			worst = r.Status
		}
	}
	switch worst {
	case Fail:
		return ExitFailures
	case Warn:
		return ExitWarnings
	}
	return ExitPass
}

// Summary counts results by status.
func Summary(rs []Result) map[Status]int {
	out := map[Status]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}
	for _, r := range rs {
		out[r.Status]++
	}
	return out
}

// verdict accumulates a check's findings; its status is the worst seen.
type verdict struct {
	status     Status
	findings   []string
	remedies   []string
	unreadable []string
	passNote   []string // said when nothing worse is found
}

func (v *verdict) raise(s Status) {
	if s.rank() > v.status.rank() {
		v.status = s
	}
}

// fail records a failure and its remedy.
func (v *verdict) fail(finding, remedy string) { v.add(Fail, finding, remedy) }

// warn records a warning and its remedy.
func (v *verdict) warn(finding, remedy string) { v.add(Warn, finding, remedy) }

func (v *verdict) add(s Status, finding, remedy string) {
	v.raise(s)
	v.findings = appendNew(v.findings, finding)
	if remedy != "" {
		v.remedies = appendNew(v.remedies, remedy)
	}
}

// pass records what was found good.
func (v *verdict) pass(finding string) {
	v.raise(Pass)
	v.passNote = appendNew(v.passNote, finding)
}

// skip says the check does not apply, unless something else was found.
func (v *verdict) skip(finding string) {
	if v.status == "" {
		v.status = Skip
	}
	v.passNote = appendNew(v.passNote, finding)
}

// malformed records files that were read but not understood in full: the
// verdict rests on what could be parsed.
func (v *verdict) malformed(errs []string, remedy string) {
	for _, e := range errs {
		v.warn("cannot parse all of "+e, remedy)
	}
}

// cannotRead records what could not be read; with nothing worse it makes
// a warning, worded as such.
func (v *verdict) cannotRead(items []string) {
	v.unreadable = appendNew(v.unreadable, items...)
}

func (v *verdict) result(id, title string) Result {
	r := Result{ID: id, Title: title, Status: v.status, Unreadable: v.unreadable}
	if r.Status == "" {
		r.Status = Pass
	}
	findings := v.findings
	if r.Status == Pass || r.Status == Skip {
		findings = v.passNote
	}
	if len(v.unreadable) > 0 {
		if r.Status.rank() < Warn.rank() {
			r.Status = Warn
		}
		findings = append([]string{"cannot read what this check needs: " + strings.Join(v.unreadable, "; ")}, findings...)
		v.remedies = appendNew(v.remedies, "run check-host as root (the files are readable by root only), or fix what stops the reading")
	}
	r.Finding = strings.Join(findings, "\n")
	if r.Status == Warn || r.Status == Fail {
		r.Remedy = strings.Join(v.remedies, "\n")
	}
	return r
}

func sortedKeys[M ~map[K]V, K cmp.Ordered, V any](m M) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
