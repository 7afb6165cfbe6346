package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// rotatedStamp names a rotated segment: gateway.log becomes
// gateway.20261126T051500.123.log (UTC), which sorts by age.
const rotatedStamp = "20060102T150405.000"

// File is a log file that rotates at a size. A rotated segment is renamed
// with a UTC timestamp and a new file started at the same path (so tools
// that follow the path, such as fail2ban, keep reading); only the newest
// expire segments are kept.
type File struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	segment int64 // 0: never rotate
	expire  int   // 0: keep every segment
	now     func() time.Time
}

// OpenFile opens (appending) or creates the log file at path. Its directory
// must exist.
func OpenFile(path string, segment int64, expire int) (*File, error) {
	lf := &File{path: path, segment: segment, expire: expire, now: time.Now}
	if err := lf.openLocked(); err != nil {
		return nil, err
	}
	return lf, nil
}

func (lf *File) openLocked() error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", lf.path)
	}
	lf.f, lf.size = f, st.Size()
	return nil
}

// SetLimits changes the rotation size and the number of segments kept.
func (lf *File) SetLimits(segment int64, expire int) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.segment, lf.expire = segment, expire
}

// Write appends p, rotating first when p would take the file past its
// segment size, so that a line is never split between two files.
func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, os.ErrClosed
	}
	if lf.segment > 0 && lf.size > 0 && lf.size+int64(len(p)) > lf.segment {
		// On failure keep appending to the current file: a line late in the
		// wrong segment beats a lost one.
		_ = lf.rotateLocked()
	}
	n, err := lf.f.Write(p)
	lf.size += int64(n)
	return n, err
}

// rotateLocked renames the current file to its timestamped name, starts a
// new one and deletes the oldest segments beyond expire.
func (lf *File) rotateLocked() error {
	rotated := lf.rotatedName()
	if err := os.Rename(lf.path, rotated); err != nil {
		return err
	}
	old := lf.f
	if err := lf.openLocked(); err != nil {
		return err // lf.f is still the renamed file: keep writing there
	}
	old.Close()
	return lf.pruneLocked()
}

func (lf *File) rotatedName() string {
	ext := filepath.Ext(lf.path)
	stem := strings.TrimSuffix(lf.path, ext)
	base := stem + "." + lf.now().UTC().Format(rotatedStamp)
	name := base + ext
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
}

// Segments returns the rotated segments of the file, oldest first.
func (lf *File) Segments() ([]string, error) {
	ext := filepath.Ext(lf.path)
	stem := filepath.Base(strings.TrimSuffix(lf.path, ext))
	dir := filepath.Dir(lf.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		mid, ok := strings.CutPrefix(name, stem+".")
		if !ok || !strings.HasSuffix(mid, ext) || !e.Type().IsRegular() {
			continue
		}
		mid = strings.TrimSuffix(mid, ext)
		if stamp, _, _ := strings.Cut(mid, "-"); !isStamp(stamp) {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	sort.Strings(out)
	return out, nil
}

func isStamp(s string) bool {
	_, err := time.Parse(rotatedStamp, s)
	return err == nil && len(s) == len(rotatedStamp)
}

func (lf *File) pruneLocked() error {
	if lf.expire <= 0 {
		return nil
	}
	segs, err := lf.Segments()
	if err != nil {
		return err
	}
	var first error
	for len(segs) > lf.expire {
		if err := os.Remove(segs[0]); err != nil && first == nil {
			first = err
		}
		segs = segs[1:]
	}
	return first
}

// Reopen closes the file and opens its path again (after an external tool
// moved or deleted it).
func (lf *File) Reopen() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	old := lf.f
	if err := lf.openLocked(); err != nil {
		return err
	}
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file; later writes fail with os.ErrClosed.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}
