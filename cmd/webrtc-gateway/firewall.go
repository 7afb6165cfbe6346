package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"webrtcgw/firewall"
	"webrtcgw/gateway"
	"webrtcgw/lca/wire"
	"webrtcgw/options"
)

func init() { subcommands["firewall"] = firewallMain }

// defaultConfigFile is where the packages install the gateway's options.
const defaultConfigFile = "/etc/webrtc-gateway/webrtc-gateway.ini"

// firewallMain is `webrtc-gateway firewall`: the firewall rules the options
// need (docs/firewall.md). Exit codes: 0 written, 1 could not write, 2 bad
// command line or invalid options.
func firewallMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("webrtc-gateway firewall", flag.ContinueOnError)
	flags.SetOutput(stderr)
	format := flags.String("format", string(firewall.Nftables), "`format` of the rules: nftables (a ruleset for nft -f) or firewalld (service definitions)")
	config := flags.String("config", defaultConfigFile, "options `file` of the gateway (local mode)")
	defaults := flags.Bool("defaults", false, "use the default options instead of a file")
	out := flags.String("out", "", "write into `directory` (webrtc-gateway.nft, or a NAME.xml per firewalld service) instead of to stdout")
	state := flags.String("state", "", "also record the ports the rules open in `file`, for the gateway to warn when an option moves a port outside them (the gateway reads "+firewall.StateFileName+" in its data directory: /var/lib/webrtc-gateway/"+firewall.StateFileName+" under systemd)")
	lcaPort := flags.Int("lca-port", wire.DefaultPort, "TCP `port` of the Local Control Agent (management zone; 0: leave out)")
	confservPort := flags.Int("confserv-port", firewall.DefaultConfservPort, "TCP `port` of the Configuration Server on this host (management zone; 0: leave out)")
	internalNet := flags.String("internal-net", firewall.FormatNets(firewall.DefaultNets), "comma-separated `prefixes` of the enterprise network that may reach the SIP port and RTP range (nftables)")
	managementNet := flags.String("management-net", firewall.FormatNets(firewall.DefaultNets), "comma-separated `prefixes` that may reach the management ports (nftables; empty: loopback only)")
	policy := flags.String("policy", string(firewall.Accept), "`policy` of the nftables input chain: accept (add to the host's firewall) or drop (be the host's input firewall)")
	sshPort := flags.Int("ssh-port", 22, "TCP `port` of SSH, let in from the management networks under -policy drop (0: leave out)")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: webrtc-gateway firewall [-format nftables|firewalld] [-config FILE | -defaults] [-out DIR] [-state FILE] [flags]\n\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "webrtc-gateway firewall: "+format+"\n", args...)
		return 2
	}
	given := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if flags.NArg() > 0 {
		return fail("unexpected argument %q", flags.Arg(0))
	}
	if *defaults && given["config"] {
		return fail("-config and -defaults exclude each other")
	}
	internal, err := firewall.ParseNets(*internalNet)
	if err != nil {
		return fail("-internal-net: %v", err)
	}
	management, err := firewall.ParseNets(*managementNet)
	if err != nil {
		return fail("-management-net: %v", err)
	}

	set, source := options.Defaults(), "the default options"
	if !*defaults {
		var warnings []options.Problem
		set, warnings, err = gateway.LoadFile(*config)
		var pathErr *fs.PathError
		switch {
		case errors.As(err, &pathErr) && !given["config"]:
			return fail("%v; give the gateway's options with -config FILE, or -defaults", pathErr)
		case errors.As(err, &pathErr):
			return fail("%v", pathErr)
		case err != nil:
			printInvalid(stderr, *config, err)
			return 2
		}
		// Only the warnings that may change the rules: a misspelt port
		// option is ignored, and its default used.
		for _, w := range warnings {
			if w.Name == "" || options.Lookup(w.Section, w.Name) == nil {
				fmt.Fprintf(stderr, "webrtc-gateway firewall: %s: warning: %s\n", *config, w)
			}
		}
		source = *config
	}
	rs, err := firewall.Compute(set, firewall.Config{
		Source:         source,
		Management:     firewall.ManagementPorts{LCAPort: *lcaPort, ConfservPort: *confservPort},
		InternalNets:   internal,
		ManagementNets: management,
		Policy:         firewall.Policy(*policy),
		SSHPort:        *sshPort,
	})
	if err != nil {
		return fail("%v", err)
	}
	files, err := firewall.Files(rs, firewall.Format(*format))
	if err != nil {
		return fail("%v", err)
	}

	if *out == "" {
		err = firewall.WriteStream(stdout, files)
	} else {
		var paths []string
		paths, err = firewall.WriteDir(*out, files)
		for _, p := range paths {
			fmt.Fprintf(stderr, "webrtc-gateway firewall: wrote %s\n", p)
		}
	}
	if err == nil && *state != "" {
		err = firewall.WriteState(*state, firewall.NewState(rs, commandLine(args)))
		if err == nil {
			fmt.Fprintf(stderr, "webrtc-gateway firewall: wrote %s\n", *state)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "webrtc-gateway firewall: %v\n", err)
		return 1
	}
	return 0
}

// commandLine returns the command as a shell would take it back, for the
// gateway's warning to name.
func commandLine(args []string) string {
	words := []string{"webrtc-gateway", "firewall"}
	for _, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./,:=@+%", r))
		}) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
