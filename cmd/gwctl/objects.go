package main

import (
	"context"
	"fmt"
	"net/http"

	"webrtcgw/confserv/client"
)

// The list and delete commands of the Configuration Server's objects.

// listObjects runs a "list" command: no arguments, the objects fetched
// with list, printed as JSON (-json) or as a table of header and one row
// per object. what names them in errors.
func listObjects[T any](ctx context.Context, c *cli, path string, args []string, what string,
	list func(*client.Client, context.Context) ([]T, error), header []string, row func(T) []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	objs, err := list(cl, ctx)
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	if c.json() {
		return printJSON(c.stdout, nonNil(objs))
	}
	rows := make([][]string, 0, len(objs))
	for _, o := range objs {
		rows = append(rows, row(o))
	}
	return table(c.stdout, header, rows)
}

// deleteSpec describes the "delete NAME" command of one kind of object.
type deleteSpec[T any] struct {
	kind, noun string                                                   // api.KindHost, "host"
	read       func(context.Context, *client.Client, string) (T, error) // says a missing one plainly
	meta       func(T) (name string, revision uint64)
	del        func(*client.Client, context.Context, string, uint64) error
	inUse      string // what a 409 means ("%s": the name); "" when none can come
}

// deleteObject runs a "delete NAME" command: the object is read, then
// deleted at the revision read (so a change made meanwhile is not lost).
func deleteObject[T any](ctx context.Context, c *cli, path string, args []string, spec deleteSpec[T]) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	obj, err := spec.read(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	name, revision := spec.meta(obj)
	err = spec.del(cl, ctx, name, revision)
	if spec.inUse != "" && client.HasStatus(err, http.StatusConflict) {
		return &codeError{code: exitError, msg: fmt.Sprintf(spec.inUse, name)}
	}
	if err != nil {
		return fmt.Errorf("delete %s %s (read at revision %d): %w", spec.noun, name, revision, err)
	}
	if c.json() {
		return printJSON(c.stdout, map[string]any{"deleted": name, "kind": spec.kind, "revision": revision})
	}
	fmt.Fprintf(c.stdout, "deleted %s %s (it was at revision %d)\n", spec.noun, name, revision)
	return nil
}
