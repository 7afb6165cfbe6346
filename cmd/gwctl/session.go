package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
	"webrtcgw/version"
)

const loginDetails = `
The password is prompted for without echo when stdin is a terminal; otherwise
gwctl reads one line of stdin (-password-stdin says so explicitly, for scripts:
echo "$PW" | gwctl login -user alice -password-stdin).

The server, the session token and its expiry are stored in the config file
(mode 0600); later commands use them. A session lasts 12 hours. The token is
only ever sent to the server that issued it.`

func runLogin(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	user := fs.String("user", "", "operator `name` (default: the last one signed in, or asked for)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from stdin, without a prompt")
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	if *user == "" && sameServer(c.config.Server, c.set.server) {
		*user = c.config.User
	}
	if *user == "" {
		if _, tty := terminal(c.stdin); !tty || *fromStdin {
			return usagef(path, "-user NAME is needed")
		}
		fmt.Fprintf(c.stderr, "User for %s: ", c.set.server)
		line, err := c.line()
		if err != nil {
			return err
		}
		*user = strings.TrimSpace(line)
	}
	if err := api.CheckName(*user); err != nil {
		return usagef(path, "operator %v", err)
	}
	password, err := c.readSecret(fmt.Sprintf("Password for %s at %s: ", *user, c.set.server), *fromStdin)
	if err != nil {
		return err
	}
	cl, err := c.newClient("")
	if err != nil {
		return err
	}
	s, err := cl.Login(ctx, *user, password)
	switch {
	case client.HasStatus(err, http.StatusUnauthorized):
		return &codeError{code: exitError, msg: fmt.Sprintf("sign-in to %s refused: wrong user name or password\nrepeated failures get this address banned for a while", c.set.server)}
	case err != nil:
		return fmt.Errorf("sign in to %s: %w", c.set.server, err)
	}

	cfg := c.config
	if !sameServer(cfg.Server, c.set.server) {
		cfg.CA = ""
	}
	cfg.Server, cfg.Token, cfg.User, cfg.Expires = c.set.server, s.Token, *user, s.Expires
	if c.set.ca != "" && c.set.caFrom != fromConfig {
		if abs, err := filepath.Abs(c.set.ca); err == nil {
			cfg.CA = abs
		}
	}
	if err := saveConfig(c.set.configPath, cfg); err != nil {
		return fmt.Errorf("signed in, but the session could not be kept: %w", err)
	}
	c.config = cfg
	if c.json() {
		return printJSON(c.stdout, map[string]any{
			"server": c.set.server, "name": *user, "role": s.Role, "expires": s.Expires, "config": c.set.configPath,
		})
	}
	fmt.Fprintf(c.stdout, "signed in to %s as %s (%s) until %s\n", c.set.server, *user, s.Role, when(s.Expires))
	return nil
}

func runLogout(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	if c.set.token == "" {
		fmt.Fprintf(c.stdout, "not signed in to %s\n", c.set.server)
		return nil
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	serverErr := cl.Logout(ctx)
	if client.HasStatus(serverErr, http.StatusUnauthorized) {
		serverErr = nil // the session had ended already
	}
	if c.set.tokenFrom != fromConfig {
		if serverErr != nil {
			return fmt.Errorf("sign out: %w", serverErr)
		}
		fmt.Fprintf(c.stdout, "session ended (the token came from the %s; the config file is unchanged)\n", c.set.tokenFrom)
		return nil
	}
	cfg := c.config
	cfg.Token, cfg.Expires = "", time.Time{}
	if err := saveConfig(c.set.configPath, cfg); err != nil {
		return fmt.Errorf("remove the token from %s: %w", c.set.configPath, err)
	}
	if serverErr != nil {
		fmt.Fprintf(c.stderr, "gwctl: warning: the server did not end the session (%v); the token was removed from %s\n", serverErr, c.set.configPath)
	}
	fmt.Fprintf(c.stdout, "signed out of %s\n", c.set.server)
	return nil
}

func runWhoami(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	w, err := cl.Whoami(ctx)
	if err != nil {
		return err
	}
	var expires time.Time
	if c.set.tokenFrom == fromConfig {
		expires = c.config.Expires
	}
	if c.json() {
		out := map[string]any{"server": c.set.server, "name": w.Name, "role": w.Role}
		if !expires.IsZero() {
			out["expires"] = expires
		}
		return printJSON(c.stdout, out)
	}
	fmt.Fprintf(c.stdout, "%s (%s) on %s", w.Name, w.Role, c.set.server)
	if !expires.IsZero() {
		fmt.Fprintf(c.stdout, ", session until %s", when(expires))
	}
	fmt.Fprintln(c.stdout)
	return nil
}

func runConfig(_ context.Context, c *cli, path string, args []string) error {
	output := c.set.output // before this command's own -o, which formats what it prints
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	token := "set"
	if c.set.token == "" {
		token = ""
	}
	tokenFrom := c.set.tokenFrom
	if c.set.tokenNote != "" && c.set.tokenFrom == fromNone {
		tokenFrom = c.set.tokenNote
	}
	if c.json() {
		type setting struct {
			Value  string `json:"value"`
			Source string `json:"source"`
		}
		return printJSON(c.stdout, map[string]setting{
			"server": {c.set.server, c.set.serverFrom},
			"token":  {token, tokenFrom},
			"ca":     {c.set.ca, c.set.caFrom},
			"output": {output, c.set.outputFrom},
			"config": {c.set.configPath, c.set.configFrom},
		})
	}
	return table(c.stdout, []string{"SETTING", "VALUE", "SOURCE"}, [][]string{
		{"server", c.set.server, c.set.serverFrom},
		{"token", token, tokenFrom},
		{"ca", c.set.ca, c.set.caFrom},
		{"output", output, c.set.outputFrom},
		{"config", c.set.configPath, c.set.configFrom},
	})
}

func runVersion(_ context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "gwctl %s (%s)\n", version.Version, runtime.Version())
	return nil
}

// line reads one line of stdin, without its end.
func (c *cli) line() (string, error) {
	if c.in == nil {
		c.in = bufio.NewReader(c.stdin)
	}
	s, err := c.in.ReadString('\n')
	if errors.Is(err, io.EOF) && s != "" {
		err = nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", &codeError{code: exitError, msg: "stdin ended before a line was read"}
		}
		return "", err
	}
	return strings.TrimRight(s, "\r\n"), nil
}

// readSecret reads a password: a line of stdin when fromStdin or stdin is
// not a terminal; otherwise prompted for on stderr and typed without echo.
func (c *cli) readSecret(prompt string, fromStdin bool) (string, error) {
	var secret string
	f, tty := terminal(c.stdin)
	if tty && !fromStdin {
		fmt.Fprint(c.stderr, prompt)
		s, err := readNoEcho(f)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", err
		}
		secret = s
	} else {
		s, err := c.line()
		if err != nil {
			return "", err
		}
		secret = s
	}
	if secret == "" {
		return "", &codeError{code: exitError, msg: "empty password"}
	}
	return secret, nil
}

// newSecret reads a new password; typed at a terminal, it is asked twice.
func (c *cli) newSecret(prompt string, fromStdin bool) (string, error) {
	p, err := c.readSecret(prompt, fromStdin)
	if err != nil {
		return "", err
	}
	if _, tty := terminal(c.stdin); tty && !fromStdin {
		again, err := c.readSecret("Again: ", false)
		if err != nil {
			return "", err
		}
		if again != p {
			return "", &codeError{code: exitError, msg: "the two passwords differ; nothing was changed"}
		}
	}
	return p, nil
}
