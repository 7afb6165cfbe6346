package agent

import (
	"errors"
	"strings"
)

// SplitArgs splits a command line's arguments as a POSIX shell would,
// without expanding anything: words separated by blanks; '…' keeps
// everything literally; "…" keeps everything but \" and \\, which lose the
// backslash; outside quotes a backslash keeps the next character. No
// variables, globs or redirections: the LCA runs the program directly.
func SplitArgs(s string) ([]string, error) {
	var (
		out     []string
		word    strings.Builder
		inWord  bool
		quote   byte // 0, '\'' or '"'
		escaped bool
	)
	if strings.IndexByte(s, 0) >= 0 {
		return nil, errors.New("NUL character in the arguments")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			word.WriteByte(c)
			escaped = false
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				word.WriteByte(s[i])
			default:
				word.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == '\\':
			escaped = true
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				out = append(out, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, errors.New("unterminated " + string(quote) + " quote")
	case escaped:
		return nil, errors.New("backslash at the end")
	}
	if inWord {
		out = append(out, word.String())
	}
	return out, nil
}

// JoinArgs is the inverse of SplitArgs: arguments quoted where needed.
func JoinArgs(args []string) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if a != "" && !strings.ContainsAny(a, " \t\n\r'\"\\") {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}
