package farend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Static payload types of G.711 (RFC 3551 section 6) and the dynamic one
// the far end offers for telephone-event (RFC 4733).
const (
	ptPCMU = 0
	ptPCMA = 8
	ptDTMF = 101
)

var codecNames = map[uint8]string{ptPCMU: "PCMU", ptPCMA: "PCMA"}

// media is what one SDP says about its audio stream.
type media struct {
	addr  netip.AddrPort
	proto string  // RTP/AVP, RTP/SAVP...
	fmts  []uint8 // payload types, in order
	dtmf  int     // payload type of telephone-event/8000; -1 when absent
}

var errNoAudio = errors.New("no audio stream")

// parseSDP reads the connection address, the audio port, its protocol and
// payload types (RFC 8866 sections 5.7, 5.14) and telephone-event's
// payload type. The media-level c= wins over the session-level one.
func parseSDP(b []byte) (media, error) {
	m := media{dtmf: -1}
	var (
		sessionAddr, mediaAddr netip.Addr
		port                   int
		inAudio, seenAudio     bool
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "m="):
			inAudio = false
			f := strings.Fields(line[2:])
			if len(f) < 4 || f[0] != "audio" || seenAudio {
				continue
			}
			p, err := strconv.Atoi(f[1])
			if err != nil || p <= 0 || p > 65535 {
				return m, fmt.Errorf("audio port %q", f[1])
			}
			inAudio, seenAudio, port, m.proto = true, true, p, f[2]
			for _, s := range f[3:] {
				pt, err := strconv.Atoi(s)
				if err != nil || pt < 0 || pt > 127 {
					return m, fmt.Errorf("payload type %q", s)
				}
				m.fmts = append(m.fmts, uint8(pt))
			}
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) < 3 {
				return m, fmt.Errorf("connection line %q", line)
			}
			a, err := netip.ParseAddr(f[2])
			if err != nil {
				return m, fmt.Errorf("connection address %q", f[2])
			}
			if inAudio {
				mediaAddr = a
			} else if !seenAudio {
				sessionAddr = a
			}
		case inAudio && strings.HasPrefix(line, "a=rtpmap:"):
			pt, enc, _ := strings.Cut(line[len("a=rtpmap:"):], " ")
			if strings.EqualFold(enc, "telephone-event/8000") {
				if n, err := strconv.Atoi(pt); err == nil {
					m.dtmf = n
				}
			}
		}
	}
	if !seenAudio {
		return m, errNoAudio
	}
	addr := mediaAddr
	if !addr.IsValid() {
		addr = sessionAddr
	}
	if !addr.IsValid() {
		return m, errors.New("no connection address")
	}
	m.addr = netip.AddrPortFrom(addr, uint16(port))
	return m, nil
}

// g711 returns the first G.711 payload type of the stream, if any.
func (m media) g711() (uint8, bool) {
	for _, pt := range m.fmts {
		if pt == ptPCMU || pt == ptPCMA {
			return pt, true
		}
	}
	return 0, false
}

// offerSDP is the far end's offer: PCMU, PCMA and telephone-event on port.
func offerSDP(port int, session uint64) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=soak %d %d IN IP4 127.0.0.1\r\ns=soak\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 %d\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
		session, session, port, ptDTMF, ptDTMF, ptDTMF))
}

// answerSDP answers with payload type pt (and telephone-event when the
// offer had it) on port.
func answerSDP(port int, session uint64, pt uint8, dtmf int) []byte {
	fmts := strconv.Itoa(int(pt))
	attrs := fmt.Sprintf("a=rtpmap:%d %s/8000\r\n", pt, codecNames[pt])
	if dtmf >= 0 {
		fmts += " " + strconv.Itoa(dtmf)
		attrs += fmt.Sprintf("a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", dtmf, dtmf)
	}
	return []byte(fmt.Sprintf("v=0\r\no=soak %d %d IN IP4 127.0.0.1\r\ns=soak\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %s\r\n%sa=ptime:20\r\na=sendrecv\r\n", session, session, port, fmts, attrs))
}
