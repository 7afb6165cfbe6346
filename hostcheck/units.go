package hostcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Directories of unit files, highest priority first (systemd.unit(5)).
var unitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/lib/systemd/system",
}

// A Directive is one assignment of a unit file.
type Directive struct {
	Section string `json:"section"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	File    string `json:"file"` // path inside the audited tree
	Line    int    `json:"line"`
}

// Where is "FILE:LINE".
func (d Directive) Where() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// A Unit is a systemd unit as installed: its fragment (the unit file in
// effect), the drop-ins applied after it, and whether it is enabled.
type Unit struct {
	Name       string      `json:"name"`
	Path       string      `json:"path"`                 // the fragment in effect
	Shadowed   []string    `json:"shadowed,omitempty"`   // lower-priority copies it hides (the packaged one, when Path is an /etc copy)
	DropIns    []string    `json:"drop_ins,omitempty"`   // in the order applied
	Masked     bool        `json:"masked"`               // linked to /dev/null
	EnabledBy  []string    `json:"enabled_by,omitempty"` // the .wants/.requires links that pull it in
	Directives []Directive `json:"directives,omitempty"` // fragment then drop-ins, in order
	// VendorPath is the copy the package installed (under /usr/lib or
	// /lib), and Vendor its directives: what the unit is without the
	// administrator's changes.
	VendorPath string      `json:"vendor_path,omitempty"`
	Vendor     []Directive `json:"-"`
	ParseError string      `json:"parse_error,omitempty"` // lines that were skipped
}

// Enabled reports whether something pulls the unit in at boot.
func (u *Unit) Enabled() bool { return u != nil && !u.Masked && len(u.EnabledBy) > 0 }

// Assigned reports whether a setting is assigned at all (even emptied).
func (u *Unit) Assigned(section, key string) bool {
	_, ok := u.Last(section, key)
	return ok
}

// Values returns the assignments of a list-valued setting in effect: those
// after the last empty assignment, which resets the list (systemd.exec(5)).
func (u *Unit) Values(section, key string) []Directive {
	if u == nil {
		return nil
	}
	var out []Directive
	for _, d := range u.Directives {
		if d.Section == section && d.Key == key {
			if d.Value == "" {
				out = nil
				continue
			}
			out = append(out, d)
		}
	}
	return out
}

// Last returns the assignment of a single-valued setting in effect.
func (u *Unit) Last(section, key string) (Directive, bool) {
	if u == nil {
		return Directive{}, false
	}
	for i := len(u.Directives) - 1; i >= 0; i-- {
		if d := u.Directives[i]; d.Section == section && d.Key == key {
			return d, true
		}
	}
	return Directive{}, false
}

// ParseUnitFile parses the text of a unit file or drop-in (systemd.syntax(7)):
// [Section] headers, Key=Value lines, # and ; comments, and lines continued
// with a trailing backslash. Lines it cannot read are skipped and reported in
// the error; the others are still returned.
func ParseUnitFile(file string, data []byte) ([]Directive, error) {
	var out []Directive
	var bad []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		start := n
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		for strings.HasSuffix(line, `\`) {
			line = strings.TrimSuffix(line, `\`) + " "
			for sc.Scan() {
				n++
				next := strings.TrimSpace(sc.Text())
				if next != "" && (next[0] == '#' || next[0] == ';') {
					continue // comments inside a continuation are dropped
				}
				line += next
				break
			}
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				bad = append(bad, fmt.Sprintf("%s:%d: bad section header %q", file, start, line))
				section = "" // keys until the next good header belong nowhere
				continue
			}
			section = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			bad = append(bad, fmt.Sprintf("%s:%d: not Key=Value in a section: %q", file, start, truncate(line, 60)))
			continue
		}
		out = append(out, Directive{Section: section, Key: strings.TrimSpace(key), Value: strings.TrimSpace(value), File: file, Line: start})
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Sprintf("%s: %v", file, err))
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

// dropInDirs returns the drop-in directory names that apply to a unit, in
// increasing priority of their name: the unit type ("service.d"), each
// dash-prefix ("webrtc-.service.d", "webrtc-gateway-.service.d"), the
// template ("x@.service.d") and the unit itself (systemd.unit(5)).
func dropInDirs(name string) []string {
	ext := path.Ext(name) // ".service"
	base := strings.TrimSuffix(name, ext)
	out := []string{strings.TrimPrefix(ext, ".") + ".d"}
	parts := strings.Split(base, "-")
	for i := 1; i < len(parts); i++ {
		out = append(out, strings.Join(parts[:i], "-")+"-"+ext+".d")
	}
	if at := strings.IndexByte(base, '@'); at >= 0 && at < len(base)-1 {
		out = append(out, base[:at+1]+ext+".d")
	}
	return append(out, name+".d")
}

// templateOf returns "x@.service" for the instance "x@y.service", else "".
func templateOf(name string) string {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	at := strings.IndexByte(base, '@')
	if at < 0 || at == len(base)-1 {
		return ""
	}
	return base[:at+1] + ext
}

// sortDropIns orders drop-in files as systemd applies them: by file name,
// a name in a higher-priority directory hiding the same name lower down.
// files maps a file name to its paths, highest priority first.
func sortDropIns(files map[string][]string) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, files[n][0])
	}
	return out
}

// SplitCommand splits an ExecStart= value into words as systemd does
// (systemd.service(5) "Command lines"): leading prefixes (-, @, :, +, !)
// are returned apart; words split on blanks, "double" and 'single' quotes
// group, backslash escapes; ${VAR} expands to one word and $VAR to as many
// words as its value has, from env. Unknown variables expand to nothing.
func SplitCommand(value string, env map[string]string) (prefix string, words []string, err error) {
	s := strings.TrimSpace(value)
	for len(s) > 0 && strings.ContainsRune("-@:+!", rune(s[0])) {
		prefix += s[:1]
		s = s[1:]
	}
	words, err = splitWords(s, env, true)
	if err != nil {
		err = fmt.Errorf("%w in %q", err, truncate(value, 60))
	}
	return prefix, words, err
}

// splitWords splits on blanks, with quotes and backslashes; with expand,
// $VAR and ${VAR} are replaced from env.
func splitWords(s string, env map[string]string, expand bool) (words []string, err error) {
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && quote != '\'':
			i++
			cur.WriteByte(unescape(s[i]))
			inWord = true
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
			inWord = true
		case quote == 0 && (c == ' ' || c == '\t'):
			flush()
		case expand && c == '$' && i+1 < len(s) && quote != '\'':
			name, n, braced := varName(s[i+1:])
			if name == "" {
				cur.WriteByte(c)
				inWord = true
				continue
			}
			i += n
			v := env[name]
			if braced || quote != 0 {
				cur.WriteString(v)
				inWord = true
				continue
			}
			// $VAR alone splits into words
			for j, w := range strings.Fields(v) {
				if j > 0 {
					flush()
				}
				cur.WriteString(w)
				inWord = true
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return words, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	return words, nil
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	}
	return c
}

// varName reads a variable name after '$': "{NAME}" or "NAME". It returns
// the name, the bytes consumed and whether braces were used.
func varName(s string) (string, int, bool) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, false
		}
		return s[1:end], end + 1, true
	}
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= 'a' && s[n] <= 'z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	return s[:n], n, false
}

// ParseEnvironmentFile parses an EnvironmentFile= (KEY=VALUE lines, # and ;
// comments, optional quotes around the value) into env.
func ParseEnvironmentFile(data []byte, env map[string]string) {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
}

// ParseEnvironment parses an Environment= value ("A=1" "B=two words") into env.
// Variables are not expanded there (systemd.exec(5)).
func ParseEnvironment(value string, env map[string]string) {
	words, _ := splitWords(value, nil, false)
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			env[k] = v
		}
	}
}

// FlagValue returns the value of a Go flag (-name V, -name=V, --name V)
// in a command's arguments.
func FlagValue(args []string, name string) (string, bool) {
	val, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if len(args[i]) < 2 || args[i][0] != '-' {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok && k == name {
			val, found = v, true
			continue
		}
		if a == name && i+1 < len(args) {
			val, found = args[i+1], true
			i++
		}
	}
	return val, found // the last one wins, as with the flag package
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
