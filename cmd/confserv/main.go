// Command confserv is the Configuration Server: it keeps the configuration of
// the system in a bbolt file and serves it over HTTP(S) (docs/confserv-api.md).
//
//	confserv -port 2020 -data DIR [-listen ADDRESS] [-tls-cert FILE -tls-key FILE] [-trusted-proxies CIDR,CIDR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/confserv/server"
	"webrtcgw/confserv/store"
	"webrtcgw/confserv/ui"
	"webrtcgw/gateway/ban"
	"webrtcgw/internal/clientip"
	"webrtcgw/logging"
	"webrtcgw/templates"
	"webrtcgw/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("confserv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 2020, "TCP `port` of the API")
	listen := fs.String("listen", "", "`address` to bind (empty: every address)")
	dataDir := fs.String("data", "", "`directory` of the store (confserv.db) and the initial admin password")
	tlsCert := fs.String("tls-cert", "", "PEM certificate `file` (HTTPS)")
	tlsKey := fs.String("tls-key", "", "PEM key `file` of -tls-cert")
	history := fs.Int("history", 100000, "`changes` kept for watches")
	proxyList := fs.String("trusted-proxies", "", "comma-separated `CIDRs` (or addresses) of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed:\n"+
		"the client is the rightmost address that is not a trusted proxy, for sign-in bans and logs\n"+
		"(empty: the peer address is the client)")
	verbose := fs.String("verbose", "standard", "log `level`: all, debug, trace, interaction, standard, alarm, none")
	showVersion := fs.Bool("V", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintf(stdout, "confserv %s\n", version.Version)
		return 0
	case *dataDir == "":
		fmt.Fprintln(stderr, "confserv: -data DIR is required")
		return 2
	case (*tlsCert == "") != (*tlsKey == ""):
		fmt.Fprintln(stderr, "confserv: -tls-cert and -tls-key go together")
		return 2
	}
	proxies, err := clientip.ParsePrefixes(*proxyList)
	if err != nil {
		fmt.Fprintf(stderr, "confserv: -trusted-proxies: %v\n", err)
		return 2
	}
	logs := logging.New("confserv", stdout, stderr)
	if err := logs.Apply(logging.Options{Level: logging.LevelFor(*verbose), Outputs: []string{"stdout"}}); err != nil {
		fmt.Fprintf(stderr, "confserv: %v\n", err)
		return 2
	}
	log := logs.Logger()
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		log.Error("data directory", "error", err)
		return 1
	}
	st, err := store.Open(filepath.Join(*dataDir, "confserv.db"), *history)
	if err != nil {
		log.Error("open store", "error", err)
		return 1
	}
	defer st.Close()
	bans := ban.New(ban.Config{MaxFailures: 3, FindTime: 10 * time.Minute, BanTime: 10 * time.Minute}, log.Named("ban"), nil)
	srv := server.New(server.Deps{Log: log.Named("api"), Store: st, Bans: bans, TrustedProxies: proxies})

	shipped, err := shippedTemplates()
	if err != nil {
		log.Error("templates", "error", err)
		return 1
	}
	password, err := srv.Bootstrap(shipped)
	if err != nil {
		log.Error("first start", "error", err)
		return 1
	}
	if password != "" {
		file := filepath.Join(*dataDir, "initial-admin-password")
		if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
			log.Error("write the initial admin password", "error", err)
			return 1
		}
		fmt.Fprintf(stdout, "confserv: first start: operator admin created with password %s (also in %s); change it\n", password, file)
	}

	handler, err := routes(srv.Handler(), proxies, log)
	if err != nil {
		log.Error("web ui", "error", err)
		return 1
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*listen, strconv.Itoa(*port)))
	if err != nil {
		log.Error("listen", "error", err)
		return 1
	}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	log.Info("started", "version", version.Version, "url", scheme+"://"+ln.Addr().String(), "store", filepath.Join(*dataDir, "confserv.db"), "revision", st.Revision())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := server.Serve(ctx, ln, handler, *tlsCert, *tlsKey, log.Named("http")); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("serve", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// routes serves the API under /api/v1 (and its JSON 404 everywhere else),
// the web UI under /ui/ and sends / to the UI.
func routes(apiHandler http.Handler, proxies []netip.Prefix, log hclog.Logger) (http.Handler, error) {
	web, err := ui.New(ui.Deps{API: apiHandler, Log: log.Named("ui"), TrustedProxies: proxies})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", apiHandler)
	mux.Handle(ui.Prefix, web.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
	return mux, nil
}

// shippedTemplates returns the .apd and .metadata.xml of every template in
// the templates package, by type.
func shippedTemplates() (map[string][2]string, error) {
	out := map[string][2]string{}
	files, err := fs.Glob(templates.FS, "*.apd")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		base := strings.TrimSuffix(f, ".apd")
		apd, err := fs.ReadFile(templates.FS, f)
		if err != nil {
			return nil, err
		}
		meta, err := fs.ReadFile(templates.FS, base+".metadata.xml")
		if err != nil {
			return nil, err
		}
		out[base] = [2]string{string(apd), string(meta)}
	}
	return out, nil
}
