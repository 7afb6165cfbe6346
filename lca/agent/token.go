package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ControlToken reads the control token from path, creating it (256 random
// bits in hex, mode 0600) when it does not exist. created says it was made
// now; insecure that the file is readable by others than its owner.
func ControlToken(path string) (token string, created, insecure bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		token = strings.TrimSpace(string(data))
		if token == "" {
			return "", false, false, fmt.Errorf("control token %s is empty", path)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			insecure = true
		}
		return token, false, insecure, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, false, fmt.Errorf("control token: %w", err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	token = hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, false, fmt.Errorf("control token: %w", err)
	}
	// O_EXCL: two LCAs starting on one directory do not overwrite each
	// other's token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, false, fmt.Errorf("control token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, false, fmt.Errorf("control token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, false, fmt.Errorf("control token: %w", err)
	}
	return token, true, false, nil
}
