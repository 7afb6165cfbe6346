package main

import (
	"context"
	"fmt"
)

func runCredentials(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	revoke := fs.Bool("revoke", false, "revoke the application's token instead: its daemon can no longer connect")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	app, err := readApp(ctx, cl, pos[0]) // says plainly when there is no such application
	if err != nil {
		return err
	}
	if *revoke {
		if err := cl.RevokeCredential(ctx, app.Name); err != nil {
			return fmt.Errorf("revoke %s's token: %w", app.Name, err)
		}
		if c.json() {
			return printJSON(c.stdout, map[string]any{"application": app.Name, "revoked": true})
		}
		fmt.Fprintf(c.stdout, "revoked %s's token: its daemon can no longer read its options\n", app.Name)
		return nil
	}
	token, err := cl.NewCredential(ctx, app.Name)
	if err != nil {
		return fmt.Errorf("new token for %s: %w", app.Name, err)
	}
	fmt.Fprintf(c.stderr, "gwctl: warning: this token replaces %s's previous one, which stops working now.\n"+
		"gwctl: it is shown only this once: give it to %s's daemon.\n", app.Name, app.Name)
	if c.json() {
		return printJSON(c.stdout, map[string]any{"application": app.Name, "token": token})
	}
	fmt.Fprintln(c.stdout, token)
	return nil
}

func runHostCredentials(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	revoke := fs.Bool("revoke", false, "revoke the host's token instead: its Local Control Agent can no longer connect")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	h, err := readHost(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if *revoke {
		if err := cl.RevokeHostCredential(ctx, h.Name); err != nil {
			return fmt.Errorf("revoke host %s's token: %w", h.Name, err)
		}
		if c.json() {
			return printJSON(c.stdout, map[string]any{"host": h.Name, "revoked": true})
		}
		fmt.Fprintf(c.stdout, "revoked host %s's token: its Local Control Agent can no longer connect\n", h.Name)
		return nil
	}
	token, err := cl.NewHostCredential(ctx, h.Name)
	if err != nil {
		return fmt.Errorf("new token for host %s: %w", h.Name, err)
	}
	fmt.Fprintf(c.stderr, "gwctl: warning: this token replaces host %s's previous one, which stops working now.\n"+
		"gwctl: it is shown only this once: give it to the Local Control Agent of %s.\n", h.Name, h.Name)
	if c.json() {
		return printJSON(c.stdout, map[string]any{"host": h.Name, "token": token})
	}
	fmt.Fprintln(c.stdout, token)
	return nil
}
