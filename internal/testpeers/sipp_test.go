package testpeers_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
)

// sippTimeout bounds one sipp call in the tests.
const sippTimeout = 30 * time.Second

// callSetup is Kamailio with a static route "2000" to a sipp UAS.
type callSetup struct {
	kam *testpeers.Kamailio
	uas *testpeers.Sipp
}

// startUAS starts a sipp UAS with scenario behind Kamailio, reachable as 2000.
func startUAS(t *testing.T, scenario string, keys map[string]string, mediaPort int) callSetup {
	t.Helper()
	uasPort := testpeers.FreePort(t, testpeers.NetSIP)
	kam := testpeers.StartKamailio(t, testpeers.KamailioConfig{
		Routes: map[string]string{"2000": "sip:127.0.0.1:" + strconv.Itoa(uasPort)},
	})
	uas := testpeers.StartSipp(t, testpeers.SippConfig{
		Scenario:  scenario,
		Port:      uasPort,
		MediaPort: mediaPort,
		Keys:      keys,
	})
	return callSetup{kam: kam, uas: uas}
}

// TestSippHoldResumeCall runs uac_hold_resume.xml -> Kamailio -> uas_call.xml
// with Go RTP peers as the media of both sides: the UAC side sends PCMU and
// DTMF to the UAS side, which echoes.
func TestSippHoldResumeCall(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout)
	defer cancel()

	echo := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true, TelephoneEvents: []uint8{101}})
	setup := startUAS(t, testpeers.ScenarioUASCall, nil, echo.Port())
	caller := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{
		Send:            testpeers.PCMU,
		SendTo:          echo.Addr(),
		TelephoneEvents: []uint8{101},
	})
	uac := testpeers.StartSipp(t, testpeers.SippConfig{
		Scenario:  testpeers.ScenarioUACHoldResume,
		Remote:    setup.kam.Addr(),
		Service:   "2000",
		MediaPort: caller.Port(),
		Keys:      map[string]string{testpeers.KeyHoldMs: "300"},
	})

	if _, err := caller.WaitFor(ctx, func(s testpeers.RTPStats) bool { return s.PayloadTypes[0] >= 10 }); err != nil {
		t.Fatalf("echoed PCMU: %v", err)
	}
	if err := caller.SendDigits(ctx, "123#"); err != nil {
		t.Fatalf("SendDigits: %v", err)
	}
	if err := echo.WaitDigits(ctx, "123#"); err != nil {
		t.Errorf("echo peer: %v", err)
	}
	if err := caller.WaitDigits(ctx, "123#"); err != nil {
		t.Errorf("caller (echoed digits): %v", err)
	}
	if err := uac.Wait(ctx); err != nil {
		t.Errorf("UAC: %v", err)
	}
	if err := setup.uas.Wait(ctx); err != nil {
		t.Errorf("UAS: %v", err)
	}
	s := caller.Stats()
	if s.MaxSeqGap != 0 || s.Packets == 0 {
		t.Errorf("caller stats %+v: want packets and no sequence gap", s)
	}
	msgs := setup.uas.Messages()
	for _, want := range []string{"a=sendonly", "a=recvonly", "INFO sip:", "BYE sip:"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("UAS message trace lacks %q", want)
		}
	}
}

// TestSippHoldWrongDirection checks that uas_call.xml fails the call when the
// hold re-INVITE does not put the stream on hold.
func TestSippHoldWrongDirection(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout)
	defer cancel()

	echo := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
	setup := startUAS(t, testpeers.ScenarioUASCall, nil, echo.Port())
	caller := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{})
	uac := testpeers.StartSipp(t, testpeers.SippConfig{
		Scenario:  testpeers.ScenarioUACHoldResume,
		Remote:    setup.kam.Addr(),
		Service:   "2000",
		MediaPort: caller.Port(),
		Keys:      map[string]string{testpeers.KeyHoldMs: "100", testpeers.KeyHoldDir: "sendrecv"},
	})
	err := setup.uas.Wait(ctx)
	if err == nil {
		t.Fatal("UAS Wait() = nil, want a failed call for a=sendrecv in the hold re-INVITE")
	}
	if !strings.Contains(err.Error(), "exit 1") {
		t.Errorf("UAS Wait() = %v, want exit 1", err)
	}
	t.Logf("UAS failed as expected: %v", err)
	uac.Kill()
}

// TestSippScenarios runs the other embedded scenarios against a partner
// through Kamailio.
func TestSippScenarios(t *testing.T) {
	cases := []struct {
		uas, uac   string
		uasKeys    map[string]string
		uacKeys    map[string]string
		uacFails   bool   // the UAC scenario expects 200 and gets a failure
		uacMessage string // a message the UAC must have seen
	}{
		{uas: testpeers.ScenarioUASAnswer, uac: testpeers.ScenarioUACCall, uacMessage: "SIP/2.0 200 OK"},
		{uas: testpeers.ScenarioUASBusy, uac: testpeers.ScenarioUACCall, uacFails: true, uacMessage: "SIP/2.0 486 Busy Here"},
		{uas: testpeers.ScenarioUASAnswerBye, uac: testpeers.ScenarioUACCallRemoteBye, uasKeys: map[string]string{testpeers.KeyHoldMs: "200"}, uacMessage: "BYE sip:"},
		{uas: testpeers.ScenarioUASRing, uac: testpeers.ScenarioUACCancel, uacMessage: "SIP/2.0 487 Request Terminated"},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.uas, ".xml")+"+"+strings.TrimSuffix(tc.uac, ".xml"), func(t *testing.T) {
			checkLeaks(t)
			ctx, cancel := context.WithTimeout(context.Background(), sippTimeout)
			defer cancel()
			echo := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Echo: true})
			setup := startUAS(t, tc.uas, tc.uasKeys, echo.Port())
			caller := testpeers.StartRTPPeer(t, testpeers.RTPPeerConfig{Send: testpeers.PCMA, SendTo: echo.Addr()})
			keys := map[string]string{testpeers.KeyHoldMs: "200"}
			for k, v := range tc.uacKeys {
				keys[k] = v
			}
			uac := testpeers.StartSipp(t, testpeers.SippConfig{
				Scenario:  tc.uac,
				Remote:    setup.kam.Addr(),
				Service:   "2000",
				MediaPort: caller.Port(),
				Keys:      keys,
			})
			uacErr := uac.Wait(ctx)
			if tc.uacFails && uacErr == nil {
				t.Errorf("UAC Wait() = nil, want a failed call")
			}
			if !tc.uacFails && uacErr != nil {
				t.Errorf("UAC: %v", uacErr)
			}
			if err := setup.uas.Wait(ctx); err != nil {
				t.Errorf("UAS: %v", err)
			}
			if !strings.Contains(uac.Messages(), tc.uacMessage) {
				t.Errorf("UAC message trace lacks %q", tc.uacMessage)
			}
		})
	}
}

// TestScenarioNames checks that every scenario constant is embedded.
func TestScenarioNames(t *testing.T) {
	names := testpeers.ScenarioNames()
	for _, want := range []string{
		testpeers.ScenarioUASCall, testpeers.ScenarioUASAnswer, testpeers.ScenarioUASAnswerBye,
		testpeers.ScenarioUASBusy, testpeers.ScenarioUASRing, testpeers.ScenarioUACCall,
		testpeers.ScenarioUACCallRemoteBye, testpeers.ScenarioUACCancel, testpeers.ScenarioUACHoldResume,
	} {
		b, err := testpeers.Scenario(want)
		if err != nil || len(b) == 0 {
			t.Errorf("Scenario(%s) = %d bytes, %v", want, len(b), err)
		}
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("ScenarioNames() = %v, lacks %s", names, want)
		}
	}
}
