package options

import (
	"fmt"
	"strings"
	"time"
)

// clientPollingTimeout is the browser library's default polling_timeout: a
// hanging GET held longer than this is aborted by the browser first.
const clientPollingTimeout = 30 * time.Second

// crossCheck applies the rules that involve more than one option. A rule runs
// only when every option it reads holds a valid value.
type crossCheck struct {
	s        *Set
	invalid  map[string]bool // section/name of values that did not parse
	problems []Problem
	warnings []Problem
}

// valid reports whether every named option of section parsed.
func (c *crossCheck) valid(section string, names ...string) bool {
	for _, n := range names {
		if c.invalid[section+"/"+n] {
			return false
		}
	}
	return true
}

func (c *crossCheck) fail(section, name, format string, args ...any) {
	c.problems = append(c.problems, Problem{section, name, fmt.Sprintf(format, args...)})
}

func (c *crossCheck) warn(section, name, format string, args ...any) {
	c.warnings = append(c.warnings, Problem{section, name, fmt.Sprintf(format, args...)})
}

func (c *crossCheck) run() {
	c.web()
	c.sip()
	c.media()
	c.ports()
}

func (c *crossCheck) web() {
	w := c.s.v.Web
	if c.valid(SectionWeb, "https-port", "http-port") {
		switch {
		case w.HTTPSPort == 0 && w.HTTPPort == 0:
			c.fail(SectionWeb, "https-port", "https-port and http-port are both 0: browsers could not connect; set at least one")
		case w.HTTPSPort == w.HTTPPort:
			c.fail(SectionWeb, "http-port", "http-port %d is also https-port: use two ports", w.HTTPPort)
		}
	}
	if c.valid(SectionWeb, "certificate", "certificate-key") && (w.Certificate == "") != (w.CertificateKey == "") {
		c.fail(SectionWeb, "certificate-key", "certificate and certificate-key must be set together (one is empty)")
	}
	if c.valid(SectionWeb, "polling-timeout", "session-timeout") && w.PollingTimeout >= w.SessionTimeout {
		c.fail(SectionWeb, "session-timeout", "session-timeout %s must be longer than polling-timeout %s, or sessions expire while they poll",
			secs(w.SessionTimeout), secs(w.PollingTimeout))
	}
	if c.valid(SectionWeb, "anonymous-session-timeout", "session-timeout") && w.AnonymousSessionTimeout > w.SessionTimeout {
		c.warn(SectionWeb, "anonymous-session-timeout", "%s is longer than session-timeout %s: anonymous sessions are meant to expire sooner than registered ones",
			secs(w.AnonymousSessionTimeout), secs(w.SessionTimeout))
	}
	if c.valid(SectionWeb, "max-anonymous-sessions", "max-sessions") && w.MaxAnonymousSessions > w.MaxSessions {
		c.warn(SectionWeb, "max-anonymous-sessions", "%d is more than max-sessions %d: anonymous sessions can take every session, none is kept for agents",
			w.MaxAnonymousSessions, w.MaxSessions)
	}
	if c.valid(SectionWeb, "polling-timeout") && w.PollingTimeout >= clientPollingTimeout {
		c.warn(SectionWeb, "polling-timeout", "%s is not below the browser library's default polling_timeout of 30 s: clients that keep the default abort each poll and retry",
			secs(w.PollingTimeout))
	}
	if c.valid(SectionWeb, "domain-whitelist") && len(w.DomainWhitelist) == 0 {
		c.warn(SectionWeb, "domain-whitelist", "empty: every web origin may use the gateway (CORS allows all); list the origins of your web applications")
	}
	if c.valid(SectionWeb, "http-port", "trusted-proxies") && w.HTTPPort != 0 && len(w.TrustedProxies) == 0 {
		c.warn(SectionWeb, "http-port", "plain HTTP is on and trusted-proxies is empty: plain HTTP is meant only behind a TLS-terminating proxy; list it in trusted-proxies")
	}
}

func (c *crossCheck) sip() {
	sp := c.s.v.SIP
	w := c.s.v.Web
	if c.valid(SectionSIP, "tls-certificate", "tls-certificate-key") && (sp.TLSCertificate == "") != (sp.TLSCertificateKey == "") {
		c.fail(SectionSIP, "tls-certificate-key", "tls-certificate and tls-certificate-key must be set together (one is empty)")
	}
	if c.valid(SectionSIP, "sip-transport", "tls-certificate") && c.valid(SectionWeb, "certificate") &&
		sp.Transport == "tls" && sp.TLSCertificate == "" && w.Certificate == "" {
		c.fail(SectionSIP, "sip-transport", "tls needs a certificate: set sip/tls-certificate and sip/tls-certificate-key (or web/certificate and web/certificate-key, used when the sip ones are empty)")
	}
	if c.valid(SectionSIP, "srtp", "sip-transport") && sp.SRTP == "sdes" && sp.Transport != "tls" {
		c.warn(SectionSIP, "srtp", "sdes over %s sends the SRTP keys in clear text in the SDP; use sip-transport=tls", sp.Transport)
	}
}

func (c *crossCheck) media() {
	m := c.s.v.Media
	if c.valid(SectionMedia, "codecs") {
		audio := false
		for _, codec := range m.Codecs {
			if codec != "telephone-event" {
				audio = true
			}
		}
		if !audio {
			c.fail(SectionMedia, "codecs", "lists no audio codec (telephone-event only carries DTMF); add PCMU or PCMA")
		}
	}
	if !c.valid(SectionMedia, "ice-servers", "turn-username", "turn-password") {
		return
	}
	turn := false
	for _, u := range m.ICEServers {
		if strings.HasPrefix(u, "turn") {
			turn = true
		}
	}
	if turn && (m.TURNUsername == "" || m.TURNPassword == "") {
		c.fail(SectionMedia, "turn-username", "ice-servers lists a TURN server: set turn-username and turn-password")
	}
	if !turn && (m.TURNUsername != "" || m.TURNPassword != "") {
		c.warn(SectionMedia, "turn-username", "turn-username/turn-password are set but ice-servers lists no turn: server; they are unused")
	}
}

// portRange is an inclusive UDP port range.
type portRange struct {
	name     string // "rtp-port-min..rtp-port-max"
	min, max int
}

func (r portRange) contains(p int) bool { return p >= r.min && p <= r.max }
func (r portRange) size() int           { return r.max - r.min + 1 }

// ports checks the media ranges against each other, against max-calls and
// against the other ports the gateway binds.
func (c *crossCheck) ports() {
	m := c.s.v.Media
	sp := c.s.v.SIP
	w := c.s.v.Web
	if !c.valid(SectionMedia, "rtp-port-min", "rtp-port-max", "webrtc-port-min", "webrtc-port-max", "webrtc-mux-port", "max-calls") ||
		!c.valid(SectionSIP, "sip-port", "sip-transport") || !c.valid(SectionWeb, "https-port", "http-port") {
		return
	}
	rtp := portRange{"rtp-port-min..rtp-port-max", m.RTPPortMin, m.RTPPortMax}
	webrtc := portRange{"webrtc-port-min..webrtc-port-max", m.WebRTCPortMin, m.WebRTCPortMax}
	ordered := true
	if rtp.min >= rtp.max {
		c.fail(SectionMedia, "rtp-port-min", "rtp-port-min %d must be below rtp-port-max %d", rtp.min, rtp.max)
		ordered = false
	}
	if webrtc.min >= webrtc.max {
		c.fail(SectionMedia, "webrtc-port-min", "webrtc-port-min %d must be below webrtc-port-max %d", webrtc.min, webrtc.max)
		ordered = false
	}
	if !ordered {
		return
	}
	if rtp.min <= webrtc.max && webrtc.min <= rtp.max {
		c.fail(SectionMedia, "webrtc-port-min", "the WebRTC range %d-%d overlaps the RTP range %d-%d: they must not share ports",
			webrtc.min, webrtc.max, rtp.min, rtp.max)
	}
	// A SIP-side call takes an RTP and an RTCP port.
	if rtp.size()/2 < m.MaxCalls {
		c.fail(SectionMedia, "rtp-port-max", "the RTP range %d-%d holds %d calls (2 ports each), fewer than max-calls %d: widen the range or lower max-calls",
			rtp.min, rtp.max, rtp.size()/2, m.MaxCalls)
	}
	if m.WebRTCMuxPort == 0 && webrtc.size() < m.MaxCalls {
		c.fail(SectionMedia, "webrtc-port-max", "the WebRTC range %d-%d holds %d calls (1 port each), fewer than max-calls %d: widen the range, lower max-calls or set webrtc-mux-port",
			webrtc.min, webrtc.max, webrtc.size(), m.MaxCalls)
	}
	if p := m.WebRTCMuxPort; p != 0 {
		for _, r := range []portRange{rtp, webrtc} {
			if r.contains(p) {
				c.fail(SectionMedia, "webrtc-mux-port", "%d lies in %s (%d-%d)", p, r.name, r.min, r.max)
			}
		}
		if sp.Transport == "udp" && p == sp.Port {
			c.fail(SectionMedia, "webrtc-mux-port", "%d is also sip/sip-port (UDP)", p)
		}
	}
	if sp.Transport == "udp" {
		for _, r := range []portRange{rtp, webrtc} {
			if r.contains(sp.Port) {
				c.fail(SectionSIP, "sip-port", "%d (UDP) lies in media/%s (%d-%d)", sp.Port, r.name, r.min, r.max)
			}
		}
	} else if sp.Port == w.HTTPSPort || sp.Port == w.HTTPPort {
		c.fail(SectionSIP, "sip-port", "%d (TCP) is also a web signalling port", sp.Port)
	}
}

func secs(d time.Duration) string { return fmt.Sprintf("%d s", int(d/time.Second)) }
