package options

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"
)

// Web holds the [web] options.
type Web struct {
	HTTPSPort       int             `opt:"https-port"`
	HTTPPort        int             `opt:"http-port"`
	ListenAddress   netip.Addr      `opt:"listen-address"` // zero: every address
	Certificate     string          `opt:"certificate"`
	CertificateKey  string          `opt:"certificate-key"`
	TLSMinVersion   string          `opt:"tls-min-version"`
	DomainWhitelist []OriginPattern `opt:"domain-whitelist"`
	TrustedProxies  []netip.Prefix  `opt:"trusted-proxies"`
	PollingTimeout  time.Duration   `opt:"polling-timeout"`
	SessionTimeout  time.Duration   `opt:"session-timeout"`
	MaxSessions     int             `opt:"max-sessions"`
	// Anonymous sessions and per-client limits; 0: no limit.
	AllowAnonymous          bool          `opt:"allow-anonymous"`
	AnonymousSessionTimeout time.Duration `opt:"anonymous-session-timeout"`
	MaxAnonymousSessions    int           `opt:"max-anonymous-sessions"`
	MaxSessionsPerClient    int           `opt:"max-sessions-per-client"`
	MaxAnonymousPerClient   int           `opt:"max-anonymous-per-client"`
	SignInRate              int           `opt:"sign-in-rate"` // per second
	SignInBurst             int           `opt:"sign-in-burst"`
	MaxRequestSize          int64         `opt:"max-request-size"`
	DemoPage                bool          `opt:"demo-page"`
}

// SIP holds the [sip] options.
type SIP struct {
	Server            HostPort      `opt:"sip-server"` // zero: from the connected SIP Server application
	Port              int           `opt:"sip-port"`
	Transport         string        `opt:"sip-transport"`
	Address           string        `opt:"sip-address"` // empty: automatic
	RegisterExpires   time.Duration `opt:"register-expires"`
	InviteTimeout     time.Duration `opt:"invite-timeout"`
	SRTP              string        `opt:"srtp"`
	TLSCertificate    string        `opt:"tls-certificate"`
	TLSCertificateKey string        `opt:"tls-certificate-key"`
	TLSCA             string        `opt:"tls-ca"`
}

// Media holds the [media] options.
type Media struct {
	RTPPortMin    int           `opt:"rtp-port-min"`
	RTPPortMax    int           `opt:"rtp-port-max"`
	WebRTCPortMin int           `opt:"webrtc-port-min"`
	WebRTCPortMax int           `opt:"webrtc-port-max"`
	WebRTCMuxPort int           `opt:"webrtc-mux-port"` // 0: a port per call from the range
	PublicAddress netip.Addr    `opt:"public-address"`  // zero: none
	ICEServers    []string      `opt:"ice-servers"`
	TURNUsername  string        `opt:"turn-username"`
	TURNPassword  string        `opt:"turn-password"`
	DTLSRole      string        `opt:"dtls-role"`
	SRTPProfiles  []string      `opt:"srtp-profiles"`
	Codecs        []string      `opt:"codecs"`
	RTPTimeout    time.Duration `opt:"rtp-timeout"` // 0: off
	MaxCalls      int           `opt:"max-calls"`
}

// Security holds the [security] options.
type Security struct {
	BanMaxFailures int            `opt:"ban-max-failures"` // 0: no in-process bans
	BanFindTime    time.Duration  `opt:"ban-find-time"`
	BanTime        time.Duration  `opt:"ban-time"`
	BanExempt      []netip.Prefix `opt:"ban-exempt"`
}

// Log holds the [log] options.
type Log struct {
	Verbose string   `opt:"verbose"`
	Outputs []string `opt:"all"`     // "stdout", "stderr" or file paths
	Segment int64    `opt:"segment"` // bytes; 0: never rotate
	Expire  int      `opt:"expire"`  // rotated files kept; 0: all
}

// SML holds the [sml] annex options read by the Local Control Agent.
type SML struct {
	HeartbeatPeriod       time.Duration `opt:"heartbeat-period"` // 0: off
	HangupRestart         bool          `opt:"hangup-restart"`
	Autostart             bool          `opt:"autostart"`
	SuspendingWaitTimeout time.Duration `opt:"suspending-wait-timeout"`
}

// values is the typed content of a Set; each field is bound to a section by
// its tag, and each of their fields to an option.
type values struct {
	Web      Web      `section:"web"`
	SIP      SIP      `section:"sip"`
	Media    Media    `section:"media"`
	Security Security `section:"security"`
	Log      Log      `section:"log"`
	SML      SML      `section:"sml"`
}

// Set is a complete, validated set of options. It is immutable: accessors
// return copies, so a Set can be shared between goroutines and compared with
// the next one on reload.
type Set struct {
	v        values
	text     map[string]string // section/name → canonical text
	explicit map[string]bool   // section/name given (not defaulted)
	warnings []Problem
}

// Web returns the [web] options.
func (s *Set) Web() Web { return cloneSlices(s.v.Web) }

// SIP returns the [sip] options.
func (s *Set) SIP() SIP { return cloneSlices(s.v.SIP) }

// Media returns the [media] options.
func (s *Set) Media() Media { return cloneSlices(s.v.Media) }

// Security returns the [security] options.
func (s *Set) Security() Security { return cloneSlices(s.v.Security) }

// Log returns the [log] options.
func (s *Set) Log() Log { return cloneSlices(s.v.Log) }

// SML returns the [sml] annex options.
func (s *Set) SML() SML { return cloneSlices(s.v.SML) }

// Text returns the canonical text of an option ("" for unknown options).
func (s *Set) Text(d *Def) string { return s.text[d.Key()] }

// Display returns the text of an option fit to show: secrets that are set
// are masked.
func (s *Set) Display(d *Def) string {
	t := s.text[d.Key()]
	if d.Type == TypeSecret && t != "" {
		return "********"
	}
	return t
}

// Explicit reports whether the option was given rather than defaulted.
func (s *Set) Explicit(d *Def) bool { return s.explicit[d.Key()] }

// Warnings returns what was accepted but deserves the operator's attention:
// unknown options and risky values.
func (s *Set) Warnings() []Problem { return append([]Problem(nil), s.warnings...) }

// Equal reports whether two sets hold the same values.
func (s *Set) Equal(o *Set) bool { return Diff(s, o).Empty() }

// cloneSlices returns a copy of the section struct v whose slice fields do
// not share memory with v.
func cloneSlices[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() == reflect.Slice && !f.IsNil() {
			c := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(c, f)
			f.Set(c)
		}
	}
	return v
}

// binding says where in values the typed value of an option goes.
type binding struct {
	section int
	field   int
}

var bindings = func() map[string]binding {
	b, err := bind()
	if err != nil {
		panic(err) // a programming error, caught by TestBindings
	}
	return b
}()

// bind maps every Def to its field in values, checking that each field has
// exactly one option of the matching Go type and vice versa.
func bind() (map[string]binding, error) {
	out := map[string]binding{}
	vt := reflect.TypeFor[values]()
	for si := 0; si < vt.NumField(); si++ {
		sf := vt.Field(si)
		section := sf.Tag.Get("section")
		for fi := 0; fi < sf.Type.NumField(); fi++ {
			f := sf.Type.Field(fi)
			d := Lookup(section, f.Tag.Get("opt"))
			if d == nil {
				return nil, fmt.Errorf("options: field %s.%s has no option %s/%s", sf.Name, f.Name, section, f.Tag.Get("opt"))
			}
			if want := goType(d.Type); f.Type != want {
				return nil, fmt.Errorf("options: field %s.%s is %s, option %s is %s (%s)", sf.Name, f.Name, f.Type, d.Key(), d.Type, want)
			}
			out[d.Key()] = binding{si, fi}
		}
	}
	for i := range catalog {
		if _, ok := out[catalog[i].Key()]; !ok {
			return nil, fmt.Errorf("options: option %s has no field in Set", catalog[i].Key())
		}
	}
	return out, nil
}

// goType is the Go type each option type parses to.
func goType(t Type) reflect.Type {
	switch t {
	case TypeInt, TypePort:
		return reflect.TypeFor[int]()
	case TypeBool:
		return reflect.TypeFor[bool]()
	case TypeEnum, TypePath, TypeString, TypeSecret, TypeHost:
		return reflect.TypeFor[string]()
	case TypeList, TypeURLList, TypeOutputList:
		return reflect.TypeFor[[]string]()
	case TypeCIDRList:
		return reflect.TypeFor[[]netip.Prefix]()
	case TypeOriginList:
		return reflect.TypeFor[[]OriginPattern]()
	case TypeSize:
		return reflect.TypeFor[int64]()
	case TypeSeconds:
		return reflect.TypeFor[time.Duration]()
	case TypeHostPort:
		return reflect.TypeFor[HostPort]()
	case TypeAddress:
		return reflect.TypeFor[netip.Addr]()
	}
	return nil
}

// store puts a parsed value into its field.
func (v *values) store(d *Def, val any) {
	b := bindings[d.Key()]
	f := reflect.ValueOf(v).Elem().Field(b.section).Field(b.field)
	if val == nil {
		f.SetZero()
		return
	}
	f.Set(reflect.ValueOf(val))
}

// knownSection reports whether name is a section of the catalog.
func knownSection(name string) bool {
	for _, s := range SectionNames {
		if s == name {
			return true
		}
	}
	return false
}

// suggest returns the catalog option closest to section/name, for "did you
// mean" hints, or "".
func suggest(section, name string) string {
	best, bestDist := "", 4
	for i := range catalog {
		d := &catalog[i]
		dist := EditDistance(name, d.Name)
		if d.Section != section {
			dist++
		}
		if dist < bestDist {
			best, bestDist = d.Key(), dist
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, ignoring case
// (short option names only): what "did you mean" hints rank by.
func EditDistance(a, b string) int {
	a, b = strings.ToLower(a), strings.ToLower(b)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
