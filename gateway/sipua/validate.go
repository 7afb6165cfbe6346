package sipua

import (
	"errors"
	"fmt"
	"strings"
)

// maxUserLen bounds a DN or a dialled number.
const maxUserLen = 64

// ErrBadUser means a DN or destination has characters that could change the
// meaning of a SIP start line, URI or header.
var ErrBadUser = errors.New("not a valid DN or number")

// CheckUser validates a DN or dialled number before it goes into a SIP URI:
// 1 to 64 characters of letters, digits and + * # . _ - only. Everything
// with SIP syntax (<, >, ;, @, :, spaces, quotes) and every control character
// (CR, LF, NUL) is refused here, before any SIP message is built.
func CheckUser(s string) error {
	if s == "" || len(s) > maxUserLen {
		return fmt.Errorf("%w: it must have 1 to %d characters", ErrBadUser, maxUserLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '+' || c == '*' || c == '#' || c == '.' || c == '_' || c == '-':
		default:
			return fmt.Errorf("%w: character %q is not allowed (letters, digits and + * # . _ - only)", ErrBadUser, c)
		}
	}
	return nil
}

// uriUser escapes a checked user for a SIP URI: '#' is not allowed raw in
// the user part (RFC 3261 section 25.1).
func uriUser(s string) string { return strings.ReplaceAll(s, "#", "%23") }

// maxInfoBody bounds an INFO body from a browser.
const maxInfoBody = 8 << 10

// CheckInfoBody validates INFO data from a browser: URL-encoded text, so
// printable ASCII only.
func CheckInfoBody(b []byte) error {
	if len(b) > maxInfoBody {
		return fmt.Errorf("INFO data of %d bytes is larger than %d", len(b), maxInfoBody)
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return errors.New("INFO data must be URL-encoded (printable ASCII)")
		}
	}
	return nil
}

// CheckHeader validates an extra header from a browser (attached data):
// the name X- followed by up to 64 letters, digits and '-', and a value of
// at most 256 printable ASCII characters.
func CheckHeader(name, value string) error {
	rest, ok := strings.CutPrefix(name, "X-")
	if !ok || rest == "" || len(rest) > 64 {
		return fmt.Errorf("header name %q: it must be X- and 1 to 64 letters, digits or '-'", name)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("header name %q: character %q is not allowed", name, c)
		}
	}
	if len(value) > 256 {
		return fmt.Errorf("header %s: value longer than 256 characters", name)
	}
	for i := 0; i < len(value); i++ {
		if value[i] < 0x20 || value[i] >= 0x7f {
			return fmt.Errorf("header %s: the value must be printable ASCII", name)
		}
	}
	return nil
}
