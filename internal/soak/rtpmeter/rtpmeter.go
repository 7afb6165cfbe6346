// Package rtpmeter measures the continuity of one RTP stream as it arrives:
// how many packets came, the gaps in arrival time longer than a threshold
// and the runs of missing sequence numbers longer than a threshold (RFC 3550
// appendix A.1 serial number arithmetic). The soak harness runs one Meter
// per call and direction.
package rtpmeter

import (
	"sync"
	"time"
)

// Meter records the arrival of one stream's packets. It is safe for
// concurrent use.
type Meter struct {
	gapThreshold time.Duration
	seqThreshold int

	mu        sync.Mutex
	frozen    bool
	packets   int64
	first     time.Time
	last      time.Time
	lastSeq   map[uint32]uint16 // per SSRC: the highest sequence number
	gaps      int
	seqGaps   int
	maxGap    time.Duration
	maxSeqGap int
}

// Stats is a snapshot of a Meter.
type Stats struct {
	Packets int64
	// First and Last are the arrival times of the first and last packet
	// (zero before the first).
	First, Last time.Time
	// Gaps counts the times more than the gap threshold passed between two
	// consecutive packets; MaxGap is the longest time between two.
	Gaps   int
	MaxGap time.Duration
	// SeqGaps counts the runs of more than the sequence threshold missing
	// sequence numbers; MaxSeqGap is the longest run.
	SeqGaps   int
	MaxSeqGap int
}

// New returns a Meter that counts arrival gaps longer than gap and runs of
// more than seq missing sequence numbers.
func New(gap time.Duration, seq int) *Meter {
	return &Meter{gapThreshold: gap, seqThreshold: seq, lastSeq: map[uint32]uint16{}}
}

// Packet records a packet of ssrc with sequence number seq that arrived at
// now. After Freeze it is ignored.
func (m *Meter) Packet(now time.Time, ssrc uint32, seq uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frozen {
		return
	}
	if m.packets == 0 {
		m.first = now
	} else if d := now.Sub(m.last); d > 0 {
		if d > m.maxGap {
			m.maxGap = d
		}
		if d > m.gapThreshold {
			m.gaps++
		}
	}
	m.last = now
	m.packets++
	last, ok := m.lastSeq[ssrc]
	if !ok {
		m.lastSeq[ssrc] = seq
		return
	}
	d := int(int16(seq - last))
	if d <= 0 {
		return // repeated or reordered
	}
	m.lastSeq[ssrc] = seq
	if missing := d - 1; missing > 0 {
		if missing > m.maxSeqGap {
			m.maxSeqGap = missing
		}
		if missing > m.seqThreshold {
			m.seqGaps++
		}
	}
}

// Freeze stops the measurement: packets that arrive later (while the call
// is being hung up) are not counted.
func (m *Meter) Freeze() {
	m.mu.Lock()
	m.frozen = true
	m.mu.Unlock()
}

// Stats returns a snapshot.
func (m *Meter) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Packets: m.packets, First: m.first, Last: m.last, Gaps: m.gaps, MaxGap: m.maxGap,
		SeqGaps: m.seqGaps, MaxSeqGap: m.maxSeqGap}
}
