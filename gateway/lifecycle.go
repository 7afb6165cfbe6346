package gateway

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"

	lcaclient "webrtcgw/lca/client"
	"webrtcgw/lca/wire"
	"webrtcgw/version"
)

// drainState is how far a graceful stop has gone.
type drainState int

const (
	serving    drainState = iota
	suspending            // no new sessions or calls; calls in progress go on
	suspended             // no call left
)

// lifecycle is the gateway's status in the Local Control Agent's model
// (docs/lca-protocol.md), told to the LCA and, under systemd, to the
// service manager (sd_notify). It derives the status from what it is told:
// started, the SIP Server's reachability, the drain.
type lifecycle struct {
	log hclog.Logger
	lca *lcaclient.Client // nil: no LCA

	mu      sync.Mutex
	started bool
	sipDown bool
	drain   drainState
	calls   int // calls in progress while suspending
	ready   bool
	last    wire.Status
	changes int // status changes logged, for the log line
}

// newLifecycle registers with the LCA on lcaPort as app when lcaPort is
// not 0; Run must then run the client.
func newLifecycle(log hclog.Logger, app string, lcaPort int) *lifecycle {
	l := &lifecycle{log: log, last: wire.Unknown}
	if lcaPort != 0 {
		l.lca = lcaclient.New(lcaclient.Config{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(lcaPort)),
			App: app, Type: "WebRTC_Gateway", Version: version.Version, Liveness: true}, lcaclient.Deps{Log: log})
	}
	return l
}

// run keeps the LCA registration until ctx is done.
func (l *lifecycle) run(ctx context.Context) {
	if l.lca != nil {
		l.lca.Run(ctx)
	}
}

// firstRegistrationWait bounds the wait for the LCA at start: an LCA that
// is there answers at once; one that is absent refuses the connection at
// once; a silent one must not hold the start for long.
const firstRegistrationWait = 2 * time.Second

// waitRegistered waits (firstRegistrationWait at most) until the first
// registration with the LCA is over, so that the LCA sees Initializing
// before the gateway starts its work — the order of a Management Framework
// daemon's start (connect to the LCA, then initialise).
func (l *lifecycle) waitRegistered(ctx context.Context) {
	if l.lca == nil {
		return
	}
	t := time.NewTimer(firstRegistrationWait)
	defer t.Stop()
	select {
	case <-l.lca.FirstAttempt():
	case <-t.C:
		l.log.Warn("the local control agent did not answer the registration yet; starting without waiting")
	case <-ctx.Done():
	}
}

// commands delivers the LCA's commands (nil channel without an LCA).
func (l *lifecycle) commands() <-chan string {
	if l.lca == nil {
		return nil
	}
	return l.lca.Commands()
}

// alive tells the LCA the main loop is making progress.
func (l *lifecycle) alive() {
	if l.lca != nil {
		l.lca.Alive()
	}
}

func (l *lifecycle) setStarted() {
	l.mu.Lock()
	l.started = true
	l.mu.Unlock()
	l.publish()
}

// setSIPReachable is sipua's Reachability hook. sipua calls it once per
// real change of the SIP Server's availability, debounced: unavailable
// while registrations cannot succeed or the server does not answer,
// available once a registration succeeds (or, with no DN registered, a
// probe is answered).
func (l *lifecycle) setSIPReachable(up bool) {
	l.mu.Lock()
	l.sipDown = !up
	l.mu.Unlock()
	l.publish()
}

// setDrain records the drain and the calls still in progress.
func (l *lifecycle) setDrain(d drainState, calls int) {
	l.mu.Lock()
	l.drain, l.calls = d, calls
	l.mu.Unlock()
	l.publish()
}

func (l *lifecycle) draining() drainState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.drain
}

// stopped is the last status, told before the process exits.
func (l *lifecycle) stopped() {
	l.mu.Lock()
	l.last = wire.Stopped
	l.mu.Unlock()
	if l.lca != nil {
		l.lca.SetStatus(wire.Stopped, "")
	}
	notify(l.log, "STATUS=stopped")
}

// stopping tells systemd a stop is under way.
func (l *lifecycle) stopping() { notify(l.log, sdnotify.SdNotifyStopping) }

// status derives the status from the state; the caller holds mu.
func (l *lifecycle) statusLocked() (wire.Status, string) {
	switch {
	case !l.started:
		return wire.Initializing, ""
	case l.drain == suspended:
		return wire.Suspended, ""
	case l.drain == suspending:
		return wire.Suspending, fmt.Sprintf("%d calls in progress", l.calls)
	case l.sipDown:
		return wire.ServiceUnavailable, "the SIP Server does not answer"
	}
	return wire.Running, ""
}

func (l *lifecycle) publish() {
	l.mu.Lock()
	if l.last == wire.Stopped {
		l.mu.Unlock()
		return
	}
	st, detail := l.statusLocked()
	changed := st != l.last
	l.last = st
	if changed {
		l.changes++
	}
	changes := l.changes
	// Ready once serving, even without its SIP Server: systemd would
	// otherwise kill a gateway started while the SIP Server is down.
	firstReady := l.started && !l.ready
	if firstReady {
		l.ready = true
	}
	l.mu.Unlock()
	if l.lca != nil {
		l.lca.SetStatus(st, detail)
	}
	if !changed {
		return
	}
	l.log.Info("status", "status", string(st), "detail", detail, "changes", changes)
	state := "STATUS=" + string(st)
	if detail != "" {
		state += ": " + detail
	}
	if firstReady {
		state = sdnotify.SdNotifyReady + "\n" + state
	}
	notify(l.log, state)
}

// notify speaks sd_notify when systemd started us (NOTIFY_SOCKET); it does
// nothing otherwise.
func notify(log hclog.Logger, state string) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		log.Warn("sd_notify", "error", err)
	}
}
