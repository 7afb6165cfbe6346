package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"webrtcgw/hostcheck"
	"webrtcgw/version"
)

func init() { subcommands["check-host"] = checkHostMain }

// checkHostMain is `webrtc-gateway check-host`: it audits this host (or the
// tree of -root) against the security guide (docs/check-host.md). Exit
// codes: 0 every check passed, 1 warnings only, 2 a failure or a bad
// command line.
func checkHostMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("webrtc-gateway check-host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "`directory` to audit as the host's /: a mounted image, or a test tree (processes, sockets and commands are looked at only when it is /)")
	config := fs.String("config", "", "the gateway's options `file`, inside -root (default: the -config of "+hostcheck.UnitGateway+", else "+hostcheck.DefaultConfig+")")
	output := fs.String("o", "text", "output `format`: text (a table) or json")
	lcaPort := fs.Int("lca-port", hostcheck.DefaultLCAPort, "`port` of the Local Control Agent (default: its unit's -port, else 4999)")
	confservPort := fs.Int("confserv-port", hostcheck.DefaultConfservPort, "`port` of the Configuration Server (default: its unit's -port, else 2020)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: webrtc-gateway check-host [-root DIR] [-config FILE] [-o text|json] [-lca-port N] [-confserv-port N]\n\n"+
			"Audits the host against the security guide (docs/check-host.md).\n"+
			"Exit code: 0 every check passed, 1 warnings only, 2 a failure (or a bad command line).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return hostcheck.ExitFailures
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "webrtc-gateway check-host: "+format+"\n", a...)
		return hostcheck.ExitFailures
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case *output != "text" && *output != "json":
		return fail("-o %q: want text or json", *output)
	case *lcaPort < 1 || *lcaPort > 65535:
		return fail("-lca-port %d is not a port (1-65535)", *lcaPort)
	case *confservPort < 1 || *confservPort > 65535:
		return fail("-confserv-port %d is not a port (1-65535)", *confservPort)
	case given["config"] && *config == "":
		return fail("-config is empty: name the options file, or leave -config out")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	snap, err := hostcheck.Gather(ctx, hostcheck.GatherOptions{Root: *root, Flags: hostcheck.Flags{
		Config:  *config,
		LCAPort: *lcaPort, LCAPortGiven: given["lca-port"],
		ConfservPort: *confservPort, ConfservPortGiven: given["confserv-port"],
	}})
	if err != nil {
		if errors.Is(err, hostcheck.ErrConfigAbsent) {
			return fail("%v (a path inside -root %s)", err, *root)
		}
		return fail("cannot read %v", err)
	}
	results := hostcheck.Run(snap)
	report := hostcheck.NewReport(snap, results, version.Version)
	if *output == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		return fail("%v", err)
	}
	return report.ExitCode
}
