// Package store is the Configuration Server's object store: one bbolt file
// holding the objects, a change log that feeds watches, an append-only audit
// log, and daemons' reports and credentials.
//
// Every write is one bbolt transaction, committed with fsync before it is
// acknowledged: after a crash the file holds every acknowledged write and no
// half-written one. One revision counter orders all writes; an object carries
// the revision of its last write.
package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"webrtcgw/confserv/api"
)

// Errors of writes.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrStale    = errors.New("revision is stale")
)

// Bucket names. Objects live in "obj:<kind>".
var (
	bucketMeta    = []byte("meta")
	bucketLog     = []byte("log")
	bucketAudit   = []byte("audit")
	bucketAux     = []byte("aux")
	keyRevision   = []byte("revision")
	keyOldest     = []byte("oldest") // revision of the oldest change kept in the log
	objectBuckets = []string{api.KindHost, api.KindApplication, api.KindTemplate, api.KindOperator}
)

func objBucket(kind string) []byte { return []byte("obj:" + kind) }

// Store is an open store.
type Store struct {
	db      *bolt.DB
	history int // changes kept in the log

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced after every commit
	rev     uint64        // last committed revision (under mu)
}

// Open opens (or creates) the store file at path. history is how many
// changes the log keeps for watches (at least 100).
func Open(path string, history int) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, history: max(history, 100), changed: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketLog, bucketAudit, bucketAux} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		for _, k := range objectBuckets {
			if _, err := tx.CreateBucketIfNotExists(objBucket(k)); err != nil {
				return err
			}
		}
		s.rev = getUint(tx.Bucket(bucketMeta), keyRevision)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Revision returns the last committed revision.
func (s *Store) Revision() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// Empty reports whether nothing was ever written.
func (s *Store) Empty() bool { return s.Revision() == 0 }

func getUint(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func uintKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// Get returns an object's JSON.
func (s *Store) Get(kind, name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(objBucket(kind))
		if b == nil {
			return fmt.Errorf("unknown kind %q", kind)
		}
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

// List returns the JSON of every object of kind, by name.
func (s *Store) List(kind string) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(objBucket(kind))
		if b == nil {
			return fmt.Errorf("unknown kind %q", kind)
		}
		return b.ForEach(func(_, v []byte) error {
			out = append(out, bytes.Clone(v))
			return nil
		})
	})
	return out, err
}

// Write is one change of one object.
type Write struct {
	Kind, Name string
	Op         string // api.OpPut or api.OpDelete
	// Expect is the revision the object must have now: 0 means it must not
	// exist (creation); AnyRevision skips the check.
	Expect uint64
	// Value returns the object to store given its new revision (puts only).
	Value func(rev uint64) ([]byte, error)
	// Who made the change, and what it changed, for the audit log.
	Who     string
	Changes []api.FieldChange
}

// AnyRevision in Write.Expect writes whatever the current revision.
const AnyRevision = ^uint64(0)

// change is a log record: what a watch delivers.
type change struct {
	Revision uint64          `json:"revision"`
	Kind     string          `json:"kind"`
	Name     string          `json:"name"`
	Op       string          `json:"op"`
	Object   json.RawMessage `json:"object,omitempty"`
}

// revisionOf reads the revision field of a stored object.
func revisionOf(obj []byte) uint64 {
	var m struct {
		Revision uint64 `json:"revision"`
	}
	json.Unmarshal(obj, &m)
	return m.Revision
}

// Apply makes one write: it checks the expected revision, stores the object
// (or deletes it), appends the change to the log and the audit, and commits
// with fsync. It returns the new revision. ErrStale comes with the current
// object's JSON.
func (s *Store) Apply(w Write) (rev uint64, current []byte, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(objBucket(w.Kind))
		if b == nil {
			return fmt.Errorf("unknown kind %q", w.Kind)
		}
		key := []byte(w.Name)
		cur := b.Get(key)
		switch {
		case w.Expect == AnyRevision:
		case w.Expect == 0 && cur != nil:
			current = bytes.Clone(cur)
			return ErrExists
		case w.Expect != 0 && cur == nil:
			return ErrNotFound
		case w.Expect != 0 && revisionOf(cur) != w.Expect:
			current = bytes.Clone(cur)
			return ErrStale
		}
		if w.Op == api.OpDelete && cur == nil {
			return ErrNotFound
		}
		meta := tx.Bucket(bucketMeta)
		rev = getUint(meta, keyRevision) + 1
		if err := meta.Put(keyRevision, uintKey(rev)); err != nil {
			return err
		}
		c := change{Revision: rev, Kind: w.Kind, Name: w.Name, Op: w.Op}
		if w.Op == api.OpPut {
			obj, err := w.Value(rev)
			if err != nil {
				return err
			}
			if err := b.Put(key, obj); err != nil {
				return err
			}
			c.Object = obj
		} else if err := b.Delete(key); err != nil {
			return err
		}
		rec, err := json.Marshal(c)
		if err != nil {
			return err
		}
		log := tx.Bucket(bucketLog)
		if err := log.Put(uintKey(rev), rec); err != nil {
			return err
		}
		if err := s.compactLocked(meta, log, rev); err != nil {
			return err
		}
		entry, err := json.Marshal(api.AuditEntry{Revision: rev, Time: time.Now().UTC(), Who: w.Who,
			Kind: w.Kind, Name: w.Name, Op: w.Op, Changes: w.Changes})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketAudit).Put(uintKey(rev), entry)
	})
	if err != nil {
		return 0, current, err
	}
	s.mu.Lock()
	s.rev = rev
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return rev, nil, nil
}

// compactLocked drops the oldest log records beyond the history kept.
func (s *Store) compactLocked(meta, log *bolt.Bucket, rev uint64) error {
	oldest := getUint(meta, keyOldest)
	if oldest == 0 {
		oldest = 1
		if err := meta.Put(keyOldest, uintKey(1)); err != nil {
			return err
		}
	}
	if rev-oldest < uint64(s.history) {
		return nil
	}
	newOldest := rev - uint64(s.history) + 1
	c := log.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < newOldest; k, _ = c.Next() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return meta.Put(keyOldest, uintKey(newOldest))
}

// Change is one change after a revision.
type Change struct {
	Revision uint64
	Kind     string
	Name     string
	Op       string
	Object   []byte // the object as stored (puts)
}

// Changes returns at most max changes after revision since, in order, and
// the last revision they cover. reset is true when since is older than the
// log keeps, or newer than the store (restored from a backup): the reader
// must read everything again.
func (s *Store) Changes(since uint64, max int) (out []Change, last uint64, reset bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		last = getUint(meta, keyRevision)
		if oldest := getUint(meta, keyOldest); (oldest > 0 && since+1 < oldest) || since > last {
			reset = true
			return nil
		}
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(uintKey(since + 1)); k != nil && len(out) < max; k, v = c.Next() {
			var ch change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("log record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, Change{Revision: ch.Revision, Kind: ch.Kind, Name: ch.Name, Op: ch.Op, Object: ch.Object})
		}
		if len(out) == max {
			last = out[len(out)-1].Revision
		}
		return nil
	})
	return out, last, reset, err
}

// Wait blocks until a revision after since is committed or ctx is done.
func (s *Store) Wait(ctx context.Context, since uint64) error {
	for {
		s.mu.Lock()
		rev, ch := s.rev, s.changed
		s.mu.Unlock()
		if rev > since {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Audit returns audit entries before revision before (0: all), newest first,
// that match kind and name when they are not empty, at most limit.
func (s *Store) Audit(kind, name string, before uint64, limit int) ([]api.AuditEntry, error) {
	var out []api.AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			c.Seek(uintKey(before))
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var e api.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if (kind == "" || e.Kind == kind) && (name == "" || e.Name == name) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// SetAux stores a value that is not a revisioned object (reports,
// credentials); nil deletes it.
func (s *Store) SetAux(key string, value []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAux)
		if value == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), value)
	})
}

// Aux returns a value stored by SetAux, or nil.
func (s *Store) Aux(key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		out = bytes.Clone(tx.Bucket(bucketAux).Get([]byte(key)))
		return nil
	})
	return out, err
}

// Backup writes a consistent copy of the whole store file to w while
// reads and writes go on; the copy is a store file to restore by putting it
// in place of confserv.db with confserv stopped.
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
