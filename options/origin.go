package options

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OriginPattern is one entry of web/domain-whitelist.
//
//   - https://app.example.com[:port] — exactly that origin (RFC 6454: scheme,
//     host and port; the scheme's default port when none is written);
//   - app.example.com — that host with any scheme (http or https) and any port;
//   - *.example.com, https://*.example.com[:port] — any subdomain of
//     example.com at a label boundary (a.example.com, a.b.example.com), never
//     example.com itself nor badexample.com.
type OriginPattern struct {
	Scheme   string // "http" or "https"; empty matches both
	Host     string // lower case; for a wildcard, the parent domain
	Port     int    // with a scheme: the port (its default when none was written); without: 0, any port
	Wildcard bool   // Host is a parent domain
}

// DefaultPort returns the port an origin of scheme has when none is written.
func DefaultPort(scheme string) int {
	switch scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// ParseOriginPattern parses one domain-whitelist entry.
func ParseOriginPattern(s string) (OriginPattern, error) {
	switch s {
	case "*":
		return OriginPattern{}, errors.New("'*' is not an origin: leave domain-whitelist empty to allow every origin")
	case "null":
		return OriginPattern{}, errors.New("the opaque origin 'null' cannot be allowed")
	}
	var p OriginPattern
	hostport := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		p.Scheme = strings.ToLower(scheme)
		if p.Scheme != "http" && p.Scheme != "https" {
			return p, fmt.Errorf("scheme %q is not http or https", scheme)
		}
		rest = strings.TrimSuffix(rest, "/")
		if strings.ContainsAny(rest, "/?#") {
			return p, errors.New("an origin has no path, query or fragment")
		}
		if strings.Contains(rest, "@") {
			return p, errors.New("an origin has no user name")
		}
		hostport = rest
	}
	if rest, ok := strings.CutPrefix(hostport, "*."); ok {
		p.Wildcard = true
		hostport = rest
	}
	if strings.Contains(hostport, "*") {
		return p, errors.New("'*' is allowed only as the first label, as in *.example.com")
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return p, err
	}
	p.Host = host
	if p.Scheme == "" {
		if port != 0 {
			return p, fmt.Errorf("a bare host takes no port: write https://%s", hostport)
		}
	} else {
		p.Port = port
		if port == 0 {
			p.Port = DefaultPort(p.Scheme)
		}
	}
	if p.Wildcard {
		if strings.Contains(host, ":") || !strings.Contains(host, ".") {
			return p, fmt.Errorf("wildcard *.%s is too broad: name a domain with at least two labels", host)
		}
		if _, err := strconv.Atoi(host[strings.LastIndexByte(host, '.')+1:]); err == nil {
			return p, errors.New("a wildcard needs a domain name, not an IP address")
		}
	}
	return p, nil
}

// String returns the canonical form of the pattern (lower case, default
// port omitted).
func (p OriginPattern) String() string {
	host := p.Host
	if p.Wildcard {
		host = "*." + host
	}
	if p.Scheme == "" {
		return host
	}
	if p.Port != DefaultPort(p.Scheme) {
		return p.Scheme + "://" + joinHostPort(host, p.Port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return p.Scheme + "://" + host
}

// Match reports whether the origin (scheme, host, port) matches the pattern.
// The caller passes the origin serialised per RFC 6454 section 6.1: scheme
// and host in lower case, IPv6 hosts without brackets, and the port resolved
// (the scheme's default when the origin carries none).
func (p OriginPattern) Match(scheme, host string, port int) bool {
	if p.Scheme != "" && (scheme != p.Scheme || port != p.Port) {
		return false
	}
	if p.Scheme == "" && scheme != "http" && scheme != "https" {
		return false
	}
	if p.Wildcard {
		return strings.HasSuffix(host, "."+p.Host) && len(host) > len(p.Host)+1
	}
	return host == p.Host
}
