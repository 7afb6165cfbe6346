// Command soak is the soak harness of the gateway's live reload (`make
// soak`): it runs the real system — Kamailio as the SIP Server, confserv,
// the gateway in Configuration Server mode under the Local Control Agent, a
// Go SIP/RTP far end behind Kamailio, a STUN/TURN server — inside a private
// network namespace, and for a while
//
//   - keeps call load up: N pion "browsers" signed in as DNs place calls to
//     the far end and take calls from it, hold them for a random while, hang
//     up (or are hung up on), again; they keep a /wait in flight and send
//     GET-STATS, INFO and /health requests as they go;
//   - every second changes random options of the gateway through the
//     confserv API, as an operator would: valid values of every section,
//     invalid ones that confserv must refuse naming the option (422), and
//     sets valid on paper that the gateway cannot apply, which it must
//     reject and report while it keeps running;
//
// then prints what it counted: calls placed and dropped, failed HTTP
// requests, registrations lost, media gaps (no RTP for more than 200 ms at
// the browser or the far end), option changes applied, rejected and
// refused, and the p50/p99 of operator write → gateway applied (from the
// gateway's report). It exits 1 when a call dropped, a request failed, a
// registration was lost, an option change did not end as expected, the
// gateway restarted, or a rollback of a rejected change failed; 2 when the
// system could not be set up.
//
//	go run ./internal/soak -duration 5m -browsers 6 -json soak.json
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"webrtcgw/internal/netns"
	"webrtcgw/internal/testpeers"
)

func main() { os.Exit(soakMain(os.Args[1:])) }

// envNetns marks the harness process that re-executed itself in a new
// network namespace.
const envNetns = "SOAK_NETNS"

func soakMain(args []string) int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	if d, err := time.ParseDuration(os.Getenv("SOAK_DURATION")); err == nil && d > 0 {
		cfg.duration = d
	}
	fs.DurationVar(&cfg.duration, "duration", cfg.duration, "how long the load and the option changes run (default from $SOAK_DURATION)")
	fs.IntVar(&cfg.browsers, "browsers", cfg.browsers, "browsers (DNs) signed in, each in one call at a time")
	fs.DurationVar(&cfg.interval, "interval", cfg.interval, "time between two option changes")
	fs.DurationVar(&cfg.holdMin, "hold-min", cfg.holdMin, "shortest call")
	fs.DurationVar(&cfg.holdMax, "hold-max", cfg.holdMax, "longest call")
	fs.Float64Var(&cfg.incoming, "incoming", cfg.incoming, "share of the calls the far end places to a browser")
	fs.Float64Var(&cfg.farHangup, "far-hangup", cfg.farHangup, "share of the calls the far end hangs up")
	fs.BoolVar(&cfg.lca, "lca", cfg.lca, "run the gateway under the Local Control Agent")
	fs.BoolVar(&cfg.turn, "turn", cfg.turn, "run a STUN/TURN server that media/ice-servers may name")
	fs.DurationVar(&cfg.gapThreshold, "gap", cfg.gapThreshold, "a media gap is longer than this")
	fs.StringVar(&cfg.bin, "bin", "", "`directory` with webrtc-gateway, confserv and lca (built when empty)")
	race := fs.Bool("race", false, "build the gateway with the race detector (when -bin is empty)")
	fs.StringVar(&cfg.work, "work", "", "work `directory` for logs and state (a temporary one, removed after a passing run, when empty)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary work directory after a passing run")
	fs.Uint64Var(&cfg.seed, "seed", 0, "random seed (0: random)")
	jsonFile := fs.String("json", "", "write the summary as JSON to `file`")
	fs.BoolVar(&cfg.verbose, "v", false, "log every call and option change")
	isolate := fs.Bool("netns", true, "run inside a new network namespace that has only loopback")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if cfg.browsers < 1 || cfg.duration <= 0 || cfg.interval <= 0 || cfg.holdMin <= 0 || cfg.holdMax < cfg.holdMin {
		fmt.Fprintln(os.Stderr, "soak: -browsers must be at least 1; -duration, -interval and -hold-min positive; -hold-max at least -hold-min")
		return 2
	}
	if _, err := testpeers.LookBinary(testpeers.BinKamailio); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		return 2
	}
	if *jsonFile != "" {
		abs, err := filepath.Abs(*jsonFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			return 2
		}
		*jsonFile = abs
	}
	if cfg.bin == "" {
		dir, err := os.MkdirTemp("", "soak-bin-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			return 2
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "soak: building the gateway, confserv and the LCA into %s\n", dir)
		if err := buildBinaries(dir, *race); err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			return 2
		}
		cfg.bin = dir
	}
	if abs, err := filepath.Abs(cfg.bin); err == nil {
		cfg.bin = abs
	}
	switch {
	case os.Getenv(envNetns) != "":
		if err := netns.LoopbackUp(); err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			return 2
		}
	case *isolate && !netns.Private():
		// Everything runs in the child; it gets the binaries built here
		// (the build may need the network).
		code, err := netns.Reexec(append(args, "-bin", cfg.bin, "-json", *jsonFile), envNetns, "1")
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: %v\n", err)
			return 2
		}
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: setup failed: %v (work dir %s)\n", err, sum.WorkDir)
		return 2
	}
	sum.WriteText(os.Stdout)
	if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err == nil {
			err = sum.WriteJSON(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: write %s: %v\n", *jsonFile, err)
			return 2
		}
	}
	if !sum.Pass {
		return 1
	}
	return 0
}
