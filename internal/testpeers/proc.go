package testpeers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
)

// openLog creates the file at path for a process's output.
func openLog(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create log %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// maxLogPrint bounds how much of a log printOnFailure prints.
const maxLogPrint = 64 << 10

// printOnFailure registers a cleanup that prints the files (the logs and
// traces of a peer) when t has failed. Register it before the cleanup that
// stops the peer: cleanups run last-in first-out, so the logs are complete.
func printOnFailure(t testing.TB, title string, paths ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range paths {
			t.Logf("--- %s: %s ---\n%s", title, p, readTail(p, maxLogPrint))
		}
	})
}

// readTail returns at most the last max bytes of the file at path, or a note
// saying why it cannot.
func readTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no file)"
		}
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	var prefix string
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err == nil {
			prefix = fmt.Sprintf("(last %d of %d bytes)\n", max, fi.Size())
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return prefix + string(b)
}
