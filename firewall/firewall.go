// Package firewall computes the host firewall rules a gateway's options need
// and writes them as firewalld service definitions or as an nftables
// ruleset (docs/firewall.md). It also keeps a record of the ports the
// installed rules open, so that the gateway can warn when a reload moves a
// port outside them.
//
// Three zones, after the security guide:
//
//   - public: what browsers reach, from anywhere: the HTTPS (and plain HTTP)
//     signalling port and the WebRTC media range or mux port (UDP);
//   - internal: what the SIP Server and the media servers of the enterprise
//     network reach: the SIP port with its transport and the SIP-side RTP
//     range (RTP and RTCP, UDP);
//   - management: the Local Control Agent's and the Configuration Server's
//     TCP ports, from the management network only.
package firewall

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"webrtcgw/options"
)

// Zone is where the traffic a rule lets in comes from.
type Zone string

// The zones, in the order rules are written.
const (
	Public     Zone = "public"
	Internal   Zone = "internal"
	Management Zone = "management"
)

// Zones lists every zone in output order.
var Zones = []Zone{Public, Internal, Management}

// Protocol is a transport protocol of a rule.
type Protocol string

// The protocols rules use; SIP over TLS is TCP.
const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// PortRange is an inclusive range of ports; Min == Max for one port.
type PortRange struct{ Min, Max int }

// String returns "5060" or "20000-29999", as both firewalld and nftables
// write them.
func (r PortRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// contains reports whether o lies wholly inside r.
func (r PortRange) contains(o PortRange) bool { return o.Min >= r.Min && o.Max <= r.Max }

func (r PortRange) overlaps(o PortRange) bool { return r.Min <= o.Max && o.Min <= r.Max }

// Rule lets one port or range in from one zone.
type Rule struct {
	Zone     Zone
	Protocol Protocol
	Ports    PortRange
	// For names what needs the ports: an option ("web/https-port") or a
	// flag of the firewall command ("-lca-port").
	For string
}

// ManagementPorts holds the ports of the management daemons on the gateway's
// host. They are not gateway options: the LCA and the Configuration Server
// have their own command lines. 0 leaves a port out.
type ManagementPorts struct {
	LCAPort      int
	ConfservPort int
}

// DefaultConfservPort is the Configuration Server's default port (confserv
// -port).
const DefaultConfservPort = 2020

// DefaultNets are the default sources of the internal and management zones:
// the private IPv4 ranges (RFC 1918) and IPv6 unique local addresses
// (RFC 4193), where enterprise networks live. A site whose enterprise
// network uses public addresses, or whose management network is narrower,
// says so with -internal-net and -management-net.
var DefaultNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
}

// Rules returns the rules the options of set and the management ports need,
// sorted by zone, protocol and port. It fails when two rules of different
// zones share a port: one of them would be open to the other zone's sources.
func Rules(set *options.Set, m ManagementPorts) ([]Rule, error) {
	w, sp, md := set.Web(), set.SIP(), set.Media()
	var rules []Rule
	add := func(z Zone, p Protocol, min, max int, what string) {
		rules = append(rules, Rule{z, p, PortRange{min, max}, what})
	}
	if w.HTTPSPort != 0 {
		add(Public, TCP, w.HTTPSPort, w.HTTPSPort, "web/https-port")
	}
	if w.HTTPPort != 0 {
		add(Public, TCP, w.HTTPPort, w.HTTPPort, "web/http-port")
	}
	// pion gathers UDP candidates only (gateway/media sets the network
	// types to UDP4 and UDP6): no ICE-TCP port to open. Its STUN and TURN
	// sockets send out and get their answers back as established traffic.
	if md.WebRTCMuxPort != 0 {
		add(Public, UDP, md.WebRTCMuxPort, md.WebRTCMuxPort, "media/webrtc-mux-port")
	} else {
		add(Public, UDP, md.WebRTCPortMin, md.WebRTCPortMax, "media/webrtc-port-min..webrtc-port-max")
	}
	sipProto := TCP
	if sp.Transport == "udp" {
		sipProto = UDP
	}
	add(Internal, sipProto, sp.Port, sp.Port, "sip/sip-port (sip-transport "+sp.Transport+")")
	// RTCP takes the port above each RTP port, inside the same range.
	add(Internal, UDP, md.RTPPortMin, md.RTPPortMax, "media/rtp-port-min..rtp-port-max")
	for _, p := range []struct {
		port int
		flag string
	}{{m.LCAPort, "-lca-port"}, {m.ConfservPort, "-confserv-port"}} {
		if p.port < 0 || p.port > 65535 {
			return nil, fmt.Errorf("%s %d is not a port (1-65535, or 0 to leave it out)", p.flag, p.port)
		}
		if p.port != 0 {
			add(Management, TCP, p.port, p.port, p.flag)
		}
	}
	sortRules(rules)
	if err := checkOverlaps(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

func zoneIndex(z Zone) int { return slices.Index(Zones, z) }

func sortRules(rules []Rule) {
	slices.SortStableFunc(rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(zoneIndex(a.Zone), zoneIndex(b.Zone)),
			cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Ports.Min, b.Ports.Min), cmp.Compare(a.Ports.Max, b.Ports.Max))
	})
}

// checkOverlaps refuses two rules that share a port of one protocol. The
// option rules already keep the gateway's own ports apart; this catches the
// management ports, which come from flags.
func checkOverlaps(rules []Rule) error {
	for i, a := range rules {
		for _, b := range rules[i+1:] {
			if a.Protocol == b.Protocol && a.Ports.overlaps(b.Ports) {
				return fmt.Errorf("%s %s (%s) and %s %s (%s) share %s ports: the rules of one would open the other",
					a.For, a.Ports, a.Zone, b.For, b.Ports, b.Zone, a.Protocol)
			}
		}
	}
	return nil
}

// Policy is what the nftables input chain does with traffic its rules do not
// cover.
type Policy string

const (
	// Accept leaves other traffic to the host's own firewall: the table
	// only adds to it (the default).
	Accept Policy = "accept"
	// Drop makes the table the host's input firewall: everything else is
	// dropped, except loopback, answers to the host's own traffic,
	// essential ICMP and SSH from the management networks.
	Drop Policy = "drop"
)

// Config is what a Ruleset needs besides the options.
type Config struct {
	// Source names where the options came from (a file, "the default
	// options"), for the header of the output.
	Source     string
	Management ManagementPorts
	// InternalNets and ManagementNets are the sources of the internal and
	// management zones (nftables only: in firewalld, the zone a service is
	// added to says where it is open from).
	InternalNets   []netip.Prefix
	ManagementNets []netip.Prefix
	Policy         Policy // "" is Accept
	// SSHPort is let in from the management networks under the Drop
	// policy, so that the host stays reachable; 0 leaves it out.
	SSHPort int
}

// Setting is one input of a ruleset, shown in the header of the output.
type Setting struct{ Name, Value string }

// Ruleset is everything the writers need: the rules and where they come
// from.
type Ruleset struct {
	Source         string
	Settings       []Setting
	Rules          []Rule
	InternalNets   []netip.Prefix
	ManagementNets []netip.Prefix
	Policy         Policy
	SSHPort        int
	// Outbound lists the STUN and TURN servers of media/ice-servers: the
	// gateway reaches out to them and needs no inbound rule for them.
	Outbound []string
}

// headerOptions are the options that decide the rules, in header order.
var headerOptions = []string{
	"web/https-port", "web/http-port",
	"media/webrtc-port-min", "media/webrtc-port-max", "media/webrtc-mux-port",
	"sip/sip-port", "sip/sip-transport",
	"media/rtp-port-min", "media/rtp-port-max",
	"media/ice-servers",
}

// Compute returns the ruleset for the options of set under cfg.
func Compute(set *options.Set, cfg Config) (*Ruleset, error) {
	rules, err := Rules(set, cfg.Management)
	if err != nil {
		return nil, err
	}
	if cfg.Policy == "" {
		cfg.Policy = Accept
	}
	if cfg.Policy != Accept && cfg.Policy != Drop {
		return nil, fmt.Errorf("-policy %q is not accept or drop", cfg.Policy)
	}
	if len(cfg.InternalNets) == 0 {
		return nil, errors.New("-internal-net is empty: the SIP Server could not reach the SIP port; list the enterprise network")
	}
	rs := &Ruleset{Source: cfg.Source, Rules: rules, Policy: cfg.Policy,
		InternalNets: normalizeNets(cfg.InternalNets), ManagementNets: normalizeNets(cfg.ManagementNets)}
	if cfg.Policy == Drop {
		if cfg.SSHPort < 0 || cfg.SSHPort > 65535 {
			return nil, fmt.Errorf("-ssh-port %d is not a port (1-65535, or 0 to leave it out)", cfg.SSHPort)
		}
		rs.SSHPort = cfg.SSHPort
		if rs.SSHPort != 0 {
			ssh := Rule{Management, TCP, PortRange{rs.SSHPort, rs.SSHPort}, "-ssh-port"}
			if err := checkOverlaps(append(slices.Clone(rules), ssh)); err != nil {
				return nil, err
			}
		}
	}
	for _, key := range headerOptions {
		section, name, _ := strings.Cut(key, "/")
		v := set.Text(options.Lookup(section, name))
		if v == "" {
			v = "(empty)"
		}
		rs.Settings = append(rs.Settings, Setting{key, v})
	}
	rs.Settings = append(rs.Settings,
		Setting{"-lca-port", strconv.Itoa(cfg.Management.LCAPort)},
		Setting{"-confserv-port", strconv.Itoa(cfg.Management.ConfservPort)})
	rs.Outbound = set.Media().ICEServers
	return rs, nil
}

// ParseNets parses a comma-separated list of IP prefixes (or addresses, for
// themselves) as the -internal-net and -management-net flags take them, with
// the rules of the options' CIDR lists. Empty text is an empty list.
func ParseNets(text string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := options.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// FormatNets writes prefixes as ParseNets reads them.
func FormatNets(nets []netip.Prefix) string {
	s := make([]string, len(nets))
	for i, p := range nets {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// normalizeNets sorts prefixes and drops those inside another: nftables
// refuses overlapping elements in an interval set.
func normalizeNets(nets []netip.Prefix) []netip.Prefix {
	sorted := slices.Clone(nets)
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	var out []netip.Prefix
	for _, p := range sorted {
		// Sorted by address then length, a prefix that contains p comes
		// before it.
		if !slices.ContainsFunc(out, func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }) {
			out = append(out, p)
		}
	}
	return out
}

// split returns the IPv4 and IPv6 prefixes of nets.
func split(nets []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range nets {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// ports returns the port ranges of the rules of zone and protocol, with what
// each is for.
func (rs *Ruleset) ports(z Zone, p Protocol) (ranges []PortRange, what []string) {
	for _, r := range rs.Rules {
		if r.Zone == z && r.Protocol == p {
			ranges = append(ranges, r.Ports)
			what = append(what, r.For)
		}
	}
	return ranges, what
}

// oneLine makes text safe for a one-line comment: control characters would
// end a comment in the generated file and start a rule of their own.
func oneLine(text string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, text)
}
