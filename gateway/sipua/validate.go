package sipua

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Bounds of an extra header from a browser (attached data).
const (
	maxHeaderName  = 64   // characters after "X-"
	maxHeaderValue = 1024 // bytes of UTF-8
)

// CheckHeader validates an extra header from a browser (attached data):
// the name X- followed by 1 to 64 token characters (RFC 3261 section 25.1:
// letters, digits and - . ! % * _ + ` ' ~, so Genesys keys such as
// Customer_Id pass), and a value of at most 1024 bytes of UTF-8 text
// (header-value is TEXT-UTF8, section 25.1: names such as José Núñez pass)
// without control characters: no CR, LF or NUL can end the header early or
// start a new one.
func CheckHeader(name, value string) error {
	rest, ok := strings.CutPrefix(name, "X-")
	if !ok || rest == "" || len(rest) > maxHeaderName {
		return fmt.Errorf("header name %q: it must be X- and 1 to %d token characters", printable(name), maxHeaderName)
	}
	for i := 0; i < len(rest); i++ {
		if !isToken(rest[i]) {
			return fmt.Errorf("header name %q: character %q is not allowed (letters, digits and - . ! %% * _ + ` ' ~ only)", printable(name), rest[i])
		}
	}
	if len(value) > maxHeaderValue {
		return fmt.Errorf("header %s: value of %d bytes is longer than %d", name, len(value), maxHeaderValue)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("header %s: the value is not valid UTF-8", name)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return fmt.Errorf("header %s: the value contains the control character %U", name, r)
		}
	}
	return nil
}

// isToken reports whether c is a token character (RFC 3261 section 25.1).
func isToken(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// printable bounds a name from a browser for an error message (%q
// escapes what is not printable).
func printable(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
