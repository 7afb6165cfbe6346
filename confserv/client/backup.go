package client

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
)

// Backup saves a consistent copy of the server's store into file (admin
// only). It is written beside file, synced and renamed into place, so file
// is never a partial copy: a transfer cut short is an error.
func (c *Client) Backup(ctx context.Context, file string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".part-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	err = c.do(ctx, http.MethodGet, "backup", nil, tmp, 0)
	if err == nil {
		err = tmp.Sync()
	}
	st, serr := tmp.Stat()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), os.Rename(tmp.Name(), file)
}
