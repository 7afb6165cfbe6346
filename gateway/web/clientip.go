package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client behind r: the peer itself, or,
// when the peer is a trusted proxy, the rightmost address of X-Forwarded-For
// that is not a trusted proxy (addresses to its left could be forged by the
// client). forwardedHTTPS tells whether a trusted proxy said the client used
// HTTPS (X-Forwarded-Proto).
func clientIP(r *http.Request, trusted []netip.Prefix) (ip netip.Addr, forwardedHTTPS bool) {
	peer := remoteAddr(r)
	if !isTrusted(peer, trusted) {
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
		if !isTrusted(a, trusted) {
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

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
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
