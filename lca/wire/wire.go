// Package wire is the protocol of the Local Control Agent (docs/lca-protocol.md):
// newline-delimited JSON messages over one TCP connection, used by the
// applications it supervises and by control clients (gwctl, the SCS role).
package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// DefaultPort is the LCA's TCP port.
const DefaultPort = 4999

// MaxLine bounds one message; a longer line ends the connection.
const MaxLine = 64 << 10

// Status is an application's state in the LCA's status model
// (docs/lca-protocol.md).
type Status string

// The statuses, in the order an application normally goes through them.
const (
	Unknown            Status = "Unknown"
	StartPending       Status = "StartPending"
	Initializing       Status = "Initializing"
	Running            Status = "Running"
	ServiceUnavailable Status = "ServiceUnavailable"
	Suspending         Status = "Suspending"
	Suspended          Status = "Suspended"
	StopPending        Status = "StopPending"
	Stopped            Status = "Stopped"
)

// Statuses lists every status.
var Statuses = []Status{Unknown, StartPending, Initializing, Running, ServiceUnavailable, Suspending, Suspended, StopPending, Stopped}

// Reportable are the statuses an application may report about itself; the
// others are the LCA's to give.
var Reportable = []Status{Initializing, Running, ServiceUnavailable, Suspending, Suspended, Stopped}

// Valid reports whether s is a status of the model.
func (s Status) Valid() bool { return slices.Contains(Statuses, s) }

// Ops of messages. An application sends register, status and heartbeat and
// receives registered, config, command and error. A control client sends hello,
// then list, start, stop, suspend and subscribe, each with an id answered
// by result or error with that id; subscribe then streams event messages.
const (
	OpRegister   = "register"
	OpRegistered = "registered"
	OpConfig     = "config"
	OpStatus     = "status"
	OpHeartbeat  = "heartbeat"
	OpCommand    = "command"

	OpHello     = "hello"
	OpWelcome   = "welcome"
	OpList      = "list"
	OpStart     = "start"
	OpStop      = "stop"
	OpSuspend   = "suspend"
	OpSubscribe = "subscribe"
	OpResult    = "result"
	OpEvent     = "event"

	OpError = "error"
)

// Commands the LCA gives an application.
const (
	CommandSuspend = "suspend" // graceful: no new work, finish what runs, report Suspended
	CommandStop    = "stop"    // drain and exit
)

// Message is every message of the protocol; each op uses some fields.
type Message struct {
	Op string `json:"op"`
	ID uint64 `json:"id,omitempty"` // control requests and their answers

	// register
	App     string `json:"app,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Type    string `json:"type,omitempty"`
	Version string `json:"version,omitempty"`

	// registered, config: the heartbeat period in seconds (0: none)
	HeartbeatPeriod int `json:"heartbeat_period,omitempty"`

	// status (application → LCA) and event (LCA → subscriber)
	Status Status `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`

	// command
	Command string `json:"command,omitempty"`

	// hello (control): the control token; welcome: the LCA's host name
	Token string `json:"token,omitempty"`
	Host  string `json:"host,omitempty"`

	// stop (control): skip the graceful part
	Force bool `json:"force,omitempty"`

	// result of list; event
	Apps  []AppState `json:"apps,omitempty"`
	Event *AppState  `json:"event,omitempty"`

	Error string `json:"error,omitempty"`
}

// AppState is what the LCA knows of one application.
type AppState struct {
	Name        string    `json:"name"`
	Host        string    `json:"host,omitempty"`
	Status      Status    `json:"status"`
	Detail      string    `json:"detail,omitempty"` // why: exit code, hang, the application's words
	PID         int       `json:"pid,omitempty"`
	Since       time.Time `json:"since"`                  // when Status began
	Started     time.Time `json:"started,omitzero"`       // when the current process started
	Restarts    int       `json:"restarts"`               // automatic restarts since the LCA started
	AutoRestart bool      `json:"auto_restart,omitempty"` // restarted when it dies
	Managed     bool      `json:"managed"`                // the LCA started it (else it only registered)
}

// Conn reads and writes messages on a connection.
type Conn struct {
	r *bufio.Reader
	w io.Writer
}

// NewConn wraps rw.
func NewConn(rw io.ReadWriter) *Conn {
	return &Conn{r: bufio.NewReaderSize(rw, 4096), w: rw}
}

// ErrTooLong is a line over MaxLine.
var ErrTooLong = fmt.Errorf("message longer than %d bytes", MaxLine)

// Read returns the next message. A malformed one is an error naming what
// is wrong; the caller decides whether the connection goes on.
func (c *Conn) Read() (Message, error) {
	line, err := readLine(c.r)
	if err != nil {
		return Message{}, err
	}
	return Decode(line)
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(buf)+len(part) > MaxLine+1 {
			return nil, ErrTooLong
		}
		buf = append(buf, part...)
		switch {
		case err == nil:
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// Decode parses one message line.
func Decode(line []byte) (Message, error) {
	var m Message
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return m, errors.New("empty message")
	}
	// Unknown fields are ignored: a newer peer may send more.
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("malformed message: %v", err)
	}
	if dec.More() {
		return Message{}, errors.New("malformed message: more than one JSON value on the line")
	}
	if m.Op == "" {
		return Message{}, errors.New(`malformed message: no "op"`)
	}
	if m.Status != "" && !m.Status.Valid() {
		return Message{}, fmt.Errorf("unknown status %q (one of %s)", m.Status, joinStatuses(Statuses))
	}
	return m, nil
}

func joinStatuses(ss []Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// Write sends one message. Callers serialise writes on one Conn.
func (c *Conn) Write(m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = c.w.Write(append(data, '\n'))
	return err
}
