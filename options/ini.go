package options

import (
	"fmt"
	"io"
	"os"

	"gopkg.in/ini.v1"
)

// maxINISize bounds a configuration file; a real one is a few kilobytes.
const maxINISize = 1 << 20

// LoadINI reads an INI file into raw sections. Values are taken verbatim:
// '#' and ';' start a comment only at the beginning of a line, so passwords
// and URLs keep them. Options set twice and options outside a section are
// returned as warnings.
func LoadINI(path string) (Sections, []Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxINISize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxINISize {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, maxINISize)
	}
	sections, warnings, err := ParseINI(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return sections, warnings, nil
}

// ParseINI parses INI text into raw sections (see LoadINI).
func ParseINI(data []byte) (Sections, []Problem, error) {
	file, err := ini.LoadSources(ini.LoadOptions{
		IgnoreInlineComment: true,
		IgnoreContinuation:  true,
		AllowShadows:        true,
	}, data)
	if err != nil {
		return nil, nil, err
	}
	out := Sections{}
	var warnings []Problem
	for _, sec := range file.Sections() {
		name := sec.Name()
		keys := sec.Keys()
		if name == ini.DefaultSection {
			for _, k := range keys {
				warnings = append(warnings, Problem{"", k.Name(), "option outside any section, ignored: put it under its [section]"})
			}
			continue
		}
		m := map[string]string{}
		for _, k := range keys {
			vals := k.ValueWithShadows()
			switch {
			case len(vals) == 0: // "name =" with nothing after it
				vals = []string{""}
			case len(vals) > 1:
				warnings = append(warnings, Problem{name, k.Name(), fmt.Sprintf("set %d times; the last value is used", len(vals))})
			}
			m[k.Name()] = vals[len(vals)-1]
		}
		out[name] = m
	}
	return out, warnings, nil
}
