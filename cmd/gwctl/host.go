package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

func runHostList(ctx context.Context, c *cli, path string, args []string) error {
	return listObjects(ctx, c, path, args, "hosts", (*client.Client).Hosts,
		[]string{"NAME", "ADDRESS", "LCA PORT", "REVISION", "UPDATED"},
		func(h api.Host) []string {
			port := ""
			if h.LCAPort != 0 {
				port = strconv.Itoa(h.LCAPort)
			}
			return []string{h.Name, h.Address, port, rev(h.Revision), when(h.Updated)}
		})
}

func runHostCreate(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	var h api.Host
	fs.StringVar(&h.Address, "address", "", "the host's `address` (IP or DNS name; required)")
	fs.IntVar(&h.LCAPort, "lca-port", 0, "`port` of the host's Local Control Agent (default: the server's)")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	h.Name = pos[0]
	if err := api.CheckName(h.Name); err != nil {
		return usagef(path, "host %v", err)
	}
	if h.Address == "" {
		return usagef(path, "--address is needed")
	}
	if h.LCAPort < 0 || h.LCAPort > 65535 {
		return usagef(path, "--lca-port %d: want 1 to 65535", h.LCAPort)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	created, err := cl.CreateHost(ctx, h)
	if client.HasStatus(err, http.StatusConflict) {
		return &codeError{code: exitError, msg: fmt.Sprintf("a host named %s exists already", h.Name)}
	}
	if err != nil {
		return fmt.Errorf("create host %s: %w", h.Name, err)
	}
	if c.json() {
		return printJSON(c.stdout, created)
	}
	fmt.Fprintf(c.stdout, "created host %s (%s) at revision %d\n", created.Name, created.Address, created.Revision)
	return nil
}

func runHostDelete(ctx context.Context, c *cli, path string, args []string) error {
	return deleteObject(ctx, c, path, args, deleteSpec[api.Host]{
		kind: api.KindHost, noun: "host", read: readHost,
		meta:  func(h api.Host) (string, uint64) { return h.Name, h.Revision },
		del:   (*client.Client).DeleteHost,
		inUse: "host %s has applications: delete them or move them to another host first",
	})
}

// readHost reads a host; a missing one is said plainly.
func readHost(ctx context.Context, cl *client.Client, name string) (api.Host, error) {
	h, err := cl.Host(ctx, name)
	if client.HasStatus(err, http.StatusNotFound) {
		return h, &codeError{code: exitError, msg: fmt.Sprintf("no host %s (gwctl host list shows them)", name)}
	}
	if err != nil {
		return h, fmt.Errorf("read host %s: %w", name, err)
	}
	return h, nil
}
