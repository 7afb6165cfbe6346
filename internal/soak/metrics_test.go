package main

import (
	"strings"
	"testing"
	"time"

	"webrtcgw/internal/soak/rtpmeter"
)

// TestVerdict: each problem the soak counts fails the run on its own.
func TestVerdict(t *testing.T) {
	valid := &change{name: "web/max-sessions", set: map[string]string{"web/max-sessions": "99"}, want: outcomeApplied}
	invalid := &change{name: "out of range", set: map[string]string{"web/https-port": "70000"}, want: outcomeRefused, expect: "web/https-port"}
	tests := []struct {
		name string
		do   func(m *metrics)
		fail string // part of the failure; "" passes
	}{
		{"clean", func(m *metrics) {}, ""},
		{"dropped call", func(m *metrics) { m.callDropped("c1", "BYE from the gateway", "x") }, "dropped calls"},
		{"failed request", func(m *metrics) { m.failedRequest("wait", "refused") }, "failed HTTP requests"},
		{"registration lost", func(m *metrics) { m.registrationLost("7001", "404") }, "registrations lost"},
		{"invalid change applied", func(m *metrics) { m.option(invalid, outcomeApplied, time.Millisecond, "") }, "not end as expected"},
		{"valid change rejected", func(m *metrics) { m.option(valid, outcomeRejected, 0, "bind") }, "not end as expected"},
		{"revert rejected", func(m *metrics) { m.revert(outcomeRejected, 0, "bind") }, "not end as expected"},
		{"restart", func(m *metrics) { m.s.Gateway.Restarts = 1 }, "restarted"},
		{"race", func(m *metrics) { m.s.Gateway.DataRaces = 1 }, "data races"},
		{"failed rollback", func(m *metrics) { m.s.Gateway.RollbackFailed = 1 }, "failed rollbacks"},
		{"unclean exit", func(m *metrics) { m.s.Gateway.ExitCode = 1 }, "exited with 1"},
		{"media gaps alone", func(m *metrics) {
			m.media("c1", true, rtpmeter.Stats{Packets: 100, Gaps: 2, MaxGap: 300 * time.Millisecond})
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetrics()
			m.callEstablished()
			m.option(valid, outcomeApplied, 5*time.Millisecond, "")
			m.option(invalid, outcomeRefused, 0, "web/https-port: out of range")
			tt.do(m)
			s := m.summary()
			got := strings.Join(s.Failures, "; ")
			if tt.fail == "" {
				if !s.Pass {
					t.Errorf("summary() failures = %q, want a pass", got)
				}
				return
			}
			if s.Pass || !strings.Contains(got, tt.fail) {
				t.Errorf("summary() pass=%v failures=%q, want a failure with %q", s.Pass, got, tt.fail)
			}
		})
	}
}

func TestNoCallIsAFailure(t *testing.T) {
	if s := newMetrics().summary(); s.Pass {
		t.Error("a run without an established call passed")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(d, 50); got != 100*time.Millisecond {
		t.Errorf("p50 = %v, want 100ms", got)
	}
	if got := percentile(d, 99); got != 198*time.Millisecond {
		t.Errorf("p99 = %v, want 198ms", got)
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v, want 1ms", got)
	}
}

func TestEndpointOf(t *testing.T) {
	for _, tt := range []struct{ addr, port, want string }{
		{"", "10001", "https://127.0.0.1:10001"},
		{"0.0.0.0", "10002", "https://127.0.0.1:10002"},
		{"127.0.0.1", "10003", "https://127.0.0.1:10003"},
	} {
		opts := map[string]map[string]string{"web": {"listen-address": tt.addr, "https-port": tt.port}}
		if got := endpointOf(opts); got != tt.want {
			t.Errorf("endpointOf(%q, %q) = %q, want %q", tt.addr, tt.port, got, tt.want)
		}
	}
}
