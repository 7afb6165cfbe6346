package farend

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name     string
		sdp      string
		addr     string
		proto    string
		fmts     []uint8
		dtmf     int
		g711     uint8
		wantErr  bool
		wantG711 bool
	}{
		{name: "session c=", sdp: "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
			addr: "127.0.0.1:20000", proto: "RTP/AVP", fmts: []uint8{8, 0, 101}, dtmf: 101, g711: 8, wantG711: true},
		{name: "media c= wins", sdp: "v=0\nc=IN IP4 127.0.0.9\nm=audio 4000 RTP/SAVP 0\nc=IN IP4 127.0.0.1\n",
			addr: "127.0.0.1:4000", proto: "RTP/SAVP", fmts: []uint8{0}, dtmf: -1, g711: 0, wantG711: true},
		{name: "no G.711", sdp: "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 9 111\r\n",
			addr: "127.0.0.1:4000", proto: "RTP/AVP", fmts: []uint8{9, 111}, dtmf: -1},
		{name: "no audio", sdp: "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 4000 RTP/AVP 96\r\n", wantErr: true},
		{name: "no address", sdp: "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", wantErr: true},
		{name: "bad port", sdp: "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0x10 RTP/AVP 0\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseSDP([]byte(tt.sdp))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseSDP() = %+v, want an error", m)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSDP(): %v", err)
			}
			if m.addr != netip.MustParseAddrPort(tt.addr) || m.proto != tt.proto || !slices.Equal(m.fmts, tt.fmts) || m.dtmf != tt.dtmf {
				t.Errorf("parseSDP() = %+v, want %s %s %v dtmf %d", m, tt.addr, tt.proto, tt.fmts, tt.dtmf)
			}
			if pt, ok := m.g711(); ok != tt.wantG711 || pt != tt.g711 {
				t.Errorf("g711() = %d %v, want %d %v", pt, ok, tt.g711, tt.wantG711)
			}
		})
	}
}

func TestAnswerSDP(t *testing.T) {
	a := string(answerSDP(30000, 7, ptPCMA, 101))
	for _, want := range []string{"c=IN IP4 127.0.0.1", "m=audio 30000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000"} {
		if !strings.Contains(a, want) {
			t.Errorf("answerSDP() lacks %q:\n%s", want, a)
		}
	}
	m, err := parseSDP(answerSDP(30000, 7, ptPCMU, -1))
	if err != nil || m.addr.Port() != 30000 || !slices.Equal(m.fmts, []uint8{0}) {
		t.Errorf("answerSDP without telephone-event parses as %+v (%v)", m, err)
	}
	if m, err := parseSDP(offerSDP(40000, 1)); err != nil || !slices.Equal(m.fmts, []uint8{0, 8, ptDTMF}) || m.dtmf != ptDTMF {
		t.Errorf("offerSDP parses as %+v (%v)", m, err)
	}
}
