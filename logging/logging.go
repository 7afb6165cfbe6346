// Package logging builds the daemons' hclog loggers: UTC timestamps with
// milliseconds, level, subsystem name, message and key=value pairs, written to
// stdout, stderr and rotating files. Level and outputs change at run time
// without losing a line. It also bridges the logs of pion (WebRTC) and sipgo
// (log/slog) into the same logger.
package logging

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TimeFormat is the timestamp of every line: UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Options configures the outputs and level of a Logging.
type Options struct {
	Level   hclog.Level
	Outputs []string // "stdout", "stderr" or file paths
	Segment int64    // file size at which to rotate, in bytes; 0: never
	Expire  int      // rotated files kept; 0: all
}

// Logging owns a root logger and its outputs. Loggers derived from Logger()
// with Named or With share its level and outputs, so Apply reaches all of
// them.
type Logging struct {
	root   hclog.Logger
	out    *output
	stdout io.Writer
	stderr io.Writer

	mu    sync.Mutex       // serialises Apply, Reopen and Close
	files map[string]*File // open file outputs by absolute path
}

// New returns a Logging named name that writes to stdout at Info level until
// Apply is called. It opens nothing.
func New(name string, stdout, stderr io.Writer) *Logging {
	out := &output{sinks: []io.Writer{stdout}, errw: stderr}
	root := hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Info,
		Output:     out,
		TimeFormat: TimeFormat,
		TimeFn:     func() time.Time { return time.Now().UTC() },
		Color:      hclog.ColorOff,
	})
	return &Logging{root: root, out: out, stdout: stdout, stderr: stderr, files: map[string]*File{}}
}

// Logger returns the root logger.
func (l *Logging) Logger() hclog.Logger { return l.root }

// Apply switches to new outputs and level. New files are opened first; if
// one cannot be opened, nothing changes and the error names it. Lines logged
// concurrently go wholly to the old or wholly to the new outputs.
func (l *Logging) Apply(o Options) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var sinks []io.Writer
	next := map[string]*File{}
	var opened []*File
	for _, dest := range o.Outputs {
		switch dest {
		case "stdout":
			sinks = append(sinks, l.stdout)
			continue
		case "stderr":
			sinks = append(sinks, l.stderr)
			continue
		}
		path, err := filepath.Abs(dest)
		if err != nil {
			closeAll(opened)
			return fmt.Errorf("log output %s: %w", dest, err)
		}
		f := l.files[path]
		if f == nil {
			if f, err = OpenFile(path, o.Segment, o.Expire); err != nil {
				closeAll(opened)
				return fmt.Errorf("log output %s: %w", dest, err)
			}
			opened = append(opened, f)
		}
		next[path] = f
		sinks = append(sinks, f)
	}
	for _, f := range next {
		f.SetLimits(o.Segment, o.Expire)
	}
	l.out.swap(sinks)
	for path, f := range l.files {
		if next[path] == nil {
			f.Close()
		}
	}
	l.files = next
	l.root.SetLevel(o.Level)
	return nil
}

// Reopen reopens every log file at its path, for an external tool that moved
// or deleted it.
func (l *Logging) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for _, f := range l.files {
		if err := f.Reopen(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close closes the log files; later lines go to stderr.
func (l *Logging) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out.swap([]io.Writer{l.stderr})
	var first error
	for _, f := range l.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	l.files = map[string]*File{}
	return first
}

func closeAll(files []*File) {
	for _, f := range files {
		f.Close()
	}
}

// LevelFor maps a log/verbose value to an hclog level:
//
//	all, debug          → TRACE (everything)
//	trace, interaction  → DEBUG (protocol detail, one line per session/call event)
//	standard            → INFO
//	alarm               → WARN (warnings and errors)
//	none                → OFF
func LevelFor(verbose string) hclog.Level {
	switch verbose {
	case "all", "debug":
		return hclog.Trace
	case "trace", "interaction":
		return hclog.Debug
	case "alarm":
		return hclog.Warn
	case "none":
		return hclog.Off
	}
	return hclog.Info
}

// output is the writer behind the root logger. hclog writes each line with one
// Write call, so swapping sinks under the mutex never splits or drops a line.
type output struct {
	mu      sync.Mutex
	sinks   []io.Writer
	errw    io.Writer          // where failing sinks are reported
	failing map[io.Writer]bool // sinks whose last write failed (reported once)
}

func (o *output) Write(p []byte) (int, error) {
	n := len(p)
	p = oneLine(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.sinks {
		_, err := s.Write(p)
		switch {
		case err != nil && !o.failing[s]:
			if o.failing == nil {
				o.failing = map[io.Writer]bool{}
			}
			o.failing[s] = true
			fmt.Fprintf(o.errw, "%s [ERROR] logging: log output write failed, lines are being lost: error=%q\n", time.Now().UTC().Format(TimeFormat), err)
		case err == nil && o.failing[s]:
			delete(o.failing, s)
		}
	}
	return n, nil
}

// oneLine keeps one event on one line: hclog writes a value that contains a
// newline as an indented block of lines, which would let text from outside
// (a user name, a SIP reason phrase) forge log lines that fail2ban or an
// operator would take for real ones. Inner CR and LF become \r and \n.
func oneLine(p []byte) []byte {
	body := bytes.TrimSuffix(p, []byte("\n"))
	if bytes.IndexByte(body, '\n') < 0 && bytes.IndexByte(body, '\r') < 0 {
		return p
	}
	out := make([]byte, 0, len(p)+16)
	for _, c := range body {
		switch c {
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			out = append(out, c)
		}
	}
	return append(out, '\n')
}

func (o *output) swap(sinks []io.Writer) {
	o.mu.Lock()
	o.sinks = sinks
	o.failing = nil
	o.mu.Unlock()
}
