package logging

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	pionlog "github.com/pion/logging"
)

// NewSlogHandler returns a log/slog handler that writes into l, for libraries
// that log through slog (sipgo: sip.SetDefaultLogger, WithClientLogger,
// WithServerLogger). Levels map one to one: below Debug is TRACE.
func NewSlogHandler(l hclog.Logger) slog.Handler { return &slogHandler{l: l} }

func slogToHclog(lv slog.Level) hclog.Level {
	switch {
	case lv < slog.LevelDebug:
		return hclog.Trace
	case lv < slog.LevelInfo:
		return hclog.Debug
	case lv < slog.LevelWarn:
		return hclog.Info
	case lv < slog.LevelError:
		return hclog.Warn
	}
	return hclog.Error
}

// NewSlogDebugHandler is NewSlogHandler with every record at DEBUG (TRACE
// stays TRACE): for a library's messages about single connections, which a
// flood of connections would otherwise repeat at WARN (sipgo's package
// logger warns of its own reference counts as a garbage TCP stream ends).
func NewSlogDebugHandler(l hclog.Logger) slog.Handler { return &slogHandler{l: l, debugOnly: true} }

type slogHandler struct {
	l         hclog.Logger
	prefix    string // open groups, "a.b."
	debugOnly bool
}

func (h *slogHandler) level(lv slog.Level) hclog.Level {
	l := slogToHclog(lv)
	if h.debugOnly && l > hclog.Debug {
		return hclog.Debug
	}
	return l
}

func (h *slogHandler) Enabled(_ context.Context, lv slog.Level) bool {
	return h.l.GetLevel() != hclog.Off && h.level(lv) >= h.l.GetLevel()
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, 2*r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		args = appendAttr(args, h.prefix, a)
		return true
	})
	h.l.Log(h.level(r.Level), r.Message, args...)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var args []any
	for _, a := range attrs {
		args = appendAttr(args, h.prefix, a)
	}
	return &slogHandler{l: h.l.With(args...), prefix: h.prefix, debugOnly: h.debugOnly}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &slogHandler{l: h.l, prefix: h.prefix + name + ".", debugOnly: h.debugOnly}
}

// appendAttr flattens a (possibly grouped) attribute into hclog key/value
// pairs named "group.key".
func appendAttr(args []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range v.Group() {
			args = appendAttr(args, p, ga)
		}
		return args
	}
	if a.Key == "" {
		return args
	}
	return append(args, prefix+a.Key, v.Any())
}

// NewPionFactory returns a pion LoggerFactory (for webrtc.SettingEngine's
// LoggerFactory) whose loggers are named sub-loggers of l. pion logs routine
// per-connection events at Info and Warn, so its levels are shifted one down:
// Debug and Trace → TRACE, Info → DEBUG, Warn → INFO, Error → WARN.
func NewPionFactory(l hclog.Logger) pionlog.LoggerFactory { return pionFactory{l} }

type pionFactory struct{ l hclog.Logger }

func (f pionFactory) NewLogger(scope string) pionlog.LeveledLogger {
	return pionLogger{f.l.Named(scope)}
}

type pionLogger struct{ l hclog.Logger }

func (p pionLogger) Trace(msg string)                  { p.l.Trace(msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(hclog.Trace, format, args) }
func (p pionLogger) Debug(msg string)                  { p.l.Trace(msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(hclog.Trace, format, args) }
func (p pionLogger) Info(msg string)                   { p.l.Debug(msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(hclog.Debug, format, args) }
func (p pionLogger) Warn(msg string)                   { p.l.Info(msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(hclog.Info, format, args) }
func (p pionLogger) Error(msg string)                  { p.l.Warn(msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(hclog.Warn, format, args) }

// logf formats only when the level is enabled: pion logs on hot paths.
func (p pionLogger) logf(lv hclog.Level, format string, args []any) {
	if p.l.GetLevel() <= lv && p.l.GetLevel() != hclog.Off {
		p.l.Log(lv, fmt.Sprintf(format, args...))
	}
}
