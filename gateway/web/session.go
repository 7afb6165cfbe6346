package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"sync"
	"time"
)

// maxQueued bounds the messages waiting for a session's next /wait. A
// session that lets this many pile up is not polling: it is closed.
const maxQueued = 256

// Message is one message for a browser: the body of a /wait response and the
// peer it concerns (its Pragma header).
type Message struct {
	Peer string
	Body []byte
}

// Session is one signed-in browser.
type Session struct {
	ID       string     // unguessable, URL-safe, no '='
	Name     string     // the DN, or the anonymous id the browser chose
	ClientIP netip.Addr // the client's address (after trusted proxies)
	Created  time.Time
	// Anonymous sessions (connect()) register no DN; they expire sooner
	// and count against the anonymous limits.
	Anonymous bool

	mu       sync.Mutex
	queue    []Message
	changed  chan struct{} // closed and replaced whenever the queue, waitGen or closed change
	waitGen  uint64        // bumped by every /wait: only the newest one is served
	waiting  int           // /wait requests in flight
	polled   bool          // a /wait came at least once
	lastSeen time.Time
	closed   bool
	end      func(*Session, string) // ends the session (the server's end)
}

func newSession(name string, ip netip.Addr, anonymous bool, now time.Time, end func(*Session, string)) *Session {
	return &Session{ID: newID(), Name: name, ClientIP: ip, Anonymous: anonymous, Created: now, lastSeen: now,
		changed: make(chan struct{}), end: end}
}

// End ends the session as a sign-out would (the engine's SignOut is called);
// the browser's /wait gets 204 and the library signs out.
func (s *Session) End(reason string) {
	if s.end != nil {
		s.end(s, reason)
	}
}

// newID returns 32 random bytes in URL-safe base64 without padding: 256 bits
// that cannot be guessed, with no '=' (the client splits on it).
func newID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Deliver queues a message for the browser. It is dropped when the session
// has ended.
func (s *Session) Deliver(peer string, body []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	full := len(s.queue) >= maxQueued
	if !full {
		s.queue = append(s.queue, Message{Peer: peer, Body: body})
		s.broadcastLocked()
	}
	s.mu.Unlock()
	if full {
		go s.End("not polling: message queue full")
	}
}

// broadcastLocked wakes every /wait of the session.
func (s *Session) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// comebackWait is how long after its last request a browser that polls is
// expected back: at once normally, 3 s after a network error.
const comebackWait = 5 * time.Second

// awaited reports whether a stop should wait for this session's browser:
// it polls, and either has messages to take or is between two polls (not
// heard from for longer than comebackWait: it is gone).
func (s *Session) awaited(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.polled:
		return false // nothing reaches it through /wait
	case len(s.queue) == 0 && s.waiting > 0:
		return false // back: its /wait is answered when the session ends
	}
	return s.waiting > 0 || now.Sub(s.lastSeen) < comebackWait
}

// Closed reports whether the session has ended.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// beginWait registers a /wait and returns its generation; an older /wait
// still held sees the generation change and returns empty.
func (s *Session) beginWait(now time.Time) uint64 {
	s.mu.Lock()
	s.waitGen++
	gen := s.waitGen
	s.waiting++
	s.polled = true
	s.lastSeen = now
	s.broadcastLocked()
	s.mu.Unlock()
	return gen
}

func (s *Session) endWait(now time.Time) {
	s.mu.Lock()
	s.waiting--
	s.lastSeen = now
	s.mu.Unlock()
}

// waitResult is what a /wait finds when it looks at its session.
type waitResult int

const (
	waitNothing    waitResult = iota // keep waiting on the returned channel
	waitMessage                      // deliver the returned message
	waitSuperseded                   // a newer /wait arrived: answer empty
	waitClosed                       // the session ended
)

// take returns the next message for the /wait of generation gen, or what
// else that /wait must do, and the channel to wait on for a change.
func (s *Session) take(gen uint64) (Message, waitResult, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return Message{}, waitClosed, nil
	case s.waitGen != gen:
		return Message{}, waitSuperseded, nil
	case len(s.queue) > 0:
		m := s.queue[0]
		s.queue[0] = Message{}
		s.queue = s.queue[1:]
		return m, waitMessage, nil
	}
	return Message{}, waitNothing, s.changed
}

// requeue puts back a message whose /wait could not be written.
func (s *Session) requeue(m Message) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append([]Message{m}, s.queue...)
		s.broadcastLocked()
	}
	s.mu.Unlock()
}

// touch records activity from the browser.
func (s *Session) touch(now time.Time) {
	s.mu.Lock()
	s.lastSeen = now
	s.mu.Unlock()
}

// idleSince returns when the browser was last heard from; zero while a /wait
// is in flight (a polling session is never idle).
func (s *Session) idleSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting > 0 {
		return time.Time{}
	}
	return s.lastSeen
}

// close ends the session; it reports false if it had already ended.
func (s *Session) close() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.queue = nil
	s.broadcastLocked()
	s.mu.Unlock()
	return true
}

// sessions is the registry of live sessions.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*Session
}

func (r *sessions) get(id string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// add stores s unless max sessions are live.
func (r *sessions) add(s *Session, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byID) >= max {
		return false
	}
	r.byID[s.ID] = s
	return true
}

func (r *sessions) remove(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[s.ID] == s {
		delete(r.byID, s.ID)
	}
}

func (r *sessions) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// idle returns the sessions not heard from since before their cutoff.
func (r *sessions) idle(cutoff func(*Session) time.Time) []*Session {
	r.mu.Lock()
	all := make([]*Session, 0, len(r.byID))
	for _, s := range r.byID {
		all = append(all, s)
	}
	r.mu.Unlock()
	var out []*Session
	for _, s := range all {
		if t := s.idleSince(); !t.IsZero() && t.Before(cutoff(s)) {
			out = append(out, s)
		}
	}
	return out
}

func (r *sessions) all() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.byID))
	for _, s := range r.byID {
		out = append(out, s)
	}
	return out
}
