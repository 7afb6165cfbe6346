package web

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"webrtcgw/options"
)

// maxOriginLen bounds the Origin header: a real origin is short, and an
// oversized one is refused before it is parsed.
const maxOriginLen = 512

// origin is a browser origin serialised per RFC 6454 section 6.1: lower-case
// scheme and host, IPv6 host without brackets, port resolved.
type origin struct {
	scheme, host string
	port         int
}

var errBadOrigin = errors.New("malformed origin")

// parseOrigin parses an Origin header value (RFC 6454 section 7).
func parseOrigin(v string) (origin, error) {
	if len(v) > maxOriginLen {
		return origin{}, errors.New("origin too long")
	}
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return origin{}, errBadOrigin
	}
	o := origin{scheme: strings.ToLower(scheme)}
	if o.scheme != "http" && o.scheme != "https" {
		return origin{}, errBadOrigin
	}
	if rest == "" || strings.ContainsAny(rest, "/?#@ \t\\") {
		return origin{}, errBadOrigin
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return origin{}, errBadOrigin
		}
		host, port = rest[1:end], rest[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return origin{}, errBadOrigin
		}
		host = a.String()
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return origin{}, errBadOrigin
			}
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port = rest[:i], rest[i+1:]
	}
	if host == "" {
		return origin{}, errBadOrigin
	}
	o.host = strings.ToLower(host)
	for i := 0; i < len(o.host); i++ {
		c := o.host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':') {
			return origin{}, errBadOrigin
		}
	}
	o.port = options.DefaultPort(o.scheme)
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '+' {
			return origin{}, errBadOrigin
		}
		o.port = n
	}
	return o, nil
}

// corsDecision is what the CORS check concluded about one request.
type corsDecision int

const (
	corsNone    corsDecision = iota // no Origin header: not a cross-origin browser request
	corsSame                        // the gateway's own origin (the demo page)
	corsAllowed                     // listed in domain-whitelist, or the whitelist is empty
	corsRefused
)

// checkOrigin decides on the Origin of r against the whitelist. self is the
// gateway's own origin as the browser sees it.
func checkOrigin(r *http.Request, whitelist []options.OriginPattern, self origin) (corsDecision, string) {
	values := r.Header.Values("Origin")
	switch len(values) {
	case 0:
		return corsNone, ""
	case 1:
	default:
		return corsRefused, "" // two Origin headers: never reflect either
	}
	o, err := parseOrigin(values[0])
	if err != nil {
		return corsRefused, ""
	}
	if o == self {
		return corsSame, values[0]
	}
	if len(whitelist) == 0 {
		return corsAllowed, values[0]
	}
	for _, p := range whitelist {
		if p.Match(o.scheme, o.host, o.port) {
			return corsAllowed, values[0]
		}
	}
	return corsRefused, ""
}

// selfOrigin is the origin of the page a browser loaded from this request's
// Host: what the demo page's own requests carry as Origin.
func selfOrigin(r *http.Request, https bool) origin {
	scheme := "http"
	if https {
		scheme = "https"
	}
	o, err := parseOrigin(scheme + "://" + r.Host)
	if err != nil {
		return origin{scheme: "invalid"}
	}
	return o
}

// maxPreflightHeaders bounds Access-Control-Request-Headers.
const maxPreflightHeaders = 1024

// preflightHeaders checks the headers a preflight asks for: a short list of
// HTTP tokens, echoed back as allowed. ok is false for anything else.
func preflightHeaders(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	if len(v) > maxPreflightHeaders {
		return "", false
	}
	names := strings.Split(v, ",")
	if len(names) > 20 {
		return "", false
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		for i := 0; i < len(n); i++ {
			c := n[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
		out = append(out, strings.ToLower(n))
	}
	return strings.Join(out, ", "), true
}
