package gateway

import (
	"context"

	"webrtcgw/logging"
	"webrtcgw/options"
)

// logSubsystem applies the [log] options to the daemon's Logging.
type logSubsystem struct {
	logging *logging.Logging
	set     *options.Set // options to Start with
}

func newLogSubsystem(l *logging.Logging, set *options.Set) *logSubsystem {
	return &logSubsystem{logging: l, set: set}
}

// LogOptions converts the [log] options for logging.Apply.
func LogOptions(s *options.Set) logging.Options {
	l := s.Log()
	return logging.Options{Level: logging.LevelFor(l.Verbose), Outputs: l.Outputs, Segment: l.Segment, Expire: l.Expire}
}

func (s *logSubsystem) Start(context.Context) error { return s.logging.Apply(LogOptions(s.set)) }

func (s *logSubsystem) Reload(_ context.Context, next *options.Set) error {
	return s.logging.Apply(LogOptions(next))
}

// Stop leaves the outputs open: the daemon logs until it exits, and its main
// closes the Logging last.
func (s *logSubsystem) Stop(context.Context) error { return nil }
