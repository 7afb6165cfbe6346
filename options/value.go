package options

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostPort is a host with an optional port (0 = the protocol's default).
type HostPort struct {
	Host string
	Port int
}

// String returns host or host:port, with IPv6 hosts in brackets when a port follows.
func (h HostPort) String() string {
	if h.Port == 0 {
		return h.Host
	}
	return joinHostPort(h.Host, h.Port)
}

// IsZero reports whether no host is set.
func (h HostPort) IsZero() bool { return h.Host == "" }

// parse turns raw text into the typed value of d and its canonical text. raw
// is already trimmed and not empty. The error says what is wrong with the value
// (the caller adds the option name and what is allowed).
func (d *Def) parse(raw string) (any, string, error) {
	switch d.Type {
	case TypeInt, TypePort:
		n, err := d.parseNumber(raw)
		return int(n), strconv.FormatInt(n, 10), err
	case TypeSeconds:
		n, err := d.parseNumber(raw)
		return time.Duration(n) * time.Second, strconv.FormatInt(n, 10), err
	case TypeSize:
		n, err := d.parseSize(raw)
		return n, formatSize(n), err
	case TypeBool:
		switch strings.ToLower(raw) {
		case "true", "yes", "on", "1":
			return true, "true", nil
		case "false", "no", "off", "0":
			return false, "false", nil
		}
		return false, "", errors.New("not a boolean")
	case TypeEnum:
		v, ok := matchEnum(d.Enum, raw)
		if !ok {
			return "", "", errors.New("not an allowed value")
		}
		return v, v, nil
	case TypeList:
		items, err := d.splitList(raw, func(s string) (string, error) {
			if len(d.Enum) == 0 {
				return s, checkLine(s)
			}
			v, ok := matchEnum(d.Enum, s)
			if !ok {
				return "", fmt.Errorf("%q is not an allowed value", s)
			}
			return v, nil
		})
		return items, strings.Join(items, ","), err
	case TypeCIDRList:
		var out []netip.Prefix
		items, err := d.splitList(raw, func(s string) (string, error) {
			p, err := ParsePrefix(s)
			out = append(out, p)
			return p.String(), err
		})
		return out, strings.Join(items, ","), err
	case TypeOriginList:
		var out []OriginPattern
		items, err := d.splitList(raw, func(s string) (string, error) {
			p, err := ParseOriginPattern(s)
			out = append(out, p)
			return p.String(), err
		})
		return out, strings.Join(items, ","), err
	case TypeURLList:
		items, err := d.splitList(raw, parseICEURL)
		return items, strings.Join(items, ","), err
	case TypeOutputList:
		items, err := d.splitList(raw, func(s string) (string, error) {
			switch strings.ToLower(s) {
			case "stdout", "stderr":
				return strings.ToLower(s), nil
			}
			return parsePath(s)
		})
		return items, strings.Join(items, ","), err
	case TypePath:
		p, err := parsePath(raw)
		return p, p, err
	case TypeString, TypeSecret:
		return raw, raw, checkLine(raw)
	case TypeHost:
		h, err := parseHost(raw)
		return h, h, err
	case TypeHostPort:
		hp, err := parseHostPort(raw)
		return hp, hp.String(), err
	case TypeAddress:
		a, err := parseAddr(raw)
		return a, a.String(), err
	}
	return nil, "", fmt.Errorf("option type %q has no parser", d.Type)
}

// parseNumber parses Int, Port and Seconds values.
func (d *Def) parseNumber(raw string) (int64, error) {
	if d.Off && strings.EqualFold(raw, "false") {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n == 0 && d.Off {
		return 0, nil
	}
	if n < d.Min || n > d.Max {
		return 0, errors.New("out of range")
	}
	return n, nil
}

var sizeUnits = []struct {
	name  string
	bytes int64
}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}

// parseSize parses "100MB", "512 KB", "1gb", "4096B"; a bare number is KB,
// as Genesys log options read it.
func (d *Def) parseSize(raw string) (int64, error) {
	if d.Off && strings.EqualFold(raw, "false") {
		return 0, nil
	}
	num, unit := raw, int64(1<<10)
	upper := strings.ToUpper(raw)
	for _, u := range sizeUnits {
		if strings.HasSuffix(upper, u.name) {
			num, unit = strings.TrimSpace(raw[:len(raw)-len(u.name)]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a size")
	}
	if n > (1<<62)/unit {
		return 0, errors.New("out of range")
	}
	n *= unit
	if n == 0 && d.Off {
		return 0, nil
	}
	if n < d.Min || (d.Max > 0 && n > d.Max) {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// formatSize writes n in the largest unit that divides it exactly.
func formatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range sizeUnits {
		if n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// splitList splits a comma-separated value, skips empty items, parses each
// with item, and refuses duplicates and lists outside [Min, Max] items.
func (d *Def) splitList(raw string, item func(string) (string, error)) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		v, err := item(s)
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", s, err)
		}
		if seen[v] {
			return nil, fmt.Errorf("item %q is listed twice", s)
		}
		seen[v] = true
		out = append(out, v)
	}
	if d.Min > 0 && int64(len(out)) < d.Min {
		return nil, fmt.Errorf("needs at least %d item(s)", d.Min)
	}
	if d.Max > 0 && int64(len(out)) > d.Max {
		return nil, fmt.Errorf("has more than %d items", d.Max)
	}
	return out, nil
}

func matchEnum(enum []string, s string) (string, bool) {
	for _, e := range enum {
		if strings.EqualFold(e, s) {
			return e, true
		}
	}
	return "", false
}

// checkLine refuses control characters: option values end up in log lines,
// SIP headers and file names, where CR, LF and NUL do harm.
func checkLine(s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	return nil
}

func parsePath(s string) (string, error) {
	if err := checkLine(s); err != nil {
		return "", err
	}
	p := filepath.Clean(s)
	if p != strings.TrimSpace(p) {
		// "dir /" cleans to "dir ": values are trimmed wherever they are
		// read (INI file, Configuration Server), so that canonical form
		// would read back as another path.
		return "", errors.New("a path cannot begin or end with white space")
	}
	return p, nil
}

// ParsePrefix parses one item of a cidr-list: an IP prefix, or an address
// standing for itself (/32, /128). A prefix with bits set after its length
// (10.0.0.1/8) is refused with the prefix meant, and so are IPv6 zones and
// IPv4-mapped IPv6 prefixes. The daemons' command-line lists (confserv
// -trusted-proxies) take the same rules.
func ParsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or prefix")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("IPv6 zones are not supported")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP prefix")
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("IPv4-mapped IPv6 prefix: write the IPv4 prefix")
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("has bits set after the prefix length (did you mean %s?)", m)
	}
	return p, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IP address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("IPv6 zones are not supported")
	}
	return a.Unmap(), nil
}

// parseHost accepts an IP address (IPv6 with or without brackets) or a DNS
// name, and returns it in lower case.
func parseHost(s string) (string, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
		a, err := parseAddr(s)
		if err != nil || !a.Is6() {
			return "", errors.New("not an IPv6 address in brackets")
		}
		return a.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return "", errors.New("IPv6 zones are not supported")
		}
		return a.Unmap().String(), nil
	}
	return checkDNSName(s)
}

// checkDNSName validates a host name (RFC 1123 labels) and lower-cases it.
func checkDNSName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	for _, r := range s {
		if r >= 0x80 {
			return "", errors.New("not ASCII: write an internationalised name in its xn-- (punycode) form")
		}
	}
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	if len(s) > 253 {
		return "", errors.New("host name longer than 253 characters")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("not a host name (empty or over-long label)")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("not a host name (label starts or ends with '-')")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("not a host name (character %q)", c)
			}
		}
	}
	return s, nil
}

// splitHostPort splits host[:port] where an IPv6 host with a port is in
// brackets; a bare IPv6 address is a host without port.
func splitHostPort(s string) (host string, port int, err error) {
	hostPart, portPart := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, errors.New("missing ']'")
		}
		hostPart, portPart = s[:end+1], s[end+1:]
		if portPart != "" && !strings.HasPrefix(portPart, ":") {
			return "", 0, errors.New("unexpected text after ']'")
		}
		portPart = strings.TrimPrefix(portPart, ":")
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		hostPart, portPart = s[:i], s[i+1:]
	}
	if host, err = parseHost(hostPart); err != nil {
		return "", 0, err
	}
	// An empty port after a separator ("host:", "[::1]:") is an error; the
	// colons of an IPv6 address without brackets ("fe80::") are no separator.
	if portPart != "" || (hostPart != s && strings.HasSuffix(s, ":")) {
		n, err := strconv.Atoi(portPart)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("port %q is not from 1 to 65535", portPart)
		}
		port = n
	}
	return host, port, nil
}

func parseHostPort(s string) (HostPort, error) {
	h, p, err := splitHostPort(s)
	return HostPort{Host: h, Port: p}, err
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

// parseICEURL validates a STUN or TURN URI: stun:host[:port], stuns:...,
// turn:host[:port][?transport=udp|tcp], turns:... (RFC 7064 section 3.1,
// RFC 7065 section 3.1).
func parseICEURL(s string) (string, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", errors.New("no scheme (stun:, stuns:, turn: or turns:)")
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "stun", "stuns", "turn", "turns":
	default:
		return "", fmt.Errorf("scheme %q is not stun, stuns, turn or turns", scheme)
	}
	if strings.HasPrefix(rest, "//") {
		return "", errors.New("STUN/TURN URIs have no '//' (write turn:host:port)")
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return "", err
	}
	out := scheme + ":" + host
	if strings.Contains(host, ":") {
		out = scheme + ":[" + host + "]"
	}
	if port != 0 {
		out += ":" + strconv.Itoa(port)
	}
	if hasQuery {
		if !strings.HasPrefix(scheme, "turn") {
			return "", errors.New("only turn: and turns: URIs take ?transport=")
		}
		t, ok := strings.CutPrefix(strings.ToLower(query), "transport=")
		if !ok || (t != "udp" && t != "tcp") {
			return "", errors.New("the query must be ?transport=udp or ?transport=tcp")
		}
		out += "?transport=" + t
	}
	return out, nil
}
