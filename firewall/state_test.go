package firewall

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/options"
)

// installed writes the record of the rules for the default options, as
// `webrtc-gateway firewall -defaults -state FILE` does, and returns its path.
func installed(t *testing.T) string {
	t.Helper()
	rs, err := Compute(options.Defaults(), Config{Source: "the default options", InternalNets: DefaultNets, Management: defaultPorts})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), StateFileName)
	if err := WriteState(path, NewState(rs, "webrtc-gateway firewall -defaults -state "+path)); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStateRoundTrip(t *testing.T) {
	path := installed(t)
	st, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Source != "the default options" || len(st.Ports) != 6 || !strings.HasPrefix(st.Command, "webrtc-gateway firewall -defaults") {
		t.Errorf("ReadState = %+v", st)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (the gateway's user reads it)", fi.Mode().Perm())
	}
	if _, err := ReadState(filepath.Join(t.TempDir(), "absent.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadState(absent) = %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	for _, text := range []string{"{", `{"ports":[{"zone":"public","protocol":"tcp","min":0,"max":5}]}`, `{"ports":[{"zone":"public","protocol":"sctp","min":1,"max":5}]}`} {
		os.WriteFile(bad, []byte(text), 0o644)
		if _, err := ReadState(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ReadState(%s) = %v, want an error naming the file", text, err)
		}
	}
}

func TestUncovered(t *testing.T) {
	st, err := ReadState(installed(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		sections options.Sections
		want     []Rule
	}{
		{"same options", nil, nil},
		// A mux port inside the installed range, a narrower range: covered.
		{"inside", options.Sections{"media": {"webrtc-mux-port": "35000", "webrtc-port-min": "36000", "rtp-port-min": "21000", "rtp-port-max": "24999"}}, nil},
		{"https moved", options.Sections{"web": {"https-port": "443"}}, []Rule{{Public, TCP, PortRange{443, 443}, "web/https-port"}}},
		{"http on", options.Sections{"web": {"http-port": "8080"}}, []Rule{{Public, TCP, PortRange{8080, 8080}, "web/http-port"}}},
		// The same port number over another protocol is another rule.
		{"sip over tcp", options.Sections{"sip": {"sip-transport": "tcp"}}, []Rule{{Internal, TCP, PortRange{5060, 5060}, "sip/sip-port (sip-transport tcp)"}}},
		{"range widened", options.Sections{"media": {"webrtc-port-max": "40999"}},
			[]Rule{{Public, UDP, PortRange{30000, 40999}, "media/webrtc-port-min..webrtc-port-max"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Uncovered(parse(t, tc.sections), st)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Uncovered (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWarnUncovered checks the gateway's hook: one warning per uncovered
// port naming the option and the command; nothing without a record.
func TestWarnUncovered(t *testing.T) {
	path := installed(t)
	logged := func(set *options.Set, path string) string {
		var b bytes.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &b, Level: hclog.Debug})
		WarnUncovered(log, set, path)
		return b.String()
	}
	if out := logged(options.Defaults(), path); out != "" {
		t.Errorf("covered options logged %q", out)
	}
	if out := logged(parse(t, options.Sections{"web": {"https-port": "443"}}), filepath.Join(t.TempDir(), "absent.json")); out != "" {
		t.Errorf("no record, yet logged %q", out)
	}
	out := logged(parse(t, options.Sections{"web": {"https-port": "443"}, "sip": {"sip-port": "5070"}}), path)
	for _, want := range []string{"[WARN]", "port outside the installed firewall rules", "option=web/https-port", "port=443", "protocol=tcp", "zone=public",
		`option="sip/sip-port (sip-transport udp)"`, "port=5070", `run_again="webrtc-gateway firewall -defaults -state ` + path + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d lines logged, want 2:\n%s", n, out)
	}
	bad := filepath.Join(t.TempDir(), StateFileName)
	os.WriteFile(bad, []byte("not json"), 0o644)
	if out := logged(options.Defaults(), bad); !strings.Contains(out, "firewall record unreadable") || !strings.Contains(out, bad) {
		t.Errorf("an unreadable record logged %q", out)
	}
}
