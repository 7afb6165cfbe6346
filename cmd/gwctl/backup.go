package main

import (
	"context"
	"fmt"
	"path/filepath"
)

const backupDetails = `
The copy is written beside FILE and renamed into place only when complete, so
FILE is never a partial copy. To restore: stop confserv, put the copy in place
of DIR/confserv.db, start it.`

func runBackup(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	file := pos[0]
	size, err := cl.Backup(ctx, file)
	if err != nil {
		return fmt.Errorf("back up the store into %s: %w", file, err)
	}
	if c.json() {
		abs, _ := filepath.Abs(file)
		return printJSON(c.stdout, map[string]any{"file": abs, "bytes": size})
	}
	fmt.Fprintf(c.stdout, "saved a copy of the store (%d bytes) to %s\n", size, file)
	return nil
}
