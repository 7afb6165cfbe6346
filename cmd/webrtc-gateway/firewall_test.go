package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"webrtcgw/firewall"
)

func TestFirewallNftables(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "gw.ini", "[web]\nhttps-port = 443\nhtps-port = 444\n[sip]\nsip-transport = tcp\n")
	out, errOut, code := gw(t, "firewall", "-config", path, "-internal-net", "10.1.0.0/16", "-management-net", "10.2.0.0/24", "-confserv-port", "0")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"from " + path + ".\n",
		"#   web/https-port = 443\n",
		"#   -confserv-port = 0\n",
		"table inet webrtc_gateway {\n",
		"\tset public_tcp {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = { 443 }\n",
		"\tset internal_tcp {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = { 5060 }\n",
		"\tset management_tcp {\n\t\ttype inet_service\n\t\tflags interval\n\t\telements = { 4999 }\n",
		"elements = { 10.1.0.0/16 }",
		"elements = { 10.2.0.0/24 }",
		"policy accept;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A misspelt option keeps its default port: the operator is told.
	if !strings.Contains(errOut, "web/htps-port: unknown option") {
		t.Errorf("stderr %q does not report the unknown option", errOut)
	}
}

// TestFirewallShipped: the services the packages ship are what the command
// writes for the default options.
func TestFirewallShipped(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, firewall.StateFileName)
	_, errOut, code := gw(t, "firewall", "-format", "firewalld", "-defaults", "-out", dir, "-state", state)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	shipped := filepath.Join("..", "..", firewall.ShippedDir)
	entries, err := os.ReadDir(shipped)
	if err != nil || len(entries) != 3 {
		t.Fatalf("%s: %v, %d entries", shipped, err, len(entries))
	}
	for _, e := range entries {
		want, _ := os.ReadFile(filepath.Join(shipped, e.Name()))
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s written by the command differs from the shipped one (%v)", e.Name(), err)
		}
		if !strings.Contains(errOut, "wrote "+filepath.Join(dir, e.Name())) {
			t.Errorf("stderr %q does not name %s", errOut, e.Name())
		}
	}
	var st firewall.State
	data, err := os.ReadFile(state)
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	if want := "webrtc-gateway firewall -format firewalld -defaults -out " + dir + " -state " + state; st.Command != want || st.Source != "the default options" || len(st.Ports) != 6 {
		t.Errorf("state = %+v, want the command %q", st, want)
	}
}

func TestFirewallFirewalldStdout(t *testing.T) {
	out, errOut, code := gw(t, "firewall", "-format", "firewalld", "-defaults", "-lca-port", "0", "-confserv-port", "0")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.HasPrefix(out, "==> webrtc-gateway.xml <==\n<?xml") || !strings.Contains(out, "\n==> webrtc-gateway-sip.xml <==\n") ||
		!strings.Contains(out, "\n==> webrtc-gateway-management.xml <==\n") {
		t.Errorf("output is not three separated services:\n%s", out)
	}
	if strings.Contains(out, `port="4999"`) {
		t.Error("-lca-port 0 still opens 4999")
	}
}

func TestFirewallUsageErrors(t *testing.T) {
	dir := t.TempDir()
	invalid := writeFile(t, dir, "bad.ini", "[sip]\nsip-port = 0\n")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-format", "iptables", "-defaults"}, 2, `-format "iptables" is not nftables or firewalld`},
		{[]string{"-defaults", "-config", "x.ini"}, 2, "-config and -defaults exclude each other"},
		{[]string{"-defaults", "-internal-net", "10.0.0.1/8"}, 2, `-internal-net: "10.0.0.1/8": has bits set after the prefix length (did you mean 10.0.0.0/8?)`},
		{[]string{"-defaults", "-management-net", "lan"}, 2, `-management-net: "lan": not an IP address or prefix`},
		{[]string{"-defaults", "-internal-net", ""}, 2, "-internal-net is empty"},
		{[]string{"-defaults", "-lca-port", "8443"}, 2, "web/https-port 8443 (public) and -lca-port 8443 (management) share tcp ports"},
		{[]string{"-defaults", "-confserv-port", "65536"}, 2, "-confserv-port 65536 is not a port"},
		{[]string{"-defaults", "-policy", "reject"}, 2, `-policy "reject" is not accept or drop`},
		{[]string{"-defaults", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-defaults", "-nonsense"}, 2, "flag provided but not defined: -nonsense"},
		{[]string{"-config", filepath.Join(dir, "absent.ini")}, 2, "absent.ini: no such file or directory"},
		{[]string{"-config", invalid}, 2, "sip/sip-port"},
		{[]string{"-defaults", "-out", filepath.Join(dir, "absent")}, 1, "absent: no such file or directory"},
	} {
		_, errOut, code := gw(t, append([]string{"firewall"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("webrtc-gateway firewall %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	// Without -config, the packaged file; where there is none, the message
	// says how to go on.
	if _, err := os.Stat(defaultConfigFile); err == nil {
		t.Logf("%s exists on this machine: the message for its absence is not checked", defaultConfigFile)
		return
	}
	if _, errOut, code := gw(t, "firewall"); code != 2 || !strings.Contains(errOut, "give the gateway's options with -config FILE, or -defaults") {
		t.Errorf("webrtc-gateway firewall without a file: exit %d, stderr %q", code, errOut)
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"-config", "/etc/my gw.ini", "-internal-net", "10.0.0.0/8,fc00::/7", "-out", "it's", ""})
	want := `webrtc-gateway firewall -config '/etc/my gw.ini' -internal-net 10.0.0.0/8,fc00::/7 -out 'it'\''s' ''`
	if got != want {
		t.Errorf("commandLine = %s, want %s", got, want)
	}
}
