package farend

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"webrtcgw/internal/soak/rtpmeter"
)

// packetInterval is the packetization of the stream: 20 ms of 8 kHz audio.
const (
	packetInterval   = 20 * time.Millisecond
	samplesPerPacket = 160
)

// stream is the RTP of one call: a port pair on 127.0.0.1 (RTP, and RTCP on
// the next port, drained), a sender of 20 ms G.711 packets and a reader
// that meters what arrives.
//
// Its goroutines (read, drain RTCP, send once started) end when stop is
// called; stop waits for them.
type stream struct {
	rtp, rtcp *net.UDPConn
	meter     *rtpmeter.Meter

	sent    atomic.Int64
	started atomic.Bool
	quit    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// newStream binds an even port and the next one on 127.0.0.1 and starts
// reading.
func newStream(meter *rtpmeter.Meter) (*stream, error) {
	rtp, rtcp, err := bindPair()
	if err != nil {
		return nil, err
	}
	s := &stream{rtp: rtp, rtcp: rtcp, meter: meter, quit: make(chan struct{})}
	s.wg.Add(2)
	go s.read()
	go s.drain()
	return s, nil
}

func bindPair() (*net.UDPConn, *net.UDPConn, error) {
	lo := net.IPv4(127, 0, 0, 1)
	for range 200 {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo})
		if err != nil {
			return nil, nil, err
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 == 0 && port < 65535 {
			if b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: lo, Port: port + 1}); err == nil {
				return a, b, nil
			}
		}
		a.Close()
	}
	return nil, nil, errors.New("no free RTP port pair on 127.0.0.1")
}

func (s *stream) port() int { return s.rtp.LocalAddr().(*net.UDPAddr).Port }

// start sends payload type pt to remote every 20 ms until stop.
func (s *stream) start(remote netip.AddrPort, pt uint8) {
	if !s.started.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go s.send(remote, pt)
}

func (s *stream) send(remote netip.AddrPort, pt uint8) {
	defer s.wg.Done()
	buf := make([]byte, 12+samplesPerPacket)
	buf[0] = 0x80
	buf[1] = pt | 0x80 // marker on the first packet
	seq, ts, ssrc := uint16(rand.Uint32()), rand.Uint32(), rand.Uint32()
	binary.BigEndian.PutUint32(buf[8:], ssrc)
	silence := byte(0xff) // μ-law
	if pt == ptPCMA {
		silence = 0xd5
	}
	for i := 12; i < len(buf); i++ {
		buf[i] = silence
	}
	tick := time.NewTicker(packetInterval)
	defer tick.Stop()
	for {
		binary.BigEndian.PutUint16(buf[2:], seq)
		binary.BigEndian.PutUint32(buf[4:], ts)
		if _, err := s.rtp.WriteToUDPAddrPort(buf, remote); err == nil {
			s.sent.Add(1)
		}
		buf[1] = pt
		seq++
		ts += samplesPerPacket
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
	}
}

// read meters every RTP packet that arrives (RTCP multiplexed on the RTP
// port, RFC 5761 section 4, is skipped).
func (s *stream) read() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := s.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n < 12 || buf[0]>>6 != 2 || (buf[1] >= 192 && buf[1] <= 223) {
			continue
		}
		s.meter.Packet(time.Now(), binary.BigEndian.Uint32(buf[8:]), binary.BigEndian.Uint16(buf[2:]))
	}
}

func (s *stream) drain() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		if _, _, err := s.rtcp.ReadFromUDPAddrPort(buf); err != nil {
			return
		}
	}
}

// stop ends the stream and waits for its goroutines. Idempotent.
func (s *stream) stop() {
	s.once.Do(func() {
		s.meter.Freeze()
		close(s.quit)
		s.rtp.Close()
		s.rtcp.Close()
		s.wg.Wait()
	})
}
