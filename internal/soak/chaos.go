package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

// Outcomes of an option change.
const (
	outcomeApplied   = "applied"   // written, the gateway reported it applied
	outcomeRejected  = "rejected"  // written, the gateway reported it rejected
	outcomeRefused   = "refused"   // confserv refused it (422) naming the option
	outcomeUnchanged = "unchanged" // the write changed nothing: no revision
)

// Kinds of changes.
const (
	kindValid       = "valid"
	kindInvalid     = "invalid"
	kindUnappliable = "unappliable"
)

// change is one operator write: options to set and what must become of it.
type change struct {
	name   string            // what it tests
	key    string            // what it is counted under: the bad change, or the valid generators
	set    map[string]string // "section/option" → value; section sml is the annex
	want   string            // the expected outcome
	expect string            // refused: the option the problems name; rejected: text of the report's error
}

func (c *change) describe() string {
	keys := slices.Sorted(maps.Keys(c.set))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := c.set[k]
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// portPlan is where the option changes take ports from. Everything is
// below the kernel's ephemeral range (32768 and up), so that no port the
// harness, the peers or the browsers get from the kernel collides with one
// an option names. One port of some pools is held by the harness: the
// gateway cannot bind it.
type portPlan struct {
	https, http, sip, mux        []int
	rtpBlocks, webrtcBlocks      []int // first ports of 200-port ranges
	heldTCP, heldUDP, heldMuxUDP int
}

const blockSize = 200

func newPortPlan() *portPlan {
	p := &portPlan{heldTCP: 10049, heldUDP: 11049, heldMuxUDP: 12049}
	for i := range 49 {
		p.https = append(p.https, 10000+i)
		p.http = append(p.http, 10100+i)
		p.sip = append(p.sip, 11000+i)
		p.mux = append(p.mux, 12000+i)
	}
	for i := range 50 {
		p.rtpBlocks = append(p.rtpBlocks, 14000+i*100)
		p.webrtcBlocks = append(p.webrtcBlocks, 20000+i*100)
	}
	return p
}

// hold binds the held ports on 127.0.0.1 (a plain TCP listener without
// SO_REUSEPORT, UDP sockets) until the stack stops.
func (p *portPlan) hold(s *stack) error {
	l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p.heldTCP))
	if err != nil {
		return fmt.Errorf("hold TCP %d: %w", p.heldTCP, err)
	}
	s.held = append(s.held, l.Close)
	for _, port := range []int{p.heldUDP, p.heldMuxUDP} {
		c, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("hold UDP %d: %w", port, err)
		}
		s.held = append(s.held, c.Close)
	}
	return nil
}

// initialOptions is the gateway application's first option set: every
// option the changes touch, set explicitly.
func (h *harness) initialOptions(p *portPlan) (api.Sections, api.Sections) {
	opts := api.Sections{
		"web": {"listen-address": "127.0.0.1", "https-port": itoa(p.https[0]), "http-port": "0", "certificate": "", "certificate-key": "",
			"tls-min-version": "1.2", "domain-whitelist": origin, "trusted-proxies": "", "polling-timeout": "10", "session-timeout": "30",
			"max-sessions": "1000", "max-request-size": "64KB", "demo-page": "true"},
		"sip": {"sip-server": "", "sip-port": itoa(p.sip[0]), "sip-transport": "udp", "sip-address": "", "register-expires": "120",
			"invite-timeout": "60", "srtp": "off"},
		"media": {"rtp-port-min": itoa(p.rtpBlocks[0]), "rtp-port-max": itoa(p.rtpBlocks[0] + blockSize - 1),
			"webrtc-port-min": itoa(p.webrtcBlocks[0]), "webrtc-port-max": itoa(p.webrtcBlocks[0] + blockSize - 1), "webrtc-mux-port": "0",
			"public-address": "", "ice-servers": "", "turn-username": "", "turn-password": "", "dtls-role": "auto",
			"srtp-profiles": "AEAD_AES_128_GCM,AES128_CM_HMAC_SHA1_80", "codecs": "PCMU,PCMA,telephone-event", "rtp-timeout": "30", "max-calls": "50"},
		"security": {"ban-max-failures": "3", "ban-find-time": "600", "ban-time": "60", "ban-exempt": ""},
		"log":      {"verbose": "debug", "all": filepath.Join(h.st.gwDir, "gateway.log"), "segment": "100MB", "expire": "10"},
	}
	annex := api.Sections{"sml": {"heartbeat-period": "10", "suspending-wait-timeout": "10", "hangup-restart": "true"}}
	if h.cfg.lca {
		annex["sml"]["autostart"] = "true"
	}
	return opts, annex
}

// generator makes the values of one change from the stored options; ok is
// false when it has nothing to offer now.
type generator struct {
	name string
	make func(cur func(string) string) (set map[string]string, ok bool)
}

// badChange is a change that must not take effect.
type badChange struct {
	name   string
	expect string
	make   func(cur func(string) string) map[string]string
}

// chaos is the operator: every interval it writes a random change to the
// gateway application in confserv — valid, invalid (confserv must refuse
// it, naming the option), or valid on paper but impossible for the gateway
// (it must reject it, report why and keep running) — and waits for the
// gateway's report of the revision.
type chaos struct {
	h    *harness
	plan *portPlan

	stored  api.Application // as last written
	applied api.Application // the options the gateway runs (last applied revision)
	// turn-password as written and as applied (GET masks it)
	storedTurn, appliedTurn string

	valid       []generator
	invalid     []badChange
	unappliable []badChange
}

func newChaos(h *harness, plan *portPlan, app api.Application) *chaos {
	c := &chaos{h: h, plan: plan, stored: app, applied: app}
	c.valid = c.validGenerators()
	c.invalid = c.invalidChanges()
	c.unappliable = c.unappliableChanges()
	return c
}

// pick returns a random element.
func pick[T any](h *harness, list []T) T { return list[h.intn(len(list))] }

// pickOther returns a random element other than cur (cur when it is the
// only one).
func pickOther(h *harness, list []string, cur string) string {
	var others []string
	for _, v := range list {
		if v != cur {
			others = append(others, v)
		}
	}
	if len(others) == 0 {
		return cur
	}
	return pick(h, others)
}

func ports(list []int, exclude ...string) []string {
	var out []string
	for _, p := range list {
		s := strconv.Itoa(p)
		if !slices.Contains(exclude, s) {
			out = append(out, s)
		}
	}
	return out
}

func (c *chaos) validGenerators() []generator {
	h, p := c.h, c.plan
	gw := h.st.gwDir
	kam := "127.0.0.1:" + itoa(h.st.kamPort)
	one := func(key string, values ...string) func(func(string) string) (map[string]string, bool) {
		return func(cur func(string) string) (map[string]string, bool) {
			v := pickOther(h, values, cur(key))
			return map[string]string{key: v}, v != cur(key)
		}
	}
	num := func(key string, lo, hi int) func(func(string) string) (map[string]string, bool) {
		return func(cur func(string) string) (map[string]string, bool) {
			return map[string]string{key: itoa(lo + h.intn(hi-lo+1))}, true
		}
	}
	certs := []string{""}
	for _, pair := range h.certs.Valid {
		certs = append(certs, pair[0])
	}
	keyOf := map[string]string{"": ""}
	for _, pair := range h.certs.Valid {
		keyOf[pair[0]] = pair[1]
	}
	minCalls := h.cfg.browsers + 5
	gens := []generator{
		{"web/https-port", func(cur func(string) string) (map[string]string, bool) {
			return map[string]string{"web/https-port": pick(h, ports(p.https, cur("web/https-port")))}, true
		}},
		{"web/listen-address", one("web/listen-address", "", "127.0.0.1", "0.0.0.0")},
		{"web/http-port", one("web/http-port", append([]string{"0", "0", "0"}, ports(p.http)...)...)},
		{"web/certificate", func(cur func(string) string) (map[string]string, bool) {
			crt := pickOther(h, certs, cur("web/certificate"))
			return map[string]string{"web/certificate": crt, "web/certificate-key": keyOf[crt]}, true
		}},
		{"web/tls-min-version", one("web/tls-min-version", "1.2", "1.3")},
		{"web/domain-whitelist", one("web/domain-whitelist", "", origin, origin+",https://crm.example.com",
			"app.soak.test", "*.soak.test,https://other.example.org:8443")},
		{"web/trusted-proxies", one("web/trusted-proxies", "", "10.0.0.0/8", "192.0.2.1,198.51.100.0/24", "127.0.0.3")},
		{"web/polling-timeout", func(func(string) string) (map[string]string, bool) {
			poll := 3 + h.intn(23)
			return map[string]string{"web/polling-timeout": itoa(poll), "web/session-timeout": itoa(poll + 5 + h.intn(90))}, true
		}},
		{"web/max-sessions", num("web/max-sessions", h.cfg.browsers+10, 100000)},
		{"web/max-request-size", one("web/max-request-size", "16KB", "32KB", "64KB", "256KB", "1MB")},
		{"web/demo-page", one("web/demo-page", "true", "false")},
		{"sip/sip-server", one("sip/sip-server", "", kam)},
		{"sip/sip-port", func(cur func(string) string) (map[string]string, bool) {
			return map[string]string{"sip/sip-port": pick(h, ports(p.sip, cur("sip/sip-port")))}, true
		}},
		{"sip/sip-transport", one("sip/sip-transport", "udp", "tcp")},
		{"sip/sip-port+transport", func(cur func(string) string) (map[string]string, bool) {
			return map[string]string{"sip/sip-port": pick(h, ports(p.sip, cur("sip/sip-port"))),
				"sip/sip-transport": pickOther(h, []string{"udp", "tcp"}, cur("sip/sip-transport"))}, true
		}},
		{"sip/sip-address", one("sip/sip-address", "", "127.0.0.1")},
		{"sip/register-expires", num("sip/register-expires", 60, 3600)},
		{"sip/invite-timeout", num("sip/invite-timeout", 30, 180)},
		{"media/rtp-port-range", func(cur func(string) string) (map[string]string, bool) {
			lo := pick(h, ports(p.rtpBlocks, cur("media/rtp-port-min")))
			n, _ := strconv.Atoi(lo)
			return map[string]string{"media/rtp-port-min": lo, "media/rtp-port-max": itoa(n + blockSize - 1)}, true
		}},
		{"media/webrtc-port-range", func(cur func(string) string) (map[string]string, bool) {
			lo := pick(h, ports(p.webrtcBlocks, cur("media/webrtc-port-min")))
			n, _ := strconv.Atoi(lo)
			return map[string]string{"media/webrtc-port-min": lo, "media/webrtc-port-max": itoa(n + blockSize - 1)}, true
		}},
		{"media/webrtc-mux-port", one("media/webrtc-mux-port", append([]string{"0", "0"}, ports(p.mux)...)...)},
		{"media/public-address", one("media/public-address", "", "127.0.0.1")},
		{"media/dtls-role", one("media/dtls-role", "auto", "client", "server")},
		{"media/srtp-profiles", one("media/srtp-profiles", "AEAD_AES_128_GCM,AES128_CM_HMAC_SHA1_80", "AES128_CM_HMAC_SHA1_80",
			"AEAD_AES_256_GCM,AEAD_AES_128_GCM", "AES128_CM_HMAC_SHA1_32,AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM")},
		{"media/codecs", one("media/codecs", "PCMU,PCMA,telephone-event", "PCMA,PCMU,telephone-event", "PCMU", "PCMA,telephone-event",
			"opus,G722,PCMU,PCMA,telephone-event", "G722,PCMA,PCMU")},
		{"media/rtp-timeout", func(func(string) string) (map[string]string, bool) {
			if h.intn(4) == 0 {
				return map[string]string{"media/rtp-timeout": "0"}, true
			}
			return map[string]string{"media/rtp-timeout": itoa(5 + h.intn(56))}, true
		}},
		{"media/max-calls", num("media/max-calls", minCalls, blockSize/2)},
		{"security/ban-max-failures", num("security/ban-max-failures", 0, 10)},
		{"security/ban-find-time", num("security/ban-find-time", 10, 3600)},
		{"security/ban-time", num("security/ban-time", 1, 600)},
		{"security/ban-exempt", one("security/ban-exempt", "", "10.0.0.0/8", intruderIP, "192.0.2.0/24,198.51.100.7")},
		{"log/verbose", one("log/verbose", "all", "debug", "debug", "trace", "interaction", "standard", "standard", "alarm")},
		{"log/all", one("log/all", filepath.Join(gw, "gateway.log"), "stdout", "stdout,"+filepath.Join(gw, "gateway.log"),
			filepath.Join(gw, "gateway-2.log"), "stderr")},
		{"log/segment", one("log/segment", "0", "64KB", "1MB", "100MB")},
		{"log/expire", num("log/expire", 0, 20)},
		{"sml/heartbeat-period", one("sml/heartbeat-period", "0", "10", "30")},
		{"sml/suspending-wait-timeout", num("sml/suspending-wait-timeout", 5, 60)},
	}
	if h.cfg.turn {
		stun := "stun:127.0.0.1:" + itoa(h.st.turnPort)
		turn := "turn:127.0.0.1:" + itoa(h.st.turnPort) + "?transport=udp"
		gens = append(gens, generator{"media/ice-servers", func(cur func(string) string) (map[string]string, bool) {
			v := pickOther(h, []string{"", stun, turn, stun + "," + turn}, cur("media/ice-servers"))
			set := map[string]string{"media/ice-servers": v, "media/turn-username": "", "media/turn-password": ""}
			if strings.Contains(v, "turn:") {
				set["media/turn-username"], set["media/turn-password"] = turnUser, turnPass
			}
			return set, true
		}})
	}
	return gens
}

func (c *chaos) invalidChanges() []badChange {
	fixed := func(kv ...string) func(func(string) string) map[string]string {
		return func(func(string) string) map[string]string {
			m := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i]] = kv[i+1]
			}
			return m
		}
	}
	return []badChange{
		{"out of range: web/https-port=70000", "web/https-port", fixed("web/https-port", "70000")},
		{"wrong type: web/https-port=https", "web/https-port", fixed("web/https-port", "https")},
		{"out of range: web/polling-timeout=0", "web/polling-timeout", fixed("web/polling-timeout", "0")},
		{"cross-field: polling-timeout ≥ session-timeout", "web/session-timeout", fixed("web/polling-timeout", "40", "web/session-timeout", "30")},
		{"out of range: web/max-sessions=0", "web/max-sessions", fixed("web/max-sessions", "0")},
		{"out of range: web/max-request-size=1KB", "web/max-request-size", fixed("web/max-request-size", "1KB")},
		{"wrong type: web/demo-page=maybe", "web/demo-page", fixed("web/demo-page", "maybe")},
		{"wrong value: web/domain-whitelist=*", "web/domain-whitelist", fixed("web/domain-whitelist", "*")},
		{"wrong value: web/domain-whitelist=ftp://", "web/domain-whitelist", fixed("web/domain-whitelist", "ftp://app.soak.test")},
		{"wrong value: web/trusted-proxies=10.0.0.0/33", "web/trusted-proxies", fixed("web/trusted-proxies", "10.0.0.0/33")},
		{"wrong type: web/listen-address=localhost", "web/listen-address", fixed("web/listen-address", "localhost")},
		{"cross-field: certificate without key", "web/certificate-key", fixed("web/certificate", c.h.certs.Valid[0][0], "web/certificate-key", "")},
		{"cross-field: https-port and http-port both 0", "web/https-port", fixed("web/https-port", "0", "web/http-port", "0")},
		{"wrong value: web/tls-min-version=1.1", "web/tls-min-version", fixed("web/tls-min-version", "1.1")},
		{"out of range: sip/sip-port=0", "sip/sip-port", fixed("sip/sip-port", "0")},
		{"wrong value: sip/sip-transport=sctp", "sip/sip-transport", fixed("sip/sip-transport", "sctp")},
		{"cross-field: sip-transport=tls without a certificate", "sip/sip-transport", fixed("sip/sip-transport", "tls",
			"sip/tls-certificate", "", "sip/tls-certificate-key", "", "web/certificate", "", "web/certificate-key", "")},
		{"out of range: sip/register-expires=30", "sip/register-expires", fixed("sip/register-expires", "30")},
		{"out of range: sip/invite-timeout=4000", "sip/invite-timeout", fixed("sip/invite-timeout", "4000")},
		{"wrong value: sip/sip-server=127.0.0.1:99999", "sip/sip-server", fixed("sip/sip-server", "127.0.0.1:99999")},
		{"wrong value: sip/srtp=zrtp", "sip/srtp", fixed("sip/srtp", "zrtp")},
		{"cross-field: sip-port (UDP) in the RTP range", "sip/sip-port", func(cur func(string) string) map[string]string {
			return map[string]string{"sip/sip-transport": "udp", "sip/sip-port": cur("media/rtp-port-min")}
		}},
		{"cross-field: rtp-port-min above rtp-port-max", "media/rtp-port-min", fixed("media/rtp-port-min", "16000", "media/rtp-port-max", "15000")},
		{"cross-field: WebRTC range overlaps the RTP range", "media/webrtc-port-min", func(cur func(string) string) map[string]string {
			lo, _ := strconv.Atoi(cur("media/rtp-port-min"))
			return map[string]string{"media/webrtc-port-min": itoa(lo + 50), "media/webrtc-port-max": itoa(lo + 50 + blockSize - 1)}
		}},
		{"cross-field: max-calls beyond the ranges", "media/rtp-port-max", fixed("media/max-calls", "5000")},
		{"cross-field: codecs without audio", "media/codecs", fixed("media/codecs", "telephone-event")},
		{"wrong value: media/codecs=PCMU,GSM", "media/codecs", fixed("media/codecs", "PCMU,GSM")},
		{"wrong value: media/dtls-role=both", "media/dtls-role", fixed("media/dtls-role", "both")},
		{"wrong value: media/srtp-profiles=NULL", "media/srtp-profiles", fixed("media/srtp-profiles", "NULL_CIPHER")},
		{"wrong value: media/ice-servers=http://", "media/ice-servers", fixed("media/ice-servers", "http://stun.example.com")},
		{"cross-field: TURN server without credentials", "media/turn-username", fixed("media/ice-servers", "turn:127.0.0.1:3478", "media/turn-username", "", "media/turn-password", "")},
		{"out of range: media/rtp-timeout=2", "media/rtp-timeout", fixed("media/rtp-timeout", "2")},
		{"wrong type: media/public-address=gateway", "media/public-address", fixed("media/public-address", "gateway")},
		{"out of range: media/webrtc-mux-port=80", "media/webrtc-mux-port", fixed("media/webrtc-mux-port", "80")},
		{"out of range: security/ban-max-failures=1001", "security/ban-max-failures", fixed("security/ban-max-failures", "1001")},
		{"out of range: security/ban-time=0", "security/ban-time", fixed("security/ban-time", "0")},
		{"wrong value: security/ban-exempt=10.0.0.1/8", "security/ban-exempt", fixed("security/ban-exempt", "10.0.0.1/8")},
		{"wrong value: log/verbose=loud", "log/verbose", fixed("log/verbose", "loud")},
		{"out of range: log/segment=1KB", "log/segment", fixed("log/segment", "1KB")},
		{"out of range: log/expire=-1", "log/expire", fixed("log/expire", "-1")},
		{"out of range: sml/heartbeat-period=7200", "sml/heartbeat-period", fixed("sml/heartbeat-period", "7200")},
		{"cross-field: http-port equal to https-port", "web/http-port", func(cur func(string) string) map[string]string {
			return map[string]string{"web/http-port": cur("web/https-port")}
		}},
	}
}

func (c *chaos) unappliableChanges() []badChange {
	p, certs := c.plan, c.h.certs
	return []badChange{
		{"log/all in a directory that does not exist", "log output", func(func(string) string) map[string]string {
			return map[string]string{"log/all": filepath.Join(c.h.st.dir, "no-such-dir", "gateway.log")}
		}},
		{"web/https-port taken by another process", "web/https-port", func(func(string) string) map[string]string {
			return map[string]string{"web/https-port": itoa(p.heldTCP)}
		}},
		{"sip/sip-port (UDP) taken by another process", "sip/sip-port", func(func(string) string) map[string]string {
			return map[string]string{"sip/sip-port": itoa(p.heldUDP), "sip/sip-transport": "udp"}
		}},
		{"media/webrtc-mux-port taken by another process", "media/webrtc-mux-port", func(func(string) string) map[string]string {
			return map[string]string{"media/webrtc-mux-port": itoa(p.heldMuxUDP)}
		}},
		{"web/certificate expired", "web/certificate", func(func(string) string) map[string]string {
			return map[string]string{"web/certificate": certs.Expired[0], "web/certificate-key": certs.Expired[1]}
		}},
		{"web/certificate with another certificate's key", "web/certificate", func(func(string) string) map[string]string {
			return map[string]string{"web/certificate": certs.Mismatched[0], "web/certificate-key": certs.Mismatched[1]}
		}},
		{"web/certificate files missing", "web/certificate", func(func(string) string) map[string]string {
			return map[string]string{"web/certificate": certs.Missing[0], "web/certificate-key": certs.Missing[1]}
		}},
	}
}

// get reads section/option from an application (section sml: the annex).
func get(app api.Application, key string) string {
	section, name, _ := strings.Cut(key, "/")
	if section == "sml" {
		return app.Annex[section][name]
	}
	return app.Options[section][name]
}

// withValues returns a deep copy of app with the values set.
func withValues(app api.Application, set map[string]string) api.Application {
	next := app
	next.Options, next.Annex = api.CloneSections(app.Options), api.CloneSections(app.Annex)
	next.Report, next.Status, next.Warnings = nil, nil, nil
	for k, v := range set {
		section, name, _ := strings.Cut(k, "/")
		target := next.Options
		if section == "sml" {
			if next.Annex == nil {
				next.Annex = api.Sections{}
			}
			target = next.Annex
		}
		if target[section] == nil {
			target[section] = map[string]string{}
		}
		target[section][name] = v
	}
	return next
}

// next makes the next change of kind.
func (c *chaos) next(kind string) *change {
	h := c.h
	cur := func(key string) string { return get(c.stored, key) }
	// over reads the options as set would leave them: a bad value derived
	// from another option (a port inside the RTP range) must see what the
	// rest of the same change does to that option.
	over := func(set map[string]string) func(string) string {
		return func(key string) string {
			if v, ok := set[key]; ok {
				return v
			}
			return cur(key)
		}
	}
	validSet := func(n int) (map[string]string, string) {
		set := map[string]string{}
		var names []string
		for tries := 0; len(names) < n && tries < 20; tries++ {
			g := pick(h, c.valid)
			if slices.Contains(names, g.name) {
				continue
			}
			vals, ok := g.make(over(set))
			if !ok {
				continue
			}
			maps.Copy(set, vals)
			names = append(names, g.name)
		}
		return set, strings.Join(names, " + ")
	}
	switch kind {
	case kindInvalid:
		b := pick(h, c.invalid)
		set, name := validSet(h.intn(2))
		maps.Copy(set, b.make(over(set)))
		if name != "" {
			name = " (with " + name + ")"
		}
		return &change{name: b.name + name, key: b.name, set: set, want: outcomeRefused, expect: b.expect}
	case kindUnappliable:
		b := pick(h, c.unappliable)
		set, name := validSet(h.intn(2))
		maps.Copy(set, b.make(over(set)))
		if name != "" {
			name = " (with " + name + ")"
		}
		return &change{name: b.name + name, key: b.name, set: set, want: outcomeRejected, expect: b.expect}
	}
	set, name := validSet(1 + h.intn(3))
	return &change{name: name, key: "valid: " + name, set: set, want: outcomeApplied}
}

// run makes a change every interval until ctx ends. The first three are
// one of each kind; then 60% valid, 25% invalid, 15% unappliable.
func (c *chaos) run(ctx context.Context) {
	tick := time.NewTicker(c.h.cfg.interval)
	defer tick.Stop()
	script := []string{kindValid, kindInvalid, kindUnappliable}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kind := kindValid
		if i < len(script) {
			kind = script[i]
		} else if r := c.h.intn(100); r >= 85 {
			kind = kindUnappliable
		} else if r >= 60 {
			kind = kindInvalid
		}
		c.apply(c.next(kind))
	}
}

// apply writes one change and waits for what becomes of it.
func (c *chaos) apply(ch *change) {
	h := c.h
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	next := withValues(c.stored, ch.set)
	start := time.Now()
	upd, err := h.st.op.UpdateApp(ctx, next)
	if v, ok := ch.set["media/turn-password"]; ok && err == nil {
		// Reads mask it: the harness keeps what it wrote, once stored.
		c.storedTurn = v
	}
	if err != nil {
		var se *client.StatusError
		if errors.As(err, &se) && se.Status == http.StatusUnprocessableEntity {
			outcome := outcomeRefused
			named := false
			for _, pr := range se.Problems {
				named = named || strings.HasPrefix(pr, ch.expect+":")
			}
			if ch.want == outcomeRefused && !named {
				outcome = "refused without naming " + ch.expect
			}
			h.log.Debugf("option change %s: refused: %s", ch.describe(), strings.Join(se.Problems, "; "))
			h.m.option(ch, outcome, 0, strings.Join(se.Problems, "; "))
			return
		}
		h.log.Printf("option change %s: write failed: %v", ch.describe(), err)
		h.m.option(ch, "write failed", 0, err.Error())
		c.refresh(ctx)
		return
	}
	if upd.Revision == c.stored.Revision {
		h.m.option(ch, outcomeUnchanged, 0, "")
		return
	}
	c.stored = upd
	rep, err := c.waitReport(ctx, upd.Revision)
	if err != nil {
		h.log.Printf("option change %s (revision %d): %v", ch.describe(), upd.Revision, err)
		h.m.option(ch, "no report", 0, err.Error())
		return
	}
	latency := rep.Time.Sub(start)
	switch rep.Status {
	case api.ReportApplied:
		if ch.want != outcomeApplied {
			h.log.Printf("option change %s (revision %d): applied, but it should have been rejected (%s)", ch.describe(), upd.Revision, ch.expect)
		} else {
			h.log.Debugf("option change %s (revision %d): applied in %v", ch.describe(), upd.Revision, latency.Round(time.Microsecond))
		}
		h.m.option(ch, outcomeApplied, latency, "")
		c.applied, c.appliedTurn = upd, c.storedTurn
		c.follow()
	default:
		outcome := outcomeRejected
		if ch.want == outcomeRejected && !strings.Contains(rep.Error, ch.expect) {
			outcome = "rejected without naming " + ch.expect
		}
		if ch.want != outcomeRejected {
			h.log.Printf("option change %s (revision %d): rejected by the gateway: %s", ch.describe(), upd.Revision, rep.Error)
		} else {
			h.log.Debugf("option change %s (revision %d): rejected: %s", ch.describe(), upd.Revision, rep.Error)
		}
		h.m.option(ch, outcome, 0, rep.Error)
		c.revert(ctx)
	}
}

// revert writes back the options the gateway runs, after a rejected
// revision; the gateway must report it applied (with nothing to change).
func (c *chaos) revert(ctx context.Context) {
	h := c.h
	next := c.stored
	next.Options, next.Annex = api.CloneSections(c.applied.Options), api.CloneSections(c.applied.Annex)
	next.Report, next.Status, next.Warnings = nil, nil, nil
	if next.Options["media"] != nil && next.Options["media"]["turn-password"] == api.Masked {
		next.Options["media"]["turn-password"] = c.appliedTurn
	}
	start := time.Now()
	upd, err := h.st.op.UpdateApp(ctx, next)
	if err != nil {
		h.m.revert("write failed", 0, err.Error())
		c.refresh(ctx)
		return
	}
	c.storedTurn = c.appliedTurn
	if upd.Revision == c.stored.Revision {
		h.m.revert(outcomeUnchanged, 0, "")
		return
	}
	c.stored = upd
	rep, err := c.waitReport(ctx, upd.Revision)
	switch {
	case err != nil:
		h.m.revert("no report", 0, err.Error())
	case rep.Status != api.ReportApplied:
		h.log.Printf("revert to the applied options (revision %d): rejected: %s", upd.Revision, rep.Error)
		h.m.revert(outcomeRejected, 0, rep.Error)
	default:
		h.m.revert(outcomeApplied, rep.Time.Sub(start), "")
		c.applied = upd
	}
}

// refresh reads the application again after a failed write.
func (c *chaos) refresh(ctx context.Context) {
	if app, err := c.h.st.op.App(ctx, gwApp); err == nil {
		c.stored = app
	}
}

// follow moves the browsers to the listener the applied options name.
func (c *chaos) follow() {
	ep := endpointOf(c.applied.Options)
	if old := c.h.ep.get(); ep != old {
		c.h.ep.set(ep)
		c.h.log.Debugf("browsers move from %s to %s", old, ep)
	}
}

// waitReport polls the application until the gateway's report covers
// revision rev; it also records the status the LCA reports.
func (c *chaos) waitReport(ctx context.Context, rev uint64) (api.Report, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		app, err := c.h.st.op.App(ctx, gwApp)
		if err == nil {
			c.noteStatus(app)
			if r := app.Report; r != nil && r.Revision >= rev {
				if r.Revision > rev {
					return *r, fmt.Errorf("report of revision %d while waiting for %d", r.Revision, rev)
				}
				return *r, nil
			}
		}
		if time.Now().After(deadline) {
			return api.Report{}, fmt.Errorf("no report of revision %d within 30 s (last error %v)", rev, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *chaos) noteStatus(app api.Application) {
	if st := app.Status; st != nil && c.h.cfg.lca {
		c.h.m.gatewayStatus(st.Status)
		c.h.m.mu.Lock()
		c.h.m.s.Gateway.Restarts = max(c.h.m.s.Gateway.Restarts, st.Restarts)
		c.h.m.mu.Unlock()
	}
}

// finalCheck makes sure the gateway runs the last revision written (reverting
// a rejected one) and still answers.
func (c *chaos) finalCheck(ctx context.Context) {
	h := c.h
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if rep, err := c.waitReport(ctx, c.stored.Revision); err == nil && rep.Status != api.ReportApplied {
		c.revert(ctx)
	}
	b := newClient(h, "final check", &net.Dialer{})
	defer b.hc.CloseIdleConnections()
	b.do(ctx, "health", "GET", "/health", "", 200)
	if app, err := h.st.op.App(ctx, gwApp); err == nil {
		c.noteStatus(app)
	}
}
