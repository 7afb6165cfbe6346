// Package clientip finds the address of an HTTP client behind trusted
// reverse proxies and load balancers (X-Forwarded-For, X-Forwarded-Proto),
// for the gateway's web server ([web] trusted-proxies) and the Configuration
// Server (-trusted-proxies), so that bans, limits and logs see the same
// client in both.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"webrtcgw/options"
)

// From returns the address of the client behind r: the peer itself, or,
// when the peer is a trusted proxy, the rightmost address of
// X-Forwarded-For that is not a trusted proxy (addresses to its left could
// be forged by the client). When every hop is trusted it is the leftmost
// hop; a hop that is not an IP address ends the walk at the last trusted
// hop before it. forwardedHTTPS tells whether a trusted proxy said the
// client used HTTPS (the last X-Forwarded-Proto value is "https").
//
// The address is unmapped (::ffff:192.0.2.1 is 192.0.2.1) and has no zone;
// it is the zero Addr when r.RemoteAddr is not an IP address.
func From(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, forwardedHTTPS bool) {
	peer := remoteAddr(r)
	if !contains(trusted, peer) {
		return peer, false
	}
	forwardedHTTPS = strings.EqualFold(strings.TrimSpace(lastValue(r.Header.Values("X-Forwarded-Proto"))), "https")
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(strings.Trim(h, "[]"))
		if err != nil {
			// Garbage in the chain: stop believing it at this point.
			return peer, forwardedHTTPS
		}
		a = a.Unmap().WithZone("")
		if !contains(trusted, a) {
			return a, forwardedHTTPS
		}
		peer = a
	}
	return peer, forwardedHTTPS
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func contains(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	parts := strings.Split(vs[len(vs)-1], ",")
	return parts[len(parts)-1]
}

// ParsePrefixes parses a comma-separated list of IP prefixes and addresses
// (an address stands for itself: /32 or /128), such as
// "10.0.0.0/8, 192.0.2.7, 2001:db8::/32". Empty items are skipped; an empty
// list is nil (no proxy is trusted). The error names the first bad item and
// says what is wrong with it.
//
// The rules are those of the gateway's [web] trusted-proxies option: a
// prefix with bits set after its length (10.0.0.1/8) is refused with the
// prefix meant, and so are IPv6 zones and IPv4-mapped IPv6 prefixes.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
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
