package testpeers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"webrtcgw/internal/testpeers"
)

// callPage gets fake microphone audio, offers it to the test's pion peer
// (non-trickle: the offer waits for ICE gathering) and exposes mediaStats.
const callPage = `<!doctype html>
<html><head><title>testpeers call</title></head><body><p id="state">init</p>
<script>
window.state = "init";
function setState(s) { window.state = s; document.getElementById("state").textContent = s; }
async function gathered(pc) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise(resolve => pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") resolve();
  }));
}
async function start() {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection();
  window.pc = pc;
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const res = await fetch("/offer", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(pc.localDescription)});
  if (!res.ok) throw new Error("offer: HTTP " + res.status);
  await pc.setRemoteDescription(await res.json());
  setState("signalled");
  console.log("signalled");
}
async function mediaStats() {
  const r = {state: window.state, inbound: 0, outbound: 0, codec: ""};
  if (!window.pc) return r;
  const stats = await window.pc.getStats();
  let codecId = "";
  stats.forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "audio") { r.inbound = s.packetsReceived; codecId = s.codecId; }
    if (s.type === "outbound-rtp" && s.kind === "audio") { r.outbound = s.packetsSent; }
  });
  const c = codecId && stats.get(codecId);
  if (c) r.codec = c.mimeType;
  return r;
}
start().catch(e => { setState("error: " + e); console.error(e); });
</script></body></html>`

// mediaStats is what mediaStats() of callPage returns.
type mediaStats struct {
	State    string `json:"state"`
	Inbound  int    `json:"inbound"`
	Outbound int    `json:"outbound"`
	Codec    string `json:"codec"`
}

// pionAnswerer answers the offers of callPage with pion: loopback ICE
// candidates, no mDNS, UDP4. Each peer connection sends Opus silence and
// counts the RTP packets it receives.
type pionAnswerer struct {
	api *webrtc.API

	mu       sync.Mutex
	pcs      []*webrtc.PeerConnection
	received []*atomic.Int64
	wg       sync.WaitGroup
	stop     chan struct{}
}

func newPionAnswerer(t *testing.T) *pionAnswerer {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	var me webrtc.MediaEngine
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	a := &pionAnswerer{
		api:  webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(&me)),
		stop: make(chan struct{}),
	}
	t.Cleanup(a.close)
	return a
}

// ServeHTTP answers POST /offer.
func (a *pionAnswerer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var offer webrtc.SessionDescription
	if err := json.NewDecoder(r.Body).Decode(&offer); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := a.answer(offer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

func (a *pionAnswerer) answer(offer webrtc.SessionDescription) (*webrtc.SessionDescription, error) {
	pc, err := a.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	received := &atomic.Int64{}
	a.mu.Lock()
	a.pcs = append(a.pcs, pc)
	a.received = append(a.received, received)
	a.mu.Unlock()

	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pion")
	if err != nil {
		return nil, err
	}
	if _, err := pc.AddTrack(track); err != nil {
		return nil, err
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := remote.ReadRTP(); err != nil {
				return
			}
			received.Add(1)
		}
	})
	if err := pc.SetRemoteDescription(offer); err != nil {
		return nil, err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return nil, err
	}
	<-gathered

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		silence := []byte{0xf8, 0xff, 0xfe} // an Opus silence frame
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
				if err := track.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond}); err != nil {
					return
				}
			}
		}
	}()
	return pc.LocalDescription(), nil
}

// receivedCounts returns the RTP packets each peer connection received.
func (a *pionAnswerer) receivedCounts() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n []int64
	for _, r := range a.received {
		n = append(n, r.Load())
	}
	return n
}

func (a *pionAnswerer) close() {
	close(a.stop)
	a.wg.Wait()
	a.mu.Lock()
	pcs := a.pcs
	a.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
}

// TestBrowserPionCall connects two Chromium tabs at once to pion answerers
// over loopback and checks that media flows both ways on each.
func TestBrowserPionCall(t *testing.T) {
	checkLeaks(t)
	b := testpeers.StartBrowser(t)
	answerer := newPionAnswerer(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, callPage)
	})
	mux.Handle("POST /offer", answerer)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tabs := []context.Context{b.NewTab(t), b.NewTab(t)}
	for _, tab := range tabs {
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL)); err != nil {
			t.Fatalf("navigate: %v", err)
		}
	}
	for i, tab := range tabs {
		ctx, cancel := context.WithTimeout(tab, 20*time.Second)
		st, err := chromedp.Run(ctx, chromedp.PollFunction[mediaStats](`async () => {
			const r = await mediaStats();
			return (r.state.startsWith("error") || (r.inbound > 25 && r.outbound > 25)) ? r : false;
		}`, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
		cancel()
		if err != nil {
			t.Fatalf("tab %d: media stats: %v (console %q)", i, err, testpeers.TabConsole(tab))
		}
		if st.State != "signalled" || st.Codec != "audio/opus" {
			t.Errorf("tab %d: stats %+v, want signalled and audio/opus", i, st)
		}
		t.Logf("tab %d: %+v", i, st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts := answerer.receivedCounts()
		if len(counts) == 2 && counts[0] > 25 && counts[1] > 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pion received %v RTP packets per connection, want 2 connections with > 25", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, tab := range tabs {
		if ex := testpeers.TabExceptions(tab); len(ex) != 0 {
			t.Errorf("tab %d: exceptions %q", i, ex)
		}
	}
	testpeers.Screenshot(t, tabs[0], "call")
}
