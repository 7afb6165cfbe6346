package testpeers_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
		"empty":    {},
		"md5":      {Users: map[string]string{"alice": "secret", "1001": "p@ss#word!"}, Routes: map[string]string{"2000": "sip:127.0.0.1:5070"}},
		"sha256":   {Algorithm: testpeers.DigestSHA256, AuthInvites: true, Users: map[string]string{"alice": "x"}, Verbose: true},
		"refusing": {Users: map[string]string{"alice": "x"}, RegisterStatus: 503, OptionsStatus: 404},
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
		"register 200":  {RegisterStatus: 200},
		"options 700":   {OptionsStatus: 700},
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
			res = registerContact(ctx, t, client, k, "alice", "secret", "127.0.0.1:5998;transport=tcp")
			if res.StatusCode != 200 {
				t.Errorf("REGISTER over TCP = %d, want 200", res.StatusCode)
			}
			if !strings.Contains(k.Log(), "REGISTER sip:"+k.Addr()+";transport=tcp from 127.0.0.1") || !strings.Contains(k.Log(), "(tcp)") {
				t.Errorf("Kamailio did not log a REGISTER over TCP")
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
	return registerContact(ctx, t, client, k, user, password, "127.0.0.1:5999")
}

// registerContact is register with the contact address given; a contact
// ending in ";transport=tcp" registers over TCP.
func registerContact(ctx context.Context, t *testing.T, client *sipgo.Client, k *testpeers.Kamailio, user, password, contact string) *sip.Response {
	t.Helper()
	var recipient sip.Uri
	uri := k.URI()
	if strings.HasSuffix(contact, ";transport=tcp") {
		uri += ";transport=tcp"
	}
	if err := sip.ParseUri(uri, &recipient); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, recipient)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}})
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "127.0.0.1"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+user+"@"+contact+">"))
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

// TestKamailioRouting checks the routing of initial INVITEs: to a registered
// user through usrloc, to a static route, 404 otherwise; and, with
// AuthInvites, the 407 challenge of INVITEs from known users only. sipp UASs
// answer 486, which sipgo acknowledges.
func TestKamailioRouting(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alicePhone := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASBusy})
	staticPort := testpeers.FreePort(t, testpeers.NetSIP)
	k := testpeers.StartKamailio(t, testpeers.KamailioConfig{
		Users:       map[string]string{"alice": "secret"},
		Routes:      map[string]string{"2000": "sip:127.0.0.1:" + strconv.Itoa(staticPort)},
		AuthInvites: true,
	})
	static := testpeers.StartSipp(t, testpeers.SippConfig{Scenario: testpeers.ScenarioUASBusy, Port: staticPort})
	client := newSIPClient(t)

	// alice registers the sipp UAS as her contact.
	if res := registerContact(ctx, t, client, k, "alice", "secret", alicePhone.Addr()); res.StatusCode != 200 {
		t.Fatalf("REGISTER alice = %d, want 200", res.StatusCode)
	}

	// bob is no user: not challenged; alice is found in the location table.
	if res := invite(ctx, t, client, k, "bob", "alice", ""); res.StatusCode != 486 {
		t.Errorf("INVITE bob -> alice = %d, want 486 from alice's contact", res.StatusCode)
	}
	if err := alicePhone.Wait(ctx); err != nil {
		t.Errorf("alice's UAS: %v", err)
	}
	if res := invite(ctx, t, client, k, "bob", "9999", ""); res.StatusCode != 404 {
		t.Errorf("INVITE bob -> 9999 = %d, want 404", res.StatusCode)
	}

	// alice is challenged (407); a wrong password is refused.
	if res := invite(ctx, t, client, k, "alice", "2000", ""); res.StatusCode != 407 {
		t.Errorf("INVITE alice -> 2000 without credentials = %d, want 407", res.StatusCode)
	}
	if res := invite(ctx, t, client, k, "alice", "2000", "wrong"); res.StatusCode != 403 {
		t.Errorf("INVITE alice -> 2000 with a wrong password = %d, want 403", res.StatusCode)
	}
	if res := invite(ctx, t, client, k, "alice", "2000", "secret"); res.StatusCode != 486 {
		t.Errorf("INVITE alice -> 2000 with credentials = %d, want 486 from the static route", res.StatusCode)
	}
	if err := static.Wait(ctx); err != nil {
		t.Errorf("static route's UAS: %v", err)
	}
}

// invite sends an INVITE from user from to user to through k and returns the
// final response; with a password it answers a 407 challenge.
func invite(ctx context.Context, t *testing.T, client *sipgo.Client, k *testpeers.Kamailio, from, to, password string) *sip.Response {
	t.Helper()
	recipient := sip.Uri{Scheme: "sip", User: to, Host: "127.0.0.1", Port: k.Port()}
	req := sip.NewRequest(sip.INVITE, recipient)
	fromHdr := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: from, Host: "127.0.0.1"}}
	fromHdr.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(fromHdr)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: to, Host: "127.0.0.1"}})
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+from+"@127.0.0.1:5999>"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
	res, err := client.Do(ctx, req)
	if err != nil {
		t.Fatalf("INVITE %s -> %s: %v", from, to, err)
	}
	if password == "" || res.StatusCode != 407 {
		return res
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: from, Password: password})
	if err != nil {
		t.Fatalf("INVITE %s -> %s with credentials: %v", from, to, err)
	}
	return res
}
