package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"webrtcgw/confserv/api"
	"webrtcgw/internal/soak/farend"
)

// config is what the command line (or the test) asks for.
type config struct {
	duration     time.Duration // how long the load and the changes run
	browsers     int           // signed-in DNs, one call at a time each
	interval     time.Duration // between two option changes
	holdMin      time.Duration // shortest call
	holdMax      time.Duration // longest call
	incoming     float64       // share of calls the far end places to a DN
	farHangup    float64       // share of calls the far end hangs up
	lca          bool          // run the gateway under the Local Control Agent
	turn         bool          // run a STUN/TURN server for media/ice-servers
	bin          string        // directory of webrtc-gateway, confserv and lca
	work         string        // work directory; "" makes a temporary one
	keep         bool          // keep the work directory after a passing run
	seed         uint64        // random seed; 0 picks one
	gapThreshold time.Duration // a media gap is longer than this
	drain        time.Duration // how long calls may take to end after the run
	verbose      bool
	out          io.Writer // progress lines (with the log file)
}

func defaultConfig() config {
	return config{duration: 5 * time.Minute, browsers: 6, interval: time.Second, holdMin: 3 * time.Second, holdMax: 15 * time.Second,
		incoming: 0.35, farHangup: 0.4, lca: true, turn: true, gapThreshold: 200 * time.Millisecond, drain: 60 * time.Second, out: os.Stderr}
}

// seqThreshold is the run of missing sequence numbers that is a gap: as many
// 20 ms packets as the gap threshold holds.
func seqThreshold(gap time.Duration) int { return int(gap / (20 * time.Millisecond)) }

// logger writes timestamped lines to the progress output and the log file.
type logger struct {
	mu      sync.Mutex
	w       []io.Writer
	verbose bool
}

func (l *logger) Printf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.w {
		io.WriteString(w, line)
	}
}

// Debugf logs to the file only, unless -v.
func (l *logger) Debugf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, w := range l.w {
		if i == 0 && !l.verbose && len(l.w) > 1 {
			continue
		}
		io.WriteString(w, line)
	}
}

// endpoint is the gateway's HTTPS base URL the browsers use; it moves when
// an https-port or listen-address change is applied (as the web page's
// configuration or a load balancer would be updated).
type endpoint struct{ p atomic.Pointer[string] }

func (e *endpoint) get() string  { return *e.p.Load() }
func (e *endpoint) set(s string) { e.p.Store(&s) }

// farRegistry hands the calls the gateway places to the far end to the
// browsers that wait for them.
type farRegistry struct {
	mu      sync.Mutex
	waiting map[string]chan *farend.Call
	m       *metrics
}

func (r *farRegistry) expect(id string) chan *farend.Call {
	ch := make(chan *farend.Call, 1)
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	return ch
}

func (r *farRegistry) forget(id string) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// deliver is the far end's OnCall.
func (r *farRegistry) deliver(c *farend.Call) {
	r.mu.Lock()
	ch := r.waiting[c.ID]
	delete(r.waiting, c.ID)
	r.mu.Unlock()
	if ch == nil {
		r.m.example("unexpected call at the far end", "call %q: no browser waits for it; hung up", c.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Hangup(ctx)
		return
	}
	ch <- c
}

// harness is one run.
type harness struct {
	cfg      config
	log      *logger
	m        *metrics
	st       *stack
	certs    certSet
	pool     *x509.CertPool
	ep       endpoint
	farCalls farRegistry
	callSeq  atomic.Int64
	closers  []func() error

	rmu sync.Mutex
	rnd *rand.Rand
}

// intn returns a random int in [0, n) from the run's seeded source.
func (h *harness) intn(n int) int {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return h.rnd.IntN(n)
}

func (h *harness) float() float64 {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return h.rnd.Float64()
}

// between returns a random duration in [lo, hi].
func (h *harness) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return lo + time.Duration(h.rnd.Int64N(int64(hi-lo)+1))
}

// run runs the soak and returns its summary. An error means the system
// could not be set up (nothing was measured).
func run(ctx context.Context, cfg config) (Summary, error) {
	if cfg.seed == 0 {
		cfg.seed = rand.Uint64()
	}
	if cfg.out == nil {
		cfg.out = io.Discard
	}
	h := &harness{cfg: cfg, m: newMetrics(), rnd: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x50a4))}
	h.farCalls = farRegistry{waiting: map[string]chan *farend.Call{}, m: h.m}
	work := cfg.work
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "soak-"); err != nil {
			return Summary{}, err
		}
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return Summary{}, err
	}
	logFile, err := os.Create(filepath.Join(work, "soak.log"))
	if err != nil {
		return Summary{}, err
	}
	defer logFile.Close()
	h.log = &logger{w: []io.Writer{cfg.out, logFile}, verbose: cfg.verbose}
	h.st = &stack{dir: work, bin: cfg.bin, gwDir: filepath.Join(work, "gateway")}
	defer func() {
		for _, c := range h.closers {
			c()
		}
	}()
	sum, err := h.run(ctx)
	sum.WorkDir = work
	if err == nil && sum.Pass && !cfg.keep && cfg.work == "" {
		os.RemoveAll(work)
		sum.WorkDir += " (removed)"
	}
	return sum, err
}

func (h *harness) run(ctx context.Context) (Summary, error) {
	cfg, s := h.cfg, h.st
	h.log.Printf("soak: %v, %d browsers, an option change every %v, seed %d, work dir %s", cfg.duration, cfg.browsers, cfg.interval, cfg.seed, s.dir)
	if err := os.MkdirAll(filepath.Join(s.gwDir, "data"), 0o700); err != nil {
		return Summary{}, err
	}
	var err error
	if h.certs, err = writeCerts(filepath.Join(s.dir, "certs"), 2); err != nil {
		return Summary{}, err
	}
	defer h.stopStack()
	if err := h.startPeers(); err != nil {
		return Summary{}, err
	}
	if cfg.lca {
		if s.lcaPort, err = freePort(); err != nil {
			return Summary{}, err
		}
	}
	if err := h.startConfserv(ctx); err != nil {
		return Summary{}, err
	}
	plan := newPortPlan()
	if err := plan.hold(s); err != nil {
		return Summary{}, err
	}
	initial, annex := h.initialOptions(plan)
	app, tokenFile, hostToken, err := h.provision(ctx, initial, annex)
	if err != nil {
		return Summary{}, fmt.Errorf("provision: %w", err)
	}
	h.ep.set(endpointOf(app.Options))
	if err := h.startGateway(ctx, tokenFile, hostToken); err != nil {
		return Summary{}, fmt.Errorf("gateway (logs under %s): %w", s.gwDir, err)
	}
	ch := newChaos(h, plan, app)
	if rep, err := ch.waitReport(ctx, app.Revision); err != nil || rep.Status != api.ReportApplied {
		return Summary{}, fmt.Errorf("the gateway did not report its first revision applied: %+v %v", rep, err)
	}
	h.log.Printf("gateway %s serving on %s", gwApp, h.ep.get())

	// The load and the changes.
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.duration)
	defer stopLoad()
	h.m.mu.Lock()
	h.m.s.Started, h.m.s.Browsers, h.m.s.LCA, h.m.s.Seed = time.Now(), cfg.browsers, cfg.lca, cfg.seed
	h.m.s.Media.GapThresholdMs = int(cfg.gapThreshold / time.Millisecond)
	h.m.mu.Unlock()
	start := time.Now()
	var wg sync.WaitGroup
	browsers := make([]*browser, cfg.browsers)
	for i := range browsers {
		browsers[i] = newBrowser(h, firstDN+i)
		wg.Add(1)
		go func(b *browser) {
			defer wg.Done()
			b.run(loadCtx)
		}(browsers[i])
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		h.intruder(loadCtx)
	}()
	chaosDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(chaosDone)
		ch.run(loadCtx)
	}()
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	stuck := time.NewTimer(cfg.duration + cfg.drain + 2*time.Minute)
	defer stuck.Stop()
wait:
	for {
		select {
		case <-allDone:
			break wait
		case <-progress.C:
			h.progress(time.Since(start))
		case <-stuck.C:
			h.log.Printf("the browsers did not finish within %v after the run: giving up on them", cfg.drain)
			h.m.callDropped("-", "harness: browsers stuck", "the load did not end")
			break wait
		}
	}
	elapsed := time.Since(start)
	h.progress(elapsed)

	// The gateway must still be up, on its last applied options.
	ch.finalCheck(context.Background())
	for _, b := range browsers {
		b.close()
	}
	h.m.mu.Lock()
	h.m.s.Duration = elapsed.Round(time.Second).String()
	h.m.mu.Unlock()
	code := h.stopGateway()
	h.m.mu.Lock()
	h.m.s.Gateway.ExitCode = code
	h.m.mu.Unlock()
	h.scanLogs()
	return h.m.summary(), nil
}

// progress prints a one-line status.
func (h *harness) progress(elapsed time.Duration) {
	s := h.m.summary()
	h.log.Printf("%v: calls %d placed, %d established, %d dropped; requests %d, failed %d; registrations lost %d; media gaps %d; options applied %d, rejected %d, refused %d, not as expected %d",
		elapsed.Round(time.Second), s.Calls.Placed, s.Calls.Established, s.Calls.Dropped, s.HTTP.Requests, s.HTTP.Failed,
		s.Registrations.Lost, s.Media.Gaps, s.Options.Applied, s.Options.Rejected, s.Options.Refused, s.Options.Mismatches)
}

// endpointOf returns the browsers' base URL for options: the listen
// address (127.0.0.1 when it binds every address) and the HTTPS port.
func endpointOf(opts api.Sections) string {
	host := "127.0.0.1"
	if a, err := netip.ParseAddr(opts["web"]["listen-address"]); err == nil && !a.IsUnspecified() {
		host = a.String()
	}
	return "https://" + net.JoinHostPort(host, opts["web"]["https-port"])
}

var (
	panicRE = regexp.MustCompile(`(?m)^(panic:|fatal error:)`)
	raceRE  = regexp.MustCompile(`WARNING: DATA RACE`)
)

// scanLogs counts panics, data races, failed rollbacks and error lines in
// everything the gateway wrote.
func (h *harness) scanLogs() {
	var files []string
	for _, pattern := range []string{filepath.Join(h.st.gwDir, "*.log"), filepath.Join(h.st.gwDir, "*.out"), filepath.Join(h.st.dir, "lca", "logs", "*.log")} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	g := &h.m.s.Gateway
	for _, f := range files {
		text := readFile(f)
		g.Panics += len(panicRE.FindAllStringIndex(text, -1))
		g.DataRaces += len(raceRE.FindAllStringIndex(text, -1))
		g.RollbackFailed += strings.Count(text, "rollback failed")
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "[ERROR]") {
				g.ErrorLines++
				if len(h.m.examples["gateway error line"]) < maxExamples {
					h.m.examples["gateway error line"] = append(h.m.examples["gateway error line"], filepath.Base(f)+": "+line)
				}
			}
		}
	}
}

// intruder signs in with a wrong password from another address every few
// seconds: 403, or 429 once banned (the ban options change under it).
func (h *harness) intruder(ctx context.Context) {
	b := newClient(h, intruderDN, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(intruderIP)}})
	defer b.hc.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.between(2*time.Second, 4*time.Second)):
		}
		b.do(context.Background(), "intruder sign_in", "POST", "/sign_in", intruderDN+":wrong", 403, 429)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
