package hostcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"
)

// certWarnBefore is how long before expiry a certificate is warned about.
const certWarnBefore = 30 * 24 * time.Hour

func checkOptions(s *Snapshot) verdict {
	var v verdict
	gw := s.Gateway
	check := fmt.Sprintf("webrtc-gateway -check -config %s", gw.ConfigPath)
	switch {
	case gw.ReadErr != "":
		v.cannotRead([]string{gw.ConfigPath + ": " + gw.ReadErr})
	case gw.Absent && s.Units[UnitGateway].Enabled():
		v.fail(fmt.Sprintf("%s is enabled but its options file %s (%s) does not exist", UnitGateway, gw.ConfigPath, gw.From),
			"install /etc/webrtc-gateway/webrtc-gateway.ini (the package's sample) or fix -config in the unit")
	case gw.Absent && s.Units[UnitLCA].Enabled() && lcaAppUsing(s, gw.ConfigPath) != "":
		v.fail(fmt.Sprintf("%s is enabled and starts [app %s] with -config %s, which does not exist", UnitLCA, lcaAppUsing(s, gw.ConfigPath), gw.ConfigPath),
			"install the options file, or fix the application's arguments in lca.ini")
	case gw.Absent:
		v.skip(fmt.Sprintf("no options file at %s (%s): the gateway is not installed here, or runs from a Configuration Server; the checks of its options are skipped (give -config FILE)", gw.ConfigPath, gw.From))
	case len(gw.Invalid) > 0:
		v.fail(fmt.Sprintf("%s is invalid: %s", gw.ConfigPath, strings.Join(gw.Invalid, "; ")), "fix the options listed; "+check+" shows them all")
	case len(gw.Warnings) > 0:
		v.warn(fmt.Sprintf("%s is valid, with warnings: %s", gw.ConfigPath, strings.Join(gw.Warnings, "; ")), "see docs/options.md for each option; "+check)
	default:
		v.pass(fmt.Sprintf("%s is valid (%s)", gw.ConfigPath, gw.From))
	}
	return v
}

// lcaAppUsing returns the lca.ini application started with an options file.
func lcaAppUsing(s *Snapshot, config string) string {
	for _, a := range s.LCAApps {
		if c, ok := FlagValue(a.Args, "config"); ok && absPath(c) == config {
			return a.Name
		}
	}
	return ""
}

// optionsSkip is the verdict of a check of the options when they could
// not be used.
func optionsSkip(s *Snapshot) (verdict, bool) {
	var v verdict
	if s.Gateway.Options != nil {
		return v, false
	}
	v.skip(fmt.Sprintf("skipped: the options of %s were not read (see the check options)", s.Gateway.ConfigPath))
	return v, true
}

func checkHTTPS(s *Snapshot) verdict {
	if v, skip := optionsSkip(s); skip {
		return v
	}
	var v verdict
	web := s.Gateway.Options.Web()
	file := s.Gateway.ConfigPath
	if web.HTTPSPort == 0 {
		if web.HTTPPort != 0 && len(web.TrustedProxies) > 0 {
			v.warn(fmt.Sprintf("HTTPS is off in the gateway; plain HTTP on port %d behind trusted proxies %s (TLS is theirs)", web.HTTPPort, prefixList(web.TrustedProxies)),
				fmt.Sprintf("make sure only the proxies reach port %d (firewall), and that they serve a CA-signed certificate", web.HTTPPort))
		} else {
			v.fail(fmt.Sprintf("HTTPS is off ([web] https-port = 0 in %s)", file),
				"set [web] https-port = 8443 (or 443 with the low-ports drop-in), certificate and certificate-key")
		}
		return v
	}
	if web.HTTPPort != 0 {
		v.warn(fmt.Sprintf("a plain HTTP listener is on as well ([web] http-port = %d)", web.HTTPPort),
			"set [web] http-port = 0, unless a TLS-terminating proxy uses it (then let only the proxy reach it)")
	}
	if web.Certificate == "" {
		v.fail(fmt.Sprintf("[web] certificate is empty in %s: the gateway serves a self-signed certificate (%s), which browsers refuse until each user trusts it",
			file, path.Join(s.Gateway.DataDir, "tls/self-signed.crt")),
			"set [web] certificate = /etc/webrtc-gateway/tls/gateway.crt and certificate-key = /etc/webrtc-gateway/tls/gateway.key (a certificate from your CA, key 0640 root:webrtcgw); systemctl reload webrtc-gateway")
		return v
	}
	judgeCertificate(s, &v, "[web] certificate", absPath(web.Certificate), true)
	return v
}

// judgeCertificate reads a certificate of the snapshot and judges its
// issuer and validity.
func judgeCertificate(s *Snapshot, v *verdict, what, file string, mustNotSelfSign bool) {
	data, ok := s.Certs[file]
	if !ok {
		if reason, unreadable := s.Unreadable[file]; unreadable {
			v.cannotRead([]string{file + ": " + reason})
		} else {
			v.fail(fmt.Sprintf("%s %s does not exist: the gateway refuses to start with it", what, file), "install the certificate there, or fix the option")
		}
		return
	}
	cert, err := parseLeaf(data)
	if err != nil {
		v.fail(fmt.Sprintf("%s %s: %v", what, file, err), "put the PEM certificate chain there, the server's certificate first")
		return
	}
	renew := fmt.Sprintf("renew it (%s) and reload the gateway (systemctl reload webrtc-gateway)", file)
	desc := fmt.Sprintf("%s %s: subject %q, issued by %q, valid until %s", what, file, cert.Subject.String(), cert.Issuer.String(), cert.NotAfter.UTC().Format("2006-01-02"))
	left := cert.NotAfter.Sub(s.Now)
	switch {
	case s.Now.After(cert.NotAfter):
		v.fail(desc+": expired", renew)
	case s.Now.Before(cert.NotBefore):
		v.fail(desc+": not valid before "+cert.NotBefore.UTC().Format(time.RFC3339), "check the host's clock, or the certificate")
	case left < certWarnBefore:
		v.warn(fmt.Sprintf("%s: expires in %d days", desc, int(left.Hours()/24)), renew)
	}
	if mustNotSelfSign && selfSigned(cert) {
		v.fail(desc+": self-signed: browsers refuse it until each user trusts it",
			"use a certificate signed by a CA the browsers trust (your enterprise CA or a public one)")
	}
	v.pass(desc)
}

// parseLeaf returns the first certificate of a PEM file.
func parseLeaf(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("no PEM certificate in it")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("not a certificate: %w", err)
		}
		return c, nil
	}
}

// selfSigned reports whether a certificate is signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// weakSRTPProfiles are the profiles the guide advises against: a 32-bit
// authentication tag (RFC 3711 section 9.5: 80 bits for general use).
var weakSRTPProfiles = []string{"AES128_CM_HMAC_SHA1_32"}

func checkDTLSSRTP(s *Snapshot) verdict {
	if v, skip := optionsSkip(s); skip {
		return v
	}
	var v verdict
	m := s.Gateway.Options.Media()
	for _, p := range m.SRTPProfiles {
		if slices.Contains(weakSRTPProfiles, p) {
			var keep []string
			for _, q := range m.SRTPProfiles {
				if !slices.Contains(weakSRTPProfiles, q) {
					keep = append(keep, q)
				}
			}
			if len(keep) == 0 {
				keep = []string{"AEAD_AES_128_GCM", "AES128_CM_HMAC_SHA1_80"}
			}
			v.warn("[media] srtp-profiles offers "+p+" (a 32-bit authentication tag)",
				"set [media] srtp-profiles = "+strings.Join(keep, ","))
		}
	}
	v.pass(fmt.Sprintf("browser media is always DTLS-SRTP (dtls-role %s; profiles %s)", m.DTLSRole, strings.Join(m.SRTPProfiles, ", ")))
	return v
}

// localSIPServer reports whether the SIP Server is this host: loopback, the
// host's name or one of its addresses.
func localSIPServer(s *Snapshot, host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if name := strings.ToLower(s.Hostname); name != "" {
		short, _, _ := strings.Cut(name, ".")
		if h == name || h == short {
			return true
		}
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || slices.Contains(s.LocalAddrs, a)
}

func checkSIPTLS(s *Snapshot) verdict {
	if v, skip := optionsSkip(s); skip {
		return v
	}
	var v verdict
	sip := s.Gateway.Options.SIP()
	if sip.Server.Host == "" {
		if sip.SRTP == "sdes" && sip.Transport != "tls" {
			v.fail(fmt.Sprintf("[sip] srtp = sdes over sip-transport %s: the media keys travel in clear in the SDP", sip.Transport),
				"set [sip] sip-transport = tls")
			return v
		}
		v.skip("[sip] sip-server is empty: the SIP Server comes from the Configuration Server, so whether it is remote is not known here")
		return v
	}
	server := sip.Server.String()
	if localSIPServer(s, sip.Server.Host) {
		v.pass(fmt.Sprintf("SIP Server %s is on this host: signalling and media stay on it (transport %s, srtp %s)", server, sip.Transport, sip.SRTP))
		return v
	}
	if sip.Transport != "tls" {
		if sip.SRTP == "sdes" {
			v.fail(fmt.Sprintf("[sip] srtp = sdes over sip-transport %s to %s: the media keys travel in clear in the SDP", sip.Transport, server),
				"set [sip] sip-transport = tls (the SIP Server's TLS port, usually 5061) and tls-ca to the CA of its certificate")
		} else {
			v.warn(fmt.Sprintf("SIP signalling to the remote SIP Server %s is in clear (sip-transport %s)", server, sip.Transport),
				"set [sip] sip-transport = tls (the SIP Server's TLS port, usually 5061) and tls-ca to the CA of its certificate")
		}
	}
	if sip.SRTP != "sdes" {
		v.warn(fmt.Sprintf("media to the remote SIP side is plain RTP ([sip] srtp = %s)", sip.SRTP),
			"set [sip] srtp = sdes (with sip-transport = tls), if the SIP Server and media servers support SRTP")
	}
	if sip.Transport == "tls" && sip.TLSCertificate != "" {
		judgeCertificate(s, &v, "[sip] tls-certificate", absPath(sip.TLSCertificate), false)
	}
	v.pass(fmt.Sprintf("SIP to %s over TLS with SRTP (SDES)", server))
	return v
}

func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}
