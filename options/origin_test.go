package options

import "testing"

func TestOriginPatternMatch(t *testing.T) {
	type origin struct {
		scheme, host string
		port         int
	}
	for _, tc := range []struct {
		pattern string
		match   []origin
		noMatch []origin
	}{
		{"https://app.example.com",
			[]origin{{"https", "app.example.com", 443}},
			[]origin{{"http", "app.example.com", 80}, {"https", "app.example.com", 8443}, {"https", "app.example.com.evil.test", 443},
				{"https", "evilapp.example.com", 443}, {"https", "app-example.com", 443}, {"https", "example.com", 443}}},
		{"https://app.example.com:8443",
			[]origin{{"https", "app.example.com", 8443}},
			[]origin{{"https", "app.example.com", 443}}},
		{"app.example.com",
			[]origin{{"https", "app.example.com", 443}, {"http", "app.example.com", 8080}},
			[]origin{{"ftp", "app.example.com", 21}, {"https", "sub.app.example.com", 443}}},
		{"*.example.com",
			[]origin{{"https", "a.example.com", 443}, {"http", "a.b.example.com", 80}},
			[]origin{{"https", "example.com", 443}, {"https", "badexample.com", 443}, {"https", "a.example.com.evil.test", 443}}},
		{"https://*.example.com",
			[]origin{{"https", "a.example.com", 443}},
			[]origin{{"http", "a.example.com", 80}, {"https", "a.example.com", 444}}},
		{"http://[::1]:8080",
			[]origin{{"http", "::1", 8080}},
			[]origin{{"http", "::1", 80}}},
	} {
		p, err := ParseOriginPattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParseOriginPattern(%q) error = %v", tc.pattern, err)
		}
		for _, o := range tc.match {
			if !p.Match(o.scheme, o.host, o.port) {
				t.Errorf("%s.Match(%v) = false, want true", tc.pattern, o)
			}
		}
		for _, o := range tc.noMatch {
			if p.Match(o.scheme, o.host, o.port) {
				t.Errorf("%s.Match(%v) = true, want false", tc.pattern, o)
			}
		}
	}
}
