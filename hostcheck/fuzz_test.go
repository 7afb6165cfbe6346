package hostcheck

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers read files of the audited tree, which may be anything: they
// must never panic or hang. `make fuzz` runs these; crashers are kept under
// testdata/fuzz.

func FuzzParseProcNet(f *testing.F) {
	f.Add(procNetHeader+procNetLine(0, "127.0.0.1:4999", stateListen, 11)+"\n", "tcp")
	f.Add(procNetHeader+procNetLine(0, "[2001:db8::1]:5060", stateClose, 21)+"\n", "udp")
	f.Add("   0: 0100007F:XYZ0 00000000:0000 0A", "tcp")
	f.Fuzz(func(t *testing.T, text, proto string) {
		socks, _ := ParseProcNet([]byte(text), proto)
		for _, s := range socks {
			if !s.Addr.IsValid() {
				t.Errorf("invalid address in %v", s)
			}
		}
	})
}

func FuzzParseUnitFile(f *testing.F) {
	for _, u := range PackagedUnits {
		if data, err := os.ReadFile(filepath.Join(repo, "packaging/systemd", u)); err == nil {
			f.Add(string(data))
		}
	}
	f.Add("[Service]\nExecStart=/x \\\n# c\n  -y\\")
	f.Add("[\n]\n[x]\n=\n")
	f.Fuzz(func(t *testing.T, text string) {
		ds, _ := ParseUnitFile("/f", []byte(text))
		u := &Unit{Directives: ds}
		s := &Snapshot{EnvFiles: map[string]string{}}
		s.command(u)
		s.unitEnv(u)
		weakenings(serviceOnly(builtinHardening[UnitGateway]), serviceOnly(ds))
	})
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"/usr/bin/confserv -port 2020 $ARGS", `-+/x "a b" 'c $ONE' "d ${ONE}" e\ f`, "/x 'open", "$", "${", `\`} {
		f.Add(s)
	}
	env := map[string]string{"ARGS": "-listen 10.0.0.1", "ONE": "a b"}
	f.Fuzz(func(t *testing.T, s string) {
		_, words, err := SplitCommand(s, env)
		if err == nil {
			FlagValue(words, "listen")
		}
	})
}

func FuzzParseNftRuleset(f *testing.F) {
	for _, tt := range nftCases {
		f.Add(tt.ruleset, tt.port)
	}
	f.Add("table inet f { chain input { type filter hook input priority 0; policy drop; jump input } }", 1)
	f.Fuzz(func(t *testing.T, text string, port int) {
		rs, err := ParseNftRuleset(text)
		if err != nil {
			return
		}
		rs.OpenTo(port, "tcp")
		rs.OpenTo(port, "udp")
		rs.HasInputFilter()
	})
}

func FuzzParseZone(f *testing.F) {
	f.Add(`<zone target="ACCEPT"><source address="0.0.0.0/0"/><port protocol="tcp" port="1-2"/><rule><source address="10.0.0.0/8" invert="true"/><port protocol="tcp" port="2020"/><accept/></rule></zone>`)
	f.Add(`<service><port protocol="ah" port=""/><include service="x"/></service>`)
	f.Fuzz(func(t *testing.T, text string) {
		fw := &Firewalld{DefaultZone: "public", Zones: map[string]*Zone{}, Services: map[string]*FirewalldServiceDef{}}
		if z, err := ParseZone("public", "/z.xml", []byte(text)); err == nil {
			fw.Zones["public"] = z
		}
		if s, err := ParseFirewalldService("x", "/s.xml", []byte(text)); err == nil {
			fw.Services["x"] = s
		}
		fw.OpenTo(2020, "tcp")
	})
}

func FuzzParseFail2banFile(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join(repo, "packaging/fail2ban/jail.d/webrtc-gateway.conf")); err == nil {
		f.Add(string(data))
	}
	f.Add("[DEFAULT]\nenabled = true\n  continued\n[x]\nenabled: no\n")
	f.Fuzz(func(t *testing.T, text string) {
		file := ParseFail2banFile(DefaultJailFile, []byte(text))
		fb := Fail2ban{JailFile: DefaultJailFile, Files: []Fail2banFile{file}}
		for _, j := range fb.Jails() {
			fb.JailEnabled(j)
		}
		ParseFail2banStatus(text)
		ParseXinetd("/x", []byte(text))
	})
}
