// Command lca is the Local Control Agent of a host (docs/lca.md): it starts,
// watches, restarts and stops the host's applications, and answers gwctl.
//
//	lca -config lca.ini [-port 4999] [-listen 127.0.0.1] [-data DIR] [-logs DIR]
//	lca -confserv-host H -confserv-port P [-host-name NAME] [-token-file F] [...]
//
// The applications keep running when the LCA stops; they register again
// with the next one. Exit codes: 0 stopped cleanly, 1 failed while running,
// 2 bad command line or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"webrtcgw/confserv/client"
	"webrtcgw/lca/agent"
	"webrtcgw/lca/confsource"
	"webrtcgw/lca/wire"
	"webrtcgw/logging"
	"webrtcgw/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", wire.DefaultPort, "TCP `port` of the LCA (applications and control)")
	listen := fs.String("listen", "127.0.0.1", "`address` to bind; registrations are accepted from loopback addresses only")
	dataDir := fs.String("data", defaultDir("STATE_DIRECTORY", "data"), "`directory` of the control token, the remembered processes and the application cache")
	logDir := fs.String("logs", os.Getenv("LOGS_DIRECTORY"), "`directory` of the applications' output, NAME.log (default DATA/logs)")
	config := fs.String("config", "", "lca.ini `file`: the applications of this host (reloaded on SIGHUP)")
	controlTokenFile := fs.String("control-token-file", "", "`file` of the control token (default DATA/control-token, created on first start)")
	csHost := fs.String("confserv-host", "", "Configuration Server `host`: read the applications from it")
	csPort := fs.Int("confserv-port", 2020, "Configuration Server `port`")
	csCA := fs.String("confserv-ca", "", "PEM `file` of the authorities that sign the Configuration Server's certificate (implies HTTPS)")
	csHTTPS := fs.Bool("confserv-https", false, "reach the Configuration Server over HTTPS (system authorities)")
	hostName := fs.String("host-name", "", "this host's `name` (default: [lca] host-name, the host credential's host, or the system's host name)")
	tokenFile := fs.String("token-file", "", "`file` of the host credential for the Configuration Server (else $LCA_TOKEN)")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "how long a stop waits after the stop command before SIGTERM")
	killGrace := fs.Duration("kill-grace", 10*time.Second, "how long SIGTERM has before SIGKILL")
	restartDelay := fs.Duration("restart-delay", time.Second, "first delay of an automatic restart (doubles while the application keeps dying)")
	restartDelayMax := fs.Duration("restart-delay-max", time.Minute, "longest delay of an automatic restart")
	var appUsers []uint32 // nil: [lca] app-users
	fs.Func("app-users", "`users` (names or uids, comma-separated) whose processes may register applications besides root and the LCA's own user (replaces [lca] app-users)", func(s string) error {
		users, err := agent.ParseUsers(s)
		appUsers = users
		return err
	})
	verbose := fs.String("verbose", "standard", "log `level`: all, debug, trace, interaction, standard, alarm, none")
	showVersion := fs.Bool("V", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lca -config lca.ini [-port 4999] [-listen 127.0.0.1] [-data DIR] [-logs DIR]\n"+
			"       lca -confserv-host H [-confserv-port 2020] [-host-name NAME] [-token-file F] [...]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "lca %s (%s)\n", version.Version, runtime.Version())
		return 0
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "lca: unexpected argument %q\n", fs.Arg(0))
		return 2
	case *config != "" && *csHost != "":
		fmt.Fprintln(stderr, "lca: -config (lca.ini) and -confserv-host (Configuration Server) exclude each other")
		return 2
	case *config == "" && *csHost == "":
		fmt.Fprintln(stderr, "lca: where are the applications? -config lca.ini or -confserv-host HOST")
		fs.Usage()
		return 2
	case *port < 1 || *port > 65535:
		fmt.Fprintf(stderr, "lca: -port %d: want 1 to 65535\n", *port)
		return 2
	case *dataDir == "":
		fmt.Fprintln(stderr, "lca: -data DIR is required")
		return 2
	}
	if *logDir == "" {
		*logDir = filepath.Join(*dataDir, "logs")
	}
	if *config != "" {
		// Checked before anything starts: a mistake is an exit 2 naming it.
		if _, err := agent.LoadINI(*config); err != nil {
			fmt.Fprintf(stderr, "lca: %v\n", err)
			return 2
		}
	}
	var csClient *client.Client
	if *csHost != "" {
		token := os.Getenv("LCA_TOKEN")
		if *tokenFile != "" {
			data, err := os.ReadFile(*tokenFile)
			if err != nil {
				fmt.Fprintf(stderr, "lca: -token-file: %v\n", err)
				return 2
			}
			token = strings.TrimSpace(string(data))
		}
		if token == "" {
			fmt.Fprintf(stderr, "lca: %v\n", confsource.ErrNoCredential)
			return 2
		}
		scheme := "http"
		if *csHTTPS || *csCA != "" {
			scheme = "https"
		}
		var err error
		csClient, err = client.New(client.Config{URL: scheme + "://" + net.JoinHostPort(*csHost, strconv.Itoa(*csPort)), Token: token, CAFile: *csCA})
		if err != nil {
			fmt.Fprintf(stderr, "lca: %v\n", err)
			return 2
		}
	}

	logs := logging.New("lca", stdout, stderr)
	defer logs.Close()
	if err := logs.Apply(logging.Options{Level: logging.LevelFor(*verbose), Outputs: []string{"stdout"}}); err != nil {
		fmt.Fprintf(stderr, "lca: %v\n", err)
		return 2
	}
	log := logs.Logger()
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Error("data directory", "error", err)
		return 1
	}
	tokenPath := *controlTokenFile
	if tokenPath == "" {
		tokenPath = filepath.Join(*dataDir, "control-token")
	}
	controlToken, created, insecure, err := agent.ControlToken(tokenPath)
	if err != nil {
		log.Error("control token", "error", err)
		return 1
	}
	if created {
		log.Info("control token created", "file", tokenPath)
	}
	if insecure {
		log.Warn("the control token file is readable by others: chmod 600 it", "file", tokenPath)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)

	cfg := agent.Config{
		Listen:          net.JoinHostPort(*listen, strconv.Itoa(*port)),
		DataDir:         *dataDir,
		LogDir:          *logDir,
		ControlToken:    controlToken,
		AppUsers:        appUsers,
		StopTimeout:     *stopTimeout,
		KillGrace:       *killGrace,
		RestartDelay:    *restartDelay,
		MaxRestartDelay: *restartDelayMax,
	}
	deps := agent.Deps{Log: log.Named("agent")}
	var src agent.Source
	if *config != "" {
		src = &agent.INISource{Path: *config, Host: *hostName, Hangup: hangup, Log: log.Named("config")}
		if *hostName != "" {
			cfg.Host = *hostName
		}
	} else {
		cs := confsource.New(confsource.Config{Host: *hostName, CacheFile: filepath.Join(*dataDir, "confserv-apps.json")},
			confsource.Deps{Log: log.Named("confserv"), Client: csClient, Hangup: hangup})
		deps.OnStatus = cs.OnStatus
		src = cs
	}
	log.Info("starting", "version", version.Version, "port", *port, "data", *dataDir, "logs", *logDir)
	err = agent.Run(ctx, cfg, deps, src)
	var cerr *agent.ConfigError
	switch {
	case errors.As(err, &cerr):
		log.Error("configuration", "error", err)
		fmt.Fprintf(stderr, "lca: %v\n", err)
		return 2
	case err != nil:
		log.Error("lca failed", "error", err)
		return 1
	}
	return 0
}

// defaultDir is $env (set by systemd's StateDirectory= and the like), else
// def.
func defaultDir(env, def string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	return def
}
