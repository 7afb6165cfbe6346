package options

import (
	"errors"
	"strings"
	"testing"
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
