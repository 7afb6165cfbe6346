package hostcheck

import (
	"encoding/xml"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A PortRange is a port or range of one protocol, as firewalld and
// nftables write them ("4999", "20000-29999").
type PortRange struct {
	Lo, Hi int
	Proto  string // "tcp", "udp", "sctp", "dccp"; "" for any
}

// Has reports whether the range holds port p of protocol proto.
func (r PortRange) Has(p int, proto string) bool {
	return p >= r.Lo && p <= r.Hi && (r.Proto == "" || r.Proto == proto)
}

func (r PortRange) String() string {
	s := strconv.Itoa(r.Lo)
	if r.Hi != r.Lo {
		s += "-" + strconv.Itoa(r.Hi)
	}
	if r.Proto != "" {
		s += "/" + r.Proto
	}
	return s
}

// parsePortRange parses "4999" or "20000-29999".
func parsePortRange(s, proto string) (PortRange, error) {
	if strings.TrimSpace(s) == "" && proto != "" {
		return PortRange{Lo: 0, Hi: 65535, Proto: proto}, nil // a whole protocol (ah, esp, gre …)
	}
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	b := a
	if err == nil && isRange {
		b, err = strconv.Atoi(strings.TrimSpace(hi))
	}
	if err != nil || a < 0 || b > 65535 || a > b {
		return PortRange{}, fmt.Errorf("port %q is not a port or range", s)
	}
	return PortRange{Lo: a, Hi: b, Proto: proto}, nil
}

// A Zone is a firewalld zone (firewalld.zone(5)), as far as the checks need it.
type Zone struct {
	Name       string      `json:"name"`
	Path       string      `json:"path"`
	Target     string      `json:"target,omitempty"` // default, ACCEPT, %%REJECT%%, DROP
	Interfaces []string    `json:"interfaces,omitempty"`
	Sources    []string    `json:"sources,omitempty"` // addresses or prefixes; ipset:NAME, mac:X
	Services   []string    `json:"services,omitempty"`
	Ports      []PortRange `json:"ports,omitempty"`
	Rules      []RichRule  `json:"rules,omitempty"`
}

// A RichRule is the part of a firewalld rich rule the checks judge.
type RichRule struct {
	Source       string    `json:"source,omitempty"` // address or prefix; ipset:NAME; "" for any
	SourceInvert bool      `json:"source_invert,omitempty"`
	Service      string    `json:"service,omitempty"`
	Port         PortRange `json:"port"` // zero when Service is used or no port is named
	Action       string    `json:"action"`
}

// A FirewalldServiceDef is a firewalld service definition (firewalld.service(5)).
type FirewalldServiceDef struct {
	Name     string      `json:"name"`
	Path     string      `json:"path"`
	Ports    []PortRange `json:"ports,omitempty"`
	Includes []string    `json:"includes,omitempty"`
}

type xmlPort struct {
	Protocol string `xml:"protocol,attr"`
	Port     string `xml:"port,attr"`
}

type xmlName struct {
	Name string `xml:"name,attr"`
}

type xmlZone struct {
	XMLName    xml.Name  `xml:"zone"`
	Target     string    `xml:"target,attr"`
	Interfaces []xmlName `xml:"interface"`
	Sources    []struct {
		Address string `xml:"address,attr"`
		IPSet   string `xml:"ipset,attr"`
		MAC     string `xml:"mac,attr"`
	} `xml:"source"`
	Services []xmlName `xml:"service"`
	Ports    []xmlPort `xml:"port"`
	Rules    []struct {
		Source *struct {
			Address string `xml:"address,attr"`
			IPSet   string `xml:"ipset,attr"`
			Invert  string `xml:"invert,attr"`
		} `xml:"source"`
		Service *xmlName  `xml:"service"`
		Port    *xmlPort  `xml:"port"`
		Accept  *struct{} `xml:"accept"`
		Reject  *struct{} `xml:"reject"`
		Drop    *struct{} `xml:"drop"`
	} `xml:"rule"`
}

// ParseZone parses a firewalld zone file.
func ParseZone(name, file string, data []byte) (*Zone, error) {
	var x xmlZone
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	z := &Zone{Name: name, Path: file, Target: x.Target}
	for _, i := range x.Interfaces {
		z.Interfaces = append(z.Interfaces, i.Name)
	}
	for _, s := range x.Sources {
		switch {
		case s.Address != "":
			z.Sources = append(z.Sources, s.Address)
		case s.IPSet != "":
			z.Sources = append(z.Sources, "ipset:"+s.IPSet)
		case s.MAC != "":
			z.Sources = append(z.Sources, "mac:"+s.MAC)
		}
	}
	for _, s := range x.Services {
		z.Services = append(z.Services, s.Name)
	}
	for _, p := range x.Ports {
		r, err := parsePortRange(p.Port, p.Protocol)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		z.Ports = append(z.Ports, r)
	}
	for _, xr := range x.Rules {
		var r RichRule
		if xr.Source != nil {
			r.Source = xr.Source.Address
			if xr.Source.IPSet != "" {
				r.Source = "ipset:" + xr.Source.IPSet
			}
			r.SourceInvert = strings.EqualFold(xr.Source.Invert, "true") || xr.Source.Invert == "yes"
		}
		if xr.Service != nil {
			r.Service = xr.Service.Name
		}
		if xr.Port != nil {
			p, err := parsePortRange(xr.Port.Port, xr.Port.Protocol)
			if err != nil {
				return nil, fmt.Errorf("%s: rule: %w", file, err)
			}
			r.Port = p
		}
		switch {
		case xr.Accept != nil:
			r.Action = "accept"
		case xr.Reject != nil:
			r.Action = "reject"
		case xr.Drop != nil:
			r.Action = "drop"
		}
		z.Rules = append(z.Rules, r)
	}
	return z, nil
}

type xmlService struct {
	XMLName  xml.Name  `xml:"service"`
	Ports    []xmlPort `xml:"port"`
	Includes []struct {
		Service string `xml:"service,attr"`
	} `xml:"include"`
}

// ParseFirewalldService parses a firewalld service file.
func ParseFirewalldService(name, file string, data []byte) (*FirewalldServiceDef, error) {
	var x xmlService
	if err := xml.Unmarshal(data, &x); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s := &FirewalldServiceDef{Name: name, Path: file}
	for _, p := range x.Ports {
		r, err := parsePortRange(p.Port, p.Protocol)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		s.Ports = append(s.Ports, r)
	}
	for _, i := range x.Includes {
		s.Includes = append(s.Includes, i.Service)
	}
	return s, nil
}

// Firewalld is firewalld's permanent configuration: the packaged zones and
// services under /usr/lib/firewalld, overridden by /etc/firewalld.
type Firewalld struct {
	Installed   bool                            `json:"installed"`
	DefaultZone string                          `json:"default_zone,omitempty"`
	Zones       map[string]*Zone                `json:"zones,omitempty"`
	Services    map[string]*FirewalldServiceDef `json:"services,omitempty"`
}

// servicePorts returns the ports of a service and of the services it
// includes (each once).
func (f *Firewalld) servicePorts(name string) []PortRange {
	var out []PortRange
	seen := map[string]bool{}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		s := f.Services[n]
		if s == nil || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, s.Ports...)
		queue = append(queue, s.Includes...)
	}
	return out
}

// worldFacing reports whether addresses from the Internet can land in the
// zone: firewalld puts traffic in the zone of its source address, else of
// its interface, else the default zone. The default zone and the zones
// named for outside networks take the world; so does a zone with a source
// as wide as the Internet (0.0.0.0/0). A zone of narrower sources does not.
func (f *Firewalld) worldFacing(z *Zone) (bool, string) {
	if z.Name == f.DefaultZone {
		return true, "the default zone"
	}
	switch z.Name {
	case "public", "external", "dmz":
		if len(z.Interfaces) > 0 || len(z.Sources) == 0 {
			return true, "an outside zone"
		}
	}
	for _, s := range z.Sources {
		if sourceClass(s) == sourceWorld {
			return true, "source " + s
		}
	}
	return false, ""
}

// Classes of source addresses, from narrowest to widest.
const (
	sourcePrivate = iota // private ranges only (or an ipset, a MAC: the operator's choice)
	sourcePublic         // public addresses, but a network of them, not the Internet
	sourceWorld          // as wide as the Internet: 0.0.0.0/0, ::/0, 0.0.0.0/1 …
)

// sourceClass classifies an address, prefix, range or ipset reference.
// A source that cannot be read is taken as public.
func sourceClass(s string) int {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "ipset:") || strings.HasPrefix(s, "mac:") {
		return sourcePrivate
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil {
			return sourcePublic
		}
		if privateAddr(a) && privateAddr(b) {
			return sourcePrivate
		}
		return sourcePublic
	}
	p, err := parsePrefix(s)
	switch {
	case err != nil:
		return sourcePublic
	case privatePrefix(p):
		return sourcePrivate
	case p.Addr().Is4() && p.Bits() < 8, !p.Addr().Is4() && p.Bits() < 16:
		return sourceWorld
	}
	return sourcePublic
}

// OpenTo returns why port p/proto is open to the world in firewalld's
// configuration: the zones that take the world and accept it, each with
// the element that does. Empty: closed to the world.
func (f *Firewalld) OpenTo(p int, proto string) []string {
	var out []string
	for _, name := range sortedKeys(f.Zones) {
		z := f.Zones[name]
		world, why := f.worldFacing(z)
		if !world {
			continue
		}
		where := fmt.Sprintf("zone %s (%s, %s)", z.Name, why, z.Path)
		if strings.EqualFold(z.Target, "ACCEPT") {
			out = append(out, where+": target ACCEPT accepts every port")
			continue
		}
		for _, r := range z.Ports {
			if r.Has(p, proto) {
				out = append(out, fmt.Sprintf("%s: port %s", where, r))
			}
		}
		for _, s := range z.Services {
			for _, r := range f.servicePorts(s) {
				if r.Has(p, proto) {
					out = append(out, fmt.Sprintf("%s: service %s (port %s)", where, s, r))
				}
			}
		}
		for _, rule := range z.Rules {
			if rule.Action != "accept" || (rule.Source != "" && !rule.SourceInvert && sourceClass(rule.Source) != sourceWorld) {
				continue
			}
			ports := []PortRange{rule.Port}
			if rule.Service != "" {
				ports = f.servicePorts(rule.Service)
			} else if rule.Port == (PortRange{}) {
				ports = []PortRange{{Lo: 0, Hi: 65535}} // a rule without a port accepts them all
			}
			for _, r := range ports {
				if r.Has(p, proto) {
					src := "any source"
					if rule.Source != "" {
						src = "source " + rule.Source
						if rule.SourceInvert {
							src = "source not " + rule.Source
						}
					}
					out = append(out, fmt.Sprintf("%s: rich rule accepting %s from %s", where, r, src))
				}
			}
		}
	}
	return out
}

// privateRanges are the address ranges not reachable from the Internet.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("::1/128"),
}

// privatePrefix reports whether every address of p is private.
func privatePrefix(p netip.Prefix) bool {
	p = p.Masked()
	for _, r := range privateRanges {
		if r.Addr().Is4() == p.Addr().Is4() && r.Bits() <= p.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// privateAddr reports whether an address is not reachable from the Internet.
func privateAddr(a netip.Addr) bool {
	return privatePrefix(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
}

// parsePrefix parses an address or a prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%s: an IPv4-mapped prefix shorter than /96", s)
			}
			return netip.PrefixFrom(a.Unmap(), p.Bits()-96), nil
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
