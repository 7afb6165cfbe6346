package options

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse feeds arbitrary values to every option type and arbitrary INI
// text to the loader: Parse must never panic, and must either return a Set
// or a *Error whose every problem names an option.
func FuzzParse(f *testing.F) {
	seeds := []string{"8443", "0", "true", "https://a.example.com:443,*.b.org", "10.0.0.0/8", "100MB",
		"turn:[::1]:3478?transport=tcp", "[2001:db8::1]:5060", "stdout,/tmp/x.log", "PCMU,telephone-event",
		"", "\x00", "99999999999999999999GB", "*.", "https://[::1", "a,,b", "false"}
	for i, s := range seeds {
		d := &catalog[i%len(catalog)]
		f.Add(d.Section, d.Name, s, "[web]\nhttps-port="+s+"\n")
	}
	f.Fuzz(func(t *testing.T, section, name, value, iniText string) {
		sections := Sections{section: {name: value}}
		// Also put the value into an option of every type.
		for i := range catalog {
			d := &catalog[i]
			if len(value)%len(catalog) == i {
				sections[d.Section] = map[string]string{d.Name: value}
			}
		}
		checkParse(t, sections)
		if parsed, _, err := ParseINI([]byte(iniText)); err == nil {
			checkParse(t, parsed)
		}
		_, _ = ParseOriginPattern(value)
	})
}

func checkParse(t *testing.T, sections Sections) {
	s, err := Parse(sections)
	if err == nil {
		if s == nil {
			t.Fatal("Parse returned neither a Set nor an error")
		}
		// A valid set re-parses from its own canonical text to itself.
		again := Sections{}
		for _, d := range Catalog() {
			if again[d.Section] == nil {
				again[d.Section] = map[string]string{}
			}
			again[d.Section][d.Name] = s.Text(d)
		}
		s2, err := Parse(again)
		if err != nil || !s2.Equal(s) {
			t.Fatalf("canonical text does not re-parse to the same set: %v", err)
		}
		return
	}
	var perr *Error
	if !errors.As(err, &perr) || len(perr.Problems) == 0 {
		t.Fatalf("Parse error = %v, want *Error with problems", err)
	}
	for _, p := range perr.Problems {
		if Lookup(p.Section, p.Name) == nil || !strings.Contains(err.Error(), p.Key()) {
			t.Fatalf("problem %v does not name a known option", p)
		}
	}
}

// FuzzCheck: one value of one option, as the Configuration Server checks it
// (Def.Check) and as the gateway parses it (Parse) — the two never
// disagree about a value: Check refuses exactly the values Parse reports
// against that option (other rules aside), its error names the option and
// never shows a secret, and the canonical text it returns checks to itself.
func FuzzCheck(f *testing.F) {
	values := []string{"8443", "0", "-1", "65536", "true", "maybe", "https://a.example.com:443,*.b.org", "https://a.example.com.evil.test",
		"10.0.0.0/8, ::1", "10.0.0.0/33", "100MB", "1PB", "turn:[::1]:3478?transport=tcp", "stun:", "[2001:db8::1]:5060", "a b",
		"stdout,/tmp/x.log", "PCMU,telephone-event", "PCMU,,PCMA", "", " ", "\x00", "line\nbreak", "99999999999999999999GB",
		"s3cr3t-p4ssw0rd", "é", strings.Repeat("x", 70000)}
	for i, v := range values {
		d := &catalog[(i*7)%len(catalog)]
		f.Add(d.Section, d.Name, v)
	}
	for i := range catalog {
		d := &catalog[i]
		f.Add(d.Section, d.Name, d.Default)
	}
	f.Fuzz(func(t *testing.T, section, name, value string) {
		d := Lookup(section, name)
		if d == nil {
			d = &catalog[len(value)%len(catalog)]
		}
		text, checkErr := d.Check(value)
		_, parseErr := Parse(Sections{d.Section: {d.Name: value}})
		var perr *Error
		named := false
		if errors.As(parseErr, &perr) {
			for _, p := range perr.Problems {
				if p.Key() == d.Key() && strings.Contains(p.Msg, "allowed") {
					named = true
				}
			}
		}
		if checkErr != nil {
			if !strings.Contains(checkErr.Error(), d.Key()) {
				t.Fatalf("%s.Check(%q) = %v: the error does not name the option", d.Key(), value, checkErr)
			}
			if !named && len(strings.TrimSpace(value)) <= maxValueLen {
				t.Fatalf("%s.Check(%q) refuses it (%v); Parse does not (%v)", d.Key(), value, checkErr, parseErr)
			}
			if d.Type == TypeSecret && len(value) >= 4 && strings.Contains(checkErr.Error(), value) {
				t.Fatalf("%s.Check shows the secret in %v", d.Key(), checkErr)
			}
			return
		}
		if named {
			t.Fatalf("%s.Check(%q) takes it; Parse refuses it: %v", d.Key(), value, parseErr)
		}
		if again, err := d.Check(text); err != nil || again != text {
			t.Fatalf("%s: canonical text %q of %q checks to %q, %v", d.Key(), text, value, again, err)
		}
	})
}

// FuzzParseINI: an INI file parses into sections or is refused with an
// error; values are taken verbatim (a '#' or ';' inside a value is kept),
// so writing the sections back as "name = value" lines gives the same
// sections, for every value that can be written so (one line, no white
// space at its ends, no quote or backquote to start it).
func FuzzParseINI(f *testing.F) {
	f.Add([]byte("[web]\nhttps-port = 8443\ndomain-whitelist = https://a.example.com, *.b.org\n\n[media]\nturn-password = p#ss;word\n"))
	f.Add([]byte("; comment\n# comment\n[sip]\nsip-server=127.0.0.1:5060\nsip-server=10.0.0.1\n"))
	f.Add([]byte("orphan = 1\n[log]\nverbose =\n"))
	f.Add([]byte("[a]\nk = \"\"\"quoted\n\"\"\"\n[b\n"))
	if sample, err := os.ReadFile("../packaging/webrtc-gateway.ini"); err == nil {
		f.Add(sample)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sections, _, err := ParseINI(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no text")
			}
			return
		}
		var b strings.Builder
		want := Sections{}
		for _, section := range slices.Sorted(maps.Keys(sections)) {
			if !plainININame(section) {
				continue
			}
			kept := map[string]string{}
			for name, value := range sections[section] {
				if plainININame(name) && !strings.ContainsAny(name, "=:") && plainINIValue(value) {
					kept[name] = value
				}
			}
			if len(kept) == 0 {
				continue
			}
			want[section] = kept
			fmt.Fprintf(&b, "[%s]\n", section)
			for _, name := range slices.Sorted(maps.Keys(kept)) {
				fmt.Fprintf(&b, "%s = %s\n", name, kept[name])
			}
		}
		got, _, err := ParseINI([]byte(b.String()))
		if err != nil {
			t.Fatalf("the sections written back do not parse: %v\n%s", err, b.String())
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("INI round trip (-want +got):\n%s\n%s", diff, b.String())
		}
	})
}

// plainININame reports whether s can be written as a section or option name.
func plainININame(s string) bool {
	return s != "" && s == strings.TrimSpace(s) && !strings.ContainsAny(s, "[]\r\n\"`;#") && utf8.ValidString(s)
}

// plainINIValue reports whether s can be written after "name = " and read
// back as itself.
func plainINIValue(s string) bool {
	return s == strings.TrimSpace(s) && !strings.ContainsAny(s, "\r\n") && !strings.HasPrefix(s, `"`) && !strings.HasPrefix(s, "`") &&
		!strings.HasPrefix(s, "'") && utf8.ValidString(s)
}
