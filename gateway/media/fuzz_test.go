package media

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/pion/webrtc/v4"

	"webrtcgw/options"
)

// SDP reaches the gateway from both sides: the browser's offers and
// answers (inside ROAP messages) and the SIP side's offers, answers and
// re-INVITEs. The seeds under testdata/fuzz/sdp are real ones: Chromium
// 156's offer and answer (captured on loopback), what sipp 3.6.1's
// built-in uac and uas scenarios send, and RFC 4475's sdp01; the tables
// below add hold, SDES and corner cases.

// sdpSeeds returns the SDP files of testdata/fuzz/sdp, sorted by name.
func sdpSeeds(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "sdp", "*.sdp"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no SDP seeds in testdata/fuzz/sdp: %v", err)
	}
	slices.Sort(files)
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(data))
	}
	return out
}

// sipSDPSeeds are SIP-side SDPs of the unit tests and the SDES exchange.
var sipSDPSeeds = []string{
	"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
	"c=IN IP6 ::1\nm=audio 1 RTP/SAVP 8\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:x\na=inactive",
	"v=0\r\nc=IN IP4 10.0.0.1\r\na=sendonly\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/SAVP 18 0 101\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:101 telephone-event/8000\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk|2^20|1:32\r\na=rtcp-mux\r\n",
	"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e\r\n",
	"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
	"v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000/2 RTP/AVP 111 8\r\na=rtpmap:111 OPUS/48000/2\r\na=rtpmap:8 pcma/8000\r\na=recvonly\r\n",
	"v=0\r\nc=IN IP4 ::ffff:10.0.0.1/127\r\nm=audio 65535 RTP/AVP 127\r\na=rtpmap:127 telephone-event/48000\r\n",
}

// FuzzParseRemoteSDP: a SIP-side SDP (offer, answer, re-INVITE) parses
// into an audio stream with a valid address and port and payload types
// 0-127, or is refused with an error; an a=crypto key is taken or refused
// by the SDES session without a panic; and the SDP the gateway writes back
// (its answer, with the far end's payload types and the answering
// direction) parses to the same address, port, direction and codecs.
func FuzzParseRemoteSDP(f *testing.F) {
	for _, s := range sdpSeeds(f) {
		f.Add([]byte(s))
	}
	for _, s := range sipSDPSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRemoteSDP(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error with no text")
			}
			return
		}
		if !r.addr.IsValid() || r.addr.Is4In6() || r.port < 0 || r.port > 65535 {
			t.Fatalf("parseRemoteSDP accepted address %v port %d", r.addr, r.port)
		}
		switch r.direction {
		case SendRecv, SendOnly, RecvOnly, Inactive:
		default:
			t.Fatalf("parseRemoteSDP: direction %q", r.direction)
		}
		for _, pt := range r.formats {
			if pt > 127 {
				t.Fatalf("payload type %d accepted", pt)
			}
		}
		if len(r.crypto) > 0 {
			s, err := newSDESSession()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.setRemote(r); err != nil && err.Error() == "" {
				t.Fatal("an SDES error with no text")
			}
		}

		// The gateway's answer, as SIPAnswer and SIPReoffer write it.
		l := localSDP{sessionID: 1, version: 1, addr: r.addr, port: r.port, direction: r.direction.Answer(),
			pts: map[string]uint8{}, dtmfPTs: map[uint32]uint8{}}
		for _, pt := range r.formats {
			if k, ok := r.codecFor(pt); ok {
				if _, seen := l.pts[k.Name]; !seen {
					l.codecs = append(l.codecs, k)
					l.pts[k.Name] = pt
				}
			}
		}
		for _, clock := range []uint32{8000, 48000} {
			if pt, ok := r.dtmfPT(clock); ok && !slices.ContainsFunc(l.codecs, func(c Codec) bool { return l.pts[c.Name] == pt }) {
				l.dtmfPTs[clock] = pt
				l.dtmf = true
			}
		}
		if len(l.codecs) == 0 || duplicatePTs(&l) {
			return // nothing the gateway would answer
		}
		out := l.marshal()
		back, err := parseRemoteSDP(out)
		if err != nil {
			t.Fatalf("the gateway's own SDP does not parse: %v\n%s", err, out)
		}
		if back.addr != l.addr || back.port != l.port || back.direction != l.direction {
			t.Fatalf("the gateway's SDP parses as %v:%d %s, want %v:%d %s\n%s", back.addr, back.port, back.direction, l.addr, l.port, l.direction, out)
		}
		for _, c := range l.codecs {
			if k, ok := back.codecFor(l.pts[c.Name]); !ok || k.Name != c.Name {
				t.Fatalf("the gateway's SDP has %s at %d, parsed back as %v\n%s", c.Name, l.pts[c.Name], k.Name, out)
			}
		}
	})
}

// duplicatePTs reports whether two codecs or events of l would share a
// payload type (the far end's SDP gave one number to two of them).
func duplicatePTs(l *localSDP) bool {
	seen := map[uint8]bool{}
	for _, c := range l.codecs {
		if seen[l.ptOf(c)] {
			return true
		}
		seen[l.ptOf(c)] = true
	}
	for _, clock := range []uint32{8000, 48000} {
		if pt, ok := l.dtmfPTs[clock]; ok {
			if seen[pt] {
				return true
			}
			seen[pt] = true
		}
	}
	return false
}

// browserSDPSeeds are browser SDPs of the unit and end-to-end tests: the
// Genesys library's rewrite, a hold, and corner cases.
var browserSDPSeeds = []string{
	"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 RTP/SAVPF 0 126\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 2F:69:8B:D2:40:29:85:1D:F4:F0:30:CA:AC:88:50:9A:B0:96:EB:0E:8D:A0:D8:4B:C2:6B:8E:4C:AC:AC:3A:6D\r\na=setup:actpass\r\na=inactive\r\na=rtcp-mux\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\n",
	"v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\na=sendonly\nm=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 VP8/90000\n",
	"v=0\r\nm=audio 9 RTP/SAVPF 300 0\r\na=rtpmap:300 PCMU/8000\r\na=rtpmap:0 PCMU/8000/1/2\r\n",
	"",
}

// FuzzBrowserSDP: a browser's SDP goes through the gateway's helpers and
// through pion as SetBrowserOffer and SetBrowserReoffer use them. The
// helpers only touch what they must (normaliseBrowserSDP only m= lines,
// setDirection only direction attributes, both idempotent), give codecs
// the gateway knows and payload types 0-127, and the direction set is the
// direction read; pion takes the offer or refuses it with an error, and an
// offer it takes can be answered.
func FuzzBrowserSDP(f *testing.F) {
	for _, s := range sdpSeeds(f) {
		f.Add(s)
		f.Add(strings.ReplaceAll(s, "UDP/TLS/RTP/SAVPF", "RTP/SAVPF")) // as the Genesys library sends it
	}
	for _, s := range browserSDPSeeds {
		f.Add(s)
	}
	g := fuzzGeneration(f)
	f.Fuzz(func(t *testing.T, sdp string) {
		if len(sdp) > maxSDP {
			return // SetBrowserOffer refuses it before anything reads it
		}
		norm := normaliseBrowserSDP(sdp)
		if normaliseBrowserSDP(norm) != norm {
			t.Fatalf("normaliseBrowserSDP is not idempotent on %q", sdp)
		}
		if a, b := strings.Split(sdp, "\n"), strings.Split(norm, "\n"); len(a) != len(b) {
			t.Fatalf("normaliseBrowserSDP changed the number of lines of %q", sdp)
		} else {
			for i := range a {
				if a[i] != b[i] && !strings.HasPrefix(a[i], "m=") {
					t.Fatalf("normaliseBrowserSDP changed line %q to %q", a[i], b[i])
				}
			}
		}
		for _, name := range browserCodecs(sdp) {
			if _, ok := codecs[name]; !ok {
				t.Fatalf("browserCodecs(%q) gives unknown codec %q", sdp, name)
			}
		}
		for key, pt := range browserPayloadTypes(sdp) {
			if pt > 127 {
				t.Fatalf("browserPayloadTypes(%q): %s at %d", sdp, key, pt)
			}
		}
		for _, d := range []Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
			set := setDirection(norm, d)
			if setDirection(set, d) != set {
				t.Fatalf("setDirection(%s) is not idempotent on %q", d, sdp)
			}
			if hasMediaDirection(norm) && sdpDirection(set) != d {
				t.Fatalf("sdpDirection(setDirection(%q, %s)) = %s", sdp, d, sdpDirection(set))
			}
		}

		pc, err := g.api.NewPeerConnection(g.iceConf)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: setDirection(norm, SendRecv)})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("pion refused the offer with no error text")
			}
			return
		}
		if _, err := pc.CreateAnswer(nil); err != nil && err.Error() == "" {
			t.Fatal("pion refused to answer with no error text")
		}
	})
}

// hasMediaDirection reports whether the first media section of sdp has a
// direction attribute of its own, so that setDirection sets it.
func hasMediaDirection(sdp string) bool {
	inFirst := false
	for _, l := range strings.Split(sdp, "\n") {
		l = strings.TrimRight(l, "\r")
		switch {
		case strings.HasPrefix(l, "m="):
			if inFirst {
				return false
			}
			inFirst = true
		case inFirst && strings.HasPrefix(l, "a="):
			if v := Direction(l[2:]); v == SendRecv || v == SendOnly || v == RecvOnly || v == Inactive {
				return true
			}
		}
	}
	return false
}

// fuzzGeneration builds a media generation (the pion API the calls use)
// with the default codecs, without starting an engine.
func fuzzGeneration(f *testing.F) *generation {
	set, err := options.Parse(options.Sections{"media": {"codecs": "opus,G722,PCMU,PCMA,telephone-event"}})
	if err != nil {
		f.Fatal(err)
	}
	e := New(set, Deps{Log: hclog.NewNullLogger()})
	g, err := e.newGeneration(set.Media())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.releaseGeneration(g) })
	return g
}
