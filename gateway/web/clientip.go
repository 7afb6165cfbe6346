package web

import (
	"net/http"
	"net/netip"

	"webrtcgw/internal/clientip"
)

// clientIP returns the address of the client behind r and whether a trusted
// proxy said the client used HTTPS: clientip.From, which the Configuration
// Server uses as well.
func clientIP(r *http.Request, trusted []netip.Prefix) (ip netip.Addr, forwardedHTTPS bool) {
	return clientip.From(r, trusted)
}
