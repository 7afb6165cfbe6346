package agent

import (
	"slices"
	"testing"
)

// TestFilterEnv: an application does not inherit the LCA's credential nor
// what systemd set for the LCA's unit.
func TestFilterEnv(t *testing.T) {
	got := filterEnv([]string{"PATH=/usr/bin", "LCA_TOKEN=secret", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=1000",
		"STATE_DIRECTORY=/var/lib/webrtc-gateway-lca:/var/lib/webrtc-gateway", "LOGS_DIRECTORY=/var/log/webrtc-gateway",
		"LISTEN_FDS=2", "LANG=C.UTF-8", "NOTIFY_SOCKETX=kept"})
	want := []string{"PATH=/usr/bin", "LANG=C.UTF-8", "NOTIFY_SOCKETX=kept"}
	if !slices.Equal(got, want) {
		t.Errorf("filterEnv = %q, want %q", got, want)
	}
}
