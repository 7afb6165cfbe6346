package options

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Problem is one thing wrong with an option set, naming the option.
type Problem struct {
	Section string
	Name    string
	Msg     string // what is wrong and what is allowed
}

// Key returns "section/name".
func (p Problem) Key() string {
	switch {
	case p.Section == "":
		return p.Name
	case p.Name == "":
		return "[" + p.Section + "]"
	}
	return p.Section + "/" + p.Name
}

func (p Problem) String() string { return p.Key() + ": " + p.Msg }

// Error is returned by Parse for an invalid set: every problem found, and the
// warnings too so that a report can show both.
type Error struct {
	Problems []Problem
	Warnings []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "invalid option " + lines[0]
	}
	return fmt.Sprintf("%d invalid options: %s", len(lines), strings.Join(lines, "; "))
}

// Sections is raw option text as read from an INI file or the Configuration
// Server: section → option → value.
type Sections = map[string]map[string]string

// maxValueLen bounds a single option value; longer values are refused before
// they are parsed (a domain-whitelist of a few hundred origins fits easily).
const maxValueLen = 64 << 10

// Parse validates raw option text and returns the complete typed Set, with
// defaults for everything absent or empty. When anything is invalid it
// returns a *Error listing every problem. Unknown sections and options are
// warnings, not errors.
func Parse(sections Sections) (*Set, error) {
	s := &Set{text: map[string]string{}, explicit: map[string]bool{}}
	var problems []Problem
	invalid := map[string]bool{}

	for _, section := range slices.Sorted(maps.Keys(sections)) {
		if !knownSection(section) {
			s.warnings = append(s.warnings, Problem{section, "", "unknown section: its options are ignored"})
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(sections[section])) {
			if Lookup(section, name) != nil {
				continue
			}
			msg := "unknown option, ignored"
			if len(name) <= 64 {
				if hint := suggest(section, name); hint != "" {
					msg += " (did you mean " + hint + "?)"
				}
			}
			s.warnings = append(s.warnings, Problem{section, name, msg})
		}
	}

	for i := range catalog {
		d := &catalog[i]
		raw, given := sections[d.Section][d.Name]
		raw = strings.TrimSpace(raw)
		if given && raw != "" {
			s.explicit[d.Key()] = true
		} else {
			raw = d.Default
		}
		if len(raw) > maxValueLen {
			problems = append(problems, Problem{d.Section, d.Name, fmt.Sprintf("value of %d bytes is longer than %d", len(raw), maxValueLen)})
			invalid[d.Key()] = true
			continue
		}
		var (
			val  any
			text string
			err  error
		)
		if raw != "" {
			val, text, err = d.parse(raw)
		}
		if err != nil {
			problems = append(problems, Problem{d.Section, d.Name, describe(d, raw, err)})
			invalid[d.Key()] = true
			continue
		}
		s.v.store(d, val)
		s.text[d.Key()] = text
	}
	// Rules between options run even when some values are invalid, skipping
	// those that involve one, so that every problem is reported at once.
	c := crossCheck{s: s, invalid: invalid}
	c.run()
	problems = append(problems, c.problems...)
	s.warnings = append(s.warnings, c.warnings...)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems, Warnings: s.warnings}
	}
	return s, nil
}

// describe words a value error: the value (masked for secrets), what is
// wrong, and what is allowed.
func describe(d *Def, raw string, err error) string {
	shown := fmt.Sprintf("%q", raw)
	if d.Type == TypeSecret {
		shown = "the value"
	} else if len(shown) > 80 {
		shown = shown[:60] + `…" (` + fmt.Sprint(len(raw)) + " bytes)"
	}
	return fmt.Sprintf("%s: %v; allowed: %s", shown, err, d.Allowed())
}

// Defaults returns the Set of every option at its default.
func Defaults() *Set {
	s, err := Parse(nil)
	if err != nil {
		panic("options: defaults are invalid: " + err.Error()) // caught by TestDefaults
	}
	return s
}
