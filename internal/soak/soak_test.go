package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
)

// envTestBin passes the binaries built by TestMain to the test process
// that testpeers.RunInNetns re-executes in a network namespace.
const envTestBin = "SOAK_TEST_BIN"

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv(envTestBin) == "" {
			// Build once, before RunInNetns re-executes this binary (the
			// build may need the network); the gateway under the race
			// detector, as the end-to-end tests run it.
			dir, err := os.MkdirTemp("", "soak-test-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			if err := buildBinaries(dir, true); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			os.Setenv(envTestBin, dir)
		}
		return testpeers.RunInNetns(m)
	}()
	os.Exit(code)
}

// logWriter writes progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSoak runs the harness for 25 s against the real system — Kamailio,
// confserv, the gateway (race detector on) under the LCA, the far end —
// with three browsers and an option change every second, and requires what
// `make soak` requires: calls were made, none dropped, no request failed,
// no registration lost; invalid changes were refused by confserv naming
// the option, impossible ones rejected by the gateway, valid ones applied,
// each as expected; the gateway never restarted and stopped cleanly.
func TestSoak(t *testing.T) {
	testpeers.Require(t, testpeers.BinKamailio)
	testpeers.RequirePrivateNetns(t)
	cfg := defaultConfig()
	cfg.duration = 25 * time.Second
	cfg.browsers = 3
	cfg.holdMin, cfg.holdMax = 2*time.Second, 6*time.Second
	cfg.bin = os.Getenv(envTestBin)
	cfg.work = t.TempDir()
	cfg.out = logWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sum, err := run(ctx, cfg)
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	var text bytes.Buffer
	sum.WriteText(&text)
	t.Log(text.String())

	// The JSON summary carries the counters.
	var js bytes.Buffer
	if err := sum.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON summary: %v\n%s", err, js.String())
	}
	for _, k := range []string{"calls", "http", "registrations", "media", "options", "gateway", "pass"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON summary has no %q:\n%s", k, js.String())
		}
	}

	if sum.Calls.Placed == 0 || sum.Calls.Established == 0 || sum.Calls.Completed == 0 {
		t.Errorf("calls placed %d, established %d, completed %d: want some of each", sum.Calls.Placed, sum.Calls.Established, sum.Calls.Completed)
	}
	if sum.HTTP.Requests == 0 || sum.Registrations.SignIns == 0 {
		t.Errorf("requests %d, sign-ins %d: want some", sum.HTTP.Requests, sum.Registrations.SignIns)
	}
	if sum.Calls.Dropped != 0 {
		t.Errorf("dropped calls = %d %v, want 0", sum.Calls.Dropped, sum.Calls.DroppedBy)
	}
	if sum.HTTP.Failed != 0 {
		t.Errorf("failed requests = %d %v, want 0", sum.HTTP.Failed, sum.HTTP.FailedBy)
	}
	if sum.Registrations.Lost != 0 {
		t.Errorf("registrations lost = %d, want 0", sum.Registrations.Lost)
	}
	o := sum.Options
	if o.Applied == 0 || o.Refused == 0 || o.Rejected == 0 {
		t.Errorf("option changes applied %d, refused %d, rejected %d: want some of each", o.Applied, o.Refused, o.Rejected)
	}
	if o.Mismatches != 0 {
		t.Errorf("option changes not as expected = %d, want 0", o.Mismatches)
	}
	if o.LatencyP50Ms <= 0 || o.LatencyP99Ms < o.LatencyP50Ms {
		t.Errorf("write → applied p50 %.1f ms, p99 %.1f ms: not measured", o.LatencyP50Ms, o.LatencyP99Ms)
	}
	if g := sum.Gateway; g.Restarts != 0 || g.Panics != 0 || g.DataRaces != 0 || g.ExitCode != 0 {
		t.Errorf("gateway: %+v, want no restart, panic or race, exit 0", g)
	}
	if !sum.Pass {
		t.Errorf("the soak failed: %s", strings.Join(sum.Failures, "; "))
	}
}
