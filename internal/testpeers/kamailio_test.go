package testpeers_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"webrtcgw/internal/testpeers"
)

// TestKamailioConfigCheck has Kamailio parse every variant of the generated
// configuration (kamailio -c).
func TestKamailioConfigCheck(t *testing.T) {
	testpeers.Require(t, testpeers.BinKamailio)
	bin, _ := testpeers.LookBinary(testpeers.BinKamailio)
	cases := map[string]testpeers.KamailioConfig{
		"empty":  {},
		"md5":    {Users: map[string]string{"alice": "secret", "1001": "p@ss#word!"}, Routes: map[string]string{"2000": "sip:127.0.0.1:5070"}},
		"sha256": {Algorithm: testpeers.DigestSHA256, AuthInvites: true, Users: map[string]string{"alice": "x"}, Verbose: true},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			text, err := cfg.Render(5060)
			if err != nil {
				t.Fatalf("Render() = %v", err)
			}
			path := filepath.Join(t.TempDir(), "kamailio.cfg")
			if err := os.WriteFile(path, text, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
			if err != nil {
				t.Fatalf("kamailio -c -f %s: %v\n%s\n%s", path, err, out, text)
			}
		})
	}
}

func TestKamailioConfigInvalid(t *testing.T) {
	cases := map[string]testpeers.KamailioConfig{
		"algorithm":     {Algorithm: "SHA-1"},
		"user":          {Users: map[string]string{"al ice": "x"}},
		"password":      {Users: map[string]string{"alice": `a"b`}},
		"password pv":   {Users: map[string]string{"alice": `$ru`}},
		"route number":  {Routes: map[string]string{"20$00": "sip:127.0.0.1:5070"}},
		"route target":  {Routes: map[string]string{"2000": `sip:127.0.0.1:5070"`}},
		"route no sip:": {Routes: map[string]string{"2000": "127.0.0.1:5070"}},
	}
	for name, cfg := range cases {
		if _, err := cfg.Render(5060); err == nil {
			t.Errorf("%s: Render() = nil error, want one", name)
		}
	}
}

// TestKamailioRegister registers with digest authentication through sipgo:
// no credentials gives 401, a wrong password or an unknown user 403, the
// right password 200, for each digest algorithm.
func TestKamailioRegister(t *testing.T) {
	for _, alg := range []string{testpeers.DigestMD5, testpeers.DigestSHA256} {
		t.Run(alg, func(t *testing.T) {
			checkLeaks(t)
			k := testpeers.StartKamailio(t, testpeers.KamailioConfig{
				Users:     map[string]string{"alice": "secret"},
				Algorithm: alg,
			})
			client := newSIPClient(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			res := register(ctx, t, client, k, "alice", "")
			if res.StatusCode != 401 {
				t.Fatalf("REGISTER without credentials = %d, want 401", res.StatusCode)
			}
			if got := res.GetHeader("WWW-Authenticate").Value(); alg == testpeers.DigestSHA256 && !strings.Contains(got, "algorithm=SHA-256") {
				t.Errorf("challenge %q, want algorithm=SHA-256", got)
			}
			if res := register(ctx, t, client, k, "alice", "wrong"); res.StatusCode != 403 {
				t.Errorf("REGISTER with a wrong password = %d, want 403", res.StatusCode)
			}
			if res := register(ctx, t, client, k, "bob", "secret"); res.StatusCode != 403 {
				t.Errorf("REGISTER of an unknown user = %d, want 403", res.StatusCode)
			}
			res = register(ctx, t, client, k, "alice", "secret")
			if res.StatusCode != 200 {
				t.Fatalf("REGISTER with the right password = %d, want 200", res.StatusCode)
			}
			if c := res.GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), "alice@127.0.0.1") {
				t.Errorf("200 OK Contact = %v, want the registered binding", c)
			}
		})
	}
}

// newSIPClient returns a sipgo client that keeps Via and From on 127.0.0.1.
func newSIPClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("testpeers"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// register sends a REGISTER for user to k and, when password is not empty,
// answers the challenge. It returns the final response.
func register(ctx context.Context, t *testing.T, client *sipgo.Client, k *testpeers.Kamailio, user, password string) *sip.Response {
	t.Helper()
	var recipient sip.Uri
	if err := sip.ParseUri(k.URI(), &recipient); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, recipient)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+user+"@127.0.0.1:5999>"))
	req.AppendHeader(sip.NewHeader("Expires", "60"))
	res, err := client.Do(ctx, req, sipgo.ClientRequestRegisterBuild)
	if err != nil {
		t.Fatalf("REGISTER %s: %v", user, err)
	}
	if password == "" || res.StatusCode != 401 {
		return res
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: password})
	if err != nil {
		t.Fatalf("REGISTER %s with credentials: %v", user, err)
	}
	return res
}
