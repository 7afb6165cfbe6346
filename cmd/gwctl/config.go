package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"webrtcgw/confserv/client"
)

const (
	defaultServer = "http://127.0.0.1:2020"
	outputTable   = "table"
	outputJSON    = "json"
)

// Sources of a setting, as gwctl config shows them.
const (
	fromFlag    = "flag"
	fromEnv     = "environment"
	fromConfig  = "config file"
	fromDefault = "default"
	fromNone    = "not set"
)

// fileConfig is the config file: where gwctl login signed in and the
// session it got. The token is a secret: the file is mode 0600.
type fileConfig struct {
	Server  string    `json:"server,omitempty"`
	Token   string    `json:"token,omitempty"`
	User    string    `json:"user,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	CA      string    `json:"ca,omitempty"`
	Output  string    `json:"output,omitempty"`
}

// globalFlags are the flags before the command.
type globalFlags struct {
	server, token, ca, config, output string
	lca                               stringsFlag // Local Control Agents
	lcaTokenFile                      string
}

// settings are what is in effect, after flag > environment > config file
// > default.
type settings struct {
	server, token, ca, output string
	configPath                string
	// sources of each, for gwctl config
	serverFrom, tokenFrom, caFrom, outputFrom, configFrom string
	// tokenNote explains an unused config-file token.
	tokenNote string
}

// cli is one run of gwctl.
type cli struct {
	stdin          io.Reader
	in             *bufio.Reader // stdin for lines, made on first use
	stdout, stderr io.Writer
	env            func(string) string

	flags  globalFlags
	set    settings
	config fileConfig // as read; zero when there is no file
	cl     *client.Client
	hc     *http.Client // when not nil, the HTTP client of the API client (tests)
}

// defaultConfigPath is $XDG_CONFIG_HOME/gwctl/config.json or
// ~/.config/gwctl/config.json.
func defaultConfigPath(env func(string) string) string {
	if dir := env("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "gwctl", "config.json")
	}
	if home := env("HOME"); home != "" {
		return filepath.Join(home, ".config", "gwctl", "config.json")
	}
	return ""
}

// pick returns the first non-empty of flag, environment and config values
// with its source, or def.
func pick(flagV, envV, configV, def string) (string, string) {
	switch {
	case flagV != "":
		return flagV, fromFlag
	case envV != "":
		return envV, fromEnv
	case configV != "":
		return configV, fromConfig
	case def != "":
		return def, fromDefault
	}
	return "", fromNone
}

// resolve reads the config file and settles the settings.
func (c *cli) resolve() error {
	s := &c.set
	s.configPath, s.configFrom = pick(c.flags.config, c.env("GWCTL_CONFIG"), "", defaultConfigPath(c.env))
	if s.configPath != "" {
		cfg, err := loadConfig(s.configPath)
		if err != nil {
			return &codeError{code: exitError, msg: fmt.Sprintf("config file %s: %v\nfix it or point -config elsewhere", s.configPath, err)}
		}
		c.config = cfg
		if fi, err := os.Stat(s.configPath); err == nil && cfg.Token != "" && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(c.stderr, "gwctl: warning: %s holds a session token and is readable by others (mode %04o): chmod 600 it\n", s.configPath, fi.Mode().Perm())
		}
	}
	s.server, s.serverFrom = pick(c.flags.server, c.env("GWCTL_SERVER"), c.config.Server, defaultServer)
	s.server = strings.TrimRight(s.server, "/")
	s.ca, s.caFrom = pick(c.flags.ca, c.env("GWCTL_CA"), c.config.CA, "")
	if c.flags.output == "" && s.output == "" {
		out, from := pick("", c.env("GWCTL_OUTPUT"), c.config.Output, outputTable)
		if err := (outputFlag{&s.output}).Set(out); err != nil {
			return usagef("", "output format %q from the %s: want table or json", out, from)
		}
		s.outputFrom = from
	} else {
		s.output, s.outputFrom = c.flags.output, fromFlag
	}

	// The config file's token belongs to the server it was issued by: it is
	// never sent to another one.
	configToken := c.config.Token
	if configToken != "" && !sameServer(c.config.Server, s.server) {
		s.tokenNote = fmt.Sprintf("the config file's token is for %s, not %s", c.config.Server, s.server)
		configToken = ""
	}
	s.token, s.tokenFrom = pick(c.flags.token, c.env("GWCTL_TOKEN"), configToken, "")
	return nil
}

func sameServer(a, b string) bool {
	norm := func(s string) string { return strings.ToLower(strings.TrimRight(s, "/")) }
	return norm(a) == norm(b)
}

// loadConfig reads a config file; a missing one is empty.
func loadConfig(path string) (fileConfig, error) {
	var cfg fileConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("not gwctl's JSON: %w", err)
	}
	return cfg, nil
}

// saveConfig writes cfg to path (mode 0600, its directory made 0700),
// replacing the file in one rename.
func saveConfig(path string, cfg fileConfig) error {
	if path == "" {
		return errors.New("no config file: set -config, GWCTL_CONFIG or HOME")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// client returns the API client for the settings; it needs a token.
func (c *cli) client() (*client.Client, error) {
	if c.cl != nil {
		return c.cl, nil
	}
	if c.set.token == "" {
		msg := "not signed in: run gwctl login (or give -token / GWCTL_TOKEN)"
		if c.set.tokenNote != "" {
			msg = "not signed in to " + c.set.server + " (" + c.set.tokenNote + "): run gwctl -server " + c.set.server + " login"
		}
		return nil, &codeError{code: exitError, msg: msg}
	}
	if c.set.tokenFrom == fromConfig && !c.config.Expires.IsZero() && time.Now().After(c.config.Expires) {
		return nil, &codeError{code: exitError, msg: fmt.Sprintf("the session of %s on %s expired at %s: run gwctl login", c.config.User, c.set.server, when(c.config.Expires))}
	}
	cl, err := c.newClient(c.set.token)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return cl, nil
}

func (c *cli) newClient(token string) (*client.Client, error) {
	cl, err := client.New(client.Config{URL: c.set.server, Token: token, CAFile: c.set.ca, HTTPClient: c.hc})
	if err != nil {
		return nil, &codeError{code: exitError, msg: fmt.Sprintf("%v\ncheck -server, GWCTL_SERVER or the config file", err)}
	}
	return cl, nil
}
