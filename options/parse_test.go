package options

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// problemKeys returns "section/name: fragment" pairs to compare with.
func parseProblems(t *testing.T, s Sections) []Problem {
	t.Helper()
	_, err := Parse(s)
	if err == nil {
		return nil
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Parse error = %T %v, want *Error", err, err)
	}
	return perr.Problems
}

func TestCrossFieldRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Sections
		want map[string]string // problem key → message fragment; nil: valid
	}{
		{"defaults", nil, nil},
		{"both web ports off", Sections{"web": {"https-port": "0", "http-port": "0"}},
			map[string]string{"web/https-port": "both 0"}},
		{"http only", Sections{"web": {"https-port": "0", "http-port": "8080", "trusted-proxies": "10.0.0.1"}}, nil},
		{"same web ports", Sections{"web": {"https-port": "8443", "http-port": "8443"}},
			map[string]string{"web/http-port": "http-port 8443 is also https-port"}},
		{"certificate without key", Sections{"web": {"certificate": "/etc/gw/cert.pem"}},
			map[string]string{"web/certificate-key": "set together"}},
		{"key without certificate", Sections{"web": {"certificate-key": "/etc/gw/key.pem"}},
			map[string]string{"web/certificate-key": "set together"}},
		{"polling not below session", Sections{"web": {"polling-timeout": "60", "session-timeout": "60"}},
			map[string]string{"web/session-timeout": "session-timeout 60 s must be longer than polling-timeout 60 s"}},
		{"tls without certificate", Sections{"sip": {"sip-transport": "tls", "sip-port": "5061"}},
			map[string]string{"sip/sip-transport": "tls needs a certificate"}},
		{"tls with web certificate", Sections{"sip": {"sip-transport": "tls", "sip-port": "5061"},
			"web": {"certificate": "c.pem", "certificate-key": "k.pem"}}, nil},
		{"tls with sip certificate", Sections{"sip": {"sip-transport": "tls", "sip-port": "5061", "tls-certificate": "c.pem", "tls-certificate-key": "k.pem"}}, nil},
		{"sip certificate without key", Sections{"sip": {"tls-certificate": "c.pem"}},
			map[string]string{"sip/tls-certificate-key": "set together"}},
		{"telephone-event only", Sections{"media": {"codecs": "telephone-event"}},
			map[string]string{"media/codecs": "no audio codec"}},
		{"turn without credentials", Sections{"media": {"ice-servers": "turn:turn.example.com"}},
			map[string]string{"media/turn-username": "set turn-username and turn-password"}},
		{"turn with credentials", Sections{"media": {"ice-servers": "turn:turn.example.com", "turn-username": "u", "turn-password": "p"}}, nil},
		{"rtp min not below max", Sections{"media": {"rtp-port-min": "25000", "rtp-port-max": "25000"}},
			map[string]string{"media/rtp-port-min": "rtp-port-min 25000 must be below rtp-port-max 25000"}},
		{"webrtc min above max", Sections{"media": {"webrtc-port-min": "39000", "webrtc-port-max": "38000"}},
			map[string]string{"media/webrtc-port-min": "must be below webrtc-port-max"}},
		{"ranges overlap", Sections{"media": {"webrtc-port-min": "29000", "webrtc-port-max": "39999"}},
			map[string]string{"media/webrtc-port-min": "overlaps the RTP range 20000-29999"}},
		{"rtp range too narrow", Sections{"media": {"rtp-port-min": "20000", "rtp-port-max": "20099"}},
			map[string]string{"media/rtp-port-max": "holds 50 calls (2 ports each), fewer than max-calls 2000"}},
		{"narrow ranges with few calls", Sections{"media": {"rtp-port-min": "20000", "rtp-port-max": "20099", "webrtc-port-min": "30000", "webrtc-port-max": "30049", "max-calls": "50"}}, nil},
		{"webrtc range too narrow", Sections{"media": {"webrtc-port-min": "30000", "webrtc-port-max": "30099"}},
			map[string]string{"media/webrtc-port-max": "holds 100 calls (1 port each), fewer than max-calls 2000"}},
		{"webrtc range narrow with mux", Sections{"media": {"webrtc-port-min": "30000", "webrtc-port-max": "30099", "webrtc-mux-port": "40000"}}, nil},
		{"mux port in a range", Sections{"media": {"webrtc-mux-port": "25000"}},
			map[string]string{"media/webrtc-mux-port": "25000 lies in rtp-port-min..rtp-port-max"}},
		{"mux port is sip port", Sections{"media": {"webrtc-mux-port": "5060"}},
			map[string]string{"media/webrtc-mux-port": "also sip/sip-port"}},
		{"sip udp port in rtp range", Sections{"sip": {"sip-port": "20000"}},
			map[string]string{"sip/sip-port": "20000 (UDP) lies in media/rtp-port-min..rtp-port-max"}},
		{"sip tcp port on https port", Sections{"sip": {"sip-transport": "tcp", "sip-port": "8443"}},
			map[string]string{"sip/sip-port": "8443 (TCP) is also a web signalling port"}},
		{"sip tcp port in rtp range is fine", Sections{"sip": {"sip-transport": "tcp", "sip-port": "20000"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, p := range parseProblems(t, tc.in) {
				got[p.Key()] = p.Msg
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Parse problems = %v, want %v", got, tc.want)
			}
			for key, frag := range tc.want {
				if !strings.Contains(got[key], frag) {
					t.Errorf("problem %s = %q, want it to contain %q", key, got[key], frag)
				}
			}
		})
	}
}

// TestParseReportsEverything checks that one Parse names every bad option,
// value errors and rule errors together, and that rules touching an invalid
// value do not add misleading problems.
func TestParseReportsEverything(t *testing.T) {
	_, err := Parse(Sections{
		"web":   {"https-port": "99999", "session-timeout": "x", "certificate": "/c.pem"},
		"sip":   {"sip-transport": "sctp"},
		"media": {"rtp-port-min": "abc", "rtp-port-max": "100", "codecs": "telephone-event"},
		"log":   {"verbose": "loud"},
	})
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	var keys []string
	for _, p := range perr.Problems {
		keys = append(keys, p.Key())
	}
	want := []string{"web/https-port", "web/session-timeout", "sip/sip-transport", "media/rtp-port-min", "media/rtp-port-max", "log/verbose", "web/certificate-key", "media/codecs"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("problem keys (-want +got):\n%s", diff)
	}
	msg := err.Error()
	for _, frag := range []string{"8 invalid options", `web/https-port: "99999": out of range`, `log/verbose: "loud"`} {
		if !strings.Contains(msg, frag) {
			t.Errorf("Error() = %q, want it to contain %q", msg, frag)
		}
	}
}

func TestParseWarnings(t *testing.T) {
	s := mustParse(t, Sections{
		"web":     {"http-prot": "8080", "domain-whitelist": "https://a.example.com"},
		"weeb":    {"https-port": "1"},
		"sip":     {"verbose": "all"},
		"media":   {"turn-username": "u"},
		"sml":     {"autostart": "yes"},
		"unknown": {},
	})
	var got []string
	for _, w := range s.Warnings() {
		got = append(got, w.String())
	}
	want := []string{
		"sip/verbose: unknown option, ignored (did you mean log/verbose?)",
		"[unknown]: unknown section: its options are ignored",
		"web/http-prot: unknown option, ignored (did you mean web/http-port?)",
		"[weeb]: unknown section: its options are ignored",
		"media/turn-username: turn-username/turn-password are set but ice-servers lists no turn: server; they are unused",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if !s.SML().Autostart || !s.Explicit(Lookup(SectionSML, "autostart")) {
		t.Errorf("sml/autostart = %v, want true and explicit", s.SML().Autostart)
	}
}

func TestParseEmptyMeansDefault(t *testing.T) {
	s := mustParse(t, Sections{"web": {"https-port": "  ", "domain-whitelist": ""}})
	if s.Web().HTTPSPort != 8443 || s.Explicit(Lookup(SectionWeb, "https-port")) {
		t.Errorf("https-port = %d explicit=%v, want the default 8443, not explicit", s.Web().HTTPSPort, s.Explicit(Lookup(SectionWeb, "https-port")))
	}
}

func TestParseLongValue(t *testing.T) {
	long := strings.Repeat("a.example.com,", maxValueLen/10)
	probs := parseProblems(t, Sections{"web": {"domain-whitelist": long}})
	if len(probs) != 1 || probs[0].Key() != "web/domain-whitelist" || !strings.Contains(probs[0].Msg, "longer than") {
		t.Fatalf("problems = %v, want one naming web/domain-whitelist as too long", probs)
	}
}

func TestDiff(t *testing.T) {
	old := mustParse(t, Sections{"web": {"https-port": "8443"}, "media": {"turn-password": "old", "ice-servers": "turn:t.example.com", "turn-username": "u"}})
	next := mustParse(t, Sections{
		"web":      {"https-port": "9443", "domain-whitelist": "https://a.example.com", "max-sessions": "10"},
		"sip":      {"sip-transport": "tcp", "sip-server": "sip.example.com"},
		"media":    {"turn-password": "new", "ice-servers": "turn:t.example.com", "turn-username": "u", "rtp-timeout": "30"},
		"log":      {"verbose": "debug"},
		"security": {"ban-time": "60"},
	})
	d := Diff(old, next)
	type group struct {
		Owner  Owner
		Effect Effect
		Keys   []string
	}
	var got []group
	for _, g := range d.Groups {
		gg := group{Owner: g.Owner, Effect: g.Effect}
		for _, c := range g.Changes {
			gg.Keys = append(gg.Keys, c.Def.Key())
		}
		got = append(got, gg)
	}
	want := []group{
		{OwnerLog, Immediate, []string{"log/verbose"}},
		{OwnerMedia, Immediate, []string{"media/rtp-timeout"}},
		{OwnerMedia, NewCalls, []string{"media/turn-password"}},
		{OwnerSIP, NewCalls, []string{"sip/sip-server"}},
		{OwnerSIP, Transport, []string{"sip/sip-transport"}},
		{OwnerWeb, Immediate, []string{"web/domain-whitelist", "web/max-sessions"}},
		{OwnerWeb, Listener, []string{"web/https-port"}},
		{OwnerBan, Immediate, []string{"security/ban-time"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Owner{OwnerLog, OwnerMedia, OwnerSIP, OwnerWeb, OwnerBan}, d.Owners()); diff != "" {
		t.Errorf("Owners (-want +got):\n%s", diff)
	}
	if got := len(d.Changes(OwnerWeb)); got != 3 {
		t.Errorf("Changes(web) has %d changes, want 3", got)
	}
	for _, c := range d.Changes("") {
		if strings.Contains(c.String(), "new") && c.Def.Type == TypeSecret {
			t.Errorf("Change.String() = %q shows a secret", c.String())
		}
	}
	if want := `web/https-port: "8443" -> "9443"`; d.Changes(OwnerWeb)[2].String() != want {
		t.Errorf("Change.String() = %q, want %q", d.Changes(OwnerWeb)[2].String(), want)
	}
	if !Diff(next, next).Empty() || !next.Equal(next) || next.Equal(old) {
		t.Error("Diff of a set with itself is not empty, or Equal is wrong")
	}
	// Spelling differences that mean the same value are no change.
	a := mustParse(t, Sections{"web": {"demo-page": "yes", "domain-whitelist": "HTTPS://A.example.com:443"}})
	b := mustParse(t, Sections{"web": {"demo-page": "true", "domain-whitelist": "https://a.example.com"}})
	if !a.Equal(b) {
		t.Errorf("Diff(a, b) = %+v, want empty for equivalent spellings", Diff(a, b))
	}
}

func TestLoadINI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.ini")
	content := `; comment
# another comment
stray = 1
[web]
domain-whitelist = https://a.example.com ; not a comment, and refused as a value
https-port = 9443
https-port = 9444
[media]
turn-password = p#ss;w0rd
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	sections, warnings, err := LoadINI(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Sections{
		"web":   {"domain-whitelist": "https://a.example.com ; not a comment, and refused as a value", "https-port": "9444"},
		"media": {"turn-password": "p#ss;w0rd"},
	}
	if diff := cmp.Diff(want, sections); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	wantWarn := []string{"stray: option outside any section, ignored: put it under its [section]", "web/https-port: set 2 times; the last value is used"}
	if diff := cmp.Diff(wantWarn, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	if _, _, err := LoadINI(filepath.Join(dir, "absent.ini")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadINI(absent) error = %v, want ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.ini")
	if err := os.WriteFile(big, []byte(strings.Repeat("; padding\n", maxINISize/5)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadINI(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadINI(big) error = %v, want a size error", err)
	}
	bad := filepath.Join(dir, "bad.ini")
	if err := os.WriteFile(bad, []byte("[web\nhttps-port=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadINI(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadINI(bad) error = %v, want a parse error naming the file", err)
	}
}

// TestSampleINI checks the generated sample parses to exactly the defaults.
func TestSampleINI(t *testing.T) {
	sections, warnings, err := LoadINI("../packaging/webrtc-gateway.ini")
	if err != nil || len(warnings) > 0 {
		t.Fatalf("LoadINI(sample) = %v, %v", warnings, err)
	}
	s := mustParse(t, sections)
	if !s.Equal(Defaults()) {
		t.Errorf("sample differs from the defaults: %+v", Diff(Defaults(), s))
	}
	// Uncommenting every line gives the defaults too.
	data, err := os.ReadFile("../packaging/webrtc-gateway.ini")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, ";"); ok && strings.Contains(rest, " =") && !strings.HasPrefix(rest, " ") {
			l = rest
		}
		lines = append(lines, l)
	}
	sections, warnings, err = ParseINI([]byte(strings.Join(lines, "\n")))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("ParseINI(uncommented sample) = %v, %v", warnings, err)
	}
	n := 0
	for _, opts := range sections {
		n += len(opts)
	}
	if n != len(catalog) {
		t.Errorf("uncommented sample sets %d options, want all %d", n, len(catalog))
	}
	if s := mustParse(t, sections); !s.Equal(Defaults()) {
		t.Errorf("uncommented sample differs from the defaults: %+v", Diff(Defaults(), s))
	}
}
