package sipua

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckHeader(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		bad         string // "" when valid, else a fragment of the error
	}{
		{"X-Genesys-Customer_Id", "12345", ""},
		{"X-Genesys-Name", "José Núñez", ""},
		{"X-Genesys-a.b!c%d*e_f+g`h'i~j", "ok", ""},
		{"X-Genesys-Note", "日本語のテキスト, with spaces", ""},
		{"X-Genesys-Empty", "", ""},
		{"X-Genesys-Max", strings.Repeat("é", maxHeaderValue/2), ""},
		{"Genesys-Key", "v", "it must be X-"},
		{"X-", "v", "it must be X-"},
		{"X-" + strings.Repeat("k", maxHeaderName+1), "v", "token characters"},
		{"X-Genesys-Bad Key", "v", `character ' '`},
		{"X-Genesys-Bad:Key", "v", `character ':'`},
		{"X-Genesys-Bad\r\nVia", "v", `character '\r'`},
		{"X-Genesys-Bad<", "v", `character '<'`},
		{"X-Genesys-Nämé", "v", "is not allowed"},
		{"X-Genesys-K", "line\r\nInjected: yes", "control character U+000D"},
		{"X-Genesys-K", "a\nb", "control character U+000A"},
		{"X-Genesys-K", "nul\x00", "control character U+0000"},
		{"X-Genesys-K", "tab\there", "control character U+0009"},
		{"X-Genesys-K", "del\x7f", "control character U+007F"},
		{"X-Genesys-K", "c1\u0085", "control character U+0085"},
		{"X-Genesys-K", "bad\xffutf8", "not valid UTF-8"},
		{"X-Genesys-K", strings.Repeat("x", maxHeaderValue+1), "longer than"},
	} {
		err := CheckHeader(tc.name, tc.value)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("CheckHeader(%q, %.40q) = %v, want nil", tc.name, tc.value, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("CheckHeader(%q, %.40q) = %v, want an error with %q", tc.name, tc.value, err, tc.bad)
		}
	}
}

func TestCheckUser(t *testing.T) {
	for _, ok := range []string{"7001", "+33123456789", "anon_1.a-b", "*72#"} {
		if err := CheckUser(ok); err != nil {
			t.Errorf("CheckUser(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("1", maxUserLen+1), "a b", "a<b", "a;b", "a@b", "a:b", "a\r\nb", "é", `"x"`} {
		if err := CheckUser(bad); !errors.Is(err, ErrBadUser) {
			t.Errorf("CheckUser(%q) = %v, want ErrBadUser", bad, err)
		}
	}
}
