package firewall

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Format is an output format of the rules.
type Format string

// The formats.
const (
	Nftables  Format = "nftables"
	Firewalld Format = "firewalld"
)

// File is one output file.
type File struct {
	Name string
	Data []byte
}

// Files returns the files of rs in format, in a fixed order: one ruleset
// for nftables, one service per zone for firewalld.
func Files(rs *Ruleset, format Format) ([]File, error) {
	switch format {
	case Nftables:
		var b bytes.Buffer
		if err := WriteNftables(&b, rs); err != nil {
			return nil, err
		}
		return []File{{NftablesFile, b.Bytes()}}, nil
	case Firewalld:
		var out []File
		for _, s := range Services(rs) {
			out = append(out, File{s.Name + ".xml", s.XML})
		}
		return out, nil
	}
	return nil, fmt.Errorf("-format %q is not nftables or firewalld", format)
}

// WriteStream writes files to w: a single file as it is, several each after
// a "==> NAME <==" line (as head(1) separates files).
func WriteStream(w io.Writer, files []File) error {
	for i, f := range files {
		if len(files) > 1 {
			sep := "==> " + f.Name + " <==\n"
			if i > 0 {
				sep = "\n" + sep
			}
			if _, err := io.WriteString(w, sep); err != nil {
				return err
			}
		}
		if _, err := w.Write(f.Data); err != nil {
			return err
		}
	}
	return nil
}

// WriteDir writes each file into dir (which must exist), replacing any file
// of the same name whole, and returns their paths.
func WriteDir(dir string, files []File) ([]string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var paths []string
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if err := writeFileAtomic(path, f.Data); err != nil {
			return paths, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}
