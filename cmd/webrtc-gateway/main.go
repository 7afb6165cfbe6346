// Command webrtc-gateway is the WebRTC Gateway daemon.
//
//	webrtc-gateway -config FILE [-lca-port N]      local mode
//	webrtc-gateway -check -config FILE              validate and print the options
//	webrtc-gateway -host H -port P -app NAME [-app-token-file F]   Configuration Server mode
//
// Exit codes: 0 stopped cleanly (or -check: valid), 1 failed while running,
// 2 bad command line or invalid options.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/emiago/sipgo/sip"

	"webrtcgw/gateway"
	"webrtcgw/logging"
	"webrtcgw/options"
	"webrtcgw/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// subcommands are the tools the binary carries besides the daemon
// (webrtc-gateway NAME ARGS...), each registered by the file that
// implements it.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if cmd, ok := subcommands[args[0]]; ok {
			return cmd(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("webrtc-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "Configuration Server `host` (Configuration Server mode)")
	port := fs.Int("port", 0, "Configuration Server `port`")
	app := fs.String("app", "", "`name` of this gateway's application (in the Configuration Server; at the Local Control Agent)")
	tokenFile := fs.String("app-token-file", "", "`file` holding the application's Configuration Server credential (else $WRTCGW_APP_TOKEN)")
	confservCA := fs.String("confserv-ca", "", "PEM `file` of the authorities that sign the Configuration Server's certificate (implies HTTPS)")
	confservHTTPS := fs.Bool("confserv-https", false, "reach the Configuration Server over HTTPS (system authorities)")
	lcaPort := fs.Int("lca-port", 4999, "`port` of the Local Control Agent on this host (used in Configuration Server mode, and in local mode when given; 0: none)")

	config := fs.String("config", "", "options `file` (local mode, without a Configuration Server)")
	dataDir := fs.String("data", defaultDataDir(), "`directory` for state kept between runs (the self-signed certificate)")
	check := fs.Bool("check", false, "validate the options, print the effective options with their sources, and exit: 0 valid, 2 invalid")
	showVersion := fs.Bool("V", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: webrtc-gateway -config FILE [-app NAME -lca-port N]\n       webrtc-gateway -check -config FILE\n       webrtc-gateway -host H -port P -app NAME [-app-token-file F] [-lca-port N]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := gateway.Config{ConfigFile: *config, DataDir: *dataDir, App: *app}
	lcaGiven := false
	fs.Visit(func(f *flag.Flag) { lcaGiven = lcaGiven || f.Name == "lca-port" })
	confservMode := *host != "" || *port != 0
	// Managed by an LCA in Configuration Server mode (the framework's way),
	// and in local mode when -lca-port says so.
	if lcaGiven || confservMode {
		cfg.LCAPort = *lcaPort
	}
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "webrtc-gateway %s (%s)\n", version.Version, runtime.Version())
		return 0
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "webrtc-gateway: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *lcaPort < 0 || *lcaPort > 65535:
		fmt.Fprintf(stderr, "webrtc-gateway: -lca-port %d is not a port (0: no Local Control Agent)\n", *lcaPort)
		return 2
	case confservMode && *config != "":
		fmt.Fprintln(stderr, "webrtc-gateway: -config (local mode) and -host/-port (Configuration Server mode) exclude each other")
		return 2
	case !confservMode && cfg.LCAPort != 0 && *app == "":
		fmt.Fprintln(stderr, "webrtc-gateway: -lca-port needs -app NAME: the application's name at the Local Control Agent")
		return 2
	case confservMode:
		if *host == "" || *port == 0 || *app == "" {
			fmt.Fprintln(stderr, "webrtc-gateway: Configuration Server mode needs -host, -port and -app")
			return 2
		}
		if *check {
			fmt.Fprintln(stderr, "webrtc-gateway: -check works on a file: -check -config FILE")
			return 2
		}
	case *config == "":
		fs.Usage()
		return 2
	case *check:
		return checkOptions(*config, stdout, stderr)
	}

	if confservMode {
		token := os.Getenv("WRTCGW_APP_TOKEN")
		if *tokenFile != "" {
			data, err := os.ReadFile(*tokenFile)
			if err != nil {
				fmt.Fprintf(stderr, "webrtc-gateway: -app-token-file: %v\n", err)
				return 2
			}
			token = strings.TrimSpace(string(data))
		}
		if token == "" {
			fmt.Fprintln(stderr, "webrtc-gateway: no credential for the Configuration Server: -app-token-file FILE or $WRTCGW_APP_TOKEN (gwctl credentials APP makes one)")
			return 2
		}
		scheme := "http"
		if *confservHTTPS || *confservCA != "" {
			scheme = "https"
		}
		cfg.Confserv = &gateway.ConfservConfig{URL: scheme + "://" + net.JoinHostPort(*host, strconv.Itoa(*port)),
			Token: token, App: *app, CAFile: *confservCA}
	}
	logs := logging.New("gateway", stdout, stderr)
	defer logs.Close()
	log := logs.Logger()
	// sipgo logs through slog; its package-level messages go here too, at
	// DEBUG: each is about one connection (reference counts of its own that
	// go wrong as garbage TCP streams end), which a flood would repeat.
	sip.SetDefaultLogger(slog.New(logging.NewSlogDebugHandler(log.Named("sipgo"))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopSignals := make(chan os.Signal, 2)
	signal.Notify(stopSignals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-stopSignals
		log.Info("stopping gracefully; send the signal again to force", "signal", s.String())
		cancel()
		s = <-stopSignals
		log.Warn("second signal: forced stop", "signal", s.String())
		logs.Close()
		os.Exit(1)
	}()
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)

	err := gateway.Run(ctx, cfg, gateway.Deps{Logging: logs, Hangup: hangup})
	switch {
	case errors.Is(err, gateway.ErrInvalidOptions):
		source := *config
		if source == "" {
			source = "application " + *app
		}
		printInvalid(stderr, source, err)
		return 2
	case err != nil:
		log.Error("gateway failed", "error", err)
		return 1
	}
	return 0
}

// defaultDataDir is $STATE_DIRECTORY (systemd's StateDirectory=), else
// ./data.
func defaultDataDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	return "data"
}

// checkOptions is -check: validate the file and print the effective options.
func checkOptions(path string, stdout, stderr io.Writer) int {
	set, warnings, err := gateway.LoadFile(path)
	if err != nil {
		printInvalid(stderr, path, err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(stdout)
	if err := options.WriteEffective(stdout, set, path); err != nil {
		fmt.Fprintf(stderr, "webrtc-gateway: %v\n", err)
		return 1
	}
	return 0
}

// printInvalid writes every problem of an invalid start, one per line.
func printInvalid(w io.Writer, path string, err error) {
	var perr *options.Error
	if !errors.As(err, &perr) {
		fmt.Fprintf(w, "webrtc-gateway: %v\n", err)
		return
	}
	fmt.Fprintf(w, "webrtc-gateway: %s: %d invalid option(s):\n", path, len(perr.Problems))
	for _, p := range perr.Problems {
		fmt.Fprintf(w, "  error: %s\n", p)
	}
	for _, p := range perr.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", p)
	}
}
