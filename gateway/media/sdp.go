package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Codec is an audio codec both legs may use; media is relayed without
// transcoding, so a call uses one codec end to end.
type Codec struct {
	Name     string // as in media/codecs: PCMU, PCMA, G722, opus
	Encoding string // SDP encoding name (RFC 4566 rtpmap)
	Clock    uint32
	Channels uint16
	StaticPT uint8  // RFC 3551 static payload type, or 0 for dynamic ones
	FMTP     string // fmtp we offer
}

// codecs are the audio codecs the gateway knows (media/codecs names them).
var codecs = map[string]Codec{
	"PCMU": {Name: "PCMU", Encoding: "PCMU", Clock: 8000, Channels: 1, StaticPT: 0},
	"PCMA": {Name: "PCMA", Encoding: "PCMA", Clock: 8000, Channels: 1, StaticPT: 8},
	"G722": {Name: "G722", Encoding: "G722", Clock: 8000, Channels: 1, StaticPT: 9},
	"opus": {Name: "opus", Encoding: "opus", Clock: 48000, Channels: 2, FMTP: "minptime=10;useinbandfec=1"},
}

// Dynamic payload types the gateway offers on the SIP side.
const (
	ptOpus     = 111
	ptDTMF8k   = 101
	ptDTMF48k  = 110
	dtmfEvents = "0-16"
)

// payloadType returns the payload type the gateway offers for c on the SIP side.
func (c Codec) payloadType() uint8 {
	if c.Name == "opus" {
		return ptOpus
	}
	return c.StaticPT
}

// maxSDP bounds an SDP body: a SIP or browser offer is a few kilobytes.
const maxSDP = 32 << 10

// Direction is an SDP media direction (RFC 3264 section 5.1).
type Direction string

// Directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Answer returns the direction that answers d (RFC 3264 section 6.1) for a
// side willing to send and receive.
func (d Direction) Answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// OnHold reports whether d puts the other side on hold (it stops sending to us
// or stops receiving from us).
func (d Direction) OnHold() bool { return d != SendRecv }

// remoteSDP is what the gateway reads from a SIP-side SDP.
type remoteSDP struct {
	addr      netip.Addr
	port      int
	profile   string  // RTP/AVP or RTP/SAVP
	formats   []uint8 // payload types in the m-line's order
	rtpmap    map[uint8]rtpmap
	direction Direction
	crypto    []sdesCrypto
	rtcpMux   bool
}

type rtpmap struct {
	encoding string
	clock    uint32
	channels uint16
}

// sdesCrypto is an a=crypto line (RFC 4568 section 9.1).
type sdesCrypto struct {
	tag   int
	suite string
	key   string // base64 key||salt from inline:
}

var errNoAudio = errors.New("no audio stream")

// parseRemoteSDP reads the first audio stream of a SIP-side SDP. It is
// tolerant of line order and of attributes it does not know.
func parseRemoteSDP(body []byte) (*remoteSDP, error) {
	if len(body) > maxSDP {
		return nil, fmt.Errorf("SDP of %d bytes is too large", len(body))
	}
	r := &remoteSDP{rtpmap: map[uint8]rtpmap{}, direction: SendRecv}
	var sessionAddr netip.Addr
	sessionDir := SendRecv
	inAudio, seenAudio := false, false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		key, val := line[0], line[2:]
		switch key {
		case 'm':
			if seenAudio {
				inAudio = false
				continue
			}
			f := strings.Fields(val)
			if len(f) < 4 || f[0] != "audio" {
				inAudio = false
				continue
			}
			port, err := strconv.Atoi(strings.Split(f[1], "/")[0])
			if err != nil || port < 0 || port > 65535 {
				return nil, fmt.Errorf("bad m= port %q", f[1])
			}
			r.port, r.profile = port, f[2]
			for _, pt := range f[3:] {
				n, err := strconv.Atoi(pt)
				if err != nil || n < 0 || n > 127 {
					return nil, fmt.Errorf("bad payload type %q", pt)
				}
				r.formats = append(r.formats, uint8(n))
			}
			inAudio, seenAudio = true, true
			r.direction = sessionDir
		case 'c':
			f := strings.Fields(val)
			if len(f) < 3 || f[0] != "IN" {
				continue
			}
			a, err := netip.ParseAddr(strings.Split(f[2], "/")[0])
			if err != nil {
				return nil, fmt.Errorf("c= address %q is not an IP address", f[2])
			}
			if inAudio {
				r.addr = a.Unmap()
			} else if !seenAudio {
				sessionAddr = a.Unmap()
			}
		case 'a':
			name, value, _ := strings.Cut(val, ":")
			if d := Direction(name); d == SendRecv || d == SendOnly || d == RecvOnly || d == Inactive {
				if inAudio {
					r.direction = d
				} else if !seenAudio {
					sessionDir = d
				}
				continue
			}
			if !inAudio {
				continue
			}
			switch name {
			case "rtpmap":
				pt, m, err := parseRtpmap(value)
				if err != nil {
					return nil, err
				}
				r.rtpmap[pt] = m
			case "crypto":
				if c, ok := parseCrypto(value); ok {
					r.crypto = append(r.crypto, c)
				}
			case "rtcp-mux":
				r.rtcpMux = true
			}
		}
	}
	if !seenAudio {
		return nil, errNoAudio
	}
	if !r.addr.IsValid() {
		r.addr = sessionAddr
	}
	if !r.addr.IsValid() {
		return nil, errors.New("no c= address for the audio stream")
	}
	// Static payload types need no rtpmap (RFC 3551).
	for _, pt := range r.formats {
		if _, ok := r.rtpmap[pt]; ok {
			continue
		}
		for _, c := range codecs {
			if c.StaticPT == pt && (pt != 0 || c.Name == "PCMU") {
				r.rtpmap[pt] = rtpmap{encoding: c.Encoding, clock: c.Clock, channels: 1}
			}
		}
	}
	return r, nil
}

func parseRtpmap(v string) (uint8, rtpmap, error) {
	ptText, rest, ok := strings.Cut(v, " ")
	pt, err := strconv.Atoi(ptText)
	if !ok || err != nil || pt < 0 || pt > 127 {
		return 0, rtpmap{}, fmt.Errorf("bad rtpmap %q", v)
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	m := rtpmap{encoding: parts[0], channels: 1}
	if len(parts) > 1 {
		c, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil {
			return 0, rtpmap{}, fmt.Errorf("bad rtpmap clock %q", v)
		}
		m.clock = uint32(c)
	}
	if len(parts) > 2 {
		c, err := strconv.ParseUint(parts[2], 10, 16)
		if err != nil {
			return 0, rtpmap{}, fmt.Errorf("bad rtpmap channels %q", v)
		}
		m.channels = uint16(c)
	}
	return uint8(pt), m, nil
}

func parseCrypto(v string) (sdesCrypto, bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return sdesCrypto{}, false
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil {
		return sdesCrypto{}, false
	}
	key, ok := strings.CutPrefix(f[2], "inline:")
	if !ok {
		return sdesCrypto{}, false
	}
	key, _, _ = strings.Cut(key, "|") // lifetime and MKI are not used
	return sdesCrypto{tag: tag, suite: f[1], key: key}, true
}

// codecFor returns the known codec a remote payload type stands for.
func (r *remoteSDP) codecFor(pt uint8) (Codec, bool) {
	m, ok := r.rtpmap[pt]
	if !ok {
		return Codec{}, false
	}
	for _, c := range codecs {
		if strings.EqualFold(c.Encoding, m.encoding) && c.Clock == m.clock {
			return c, true
		}
	}
	return Codec{}, false
}

// dtmfPT returns the remote telephone-event payload type at clock, if any.
func (r *remoteSDP) dtmfPT(clock uint32) (uint8, bool) {
	for _, pt := range r.formats {
		if m := r.rtpmap[pt]; strings.EqualFold(m.encoding, "telephone-event") && m.clock == clock {
			return pt, true
		}
	}
	return 0, false
}

// localSDP is what the gateway offers or answers on the SIP side.
type localSDP struct {
	sessionID uint64
	version   uint64
	addr      netip.Addr
	port      int
	codecs    []Codec // in preference order
	dtmf      bool
	// pts overrides the payload type of a codec (answering with the
	// offerer's numbers); dtmfPTs likewise for telephone-event by clock.
	pts       map[string]uint8
	dtmfPTs   map[uint32]uint8
	direction Direction
	crypto    *sdesCrypto // SDES-SRTP (RTP/SAVP) when set
}

func (l *localSDP) ptOf(c Codec) uint8 {
	if pt, ok := l.pts[c.Name]; ok {
		return pt
	}
	return c.payloadType()
}

func (l *localSDP) dtmfPTOf(clock uint32) uint8 {
	if pt, ok := l.dtmfPTs[clock]; ok {
		return pt
	}
	if clock == 48000 {
		return ptDTMF48k
	}
	return ptDTMF8k
}

// marshal writes the SDP (RFC 4566, RFC 3264).
func (l *localSDP) marshal() []byte {
	ipver := "IP4"
	if l.addr.Is6() {
		ipver = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d %d IN %s %s\r\ns=WebRTC Gateway\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.sessionID, l.version, ipver, l.addr, ipver, l.addr)
	profile := "RTP/AVP"
	if l.crypto != nil {
		profile = "RTP/SAVP"
	}
	var formats []string
	var attrs strings.Builder
	clocks := map[uint32]bool{}
	for _, c := range l.codecs {
		pt := l.ptOf(c)
		formats = append(formats, strconv.Itoa(int(pt)))
		if c.Channels > 1 {
			fmt.Fprintf(&attrs, "a=rtpmap:%d %s/%d/%d\r\n", pt, c.Encoding, c.Clock, c.Channels)
		} else {
			fmt.Fprintf(&attrs, "a=rtpmap:%d %s/%d\r\n", pt, c.Encoding, c.Clock)
		}
		if c.FMTP != "" {
			fmt.Fprintf(&attrs, "a=fmtp:%d %s\r\n", pt, c.FMTP)
		}
		clocks[c.Clock] = true
	}
	if l.dtmf {
		for _, clock := range []uint32{8000, 48000} {
			if !clocks[clock] {
				continue
			}
			pt := l.dtmfPTOf(clock)
			formats = append(formats, strconv.Itoa(int(pt)))
			fmt.Fprintf(&attrs, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d %s\r\n", pt, clock, pt, dtmfEvents)
		}
	}
	fmt.Fprintf(&b, "m=audio %d %s %s\r\n", l.port, profile, strings.Join(formats, " "))
	b.WriteString(attrs.String())
	b.WriteString("a=ptime:20\r\n")
	if l.crypto != nil {
		fmt.Fprintf(&b, "a=crypto:%d %s inline:%s\r\n", l.crypto.tag, l.crypto.suite, l.crypto.key)
	}
	fmt.Fprintf(&b, "a=%s\r\n", l.direction)
	return []byte(b.String())
}
