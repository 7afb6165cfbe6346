package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fromCases = []struct {
	name    string
	trusted string
	remote  string
	xff     []string // X-Forwarded-For lines
	proto   []string // X-Forwarded-Proto lines
	want    string
	https   bool
}{
	{name: "no proxy trusted", remote: "192.0.2.1:5000", xff: []string{"198.51.100.7"}, proto: []string{"https"}, want: "192.0.2.1"},
	{name: "untrusted peer", trusted: "10.0.0.0/8", remote: "192.0.2.1:5000", xff: []string{"198.51.100.7"}, proto: []string{"https"}, want: "192.0.2.1"},
	{name: "trusted peer without header", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", want: "10.1.1.1"},
	{name: "one hop", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
	{name: "forged hops left of the client", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"203.0.113.66, 198.51.100.7"}, want: "198.51.100.7"},
	{name: "trusted hops skipped", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"203.0.113.66, 198.51.100.7, 10.2.2.2, 10.3.3.3"}, want: "198.51.100.7"},
	{name: "several header lines", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"203.0.113.66", "198.51.100.7, 10.2.2.2"}, want: "198.51.100.7"},
	{name: "every hop trusted", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"10.9.9.9, 10.2.2.2"}, want: "10.9.9.9"},
	{name: "garbage stops at the last trusted hop", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"198.51.100.7, unknown, 10.2.2.2"}, want: "10.2.2.2"},
	{name: "garbage next to the peer", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"198.51.100.7, 198.51.100.7:4711"}, want: "10.1.1.1"},
	{name: "empty items skipped", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"198.51.100.7,, ", ""}, want: "198.51.100.7"},
	{name: "IPv6 in brackets", trusted: "2001:db8::/32", remote: "[2001:db8::1]:5000", xff: []string{"[2001:db8:ffff::1]"}, want: "2001:db8:ffff::1"},
	{name: "IPv6 client", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
	{name: "zone dropped", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
	{name: "mapped peer", trusted: "127.0.0.1", remote: "[::ffff:127.0.0.1]:5000", xff: []string{"::ffff:198.51.100.7"}, want: "198.51.100.7"},
	{name: "peer without port", trusted: "127.0.0.1", remote: "127.0.0.1", xff: []string{"198.51.100.7"}, want: "198.51.100.7"},
	{name: "peer not an address", trusted: "127.0.0.1", remote: "pipe", xff: []string{"198.51.100.7"}, want: "invalid IP"},
	{name: "https from a trusted proxy", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", xff: []string{"198.51.100.7"}, proto: []string{" HTTPS "}, want: "198.51.100.7", https: true},
	{name: "last proto value counts", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", proto: []string{"http", "http, https"}, want: "10.1.1.1", https: true},
	{name: "last proto value http", trusted: "10.0.0.0/8", remote: "10.1.1.1:5000", proto: []string{"https, http"}, want: "10.1.1.1"},
}

func TestFrom(t *testing.T) {
	for _, tc := range fromCases {
		t.Run(tc.name, func(t *testing.T) {
			trusted, err := ParsePrefixes(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			r.Header["X-Forwarded-For"] = tc.xff
			r.Header["X-Forwarded-Proto"] = tc.proto
			got, https := From(r, trusted)
			if got.String() != tc.want || https != tc.https {
				t.Errorf("From(%s, XFF %q, proto %q) = %s, %v, want %s, %v", tc.remote, tc.xff, tc.proto, got, https, tc.want, tc.https)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "10.0.0.0/8, 192.168.1.5", want: []string{"10.0.0.0/8", "192.168.1.5/32"}},
		{in: "2001:db8::/32,::1", want: []string{"2001:db8::/32", "::1/128"}},
		{in: "::ffff:10.1.2.3", want: []string{"10.1.2.3/32"}},
		{in: "10.0.0.0/8,10.0.0.1/8", wantErr: `"10.0.0.1/8": has bits set after the prefix length (did you mean 10.0.0.0/8?)`},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33": not an IP prefix`},
		{in: "10.0.0.0/8, proxy.example.com", wantErr: `"proxy.example.com": not an IP address or prefix`},
		{in: "fe80::1%eth0", wantErr: `"fe80::1%eth0": IPv6 zones are not supported`},
		{in: "::ffff:10.0.0.0/104", wantErr: `"::ffff:10.0.0.0/104": IPv4-mapped IPv6 prefix: write the IPv4 prefix`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePrefixes(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParsePrefixes(%q) = %v, %v, want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q) = %v", tc.in, err)
			}
			var gotS []string
			for _, p := range got {
				gotS = append(gotS, p.String())
			}
			if diff := cmp.Diff(tc.want, gotS); diff != "" {
				t.Errorf("ParsePrefixes(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// FuzzFrom: whatever the headers, From does not panic, ignores them from an
// untrusted peer, and returns either the peer or a hop of X-Forwarded-For.
func FuzzFrom(f *testing.F) {
	for _, tc := range fromCases {
		f.Add(tc.trusted, tc.remote, strings.Join(tc.xff, "\n"), strings.Join(tc.proto, "\n"))
	}
	f.Fuzz(func(t *testing.T, trustedList, remote, xff, proto string) {
		trusted, err := ParsePrefixes(trustedList)
		if err != nil {
			return
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		if xff != "" {
			r.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		}
		if proto != "" {
			r.Header["X-Forwarded-Proto"] = strings.Split(proto, "\n")
		}
		got, https := From(r, trusted)
		peer := remoteAddr(r)
		if !contains(trusted, peer) {
			if got != peer || https {
				t.Fatalf("From(untrusted %q) = %s, %v, want the peer %s, false", remote, got, https, peer)
			}
			return
		}
		if got == peer {
			return
		}
		for _, h := range strings.FieldsFunc(xff, func(r rune) bool { return r == ',' || r == '\n' }) {
			a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(h), "[]"))
			if err == nil && a.Unmap().WithZone("") == got {
				return
			}
		}
		t.Fatalf("From(%q, XFF %q) = %s: neither the peer nor a hop", remote, xff, got)
	})
}

// FuzzParsePrefixes: a list either fails naming an item or gives canonical
// prefixes that parse back to themselves.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8, 192.168.1.5", "2001:db8::/32,::1", "::ffff:10.1.2.3", "10.0.0.1/8", "fe80::1%eth0", "proxy.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		got, err := ParsePrefixes(list)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `"`) {
				t.Fatalf("ParsePrefixes(%q) error %q does not name the item", list, err)
			}
			return
		}
		for _, p := range got {
			back, err := ParsePrefixes(p.String())
			if err != nil || len(back) != 1 || back[0] != p || p.Masked() != p || p.Addr().Is4In6() {
				t.Fatalf("ParsePrefixes(%q) gave %s, which parses back as %v, %v", list, p, back, err)
			}
		}
	})
}
