package hostcheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"webrtcgw/firewall"
	"webrtcgw/internal/testpeers"
	"webrtcgw/options"
)

// nftCases are rulesets with what they do with a new connection from the
// Internet to a port.
var nftCases = []struct {
	name      string
	ruleset   string
	port      int
	proto     string
	open      bool
	caveat    string // in the verdict's caveats, when open
	filtering bool
}{
	{"no tables", "", 4999, "tcp", false, "", false},
	{"nat only", "table ip nat {\n chain post { type nat hook postrouting priority 100; policy accept; masquerade; }\n}", 4999, "tcp", false, "", false},
	{"policy drop", "table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}", 4999, "tcp", false, "", true},
	{"policy accept", "table inet f {\n chain input { type filter hook input priority 0; policy accept; }\n}", 4999, "tcp", true, "", true},
	{"no policy: accept", "table inet f {\n chain input { type filter hook input priority 0; }\n}", 4999, "tcp", true, "", true},
	{"accepted by port", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "", true},
	{"udp rule, tcp packet", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  udp dport 4999 accept\n }\n}", 4999, "tcp", false, "", true},
	{"th dport", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  meta l4proto { tcp, udp } th dport 4000-5000 accept\n }\n}", 4999, "tcp", true, "", true},
	{"anonymous set", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  tcp dport { 22, 2020,\n 4999 } accept\n }\n}", 4999, "tcp", true, "", true},
	{"private sources only", "table inet f {\n set m { type ipv4_addr; flags interval; elements = { 10.0.0.0/8, 192.168.0.0/16 } }\n chain input {\n  type filter hook input priority 0; policy drop;\n  ip saddr @m tcp dport 4999 accept\n }\n}", 4999, "tcp", false, "", true},
	{"public network", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ip saddr 198.51.100.0/24 tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "only from 198.51.100.0/24", true},
	{"any source", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ip6 saddr ::/0 tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "", true},
	{"not from inside", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ip saddr != 10.0.0.0/8 tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "", true},
	{"loopback only", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iifname \"lo\" accept\n  iif lo tcp dport 4999 accept\n }\n}", 4999, "tcp", false, "", true},
	{"an interface", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iifname \"eth1\" tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "only on interface eth1", true},
	{"established only", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  ct state established,related accept\n  ct state { established, related } accept\n }\n}", 4999, "tcp", false, "", true},
	{"ct state vmap", "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ct state vmap { established : accept, related : accept, invalid : drop, new : drop }\n }\n}", 4999, "tcp", false, "", true},
	{"dport vmap", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  tcp dport vmap { 22 : accept, 4999 : accept }\n }\n}", 4999, "tcp", true, "", true},
	{"drop before accept", "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport 4999 counter drop\n  accept\n }\n}", 4999, "tcp", false, "", true},
	{"jump to a chain that accepts", "table inet f {\n chain mgmt {\n  tcp dport 4999 accept\n }\n chain input {\n  type filter hook input priority 0; policy drop;\n  jump mgmt\n }\n}", 4999, "tcp", true, "", true},
	{"goto and return", "table inet f {\n chain mgmt {\n  return\n  tcp dport 4999 accept\n }\n chain input {\n  type filter hook input priority 0; policy drop;\n  goto mgmt\n }\n}", 4999, "tcp", false, "", true},
	{"two tables: both must accept", "table inet a {\n chain input {\n  type filter hook input priority 0; policy accept;\n }\n}\ntable ip b {\n chain input {\n  type filter hook input priority 10; policy drop;\n }\n}\ntable ip6 c {\n chain input {\n  type filter hook input priority 10; policy accept;\n }\n}", 4999, "tcp", true, "", true},
	{"ip table, v4 only", "table ip b {\n chain input {\n  type filter hook input priority 10; policy drop;\n }\n}", 4999, "tcp", false, "", true},
	{"icmp rule", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  icmp type echo-request accept\n  meta l4proto icmp accept\n }\n}", 4999, "tcp", false, "", true},
	{"unknown matcher accepts", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  meta mark 0x1 tcp dport 4999 accept\n }\n}", 4999, "tcp", true, "", true},
	{"unknown matcher drops", "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n  fib saddr . iif oif missing drop\n }\n}", 4999, "tcp", true, "", true},
	{"reject with tcp reset", "table inet f {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport 4999 reject with tcp reset\n }\n}", 4999, "tcp", false, "", true},
	{"add commands", "flush ruleset\nadd table inet f\nadd chain inet f input { type filter hook input priority 0 ; policy drop ; }\nadd set inet f p { type inet_service ; }\nadd element inet f p { 4999 }\nadd rule inet f input tcp dport @p accept\n", 4999, "tcp", true, "", true},
	{"insert before", "add table inet f\nadd chain inet f input { type filter hook input priority 0 ; policy accept ; }\nadd rule inet f input accept\ninsert rule inet f input tcp dport 4999 drop\n", 4999, "tcp", false, "", true},
	{"defines", "define MGMT = { 2020, 4999 }\ntable inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n  tcp dport $MGMT accept # the management ports\n }\n}", 4999, "tcp", true, "", true},
	{"flushed", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\nflush ruleset\n", 4999, "tcp", false, "", false},
	{"deleted", "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\ndelete table inet f\n", 4999, "tcp", false, "", false},
}

func TestNftOpenTo(t *testing.T) {
	for _, tt := range nftCases {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseNftRuleset(tt.ruleset)
			if err != nil {
				t.Fatalf("ParseNftRuleset: %v", err)
			}
			v := rs.OpenTo(tt.port, tt.proto)
			if v.Open != tt.open || v.Filtering != tt.filtering || rs.HasInputFilter() != tt.filtering {
				t.Errorf("OpenTo(%d/%s) = open %v filtering %v (why %q), want open %v filtering %v", tt.port, tt.proto, v.Open, v.Filtering, v.Why, tt.open, tt.filtering)
			}
			if tt.caveat != "" && !strings.Contains(strings.Join(v.Caveats, ";"), tt.caveat) || tt.caveat == "" && v.Open && len(v.Caveats) > 0 {
				t.Errorf("caveats = %q, want %q", v.Caveats, tt.caveat)
			}
		})
	}
}

func TestParseNftErrors(t *testing.T) {
	for _, text := range []string{"table inet f {\n chain input {\n", "table inet f { chain input { tcp dport { 1, 2 accept } }", "add rule inet f input log prefix \"x\n"} {
		if _, err := ParseNftRuleset(text); err == nil {
			t.Errorf("ParseNftRuleset(%q) = nil error", text)
		}
	}
}

// generatedRuleset is what `webrtc-gateway firewall -format nftables`
// prints for the default options.
func generatedRuleset(t *testing.T, policy firewall.Policy) string {
	t.Helper()
	set, err := options.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := firewall.Compute(set, firewall.Config{Source: "the default options", Policy: policy, SSHPort: 22,
		Management:   firewall.ManagementPorts{LCAPort: DefaultLCAPort, ConfservPort: DefaultConfservPort},
		InternalNets: firewall.DefaultNets, ManagementNets: firewall.DefaultNets})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := firewall.WriteNftables(&b, rs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGeneratedRuleset judges the product's own nftables rules: the
// management ports are closed to the world under either policy, the HTTPS
// port open; the accept policy leaves the rest open.
func TestGeneratedRuleset(t *testing.T) {
	for _, policy := range []firewall.Policy{firewall.Accept, firewall.Drop} {
		text := generatedRuleset(t, policy)
		rs, err := ParseNftRuleset(text)
		if err != nil {
			t.Fatalf("policy %s: %v\n%s", policy, err, text)
		}
		for _, tt := range []struct {
			port  int
			proto string
			open  bool
		}{{DefaultLCAPort, "tcp", false}, {DefaultConfservPort, "tcp", false}, {8443, "tcp", true}, {35000, "udp", true}, {5060, "udp", false}, {1, "tcp", policy == firewall.Accept}} {
			if v := rs.OpenTo(tt.port, tt.proto); v.Open != tt.open || len(v.Caveats) > 0 {
				t.Errorf("policy %s: OpenTo(%d/%s) = %v %q %q, want %v", policy, tt.port, tt.proto, v.Open, v.Why, v.Caveats, tt.open)
			}
		}
	}
}

// TestNftListRuleset loads rulesets into nft in a network namespace of its
// own (never the host's firewall) and judges what `nft list ruleset`
// prints: the form check-host reads on a running host.
func TestNftListRuleset(t *testing.T) {
	testpeers.Require(t, "nft", "unshare")
	if os.Getuid() != 0 {
		testpeers.SkipOrFail(t, "nft in a network namespace needs root")
	}
	rulesets := map[string]string{"generated accept": generatedRuleset(t, firewall.Accept), "generated drop": generatedRuleset(t, firewall.Drop)}
	for _, tt := range nftCases {
		if tt.ruleset != "" && !strings.HasPrefix(tt.name, "unknown") && tt.name != "flushed" && tt.name != "deleted" {
			rulesets[tt.name] = tt.ruleset
		}
	}
	for name, text := range rulesets {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "r.nft")
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("unshare", "--net", "sh", "-c", `nft -f "$1" && nft list ruleset`, "sh", file).CombinedOutput()
			if err != nil {
				t.Fatalf("nft: %v\n%s\nruleset:\n%s", err, out, text)
			}
			want, err := ParseNftRuleset(text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseNftRuleset(string(out))
			if err != nil {
				t.Fatalf("ParseNftRuleset(nft list ruleset): %v\n%s", err, out)
			}
			for _, probe := range []struct {
				port  int
				proto string
			}{{4999, "tcp"}, {2020, "tcp"}, {8443, "tcp"}, {1, "tcp"}, {35000, "udp"}} {
				w, g := want.OpenTo(probe.port, probe.proto), got.OpenTo(probe.port, probe.proto)
				if w.Open != g.Open || w.Filtering != g.Filtering || len(w.Caveats) != len(g.Caveats) {
					t.Errorf("%d/%s: the file says open %v (%q), nft's listing open %v (%q)\n%s", probe.port, probe.proto, w.Open, w.Why, g.Open, g.Why, out)
				}
			}
		})
	}
}

// TestNftJumpStorm: chains that jump to themselves end in bounded time.
func TestNftJumpStorm(t *testing.T) {
	text := "table inet f {\n chain c {\n" + strings.Repeat("  jump c\n", 20) + " }\n chain input {\n  type filter hook input priority 0; policy drop;\n  jump c\n }\n}\n"
	rs, err := ParseNftRuleset(text)
	if err != nil {
		t.Fatal(err)
	}
	if v := rs.OpenTo(4999, "tcp"); v.Open {
		t.Errorf("OpenTo = open, want the drop policy")
	}
}
