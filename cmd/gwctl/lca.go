package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"webrtcgw/lca/control"
	"webrtcgw/lca/wire"
)

// The SCS role: status and control of applications through the Local
// Control Agents of their hosts (docs/lca-protocol.md).

const lcaDetails = `
The Local Control Agents are given with -lca HOST:PORT (repeatable, or a
comma-separated list; env GWCTL_LCA; default 127.0.0.1:4999). Each LCA needs
its control token (the LCA's DATA/control-token): -lca-token-file FILE (env
GWCTL_LCA_TOKEN_FILE) holds either one token for every LCA, or lines
"HOST:PORT TOKEN" for several. An application is found on whichever LCA
knows it.

start, stop and suspend wait (--wait, default 2m; 0: do not wait) until the
application is Running (or ServiceUnavailable: up, its SIP Server silent),
Stopped, or Suspended; exit 6 when it is not there in time (the LCA goes on).
stop is the graceful stop: suspend, wait up to the application's [sml]
suspending-wait-timeout for its calls to end, stop; --force skips the
suspend.`

// defaultLCA is where the LCA of this host listens.
var defaultLCA = net.JoinHostPort("127.0.0.1", strconv.Itoa(wire.DefaultPort))

// lcaAddrs are the LCAs to talk to.
func (c *cli) lcaAddrs() []string {
	var out []string
	list := []string(c.flags.lca)
	if len(list) == 0 && c.env("GWCTL_LCA") != "" {
		list = []string{c.env("GWCTL_LCA")}
	}
	for _, v := range list {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		out = []string{defaultLCA}
	}
	return out
}

// lcaTokens reads the control tokens: addr → token, "" for every LCA.
func (c *cli) lcaTokens() (map[string]string, error) {
	path := c.flags.lcaTokenFile
	if path == "" {
		path = c.env("GWCTL_LCA_TOKEN_FILE")
	}
	if path == "" {
		return nil, &codeError{code: exitError, msg: "no control token for the Local Control Agent: -lca-token-file FILE (or GWCTL_LCA_TOKEN_FILE), FILE being the LCA's DATA/control-token"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &codeError{code: exitError, msg: fmt.Sprintf("control token: %v", err)}
	}
	tokens := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch len(f) {
		case 1:
			tokens[""] = f[0]
		case 2:
			tokens[f[0]] = f[1]
		default:
			return nil, &codeError{code: exitError, msg: fmt.Sprintf("%s line %d: want TOKEN or HOST:PORT TOKEN", path, i+1)}
		}
	}
	return tokens, nil
}

// lcaConn is a control connection to one LCA.
type lcaConn struct {
	addr string
	cl   *control.Client
}

// dialLCAs connects to every LCA; any failure is an error naming the LCA.
func (c *cli) dialLCAs(ctx context.Context) ([]lcaConn, error) {
	tokens, err := c.lcaTokens()
	if err != nil {
		return nil, err
	}
	var out []lcaConn
	for _, addr := range c.lcaAddrs() {
		token, ok := tokens[addr]
		if !ok {
			token = tokens[""]
		}
		if token == "" {
			closeLCAs(out)
			return nil, &codeError{code: exitError, msg: fmt.Sprintf("no control token for the LCA at %s in the token file", addr)}
		}
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cl, err := control.Dial(dctx, addr, token)
		cancel()
		if err != nil {
			closeLCAs(out)
			msg := err.Error()
			if !strings.Contains(msg, addr) {
				msg = addr + ": " + msg
			}
			return nil, &codeError{code: exitError, msg: "cannot use the local control agent: " + msg}
		}
		out = append(out, lcaConn{addr: addr, cl: cl})
	}
	return out, nil
}

func closeLCAs(ls []lcaConn) {
	for _, l := range ls {
		l.cl.Close()
	}
}

// statusRow is one application as gwctl shows it.
type statusRow struct {
	LCA string `json:"lca"`
	wire.AppState
}

func runStatus(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 0, 1)
	if err != nil {
		return err
	}
	ls, err := c.dialLCAs(ctx)
	if err != nil {
		return err
	}
	defer closeLCAs(ls)
	var rows []statusRow
	for _, l := range ls {
		apps, err := l.cl.List(ctx)
		if err != nil {
			return fmt.Errorf("local control agent at %s: %w", l.addr, err)
		}
		for _, a := range apps {
			if len(pos) == 0 || a.Name == pos[0] {
				rows = append(rows, statusRow{LCA: l.addr, AppState: a})
			}
		}
	}
	if len(pos) == 1 && len(rows) == 0 {
		return &codeError{code: exitError, msg: fmt.Sprintf("no application %q at %s", pos[0], strings.Join(c.lcaAddrs(), ", "))}
	}
	if c.json() {
		if rows == nil {
			rows = []statusRow{}
		}
		return printJSON(c.stdout, rows)
	}
	var cells [][]string
	now := time.Now()
	for _, r := range rows {
		pid, uptime := "", ""
		if r.PID != 0 {
			pid = strconv.Itoa(r.PID)
		}
		if !r.Started.IsZero() && r.Status != wire.Stopped && r.Status != wire.Unknown {
			uptime = duration(now.Sub(r.Started))
		}
		managed := "managed"
		if !r.Managed {
			managed = "registered"
		}
		cells = append(cells, []string{r.Host, r.Name, string(r.Status), pid, uptime, strconv.Itoa(r.Restarts), managed, r.Detail})
	}
	return table(c.stdout, []string{"HOST", "APP", "STATUS", "PID", "UPTIME", "RESTARTS", "STARTED BY", "DETAIL"}, cells)
}

// duration is a short uptime: 45s, 12m, 3h4m, 2d5h.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// findApp returns the LCA that knows app.
func findApp(ctx context.Context, c *cli, ls []lcaConn, app string) (lcaConn, error) {
	var found []lcaConn
	for _, l := range ls {
		apps, err := l.cl.List(ctx)
		if err != nil {
			return lcaConn{}, fmt.Errorf("local control agent at %s: %w", l.addr, err)
		}
		for _, a := range apps {
			if a.Name == app {
				found = append(found, l)
			}
		}
	}
	switch len(found) {
	case 0:
		return lcaConn{}, &codeError{code: exitError, msg: fmt.Sprintf("no application %q at %s", app, strings.Join(c.lcaAddrs(), ", "))}
	case 1:
		return found[0], nil
	}
	var addrs []string
	for _, l := range found {
		addrs = append(addrs, l.addr)
	}
	return lcaConn{}, &codeError{code: exitError, msg: fmt.Sprintf("application %q is known to several LCAs (%s): give one with -lca", app, strings.Join(addrs, ", "))}
}

func runStart(ctx context.Context, c *cli, path string, args []string) error {
	return lcaCommand(ctx, c, path, args, "start")
}

func runStop(ctx context.Context, c *cli, path string, args []string) error {
	return lcaCommand(ctx, c, path, args, "stop")
}

func runSuspend(ctx context.Context, c *cli, path string, args []string) error {
	return lcaCommand(ctx, c, path, args, "suspend")
}

// lcaCommand starts, stops or suspends an application and waits for the
// status it leads to.
func lcaCommand(ctx context.Context, c *cli, path string, args []string, op string) error {
	fs := c.newFlags(path)
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the outcome (0: do not wait)")
	var force *bool
	if op == "stop" {
		force = fs.Bool("force", false, "skip the graceful part: stop at once, then SIGTERM and SIGKILL")
	}
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	app := pos[0]
	ls, err := c.dialLCAs(ctx)
	if err != nil {
		return err
	}
	defer closeLCAs(ls)
	l, err := findApp(ctx, c, ls, app)
	if err != nil {
		return err
	}
	// Subscribe first: no status change is missed between the command and
	// the wait.
	var events <-chan wire.AppState
	if *wait > 0 {
		if _, events, err = l.cl.Subscribe(ctx); err != nil {
			return fmt.Errorf("local control agent at %s: %w", l.addr, err)
		}
	}
	var st wire.AppState
	var done func(wire.Status) bool
	switch op {
	case "start":
		st, err = l.cl.Start(ctx, app)
		done = func(s wire.Status) bool { return s == wire.Running || s == wire.ServiceUnavailable }
	case "stop":
		st, err = l.cl.Stop(ctx, app, *force)
		done = func(s wire.Status) bool { return s == wire.Stopped }
	case "suspend":
		st, err = l.cl.Suspend(ctx, app)
		done = func(s wire.Status) bool { return s == wire.Suspended }
	}
	if err != nil {
		var ce *control.Error
		if errors.As(err, &ce) {
			return &codeError{code: exitError, msg: fmt.Sprintf("%s %s: %s", op, app, ce.Message)}
		}
		return fmt.Errorf("%s %s at %s: %w", op, app, l.addr, err)
	}
	report := func(s wire.AppState) error {
		if c.json() {
			return printJSON(c.stdout, statusRow{LCA: l.addr, AppState: s})
		}
		line := fmt.Sprintf("%s: %s", s.Name, s.Status)
		if s.Detail != "" {
			line += " (" + s.Detail + ")"
		}
		_, err := fmt.Fprintln(c.stdout, line)
		return err
	}
	if *wait <= 0 || done(st.Status) {
		return report(st)
	}
	if !c.json() {
		report(st)
	}
	timeout := time.After(*wait)
	for {
		select {
		case s, ok := <-events:
			if !ok {
				return fmt.Errorf("local control agent at %s: the connection ended while waiting", l.addr)
			}
			if s.Name != app {
				continue
			}
			if done(s.Status) {
				return report(s)
			}
			if op == "start" && s.Status == wire.Stopped {
				report(s)
				return &codeError{code: exitError, msg: fmt.Sprintf("%s stopped while starting; its output is in the LCA's log directory (%s.log)", app, app)}
			}
			if !c.json() {
				report(s)
			}
		case <-timeout:
			return &codeError{code: exitTimeout, msg: fmt.Sprintf("%s is not there after %v; the LCA goes on (gwctl status %s)", app, *wait, app)}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runEvents prints every status change of every LCA until interrupted.
func runEvents(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	if _, err := c.parse(fs, path, args, 0, 0); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	ls, err := c.dialLCAs(ctx)
	if err != nil {
		return err
	}
	defer closeLCAs(ls)
	type event struct {
		lca string
		s   wire.AppState
	}
	all := make(chan event)
	var wg sync.WaitGroup
	errs := make(chan error, len(ls))
	for _, l := range ls {
		now, events, err := l.cl.Subscribe(ctx)
		if err != nil {
			return fmt.Errorf("local control agent at %s: %w", l.addr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// First how things are, then every change.
			for _, s := range now {
				select {
				case all <- event{l.addr, s}:
				case <-ctx.Done():
					return
				}
			}
			for {
				select {
				case s, ok := <-events:
					if !ok {
						errs <- fmt.Errorf("local control agent at %s: the connection ended", l.addr)
						return
					}
					select {
					case all <- event{l.addr, s}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	// On return: end the goroutines, then close the connections (deferred
	// above).
	defer wg.Wait()
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case e := <-all:
			if c.json() {
				// One JSON object a line, for scripts that read as it comes.
				if err := json.NewEncoder(c.stdout).Encode(statusRow{LCA: e.lca, AppState: e.s}); err != nil {
					return err
				}
				continue
			}
			line := fmt.Sprintf("%s  %s  %s  %s", e.s.Since.Local().Format("15:04:05"), e.s.Host, e.s.Name, e.s.Status)
			if e.s.PID != 0 {
				line += fmt.Sprintf("  pid %d", e.s.PID)
			}
			if e.s.Detail != "" {
				line += "  " + e.s.Detail
			}
			fmt.Fprintln(c.stdout, line)
		}
	}
}
