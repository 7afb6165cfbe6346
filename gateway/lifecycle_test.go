package gateway

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/gateway/sipua"
	"webrtcgw/internal/testpeers"
	"webrtcgw/logging/loggingtest"
	"webrtcgw/options"
)

// statusRE finds the status lines the lifecycle logs, one per change.
var statusRE = regexp.MustCompile(`status: status=(\w+) .*changes=(\d+)`)

func statuses(log string) []string {
	var got []string
	for _, m := range statusRE.FindAllStringSubmatch(log, -1) {
		got = append(got, m[1]+" #"+m[2])
	}
	return got
}

// TestStatusWhileSIPServerRefuses: a SIP Server that answers 503 to every
// REGISTER and 404 to OPTIONS while a DN's refreshes keep failing makes
// the status ServiceUnavailable once, for as long as it lasts — it used to
// flap between Running and ServiceUnavailable with every probe answer and
// failed refresh; Running comes back once registrations succeed. Through
// the real path: sipua's Reachability → setSIPReachable → status.
func TestStatusWhileSIPServerRefuses(t *testing.T) {
	port := testpeers.FreePort(t, testpeers.NetSIP)
	accepting := testpeers.KamailioConfig{Users: map[string]string{"7001": "secret"}, MaxExpires: 2, Port: port}
	refusing := accepting
	refusing.RegisterStatus, refusing.OptionsStatus = 503, 404
	k := testpeers.StartKamailio(t, accepting)

	out := &loggingtest.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Name: "gateway", Output: out, Level: hclog.Info})
	lc := newLifecycle(log, "gw", 0)
	lc.setStarted()
	set, err := options.Parse(options.Sections{
		"sip":   {"sip-server": k.Addr(), "sip-port": strconv.Itoa(testpeers.FreePort(t, testpeers.NetSIP))},
		"media": {"rtp-port-min": "20000", "rtp-port-max": "20999", "webrtc-port-min": "21000", "webrtc-port-max": "21999", "max-calls": "100"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ua := sipua.New(set, sipua.Deps{Log: log.Named("sip"), Reachability: lc.setSIPReachable, Timing: sipua.Timing{
		Debounce: 500 * time.Millisecond, Probe: 500 * time.Millisecond, ProbeDown: 250 * time.Millisecond,
		ProbeTimeout: time.Second, RetryMin: 250 * time.Millisecond, RetryMax: time.Second}})
	if err := ua.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ua.Stop(ctx)
	}()
	if _, err := ua.Register(context.Background(), "7001", "secret", nil); err != nil {
		t.Fatal(err)
	}
	k.Stop()
	k = testpeers.StartKamailio(t, refusing)
	time.Sleep(10 * time.Second) // the window over which it flapped
	want := []string{"Running #1", "ServiceUnavailable #2"}
	if diff := cmp.Diff(want, statuses(out.String())); diff != "" {
		t.Fatalf("statuses while registrations are refused (-want +got):\n%s\n%s", diff, out)
	}
	k.Stop()
	testpeers.StartKamailio(t, accepting)
	want = append(want, "Running #3")
	for deadline := time.Now().Add(15 * time.Second); len(statuses(out.String())) < len(want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no Running after the SIP Server accepts registrations again:\n%s", out)
		}
	}
	time.Sleep(2 * time.Second) // and it stays
	if diff := cmp.Diff(want, statuses(out.String())); diff != "" {
		t.Errorf("statuses once registrations succeed again (-want +got):\n%s\n%s", diff, out)
	}
}
