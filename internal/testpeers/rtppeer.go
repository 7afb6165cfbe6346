package testpeers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Codec is a G.711 codec that an [RTPPeer] can send (RFC 3551 section 6).
type Codec struct {
	Name        string
	PayloadType uint8
}

// The codecs an RTPPeer sends. The zero Codec sends nothing.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0}
	PCMA = Codec{Name: "PCMA", PayloadType: 8}
)

// Packetization of the stream an RTPPeer sends: 20 ms of 8 kHz audio.
const (
	packetInterval   = 20 * time.Millisecond
	samplesPerPacket = 160
)

// RFC 4733 events as an RTPPeer sends them: each digit lasts 5 packets
// (100 ms), its final packet is sent 3 times (section 2.5.1.4), and 3 audio
// packets (60 ms) separate two digits.
const (
	eventPackets    = 5
	eventEndRepeats = 3
	eventGapPackets = 3
)

// RTPPeerConfig describes an [RTPPeer].
type RTPPeerConfig struct {
	// Echo sends every received RTP packet back to its source, unchanged.
	Echo bool

	// Send, when not the zero Codec, sends a 400 Hz tone as a stream of
	// 20 ms packets (PCMU or PCMA) to SendTo, or else to the source of the
	// first RTP packet received.
	Send Codec

	// SendTo is the destination of the stream; the zero value learns it
	// from the first RTP packet received (symmetric RTP, RFC 4961).
	SendTo netip.AddrPort

	// TelephoneEvents lists the dynamic payload types (such as 101) that
	// are decoded as RFC 4733 telephone-events. The first one is also the
	// payload type of the events SendDigits sends.
	TelephoneEvents []uint8

	// Port is the RTP port on 127.0.0.1 (even; RTCP is read on Port+1).
	// 0 picks a free pair.
	Port int
}

// RTPStats is a snapshot of what an [RTPPeer] received and sent.
type RTPStats struct {
	// Packets counts the RTP packets received on the RTP port, and
	// PayloadTypes the same per payload type.
	Packets      int
	PayloadTypes map[uint8]int
	// PayloadBytes sums the RTP payload sizes received.
	PayloadBytes int
	// RTCPPackets counts the RTCP packets received on Port+1 or
	// multiplexed on the RTP port (RFC 5761 section 4).
	RTCPPackets int
	// Invalid counts datagrams that were neither RTP nor RTCP.
	Invalid int
	// First and Last are the arrival times of the first and the last RTP
	// packet.
	First, Last time.Time
	// MaxGap is the largest time between two consecutive RTP packets.
	MaxGap time.Duration
	// MaxSeqGap is the largest number of sequence numbers missing between
	// two consecutive packets of one SSRC (0: nothing lost).
	MaxSeqGap int
	// SSRCs lists the SSRCs received, in order of appearance.
	SSRCs []uint32
	// Source is the source address of the last RTP packet.
	Source netip.AddrPort
	// Sent counts the packets of the stream (audio and events), Echoed
	// the packets echoed.
	Sent, Echoed int
}

// RTPPeer is an RTP endpoint on 127.0.0.1 for the SIP side of a call, started
// by [StartRTPPeer].
//
// It runs three goroutines: one reads RTP (and echoes), one reads RTCP, one
// paces the stream when Send is set. Close stops them and waits; t.Cleanup
// calls it. A mutex guards the statistics, so every method is safe for
// concurrent use.
type RTPPeer struct {
	cfg    RTPPeerConfig
	rtp    *net.UDPConn
	rtcp   *net.UDPConn
	events map[uint8]bool // the telephone-event payload types

	digitReqs chan digitRequest
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	stats   RTPStats
	remote  netip.AddrPort    // destination of the stream
	lastSeq map[uint32]uint16 // per SSRC: highest sequence number
	ended   map[uint32]uint32 // per SSRC: timestamp of the last ended event
	digits  strings.Builder   // decoded digits
}

// digitRequest asks the sender to send digits as RFC 4733 events.
type digitRequest struct {
	digits string
	done   chan error
}

// StartRTPPeer binds an RTP/RTCP port pair on 127.0.0.1 and starts the peer
// that cfg describes. t.Cleanup closes it.
func StartRTPPeer(t testing.TB, cfg RTPPeerConfig) *RTPPeer {
	t.Helper()
	p, err := NewRTPPeer(cfg)
	if err != nil {
		t.Fatalf("StartRTPPeer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewRTPPeer is StartRTPPeer without a testing.TB: the caller must Close the
// peer.
func NewRTPPeer(cfg RTPPeerConfig) (*RTPPeer, error) {
	if cfg.Send != (Codec{}) && cfg.Send != PCMU && cfg.Send != PCMA {
		return nil, fmt.Errorf("rtp peer: cannot send %v (PCMU or PCMA)", cfg.Send)
	}
	for _, pt := range cfg.TelephoneEvents {
		if pt < 96 || pt > 127 {
			return nil, fmt.Errorf("rtp peer: telephone-event payload type %d is not dynamic (96-127)", pt)
		}
	}
	if cfg.SendTo.IsValid() && !cfg.SendTo.Addr().IsLoopback() {
		return nil, fmt.Errorf("rtp peer: SendTo %v is not a loopback address", cfg.SendTo)
	}
	conns, err := bindRTPPair(cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("rtp peer: %w", err)
	}
	p := &RTPPeer{
		cfg:       cfg,
		rtp:       conns[0],
		rtcp:      conns[1],
		events:    map[uint8]bool{},
		digitReqs: make(chan digitRequest),
		stop:      make(chan struct{}),
		remote:    cfg.SendTo,
		lastSeq:   map[uint32]uint16{},
		ended:     map[uint32]uint32{},
	}
	p.stats.PayloadTypes = map[uint8]int{}
	for _, pt := range cfg.TelephoneEvents {
		p.events[pt] = true
	}
	p.wg.Add(2)
	go p.readRTP()
	go p.readRTCP()
	if cfg.Send != (Codec{}) {
		p.wg.Add(1)
		go p.send()
	}
	return p, nil
}

// bindRTPPair binds port and port+1 on 127.0.0.1, or a free even pair when
// port is 0.
func bindRTPPair(port int) ([]*net.UDPConn, error) {
	if port != 0 {
		if port%2 != 0 {
			return nil, fmt.Errorf("RTP port %d is odd", port)
		}
		var conns []*net.UDPConn
		for i := range 2 {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + i})
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return nil, err
			}
			conns = append(conns, c)
		}
		return conns, nil
	}
	for range 100 {
		conns, p, err := bindUDPRange(2)
		if err != nil {
			return nil, err
		}
		if p != 0 {
			return conns, nil
		}
	}
	return nil, errors.New("no free even RTP port pair")
}

// Addr returns the RTP address, 127.0.0.1:Port.
func (p *RTPPeer) Addr() netip.AddrPort { return p.rtp.LocalAddr().(*net.UDPAddr).AddrPort() }

// Port returns the RTP port (even; RTCP is Port+1).
func (p *RTPPeer) Port() int { return int(p.Addr().Port()) }

// Stats returns a snapshot of the statistics.
func (p *RTPPeer) Stats() RTPStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.PayloadTypes = maps.Clone(p.stats.PayloadTypes)
	s.SSRCs = slices.Clone(p.stats.SSRCs)
	return s
}

// ResetGaps starts MaxGap and MaxSeqGap afresh (to measure continuity over
// a window, such as a reload).
func (p *RTPPeer) ResetGaps() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.MaxGap, p.stats.MaxSeqGap = 0, 0
}

// Digits returns the RFC 4733 digits received so far, one character per
// event: 0-9, *, #, A-D, and ! for a flash.
func (p *RTPPeer) Digits() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.digits.String()
}

// SetSendTo changes the destination of the stream.
func (p *RTPPeer) SetSendTo(addr netip.AddrPort) {
	p.mu.Lock()
	p.remote = addr
	p.mu.Unlock()
}

// WaitFor polls the statistics every 10 ms until cond is true or ctx ends,
// and returns the last snapshot.
func (p *RTPPeer) WaitFor(ctx context.Context, cond func(RTPStats) bool) (RTPStats, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s := p.Stats()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("rtp peer %v: condition not met: %w (stats %+v)", p.Addr(), ctx.Err(), s)
		case <-tick.C:
		}
	}
}

// WaitDigits waits until the digits received are want (or ctx ends).
func (p *RTPPeer) WaitDigits(ctx context.Context, want string) error {
	_, err := p.WaitFor(ctx, func(RTPStats) bool { return p.Digits() == want })
	if err != nil {
		return fmt.Errorf("digits %q, want %q: %w", p.Digits(), want, err)
	}
	return nil
}

// SendDigits sends digits (0-9 * # A-D) as RFC 4733 telephone-events in the
// stream, in place of the audio packets, and returns once they are sent.
// It needs Send and TelephoneEvents in the configuration.
func (p *RTPPeer) SendDigits(ctx context.Context, digits string) error {
	if p.cfg.Send == (Codec{}) || len(p.cfg.TelephoneEvents) == 0 {
		return errors.New("rtp peer: SendDigits needs Send and TelephoneEvents")
	}
	for _, d := range digits {
		if _, ok := digitEvent(d); !ok {
			return fmt.Errorf("rtp peer: %q is not a DTMF digit", d)
		}
	}
	req := digitRequest{digits: digits, done: make(chan error, 1)}
	select {
	case p.digitReqs <- req:
	case <-p.stop:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the peer and waits for its goroutines. It is safe to call more
// than once.
func (p *RTPPeer) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.rtp.Close()
		p.rtcp.Close()
		p.wg.Wait()
	})
}

// readRTP reads the RTP port until it is closed.
func (p *RTPPeer) readRTP() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, src, err := p.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		now := time.Now()
		data := buf[:n]
		if isRTCP(data) {
			p.mu.Lock()
			p.stats.RTCPPackets++
			p.mu.Unlock()
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(data); err != nil || pkt.Version != 2 {
			p.mu.Lock()
			p.stats.Invalid++
			p.mu.Unlock()
			continue
		}
		p.record(&pkt, src, now)
		if p.cfg.Echo {
			if _, err := p.rtp.WriteToUDPAddrPort(data, src); err == nil {
				p.mu.Lock()
				p.stats.Echoed++
				p.mu.Unlock()
			}
		}
	}
}

// record updates the statistics with a received RTP packet.
func (p *RTPPeer) record(pkt *rtp.Packet, src netip.AddrPort, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.stats
	if s.Packets == 0 {
		s.First = now
	} else if gap := now.Sub(s.Last); gap > s.MaxGap {
		s.MaxGap = gap
	}
	s.Last = now
	s.Packets++
	s.PayloadTypes[pkt.PayloadType]++
	s.PayloadBytes += len(pkt.Payload)
	s.Source = src
	if !p.remote.IsValid() {
		p.remote = src
	}
	if last, ok := p.lastSeq[pkt.SSRC]; ok {
		// Serial number arithmetic (RFC 3550 appendix A.1): a
		// negative difference is a reordered or repeated packet.
		if d := int(int16(pkt.SequenceNumber - last)); d > 1 && d-1 > s.MaxSeqGap {
			s.MaxSeqGap = d - 1
		}
		if int16(pkt.SequenceNumber-last) > 0 {
			p.lastSeq[pkt.SSRC] = pkt.SequenceNumber
		}
	} else {
		p.lastSeq[pkt.SSRC] = pkt.SequenceNumber
		s.SSRCs = append(s.SSRCs, pkt.SSRC)
	}
	if p.events[pkt.PayloadType] {
		p.recordEventLocked(pkt)
	}
}

// recordEventLocked decodes an RFC 4733 event packet (section 2.3) and counts
// its digit once, on the first packet with the end bit. The retransmitted
// final packets carry the same timestamp, which identifies the event.
func (p *RTPPeer) recordEventLocked(pkt *rtp.Packet) {
	if len(pkt.Payload) < 4 {
		return
	}
	event, end := pkt.Payload[0], pkt.Payload[1]&0x80 != 0
	if !end {
		return
	}
	if ts, ok := p.ended[pkt.SSRC]; ok && ts == pkt.Timestamp {
		return
	}
	p.ended[pkt.SSRC] = pkt.Timestamp
	if c, ok := eventDigit(event); ok {
		p.digits.WriteByte(c)
	}
}

// readRTCP counts the packets on the RTCP port until it is closed.
func (p *RTPPeer) readRTCP() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := p.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		if isRTCP(buf[:n]) {
			p.stats.RTCPPackets++
		} else {
			p.stats.Invalid++
		}
		p.mu.Unlock()
	}
}

// isRTCP reports whether a datagram is RTCP: version 2 and a packet type in
// 192-223 (RFC 5761 section 4).
func isRTCP(b []byte) bool {
	return len(b) >= 8 && b[0]>>6 == 2 && b[1] >= 192 && b[1] <= 223
}

// send paces the stream: every 20 ms one audio packet, or one event packet
// while digits are being sent. It ends when the peer closes.
func (p *RTPPeer) send() {
	defer p.wg.Done()
	encode := linearToULaw
	if p.cfg.Send == PCMA {
		encode = linearToALaw
	}
	audio := toneFrame(encode)
	var (
		seq      = uint16(rand.Uint32())
		ts       = rand.Uint32()
		ssrc     = rand.Uint32()
		first    = true
		queue    []digitRequest
		digitIdx int    // next digit of queue[0]
		eventN   int    // packets sent of the current event; -1: none
		eventTS  uint32 // timestamp of the current event
		gap      int    // audio packets left before the next digit
		buf      []byte
	)
	eventN = -1
	tick := time.NewTicker(packetInterval)
	defer tick.Stop()
	defer func() {
		for _, r := range queue {
			r.done <- net.ErrClosed
		}
	}()
	for {
		select {
		case <-p.stop:
			return
		case r := <-p.digitReqs:
			queue = append(queue, r)
			continue
		case <-tick.C:
		}
		p.mu.Lock()
		dst := p.remote
		p.mu.Unlock()
		if !dst.IsValid() {
			ts += samplesPerPacket
			continue
		}

		h := rtp.Header{Version: 2, SequenceNumber: seq, SSRC: ssrc}
		var payload []byte
		if eventN < 0 && gap == 0 && len(queue) > 0 {
			eventN, eventTS = 0, ts
		}
		if eventN >= 0 {
			code, _ := digitEvent(rune(queue[0].digits[digitIdx]))
			h.PayloadType = p.cfg.TelephoneEvents[0]
			h.Timestamp = eventTS
			h.Marker = eventN == 0
			duration := min(eventN+1, eventPackets) * samplesPerPacket
			flags := byte(10) // volume -10 dBm0
			if eventN >= eventPackets-1 {
				flags |= 0x80 // end
			}
			payload = []byte{code, flags, 0, 0}
			binary.BigEndian.PutUint16(payload[2:], uint16(duration))
			eventN++
			if eventN == eventPackets-1+eventEndRepeats {
				eventN, gap = -1, eventGapPackets
				digitIdx++
				if digitIdx == len(queue[0].digits) {
					queue[0].done <- nil
					queue, digitIdx = queue[1:], 0
				}
			}
		} else {
			if gap > 0 {
				gap--
			}
			h.PayloadType = p.cfg.Send.PayloadType
			h.Timestamp = ts
			h.Marker = first
			first = false
			payload = audio
		}
		pkt := rtp.Packet{Header: h, Payload: payload}
		var err error
		if buf, err = pkt.Marshal(); err == nil {
			if _, err := p.rtp.WriteToUDPAddrPort(buf, dst); err == nil {
				p.mu.Lock()
				p.stats.Sent++
				p.mu.Unlock()
			}
		}
		seq++
		ts += samplesPerPacket
	}
}

// digitEvent returns the RFC 4733 event code of a DTMF digit (section 3.2).
func digitEvent(d rune) (byte, bool) {
	switch {
	case d >= '0' && d <= '9':
		return byte(d - '0'), true
	case d == '*':
		return 10, true
	case d == '#':
		return 11, true
	case d >= 'A' && d <= 'D':
		return byte(d-'A') + 12, true
	}
	return 0, false
}

// eventDigit is the inverse of digitEvent; event 16 (flash) is '!'.
func eventDigit(e byte) (byte, bool) {
	switch {
	case e <= 9:
		return '0' + e, true
	case e == 10:
		return '*', true
	case e == 11:
		return '#', true
	case e <= 15:
		return 'A' + e - 12, true
	case e == 16:
		return '!', true
	}
	return 0, false
}
