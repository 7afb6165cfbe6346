package firewall

import (
	"bytes"
	"encoding/xml"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webrtcgw/options"
)

var update = flag.Bool("update", false, "rewrite the golden files and the shipped firewalld services")

// parse returns the Set of the given sections, failing the test when they
// are invalid.
func parse(t *testing.T, sections options.Sections) *options.Set {
	t.Helper()
	set, err := options.Parse(sections)
	if err != nil {
		t.Fatalf("options %v: %v", sections, err)
	}
	return set
}

var defaultPorts = ManagementPorts{LCAPort: 4999, ConfservPort: 2020}

// cases are the option sets the golden files and the parsers' tests cover.
var cases = []struct {
	name     string
	sections options.Sections
	mgmt     ManagementPorts
	want     []Rule
}{
	{"default", nil, defaultPorts, []Rule{
		{Public, TCP, PortRange{8443, 8443}, "web/https-port"},
		{Public, UDP, PortRange{30000, 39999}, "media/webrtc-port-min..webrtc-port-max"},
		{Internal, UDP, PortRange{5060, 5060}, "sip/sip-port (sip-transport udp)"},
		{Internal, UDP, PortRange{20000, 29999}, "media/rtp-port-min..rtp-port-max"},
		{Management, TCP, PortRange{2020, 2020}, "-confserv-port"},
		{Management, TCP, PortRange{4999, 4999}, "-lca-port"},
	}},
	{"https-http", options.Sections{"web": {"https-port": "443", "http-port": "8080", "trusted-proxies": "10.0.0.5"}}, defaultPorts, []Rule{
		{Public, TCP, PortRange{443, 443}, "web/https-port"},
		{Public, TCP, PortRange{8080, 8080}, "web/http-port"},
		{Public, UDP, PortRange{30000, 39999}, "media/webrtc-port-min..webrtc-port-max"},
		{Internal, UDP, PortRange{5060, 5060}, "sip/sip-port (sip-transport udp)"},
		{Internal, UDP, PortRange{20000, 29999}, "media/rtp-port-min..rtp-port-max"},
		{Management, TCP, PortRange{2020, 2020}, "-confserv-port"},
		{Management, TCP, PortRange{4999, 4999}, "-lca-port"},
	}},
	// The mux port replaces the range; TURN adds no inbound rule.
	{"mux-turn", options.Sections{"media": {"webrtc-mux-port": "3478", "ice-servers": "stun:stun.example.com, turn:xn--turn-9ra.example.com:3478?transport=tcp",
		"turn-username": "u", "turn-password": "p"}}, ManagementPorts{LCAPort: 4999}, []Rule{
		{Public, TCP, PortRange{8443, 8443}, "web/https-port"},
		{Public, UDP, PortRange{3478, 3478}, "media/webrtc-mux-port"},
		{Internal, UDP, PortRange{5060, 5060}, "sip/sip-port (sip-transport udp)"},
		{Internal, UDP, PortRange{20000, 29999}, "media/rtp-port-min..rtp-port-max"},
		{Management, TCP, PortRange{4999, 4999}, "-lca-port"},
	}},
	{"sip-tls", options.Sections{"sip": {"sip-transport": "tls", "sip-port": "5061", "tls-certificate": "/c.pem", "tls-certificate-key": "/k.pem"}}, defaultPorts, []Rule{
		{Public, TCP, PortRange{8443, 8443}, "web/https-port"},
		{Public, UDP, PortRange{30000, 39999}, "media/webrtc-port-min..webrtc-port-max"},
		{Internal, TCP, PortRange{5061, 5061}, "sip/sip-port (sip-transport tls)"},
		{Internal, UDP, PortRange{20000, 29999}, "media/rtp-port-min..rtp-port-max"},
		{Management, TCP, PortRange{2020, 2020}, "-confserv-port"},
		{Management, TCP, PortRange{4999, 4999}, "-lca-port"},
	}},
	{"ranges", options.Sections{
		"web":   {"https-port": "9443"},
		"sip":   {"sip-transport": "tcp", "sip-port": "5080"},
		"media": {"rtp-port-min": "40000", "rtp-port-max": "40999", "webrtc-port-min": "50000", "webrtc-port-max": "50999", "max-calls": "500"},
	}, ManagementPorts{}, []Rule{
		{Public, TCP, PortRange{9443, 9443}, "web/https-port"},
		{Public, UDP, PortRange{50000, 50999}, "media/webrtc-port-min..webrtc-port-max"},
		{Internal, TCP, PortRange{5080, 5080}, "sip/sip-port (sip-transport tcp)"},
		{Internal, UDP, PortRange{40000, 40999}, "media/rtp-port-min..rtp-port-max"},
	}},
}

func TestRules(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Rules(parse(t, tc.sections), tc.mgmt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRulesRefused(t *testing.T) {
	tls := options.Sections{"sip": {"sip-transport": "tcp", "sip-port": "2020"}}
	for _, tc := range []struct {
		name     string
		sections options.Sections
		mgmt     ManagementPorts
		want     string
	}{
		{"lca on https", nil, ManagementPorts{LCAPort: 8443}, "web/https-port 8443 (public) and -lca-port 8443 (management) share tcp ports"},
		{"confserv on SIP over TCP", tls, defaultPorts, "sip/sip-port (sip-transport tcp) 2020 (internal) and -confserv-port 2020 (management)"},
		{"lca and confserv", nil, ManagementPorts{LCAPort: 4000, ConfservPort: 4000}, "-lca-port 4000 (management) and -confserv-port 4000"},
		{"lca out of range", nil, ManagementPorts{LCAPort: 70000}, "-lca-port 70000 is not a port"},
		{"confserv negative", nil, ManagementPorts{ConfservPort: -1}, "-confserv-port -1 is not a port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Rules(parse(t, tc.sections), tc.mgmt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Rules = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestComputeRefused(t *testing.T) {
	set := options.Defaults()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no internal net", Config{}, "-internal-net is empty"},
		{"bad policy", Config{InternalNets: DefaultNets, Policy: "reject"}, `-policy "reject" is not accept or drop`},
		{"ssh on a media port", Config{InternalNets: DefaultNets, Policy: Drop, SSHPort: 8443}, "-ssh-port 8443 (management)"},
		{"ssh out of range", Config{InternalNets: DefaultNets, Policy: Drop, SSHPort: 65536}, "-ssh-port 65536 is not a port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(set, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compute = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// The SSH port only matters when this table is the whole firewall.
	if _, err := Compute(set, Config{InternalNets: DefaultNets, SSHPort: 8443}); err != nil {
		t.Errorf("Compute with -ssh-port under policy accept: %v", err)
	}
}

func TestParseNets(t *testing.T) {
	got, err := ParseNets(" 10.1.0.0/16, fd00::/8,192.0.2.7 ,")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.7/32")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("ParseNets (-want +got):\n%s", diff)
	}
	if got, err := ParseNets(""); err != nil || len(got) != 0 {
		t.Errorf(`ParseNets("") = %v, %v; want nothing`, got, err)
	}
	for in, want := range map[string]string{
		"10.0.0.1/8":   `"10.0.0.1/8": has bits set after the prefix length (did you mean 10.0.0.0/8?)`,
		"intranet":     `"intranet": not an IP address or prefix`,
		"fe80::1%eth0": `"fe80::1%eth0": IPv6 zones are not supported`,
	} {
		if _, err := ParseNets(in); err == nil || err.Error() != want {
			t.Errorf("ParseNets(%q) = %v, want %s", in, err, want)
		}
	}
}

// TestNormalizeNets: sorted, duplicates and prefixes inside others dropped
// (an nftables interval set refuses overlapping elements).
func TestNormalizeNets(t *testing.T) {
	in, _ := ParseNets("192.168.1.0/24,fd00::/8,10.0.0.0/8,192.168.0.0/16,10.2.3.4,fc00::/7,10.0.0.0/8")
	if got, want := FormatNets(normalizeNets(in)), "10.0.0.0/8,192.168.0.0/16,fc00::/7"; got != want {
		t.Errorf("normalizeNets = %s, want %s", got, want)
	}
}

// goldenConfig is the Config of the golden files: narrower nets than the
// defaults, given in disorder, to show they come out sorted.
func goldenConfig(mgmt ManagementPorts, policy Policy) Config {
	internal, _ := ParseNets("fd00:1::/48,10.1.0.0/16,192.168.10.0/24")
	management, _ := ParseNets("10.2.0.0/24,fd00:2::/64")
	return Config{Source: "/etc/webrtc-gateway/webrtc-gateway.ini", Management: mgmt,
		InternalNets: internal, ManagementNets: management, Policy: policy, SSHPort: 22}
}

// TestGolden compares both formats with testdata/<case>.nft and
// testdata/<case>.firewalld (-update rewrites them).
func TestGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policy := Accept
			if tc.name == "ranges" {
				policy = Drop
			}
			rs, err := Compute(parse(t, tc.sections), goldenConfig(tc.mgmt, policy))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []Format{Nftables, Firewalld} {
				files, err := Files(rs, f)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := WriteStream(&b, files); err != nil {
					t.Fatal(err)
				}
				ext := map[Format]string{Nftables: ".nft", Firewalld: ".firewalld"}[f]
				golden(t, filepath.Join("testdata", tc.name+ext), b.Bytes())
			}
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./firewall -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); go test ./firewall -update rewrites it:\n%s", path, diff)
	}
}

// TestHeaderInjection: what goes into the header comments (the source path,
// option values) cannot end the comment and add rules of its own.
func TestHeaderInjection(t *testing.T) {
	set := parse(t, options.Sections{"media": {"ice-servers": "turn:xn--a--b.example.com", "turn-username": "u", "turn-password": "p"}})
	rs, err := Compute(set, Config{Source: "x.ini\naccept\n-->\n<service>", InternalNets: DefaultNets, Management: defaultPorts})
	if err != nil {
		t.Fatal(err)
	}
	var nft bytes.Buffer
	if err := WriteNftables(&nft, rs); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(nft.String(), "\n") {
		if strings.Contains(line, "x.ini") && !strings.HasPrefix(line, "#") {
			t.Errorf("nftables line %q carries the source outside a comment", line)
		}
	}
	for _, s := range Services(rs) {
		var svc struct {
			Short string `xml:"short"`
			Ports []struct {
				Port string `xml:"port,attr"`
			} `xml:"port"`
		}
		if err := xml.Unmarshal(s.XML, &svc); err != nil {
			t.Errorf("%s is not well-formed XML: %v\n%s", s.Name, err, s.XML)
		}
		// One comment then one element: nothing broke out of the comment.
		var kinds []string
		d := xml.NewDecoder(bytes.NewReader(s.XML))
		for {
			tok, err := d.Token()
			if err != nil {
				break
			}
			switch tok := tok.(type) {
			case xml.Comment:
				kinds = append(kinds, "comment")
			case xml.StartElement:
				if tok.Name.Local == "service" || tok.Name.Local == "short" {
					kinds = append(kinds, tok.Name.Local)
				}
			}
		}
		if want := []string{"comment", "service", "short"}; !slices.Equal(kinds, want) {
			t.Errorf("%s: tokens %v, want %v; the header comment was broken out of:\n%s", s.Name, kinds, want, s.XML)
		}
	}
}

// TestDeterministic: the same inputs give the same bytes, whatever the
// order of the nets.
func TestDeterministic(t *testing.T) {
	a, _ := ParseNets("10.0.0.0/8,fc00::/7,192.168.0.0/16")
	b, _ := ParseNets("192.168.0.0/16,10.0.0.0/8,fc00::/7")
	var out [2]bytes.Buffer
	for i, nets := range [][]netip.Prefix{a, b} {
		rs, err := Compute(options.Defaults(), Config{InternalNets: nets, ManagementNets: nets, Management: defaultPorts})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteNftables(&out[i], rs); err != nil {
			t.Fatal(err)
		}
	}
	if out[0].String() != out[1].String() {
		t.Errorf("outputs differ:\n%s\n---\n%s", out[0].String(), out[1].String())
	}
}

// TestWriteDir writes every file of a format, replacing older ones, and
// refuses a directory that is not one.
func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	rs, err := Compute(options.Defaults(), Config{InternalNets: DefaultNets, Management: defaultPorts})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := Files(rs, Firewalld)
	if err := os.WriteFile(filepath.Join(dir, "webrtc-gateway.xml"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths, err := WriteDir(dir, files)
	if err != nil || len(paths) != 3 {
		t.Fatalf("WriteDir = %v, %v", paths, err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s = %q, %v", f.Name, got, err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, f.Name)); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", f.Name, fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want the 3 services (no temporary file left)", len(entries))
	}
	if _, err := WriteDir(filepath.Join(dir, "webrtc-gateway.xml"), files); err == nil {
		t.Error("WriteDir into a file: no error")
	}
}
