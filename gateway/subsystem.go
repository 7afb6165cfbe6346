// Package gateway is the WebRTC Gateway daemon: it owns the option set, starts
// the subsystems (log, media, sip, call control, web, bans) and applies option
// changes to them through one reload pipeline (Reloader; docs/operations.md).
package gateway

import (
	"context"

	"webrtcgw/options"
)

// A Subsystem is one independently reloadable part of the gateway.
// Constructors have no side effects; Start binds.
type Subsystem interface {
	// Start returns once the subsystem is serving (listening, bound).
	Start(ctx context.Context) error
	// Reload applies next in place. It is called only when an option the
	// subsystem owns changed. On error the subsystem must keep its previous
	// state, so that the reload can be rolled back.
	Reload(ctx context.Context, next *options.Set) error
	// Stop drains until ctx is done, then releases everything.
	Stop(ctx context.Context) error
}

// Part is a subsystem with the owner name of the options it applies.
type Part struct {
	Owner options.Owner
	Sub   Subsystem
}
