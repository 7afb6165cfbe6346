package main

import (
	"context"
	"fmt"
	"net/http"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

func runOperatorList(ctx context.Context, c *cli, path string, args []string) error {
	list := func(cl *client.Client, ctx context.Context) ([]api.Operator, error) {
		ops, err := cl.Operators(ctx)
		for i := range ops {
			ops[i].Password = "" // never printed, not even its hash
		}
		return ops, err
	}
	return listObjects(ctx, c, path, args, "operators", list,
		[]string{"NAME", "ROLE", "REVISION", "UPDATED", "BY"},
		func(o api.Operator) []string {
			return []string{o.Name, o.Role, rev(o.Revision), when(o.Updated), o.UpdatedBy}
		})
}

func checkRole(path, role string) error {
	switch role {
	case api.RoleAdmin, api.RoleOperator, api.RoleViewer:
		return nil
	case "":
		return usagef(path, "--role is needed: admin, operator or viewer")
	}
	return usagef(path, "--role %q: want admin, operator or viewer", role)
}

func runOperatorCreate(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	var o api.Operator
	fs.StringVar(&o.Role, "role", "", "`role`: admin (everything), operator (all but operators and credentials) or viewer (read only)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin, without a prompt")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	o.Name = pos[0]
	if err := api.CheckName(o.Name); err != nil {
		return usagef(path, "operator %v", err)
	}
	if err := checkRole(path, o.Role); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if o.Password, err = c.newSecret(fmt.Sprintf("Password for the new operator %s: ", o.Name), *fromStdin); err != nil {
		return err
	}
	created, err := cl.CreateOperator(ctx, o)
	if client.HasStatus(err, http.StatusConflict) {
		return &codeError{code: exitError, msg: fmt.Sprintf("an operator named %s exists already", o.Name)}
	}
	if err != nil {
		return fmt.Errorf("create operator %s: %w", o.Name, err)
	}
	created.Password = ""
	if c.json() {
		return printJSON(c.stdout, created)
	}
	fmt.Fprintf(c.stdout, "created operator %s (%s) at revision %d\n", created.Name, created.Role, created.Revision)
	return nil
}

// readOperator finds an operator in the list (the API reads operators as a
// list).
func readOperator(ctx context.Context, cl *client.Client, name string) (api.Operator, error) {
	ops, err := cl.Operators(ctx)
	if err != nil {
		return api.Operator{}, fmt.Errorf("read operator %s: %w", name, err)
	}
	for _, o := range ops {
		if o.Name == name {
			return o, nil
		}
	}
	return api.Operator{}, &codeError{code: exitError, msg: fmt.Sprintf("no operator %s (gwctl operator list shows them)", name)}
}

func runOperatorDelete(ctx context.Context, c *cli, path string, args []string) error {
	return deleteObject(ctx, c, path, args, deleteSpec[api.Operator]{
		kind: api.KindOperator, noun: "operator", read: readOperator,
		meta: func(o api.Operator) (string, uint64) { return o.Name, o.Revision },
		del:  (*client.Client).DeleteOperator,
	})
}

func runOperatorPasswd(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	fromStdin := fs.Bool("password-stdin", false, "read the new password from stdin, without a prompt")
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	o, err := readOperator(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if o.Password, err = c.newSecret(fmt.Sprintf("New password for %s: ", o.Name), *fromStdin); err != nil {
		return err
	}
	updated, err := cl.UpdateOperator(ctx, o)
	if err != nil {
		return fmt.Errorf("set %s's password: %w", o.Name, err)
	}
	if c.json() {
		updated.Password = ""
		return printJSON(c.stdout, updated)
	}
	fmt.Fprintf(c.stdout, "password of %s changed (revision %d)\n", o.Name, updated.Revision)
	return nil
}
