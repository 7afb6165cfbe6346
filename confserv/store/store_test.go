package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"webrtcgw/confserv/api"
)

func open(t *testing.T, history int) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "confserv.db")
	s, err := Open(path, history)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func hostWrite(name, addr string, expect uint64) Write {
	return Write{Kind: api.KindHost, Name: name, Op: api.OpPut, Expect: expect, Who: "test",
		Value: func(rev uint64) ([]byte, error) {
			return json.Marshal(api.Host{Meta: api.Meta{Name: name, Revision: rev}, Address: addr})
		}}
}

func TestApplyRevisions(t *testing.T) {
	s, path := open(t, 100)
	rev, _, err := s.Apply(hostWrite("h1", "10.0.0.1", 0))
	if err != nil || rev != 1 {
		t.Fatalf("create = %d, %v", rev, err)
	}
	if _, cur, err := s.Apply(hostWrite("h1", "10.0.0.2", 0)); !errors.Is(err, ErrExists) || cur == nil {
		t.Errorf("create again = %v, want ErrExists with the current object", err)
	}
	if _, cur, err := s.Apply(hostWrite("h1", "10.0.0.2", 7)); !errors.Is(err, ErrStale) || revisionOf(cur) != 1 {
		t.Errorf("stale update = %v (current rev %d), want ErrStale at 1", err, revisionOf(cur))
	}
	if rev, _, err := s.Apply(hostWrite("h1", "10.0.0.2", 1)); err != nil || rev != 2 {
		t.Errorf("update = %d, %v", rev, err)
	}
	if _, _, err := s.Apply(hostWrite("h9", "x", 3)); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing object = %v", err)
	}
	if rev, _, err := s.Apply(Write{Kind: api.KindHost, Name: "h1", Op: api.OpDelete, Expect: 2, Who: "test"}); err != nil || rev != 3 {
		t.Errorf("delete = %d, %v", rev, err)
	}
	if _, err := s.Get(api.KindHost, "h1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete = %v", err)
	}
	// Reopened, the revision goes on.
	s.Close()
	s2, err := Open(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Revision() != 3 {
		t.Errorf("revision after reopen = %d, want 3", s2.Revision())
	}
}

func TestChangesAndCompaction(t *testing.T) {
	s, _ := open(t, 100)
	for i := 1; i <= 250; i++ {
		if _, _, err := s.Apply(hostWrite(fmt.Sprintf("h%d", i), "a", 0)); err != nil {
			t.Fatal(err)
		}
	}
	got, last, reset, err := s.Changes(200, 1000)
	if err != nil || reset || last != 250 || len(got) != 50 || got[0].Revision != 201 || got[49].Revision != 250 {
		t.Fatalf("Changes(200) = %d changes, last %d, reset %v, %v", len(got), last, reset, err)
	}
	got, last, _, _ = s.Changes(150, 10)
	if len(got) != 10 || last != 160 {
		t.Errorf("Changes(150, max 10) = %d changes, last %d; want 10 up to 160", len(got), last)
	}
	if _, _, reset, _ := s.Changes(10, 10); !reset {
		t.Error("Changes(10) with history 100 and 250 changes: want reset")
	}
	if _, _, reset, _ := s.Changes(150, 10); reset {
		t.Error("Changes(150) is within the history: want no reset")
	}
	if _, last, reset, _ := s.Changes(300, 10); !reset || last != 250 {
		t.Errorf("Changes(300) on a store at 250 (restored from a backup) = last %d, reset %v; want reset", last, reset)
	}
	if got, _, reset, _ := s.Changes(250, 10); reset || len(got) != 0 {
		t.Error("Changes(250) at the head: want nothing, no reset")
	}
	// The audit keeps everything, newest first.
	entries, err := s.Audit("", "", 0, 1000)
	if err != nil || len(entries) != 250 || entries[0].Revision != 250 || entries[249].Revision != 1 {
		t.Errorf("Audit = %d entries (%v)", len(entries), err)
	}
	if e, _ := s.Audit(api.KindHost, "h7", 0, 10); len(e) != 1 || e[0].Name != "h7" {
		t.Errorf("Audit(h7) = %+v", e)
	}
}

func TestWait(t *testing.T) {
	s, _ := open(t, 100)
	done := make(chan error, 1)
	go func() { done <- s.Wait(context.Background(), 0) }()
	select {
	case <-done:
		t.Fatal("Wait returned before any write")
	case <-time.After(50 * time.Millisecond):
	}
	s.Apply(hostWrite("h", "a", 0))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake up")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v", err)
	}
}
