package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts packets and bytes.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// Stats is a snapshot of a call's media statistics.
type Stats struct {
	Duration    time.Duration // since the call was answered
	Codec       string
	FromBrowser Counter // RTP received from the browser
	ToBrowser   Counter
	FromSIP     Counter
	ToSIP       Counter
	Lost        int64         // packets from the browser lost (RFC 3550 A.3)
	Jitter      time.Duration // of the browser's stream (RFC 3550 A.8)
	RTT         time.Duration // browser round trip, from its receiver reports
	RTTMax      time.Duration
	RTTAvg      time.Duration
}

// callStats is updated by the relay loops: counters are atomics; the
// sequence and jitter state belongs to the browser loop alone (mu only makes
// the snapshot consistent).
type callStats struct {
	started                                atomic.Int64 // unix ns of the answer
	browserLast                            atomic.Int64 // unix ns of the last packet from the browser
	sipLast                                atomic.Int64
	fromBrowser, toBrowser, fromSIP, toSIP counterAtomic

	mu       sync.Mutex
	seqInit  bool
	baseSeq  uint16
	maxSeq   uint16
	cycles   uint32
	received uint64
	transit  int64
	jitter   float64 // in timestamp units
	clock    uint32
	rttLast  time.Duration
	rttMax   time.Duration
	rttSum   time.Duration
	rttCount int64
}

type counterAtomic struct{ packets, bytes atomic.Uint64 }

func (c *counterAtomic) add(n int) {
	c.packets.Add(1)
	c.bytes.Add(uint64(n))
}

func (c *counterAtomic) get() Counter {
	return Counter{Packets: c.packets.Load(), Bytes: c.bytes.Load()}
}

func (s *callStats) start(now time.Time) { s.started.CompareAndSwap(0, now.UnixNano()) }

func (s *callStats) sipPacket(n int, now time.Time) {
	s.fromSIP.add(n)
	s.sipLast.Store(now.UnixNano())
}

func (s *callStats) browserSent(n int) { s.toBrowser.add(n) }
func (s *callStats) sipSent(n int)     { s.toSIP.add(n) }

// browserPacket accounts one RTP packet from the browser: counters, loss
// (RFC 3550 A.1, A.3) and interarrival jitter (A.8).
func (s *callStats) browserPacket(pkt []byte, now time.Time, clock uint32) {
	s.fromBrowser.add(len(pkt))
	s.browserLast.Store(now.UnixNano())
	seq := uint16(pkt[2])<<8 | uint16(pkt[3])
	ts := uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	if !s.seqInit {
		s.seqInit, s.baseSeq, s.maxSeq = true, seq, seq
	} else if d := seq - s.maxSeq; d > 0 && d < 0x8000 {
		if seq < s.maxSeq {
			s.cycles++
		}
		s.maxSeq = seq
	}
	if clock == 0 {
		return
	}
	if clock != s.clock {
		s.clock, s.transit, s.jitter = clock, 0, 0
	}
	arrival := now.UnixNano() / 1000 * int64(clock) / 1_000_000
	transit := arrival - int64(ts)
	if s.transit != 0 {
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.transit = transit
}

func (s *callStats) rtt(d time.Duration) {
	if d <= 0 || d > time.Minute {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rttLast = d
	s.rttMax = max(s.rttMax, d)
	s.rttSum += d
	s.rttCount++
}

// Stats returns a snapshot of the call's statistics.
func (c *Call) Stats() Stats {
	c.mu.Lock()
	codec := c.codec.Name
	c.mu.Unlock()
	s := &c.stats
	out := Stats{Codec: codec, FromBrowser: s.fromBrowser.get(), ToBrowser: s.toBrowser.get(), FromSIP: s.fromSIP.get(), ToSIP: s.toSIP.get()}
	if st := s.started.Load(); st != 0 {
		out.Duration = c.e.now().Sub(time.Unix(0, st))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqInit {
		expected := uint64(s.cycles)<<16 + uint64(s.maxSeq) - uint64(s.baseSeq) + 1
		out.Lost = int64(expected) - int64(s.received)
		if out.Lost < 0 {
			out.Lost = 0 // duplicates
		}
	}
	if s.clock != 0 {
		out.Jitter = time.Duration(s.jitter / float64(s.clock) * float64(time.Second))
	}
	out.RTT, out.RTTMax = s.rttLast, s.rttMax
	if s.rttCount > 0 {
		out.RTTAvg = s.rttSum / time.Duration(s.rttCount)
	}
	return out
}
