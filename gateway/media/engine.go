// Package media relays audio between browsers (ICE, DTLS-SRTP, pion/webrtc)
// and the SIP side (RTP, or SDES-SRTP), without transcoding: a call uses one
// codec end to end, and RFC 4733 telephone-events pass through with their
// payload types mapped.
//
// Each media-options generation has its own webrtc.API (a SettingEngine in use
// is never changed): a reload builds a new generation for new calls, and
// active calls keep theirs, with their ports and keys, until they end.
package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"webrtcgw/logging"
	"webrtcgw/options"
)

// ErrTooManyCalls means media/max-calls calls are up.
var ErrTooManyCalls = errors.New("media/max-calls reached")

// Deps are the engine's collaborators.
type Deps struct {
	Log hclog.Logger
	Now func() time.Time // nil: time.Now
}

// Engine is the media subsystem: it creates calls from the current
// generation and hangs up calls whose media stopped.
type Engine struct {
	log  hclog.Logger
	now  func() time.Time
	gen  atomic.Pointer[generation]
	init *options.Set

	ports *portPool
	muxes muxes

	mu    sync.Mutex
	calls map[*Call]struct{}

	sweepStop chan struct{}
	sweepDone chan struct{}
}

// generation is the media options in force for the calls set up under them.
type generation struct {
	opts     options.Media
	api      *webrtc.API
	iceConf  webrtc.Configuration
	mux      *sharedMux // nil: a port per call from the range
	loopback bool       // loopback candidates are included (no other interface)
	refs     atomic.Int64
}

// New returns the engine for set. Start builds the first generation.
func New(set *options.Set, deps Deps) *Engine {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Engine{log: deps.Log, now: deps.Now, init: set, ports: newPortPool(deps.Now),
		calls: map[*Call]struct{}{}, muxes: muxes{byPort: map[int]*sharedMux{}}}
}

// Start builds the first generation and starts the media watchdog.
func (e *Engine) Start(context.Context) error {
	g, err := e.newGeneration(e.init.Media())
	if err != nil {
		return err
	}
	e.gen.Store(g)
	e.sweepStop, e.sweepDone = make(chan struct{}), make(chan struct{})
	go e.sweep()
	return nil
}

// Reload builds a new generation for calls set up from now on; active calls
// keep the one they started with.
func (e *Engine) Reload(_ context.Context, next *options.Set) error {
	g, err := e.newGeneration(next.Media())
	if err != nil {
		return err
	}
	old := e.gen.Swap(g)
	e.releaseGeneration(old)
	return nil
}

// Stop hangs up every call and releases the generations.
func (e *Engine) Stop(ctx context.Context) error {
	if e.sweepStop != nil {
		close(e.sweepStop)
		<-e.sweepDone
	}
	for _, c := range e.activeCalls() {
		c.End("gateway stopping")
	}
	if g := e.gen.Swap(nil); g != nil {
		e.releaseGeneration(g)
	}
	return nil
}

// Calls returns the number of active calls.
func (e *Engine) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

func (e *Engine) activeCalls() []*Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Call, 0, len(e.calls))
	for c := range e.calls {
		out = append(out, c)
	}
	return out
}

// srtpProfiles maps media/srtp-profiles names to DTLS-SRTP profiles.
var srtpProfiles = map[string]dtls.SRTPProtectionProfile{
	"AEAD_AES_256_GCM":       dtls.SRTP_AEAD_AES_256_GCM,
	"AEAD_AES_128_GCM":       dtls.SRTP_AEAD_AES_128_GCM,
	"AES128_CM_HMAC_SHA1_80": dtls.SRTP_AES128_CM_HMAC_SHA1_80,
	"AES128_CM_HMAC_SHA1_32": dtls.SRTP_AES128_CM_HMAC_SHA1_32,
}

func (e *Engine) newGeneration(m options.Media) (*generation, error) {
	g := &generation{opts: m}
	me := &webrtc.MediaEngine{}
	for _, name := range m.Codecs {
		var c webrtc.RTPCodecParameters
		switch name {
		case "telephone-event":
			continue
		case "opus":
			c = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: codecs["opus"].FMTP}, PayloadType: ptOpus}
		default:
			k := codecs[name]
			c = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/" + k.Encoding, ClockRate: k.Clock, Channels: 1}, PayloadType: webrtc.PayloadType(k.StaticPT)}
		}
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("media/codecs: %s: %w", name, err)
		}
	}
	if hasDTMF(m.Codecs) {
		for _, te := range []struct {
			clock uint32
			pt    webrtc.PayloadType
		}{{8000, ptDTMF8k}, {48000, ptDTMF48k}} {
			c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeDTMF, ClockRate: te.clock, Channels: 1, SDPFmtpLine: "0-15"}, PayloadType: te.pt}
			if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
				return nil, fmt.Errorf("media/codecs: telephone-event: %w", err)
			}
		}
	}

	se := webrtc.SettingEngine{}
	se.LoggerFactory = logging.NewPionFactory(e.log.Named("pion"))
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	g.loopback = !hasNonLoopbackInterface()
	se.SetIncludeLoopbackCandidate(g.loopback)
	var profiles []dtls.SRTPProtectionProfile
	for _, p := range m.SRTPProfiles {
		profiles = append(profiles, srtpProfiles[p])
	}
	se.SetSRTPProtectionProfiles(profiles...)
	se.SetSRTPReplayProtectionWindow(64) // RFC 3711 section 3.3.2: replayed packets are dropped
	se.SetSRTCPReplayProtectionWindow(64)
	switch m.DTLSRole {
	case "client":
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
			return nil, err
		}
	case "server":
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			return nil, err
		}
	}
	if m.PublicAddress.IsValid() {
		// 1:1 NAT: host candidates carry the public address instead.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: []string{m.PublicAddress.String()},
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace}); err != nil {
			return nil, fmt.Errorf("media/public-address: %w", err)
		}
	}
	if m.WebRTCMuxPort != 0 {
		mux, err := e.muxes.acquire(m.WebRTCMuxPort, g.loopback, e.log)
		if err != nil {
			return nil, fmt.Errorf("media/webrtc-mux-port: %w", err)
		}
		g.mux = mux
		se.SetICEUDPMux(mux.mux)
	} else if err := se.SetEphemeralUDPPortRange(uint16(m.WebRTCPortMin), uint16(m.WebRTCPortMax)); err != nil {
		return nil, fmt.Errorf("media/webrtc-port-min: %w", err)
	}

	// Only the RTCP sender and receiver reports: no NACK, TWCC or stats
	// interceptors on the relay's hot path.
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	g.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	for _, u := range m.ICEServers {
		s := webrtc.ICEServer{URLs: []string{u}}
		if strings.HasPrefix(u, "turn") {
			s.Username, s.Credential = m.TURNUsername, m.TURNPassword
		}
		g.iceConf.ICEServers = append(g.iceConf.ICEServers, s)
	}
	g.iceConf.BundlePolicy = webrtc.BundlePolicyMaxBundle
	g.iceConf.RTCPMuxPolicy = webrtc.RTCPMuxPolicyRequire
	g.refs.Store(1) // the engine's own reference while it is current
	return g, nil
}

const mimeDTMF = "audio/telephone-event"

func hasDTMF(names []string) bool {
	for _, n := range names {
		if n == "telephone-event" {
			return true
		}
	}
	return false
}

// releaseGeneration drops one reference; the last one frees the shared mux.
func (e *Engine) releaseGeneration(g *generation) {
	if g == nil || g.refs.Add(-1) > 0 {
		return
	}
	if g.mux != nil {
		e.muxes.release(g.mux)
	}
}

// hasNonLoopbackInterface reports whether an interface other than loopback
// is up with an address. Without one (a host or test namespace with only lo),
// loopback candidates are the only ones there are, so they are included.
func hasNonLoopbackInterface() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return true
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, err := i.Addrs(); err == nil && len(addrs) > 0 {
			return true
		}
	}
	return false
}

// sharedMux is an ICE UDP mux on one port, shared by the generations that use it.
type sharedMux struct {
	port int
	mux  *ice.MultiUDPMuxDefault
	refs int
}

type muxes struct {
	mu     sync.Mutex
	byPort map[int]*sharedMux
}

func (m *muxes) acquire(port int, loopback bool, log hclog.Logger) (*sharedMux, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.byPort[port]; s != nil {
		s.refs++
		return s, nil
	}
	opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4, ice.NetworkTypeUDP6),
		ice.UDPMuxFromPortWithLogger(logging.NewPionFactory(log.Named("pion")).NewLogger("udpmux"))}
	if loopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
	}
	mux, err := ice.NewMultiUDPMuxFromPort(port, opts...)
	if err != nil {
		return nil, err
	}
	s := &sharedMux{port: port, mux: mux, refs: 1}
	m.byPort[port] = s
	return s, nil
}

func (m *muxes) release(s *sharedMux) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(m.byPort, s.port)
		s.mux.Close()
	}
}

// sweep hangs up calls whose media stopped (media/rtp-timeout). It runs
// until Stop; one goroutine serves every call.
func (e *Engine) sweep() {
	defer close(e.sweepDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.sweepStop:
			return
		case <-t.C:
			g := e.gen.Load()
			if g == nil {
				continue
			}
			timeout := g.opts.RTPTimeout // the current value applies to every call
			if timeout == 0 {
				continue
			}
			now := e.now()
			for _, c := range e.activeCalls() {
				if side, silent := c.silentSince(now, timeout); silent {
					c.log.Info("no media: hanging up", "silent_side", side, "rtp_timeout", timeout.String())
					c.fail("no media from the " + side + " for " + timeout.String())
				}
			}
		}
	}
}
