package firewall

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"webrtcgw/options"
)

// FuzzParseNets: what ParseNets accepts prints back to the same prefixes,
// and normalizeNets leaves no prefix inside another (nftables would refuse
// the set).
func FuzzParseNets(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8,fc00::/7", "192.168.1.0/24, 192.168.0.0/16", "10.0.0.1/8", "fe80::1%eth0", "::ffff:10.0.0.0/104", ",,", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nets, err := ParseNets(s)
		if err != nil {
			return
		}
		again, err := ParseNets(FormatNets(nets))
		if err != nil || FormatNets(again) != FormatNets(nets) {
			t.Fatalf("ParseNets(FormatNets(%v)) = %v, %v", nets, again, err)
		}
		norm := normalizeNets(nets)
		for i, a := range norm {
			for j, b := range norm {
				if i != j && a.Overlaps(b) {
					t.Fatalf("normalizeNets(%v) keeps %s and %s, which overlap", nets, a, b)
				}
			}
		}
	})
}

// FuzzSource: whatever names the options' source (a file path given on
// the command line) stays inside the header comments: the nftables rules
// and the firewalld elements are those of any other source.
func FuzzSource(f *testing.F) {
	for _, s := range []string{"x.ini", "a\nflush ruleset\n", "-->\n<service>", "x\r\u2028y", "--->"} {
		f.Add(s)
	}
	rules := func(t testing.TB, source string) (string, []Service) {
		rs, err := Compute(options.Defaults(), Config{Source: source, InternalNets: DefaultNets, Management: defaultPorts})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteNftables(&b, rs); err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, line := range strings.Split(b.String(), "\n") {
			if !strings.HasPrefix(line, "#") {
				kept = append(kept, line)
			}
		}
		return strings.Join(kept, "\n"), Services(rs)
	}
	wantNft, wantServices := rules(f, "x")
	f.Fuzz(func(t *testing.T, source string) {
		gotNft, gotServices := rules(t, source)
		if gotNft != wantNft {
			t.Fatalf("source %q changed the rules:\n%s", source, gotNft)
		}
		for i, s := range gotServices {
			var got, want struct {
				XMLName xml.Name
				Short   string `xml:"short"`
				Ports   []struct {
					Protocol string `xml:"protocol,attr"`
					Port     string `xml:"port,attr"`
				} `xml:"port"`
			}
			if err := xml.Unmarshal(s.XML, &got); err != nil {
				t.Fatalf("source %q: %s is not XML: %v", source, s.Name, err)
			}
			xml.Unmarshal(wantServices[i].XML, &want)
			if got.XMLName.Local != "service" || got.Short != want.Short || len(got.Ports) != len(want.Ports) {
				t.Fatalf("source %q changed %s:\n%s", source, s.Name, s.XML)
			}
		}
	})
}
