package rtpmeter

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name    string
		packets []struct {
			ms  int
			seq uint16
		}
		want Stats
	}{
		{"steady", []struct {
			ms  int
			seq uint16
		}{{0, 1}, {20, 2}, {40, 3}, {60, 4}}, Stats{Packets: 4, MaxGap: 20 * time.Millisecond}},
		{"arrival gap", []struct {
			ms  int
			seq uint16
		}{{0, 1}, {20, 2}, {300, 3}, {320, 4}}, Stats{Packets: 4, Gaps: 1, MaxGap: 280 * time.Millisecond}},
		{"sequence gap across the wrap", []struct {
			ms  int
			seq uint16
		}{{0, 65530}, {20, 65531}, {40, 10}}, Stats{Packets: 3, MaxGap: 20 * time.Millisecond, SeqGaps: 1, MaxSeqGap: 14}},
		{"small loss and reordering", []struct {
			ms  int
			seq uint16
		}{{0, 1}, {20, 4}, {40, 3}, {60, 5}}, Stats{Packets: 4, MaxGap: 20 * time.Millisecond, MaxSeqGap: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(200*time.Millisecond, 10)
			for _, p := range tt.packets {
				m.Packet(at(p.ms), 7, p.seq)
			}
			got := m.Stats()
			got.First, got.Last = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Stats() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFreeze(t *testing.T) {
	m := New(200*time.Millisecond, 10)
	t0 := time.Unix(1000, 0)
	m.Packet(t0, 1, 1)
	m.Freeze()
	m.Packet(t0.Add(time.Second), 1, 100)
	if s := m.Stats(); s.Packets != 1 || s.Gaps != 0 || s.SeqGaps != 0 {
		t.Errorf("after Freeze: %+v, want the one packet before", s)
	}
}
