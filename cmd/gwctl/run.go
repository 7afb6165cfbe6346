package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitConflict = 3 // 412: someone else changed the object meanwhile
	exitInvalid  = 4 // 422: the server refused option values
	exitRejected = 5 // the daemon rejected the options (--wait)
	exitTimeout  = 6 // the daemon did not report in time (--wait)
)

// A command is a leaf (run) or a group of subcommands (subs).
type command struct {
	name    string
	args    string // what follows the name in usage lines
	summary string // one line
	details string // more, for help COMMAND
	run     func(ctx context.Context, c *cli, path string, args []string) error
	subs    []*command
}

// commands is the command tree, in the order help lists it.
func commands() []*command {
	return []*command{
		{name: "login", args: "[-user NAME] [-password-stdin]", summary: "sign in and keep the session in the config file", details: loginDetails, run: runLogin},
		{name: "logout", summary: "end the session and remove its token from the config file", run: runLogout},
		{name: "whoami", summary: "say who the token belongs to", run: runWhoami},
		{name: "config", summary: "show the settings in effect (server, token, CA, output) and where each comes from", run: runConfig},
		{name: "app", summary: "applications", subs: []*command{
			{name: "list", summary: "list the applications", run: runAppList},
			{name: "show", args: "NAME", summary: "show an application: its fields, then its options by section", run: runAppShow},
			{name: "create", args: "NAME --template T [--host H] [--type T] [--connect APP]... [--arg A]... [--port [NAME=]N]...", summary: "create an application from a template", run: runAppCreate},
			{name: "delete", args: "NAME", summary: "delete an application (at the revision just read)", run: runAppDelete},
		}},
		{name: "options", summary: "an application's options", subs: []*command{
			{name: "get", args: "APP [SECTION[/OPTION]] [--annex]", summary: "show options with their values, template defaults marked; SECTION/OPTION prints the bare value", run: runOptionsGet},
			{name: "set", args: "APP SECTION/OPTION=VALUE... [--annex] [--retry] [--force] [--wait DURATION]", summary: "change options in one write; an empty VALUE removes the option (back to its default)", details: optionsSetDetails, run: runOptionsSet},
		}},
		{name: "template", summary: "application templates", subs: []*command{
			{name: "list", summary: "list the templates", run: runTemplateList},
			{name: "show", args: "NAME", summary: "show a template: its options with type and default", run: runTemplateShow},
			{name: "import", args: "FILE.apd [--metadata FILE.metadata.xml] [--replace]", summary: "import a template from its .apd and metadata files", run: runTemplateImport},
			{name: "delete", args: "NAME", summary: "delete a template no application uses", run: runTemplateDelete},
		}},
		{name: "audit", args: "[APP] [--kind KIND] [--name NAME] [--limit N] [--all]", summary: "list accepted changes, newest first, with what each changed", run: runAudit},
		{name: "credentials", args: "APP [--revoke]", summary: "make a new token for an application's daemon (replaces the previous one), or revoke it (admin)", run: runCredentials},
		{name: "host", summary: "hosts", subs: []*command{
			{name: "list", summary: "list the hosts", run: runHostList},
			{name: "create", args: "NAME --address A [--lca-port P]", summary: "create a host", run: runHostCreate},
			{name: "delete", args: "NAME", summary: "delete a host no application uses", run: runHostDelete},
			{name: "credentials", args: "NAME [--revoke]", summary: "make a new token for a host's Local Control Agent (replaces the previous one), or revoke it (admin)", run: runHostCredentials},
		}},
		{name: "operator", summary: "operators (admin)", subs: []*command{
			{name: "list", summary: "list the operators", run: runOperatorList},
			{name: "create", args: "NAME --role admin|operator|viewer [-password-stdin]", summary: "create an operator; the password is prompted for", run: runOperatorCreate},
			{name: "delete", args: "NAME", summary: "delete an operator", run: runOperatorDelete},
			{name: "passwd", args: "NAME [-password-stdin]", summary: "set an operator's password", run: runOperatorPasswd},
		}},
		{name: "status", args: "[APP]", summary: "the applications of the Local Control Agents with their status, pid, uptime and restarts", details: lcaDetails, run: runStatus},
		{name: "start", args: "APP [--wait DURATION]", summary: "start an application through its Local Control Agent", details: lcaDetails, run: runStart},
		{name: "stop", args: "APP [--force] [--wait DURATION]", summary: "stop an application gracefully (suspend, let calls end, stop)", details: lcaDetails, run: runStop},
		{name: "suspend", args: "APP [--wait DURATION]", summary: "suspend an application: no new sessions or calls; it stays up", details: lcaDetails, run: runSuspend},
		{name: "events", summary: "print the applications' status, then every change, until interrupted", details: lcaDetails, run: runEvents},
		{name: "backup", args: "FILE", summary: "save a consistent copy of the Configuration Server's store into FILE (admin)", details: backupDetails, run: runBackup},
		{name: "version", summary: "print gwctl's version", run: runVersion},
		{name: "help", args: "[COMMAND [SUBCOMMAND]]", summary: "explain a command"},
	}
}

// errHelp is returned when help was asked for and given: exit 0.
var errHelp = flag.ErrHelp

// usageError is a bad command line: exit 2.
type usageError struct {
	msg  string
	path string // the command, for "run gwctl help PATH"
}

func (e *usageError) Error() string { return e.msg }

func usagef(path, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), path: path}
}

// codeError ends gwctl with code after printing msg (when not empty) on
// stderr.
type codeError struct {
	code int
	msg  string
}

func (e *codeError) Error() string { return e.msg }

// run is gwctl: args without the program name; env reads the environment.
// It returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	return c.main(args)
}

// main runs gwctl with args and returns the exit code.
func (c *cli) main(args []string) int {
	root := commands()
	stderr := c.stderr

	fs := flag.NewFlagSet("gwctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.flags.server, "server", "", "Configuration Server `URL` (env GWCTL_SERVER; default "+defaultServer+")")
	fs.StringVar(&c.flags.token, "token", "", "session or credential `token` (env GWCTL_TOKEN; default: the config file's, from gwctl login)")
	fs.StringVar(&c.flags.ca, "ca", "", "PEM `file` of the authorities trusted for an https server (env GWCTL_CA)")
	fs.StringVar(&c.flags.config, "config", "", "config `file` (env GWCTL_CONFIG; default $XDG_CONFIG_HOME/gwctl/config.json or ~/.config/gwctl/config.json)")
	fs.Var(outputFlag{&c.flags.output}, "o", "output `format`: table (for people) or json (for scripts) (env GWCTL_OUTPUT)")
	fs.Var(&c.flags.lca, "lca", "Local Control Agent `HOST:PORT`, repeatable or comma-separated (env GWCTL_LCA; default "+defaultLCA+")")
	fs.StringVar(&c.flags.lcaTokenFile, "lca-token-file", "", "`file` of the LCAs' control tokens: one token, or lines HOST:PORT TOKEN (env GWCTL_LCA_TOKEN_FILE)")
	fs.Usage = func() { printUsage(stderr, root, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	args = fs.Args()
	if len(args) == 0 {
		printUsage(stderr, root, fs)
		return exitUsage
	}
	if args[0] == "help" {
		return c.help(root, fs, args[1:])
	}
	if err := c.resolve(); err != nil {
		return c.fail(err)
	}
	return c.fail(dispatch(context.Background(), c, root, "", args))
}

// dispatch finds the command args name among cmds and runs it.
func dispatch(ctx context.Context, c *cli, cmds []*command, parent string, args []string) error {
	cmd := find(cmds, args[0])
	if cmd == nil {
		if parent == "" {
			return usagef("", "unknown command %q", args[0])
		}
		return usagef(parent, "unknown command %q for gwctl %s", args[0], parent)
	}
	path := strings.TrimSpace(parent + " " + cmd.name)
	args = args[1:]
	if cmd.subs == nil {
		return cmd.run(ctx, c, path, args)
	}
	if len(args) == 0 {
		printGroup(c.stderr, path, cmd)
		return &codeError{code: exitUsage}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printGroup(c.stdout, path, cmd)
		return errHelp
	}
	return dispatch(ctx, c, cmd.subs, path, args)
}

func find(cmds []*command, name string) *command {
	for _, cmd := range cmds {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// help prints the help of the command named by args, or of gwctl.
func (c *cli) help(root []*command, global *flag.FlagSet, args []string) int {
	if len(args) == 0 {
		global.SetOutput(c.stdout)
		printUsage(c.stdout, root, global)
		return exitOK
	}
	cmds, path := root, ""
	var cmd *command
	for _, name := range args {
		cmd = find(cmds, name)
		if cmd == nil {
			fmt.Fprintf(c.stderr, "gwctl: no command %q; run gwctl help for the list\n", strings.TrimSpace(path+" "+name))
			return exitUsage
		}
		path = strings.TrimSpace(path + " " + name)
		cmds = cmd.subs
	}
	if cmd.subs != nil {
		printGroup(c.stdout, path, cmd)
		return exitOK
	}
	if cmd.run == nil { // help help
		fmt.Fprintf(c.stdout, "usage: gwctl help [COMMAND [SUBCOMMAND]]\n\n%s.\n", cmd.summary)
		return exitOK
	}
	// A leaf prints its own usage and flags when asked for -h.
	_ = cmd.run(context.Background(), c, path, []string{"-h"})
	return exitOK
}

func printUsage(w io.Writer, root []*command, global *flag.FlagSet) {
	fmt.Fprint(w, "usage: gwctl [global flags] COMMAND [arguments]\n\n")
	fmt.Fprint(w, "gwctl is the operator's command line for the WebRTC Gateway's Configuration Server.\n\n")
	fmt.Fprint(w, "commands:\n")
	tw := newTable(w)
	for _, cmd := range root {
		if cmd.subs == nil {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(cmd.name+" "+shortArgs(cmd.args)), cmd.summary)
			continue
		}
		for _, sub := range cmd.subs {
			fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(cmd.name+" "+sub.name+" "+shortArgs(sub.args)), sub.summary)
		}
	}
	tw.Flush()
	fmt.Fprint(w, "\nglobal flags (before the command):\n")
	global.SetOutput(w)
	global.PrintDefaults()
	fmt.Fprint(w, "\nFlags after a command may come before or after its arguments; -o works there too.\n")
	fmt.Fprint(w, "Exit codes: 0 ok, 1 error, 2 usage, 3 conflict (changed meanwhile), 4 invalid values,\n5 rejected by the daemon, 6 timeout. Run gwctl help COMMAND for a command's flags.\n")
}

func printGroup(w io.Writer, path string, cmd *command) {
	fmt.Fprintf(w, "usage: gwctl %s SUBCOMMAND\n\n%s:\n", path, cmd.summary)
	tw := newTable(w)
	for _, sub := range cmd.subs {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(path+" "+sub.name+" "+shortArgs(sub.args)), sub.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun gwctl help %s SUBCOMMAND for its flags.\n", path)
}

// newFlags returns the flag set of the leaf command path: -o is accepted
// after every command, -h prints the usage on stdout.
func (c *cli) newFlags(path string) *flag.FlagSet {
	fs := flag.NewFlagSet("gwctl "+path, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Var(outputFlag{&c.set.output}, "o", "output `format`: table or json")
	fs.Usage = func() {
		cmd := lookup(path)
		w := fs.Output()
		fmt.Fprintf(w, "usage: gwctl %s\n\n%s.\n", strings.TrimSpace(path+" "+cmd.args), upperFirst(cmd.summary))
		if cmd.details != "" {
			fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.details))
		}
		fmt.Fprint(w, "\nflags (-x and --x are the same):\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args with fs, flags and arguments mixed in any order ("--"
// ends the flags); it returns the arguments. want is the number of
// arguments: exactly n when max == n, at least min when max < 0.
func (c *cli) parse(fs *flag.FlagSet, path string, args []string, minArgs, maxArgs int) ([]string, error) {
	// Help goes to stdout, errors to stderr: the flag package writes both
	// to the flag set's output.
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	pos, err := parseInterspersed(fs, args)
	fs.SetOutput(c.stderr)
	if errors.Is(err, flag.ErrHelp) {
		c.stdout.Write(msg.Bytes())
		return nil, errHelp
	}
	if err != nil {
		c.stderr.Write(msg.Bytes())
		return nil, &codeError{code: exitUsage}
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef(path, "missing arguments: %s", lookup(path).args)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef(path, "unexpected argument %q", pos[maxArgs])
	}
	return pos, nil
}

// parseInterspersed parses flags anywhere among args and returns the
// non-flag arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// lookup returns the command at path ("app create").
func lookup(path string) *command {
	cmds := commands()
	var cmd *command
	for name := range strings.FieldsSeq(path) {
		if cmd = find(cmds, name); cmd == nil {
			return &command{name: path}
		}
		cmds = cmd.subs
	}
	return cmd
}

// shortArgs keeps the arguments of a usage line up to its first flag, for
// the command lists.
func shortArgs(args string) string {
	var out []string
	for word := range strings.FieldsSeq(args) {
		if strings.HasPrefix(word, "-") || strings.HasPrefix(word, "[-") {
			out = append(out, "[flags]")
			break
		}
		out = append(out, word)
	}
	return strings.Join(out, " ")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// stringsFlag is a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// outputFlag is -o.
type outputFlag struct{ p *string }

func (o outputFlag) String() string {
	if o.p == nil {
		return ""
	}
	return *o.p
}

func (o outputFlag) Set(v string) error {
	if v != outputTable && v != outputJSON {
		return fmt.Errorf("want table or json")
	}
	*o.p = v
	return nil
}
