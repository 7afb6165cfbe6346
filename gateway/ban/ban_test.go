package ban

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/logging"
	"webrtcgw/logging/loggingtest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newBans(cfg Config) (*Bans, *clock, *loggingtest.Buffer) {
	var out loggingtest.Buffer
	c := &clock{t: time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)}
	return New(cfg, logging.New("gateway", &out, &out).Logger().Named("ban"), c.now), c, &out
}

var (
	alice = netip.MustParseAddr("192.0.2.10")
	bob   = netip.MustParseAddr("192.0.2.20")
)

func TestBanAfterMaxFailures(t *testing.T) {
	b, c, _ := newBans(Config{MaxFailures: 3, FindTime: 10 * time.Minute, BanTime: 10 * time.Minute})
	for i := 1; i <= 2; i++ {
		if b.Fail(alice, "7001", "wrong password") {
			t.Fatalf("banned after %d failures, want 3", i)
		}
		c.advance(time.Minute)
	}
	if !b.Fail(alice, "7001", "wrong password") {
		t.Fatal("not banned after 3 failures")
	}
	if banned, left := b.Banned(alice); !banned || left != 10*time.Minute {
		t.Errorf("Banned(alice) = %v, %v; want true, 10m", banned, left)
	}
	if banned, _ := b.Banned(bob); banned {
		t.Error("another address is banned")
	}
	if banned, _ := b.Banned(netip.MustParseAddr("::ffff:192.0.2.10")); !banned {
		t.Error("the IPv4-mapped form of a banned address is not banned")
	}
	c.advance(10*time.Minute - time.Second)
	if banned, left := b.Banned(alice); !banned || left != time.Second {
		t.Errorf("Banned(alice) 1 s before the end = %v, %v", banned, left)
	}
	c.advance(time.Second)
	if banned, _ := b.Banned(alice); banned {
		t.Error("still banned after ban-time")
	}
	// After a ban the count starts again.
	if b.Fail(alice, "7001", "wrong password") {
		t.Error("banned again by the first failure after a ban")
	}
}

func TestFailuresOutsideWindowDoNotCount(t *testing.T) {
	b, c, _ := newBans(Config{MaxFailures: 3, FindTime: time.Minute, BanTime: time.Hour})
	for i := 0; i < 10; i++ {
		if b.Fail(alice, "7001", "x") {
			t.Fatalf("banned at failure %d although each is 40 s apart with a 1 min window", i+1)
		}
		c.advance(40 * time.Second)
	}
}

func TestExemptAndOff(t *testing.T) {
	b, _, _ := newBans(Config{MaxFailures: 1, FindTime: time.Minute, BanTime: time.Hour, Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")}})
	if b.Fail(alice, "u", "x") {
		t.Error("an exempt address was banned")
	}
	if !b.Fail(bob, "u", "x") {
		t.Error("a non-exempt address was not banned with max failures 1")
	}
	b.SetConfig(Config{MaxFailures: 0})
	if banned, _ := b.Banned(bob); !banned {
		t.Error("a ban in progress ended when bans were turned off")
	}
	if b.Fail(netip.MustParseAddr("198.51.100.1"), "u", "x") {
		t.Error("banned with ban-max-failures 0")
	}
}

// TestMemoryBounded floods failures from many addresses: only maxTracked
// are remembered, and the newest are kept.
func TestMemoryBounded(t *testing.T) {
	b, _, _ := newBans(Config{MaxFailures: 2, FindTime: time.Hour, BanTime: time.Hour})
	b.log = hclog.NewNullLogger()
	b.maxTracked = 1000
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := 0; i < 200_000; i++ {
		b.Fail(addr(i), "u", "x")
	}
	if got := b.Tracked(); got != 1000 {
		t.Fatalf("Tracked() = %d, want 1000", got)
	}
	if !b.Fail(addr(199_999), "u", "x") {
		t.Error("the newest address was forgotten")
	}
}

func TestLogLine(t *testing.T) {
	b, _, out := newBans(Config{MaxFailures: 2, FindTime: time.Hour, BanTime: time.Hour})
	b.Fail(alice, "7001\r\nclient_ip=6.6.6.6 \"x\"", "wrong password")
	b.Fail(alice, strings.Repeat("é", 100)+"\xff", "wrong password")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 2 failures and 1 ban:\n%s", len(lines), out.String())
	}
	re := regexp.MustCompile(`^\S+ \[WARN\]  gateway\.ban: login failed: client_ip=192\.0\.2\.10 user=".*" reason="wrong password"$`)
	for _, l := range lines[:2] {
		if !re.MatchString(l) {
			t.Errorf("line %q does not have the fixed format", l)
		}
	}
	if !strings.Contains(lines[0], `user="7001\r\nclient_ip=6.6.6.6 \"x\""`) {
		t.Errorf("user not escaped: %q", lines[0])
	}
	if !strings.Contains(lines[1], "…") || strings.Count(lines[1], "é") != 64 {
		t.Errorf("long user not shortened to 64 runes: %q", lines[1])
	}
	if !strings.Contains(lines[2], "client banned: client_ip=192.0.2.10 ban_time=1h0m0s failures=2") {
		t.Errorf("ban line = %q", lines[2])
	}
}
