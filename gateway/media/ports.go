package media

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// portQuarantine is how long a released RTP port stays unused: the far end
// may still send to it for a while after the call ended, and those packets
// must not reach the next call (livekit/sip draining ports do the same).
const portQuarantine = 30 * time.Second

// ErrNoPorts means every RTP port of the range is in use or quarantined.
var ErrNoPorts = errors.New("no free RTP port in media/rtp-port-min..rtp-port-max")

// portPool hands out even/odd UDP port pairs (RTP, RTCP) from a range.
type portPool struct {
	mu       sync.Mutex
	released map[int]time.Time // port → when it was released
	inUse    map[int]bool
	now      func() time.Time
}

func newPortPool(now func() time.Time) *portPool {
	return &portPool{released: map[int]time.Time{}, inUse: map[int]bool{}, now: now}
}

// rtpSockets is a bound RTP/RTCP socket pair.
type rtpSockets struct {
	rtp, rtcp *net.UDPConn
	port      int
}

// allocate binds an RTP/RTCP pair on an even port in [min, max], starting
// at a random place so ports are not predictable.
func (p *portPool) allocate(bind netip.Addr, min, max int) (*rtpSockets, error) {
	if min%2 == 1 {
		min++
	}
	if max-min < 1 {
		return nil, ErrNoPorts
	}
	pairs := (max - min + 1) / 2
	start := rand.IntN(pairs)
	now := p.now()
	for i := 0; i < pairs; i++ {
		port := min + 2*((start+i)%pairs)
		if !p.reserve(port, now) {
			continue
		}
		s, err := bindPair(bind, port)
		if err != nil {
			p.release(port, false)
			continue
		}
		return s, nil
	}
	return nil, ErrNoPorts
}

func (p *portPool) reserve(port int, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[port] {
		return false
	}
	if t, ok := p.released[port]; ok {
		if now.Sub(t) < portQuarantine {
			return false
		}
		delete(p.released, port)
	}
	p.inUse[port] = true
	return true
}

// release returns port to the pool; quarantine says whether it was used by
// a call (and so may still receive stray packets).
func (p *portPool) release(port int, quarantine bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.inUse, port)
	if quarantine {
		p.released[port] = p.now()
	}
	// Forget quarantines that are over, so the map stays small.
	if len(p.released) > 1024 {
		now := p.now()
		for port, t := range p.released {
			if now.Sub(t) >= portQuarantine {
				delete(p.released, port)
			}
		}
	}
}

func bindPair(bind netip.Addr, port int) (*rtpSockets, error) {
	rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port))))
	if err != nil {
		return nil, err
	}
	rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bind, uint16(port+1))))
	if err != nil {
		rtp.Close()
		return nil, err
	}
	return &rtpSockets{rtp: rtp, rtcp: rtcp, port: port}, nil
}
