package hostcheck

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// maxFileSize bounds every file read from the audited tree: the files
// looked at are a few kilobytes, and a mounted image may hold anything.
const maxFileSize = 4 << 20

// rootFS reads a directory tree as if it were "/": absolute symbolic links
// resolve inside it, as they would for a process chrooted there. Auditing a
// mounted image must never read the auditing host's own files through
// /etc/systemd/system/multi-user.target.wants/x.service → /usr/lib/….
type rootFS struct {
	dir string // host path of the tree; "/" for the running host
}

// hostPath returns the host path of p (a path inside the tree), resolving
// symbolic links inside the tree. A missing component ends the resolution:
// the caller's operation then reports it.
func (r rootFS) hostPath(p string) (string, error) {
	p = path.Clean("/" + p)
	if r.dir == "/" {
		return p, nil // the kernel resolves links the same way
	}
	done := "/" // resolved part, inside the tree
	rest := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		next := path.Join(done, c)
		fi, err := os.Lstat(filepath.Join(r.dir, next))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			if err != nil {
				break // not there: keep the rest as is
			}
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(r.dir, next))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(target) {
			target = path.Join(done, target)
		}
		rest = append(strings.Split(strings.TrimPrefix(path.Clean(target), "/"), "/"), rest...)
		done = "/"
	}
	return filepath.Join(r.dir, path.Join(append([]string{done}, rest...)...)), nil
}

// realPath is hostPath with every link resolved, also on the running host:
// to tell that two paths are one file (/lib is /usr/lib on merged systems).
func (r rootFS) realPath(p string) (string, error) {
	hp, err := r.hostPath(p)
	if err != nil || r.dir != "/" {
		return hp, err
	}
	return filepath.EvalSymlinks(hp)
}

// hostParent is hostPath for the directory of p, and p's last element
// appended as is: for Lstat and Readlink, which look at a link itself.
func (r rootFS) hostParent(p string) (string, error) {
	p = path.Clean("/" + p)
	dir, err := r.hostPath(path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}

// ReadFile reads a file of the tree, up to maxFileSize.
func (r rootFS) ReadFile(p string) ([]byte, error) {
	hp, err := r.hostPath(p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(hp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: p, Err: syscall.EISDIR}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxFileSize)
	}
	return data, nil
}

// Stat stats a file of the tree, following links.
func (r rootFS) Stat(p string) (fs.FileInfo, error) {
	hp, err := r.hostPath(p)
	if err != nil {
		return nil, err
	}
	return os.Stat(hp)
}

// Lstat stats a file of the tree without following a final link.
func (r rootFS) Lstat(p string) (fs.FileInfo, error) {
	hp, err := r.hostParent(p)
	if err != nil {
		return nil, err
	}
	return os.Lstat(hp)
}

// Readlink returns the target of a link of the tree, as written.
func (r rootFS) Readlink(p string) (string, error) {
	hp, err := r.hostParent(p)
	if err != nil {
		return "", err
	}
	return os.Readlink(hp)
}

// ReadDir lists a directory of the tree, sorted by name.
func (r rootFS) ReadDir(p string) ([]fs.DirEntry, error) {
	hp, err := r.hostPath(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(hp)
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, err
}

// Exists reports whether p exists in the tree (following links).
func (r rootFS) Exists(p string) bool {
	_, err := r.Stat(p)
	return err == nil
}

// absent reports whether err says a file is not there, as opposed to
// there but unreadable.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
