// Package sipua is the gateway's SIP user agent towards the SIP Server
// (sipgo): it registers browsers' DNs, places and receives their calls, and
// carries in-dialog requests (BYE, re-INVITE, INFO, NOTIFY).
package sipua

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hashicorp/go-hclog"

	"webrtcgw/logging"
	"webrtcgw/options"
	"webrtcgw/version"
)

// Errors of registrations and calls; the calls package maps them to what the
// browser sees.
var (
	ErrAuth        = errors.New("the SIP Server refused the credentials")
	ErrUnreachable = errors.New("the SIP Server did not answer")
	ErrNoServer    = errors.New("no SIP Server configured (sip/sip-server)")
	ErrStopped     = errors.New("the SIP user agent is stopped")
)

// StatusError is a final non-2xx SIP response.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return strconv.Itoa(e.Code) + " " + e.Reason }

// Deps are the user agent's collaborators.
type Deps struct {
	Log hclog.Logger
	// Incoming is told of every new INVITE for a registered DN, in its own
	// goroutine; it must answer or reject it (the INVITE transaction lives
	// until then).
	Incoming func(*Incoming)
	// Reachability is told when the SIP Server becomes unavailable or
	// available again, once the change has held for Timing.Debounce (see
	// health). It starts available.
	Reachability func(up bool)
	// ServerFallback returns the SIP Server to use when sip/sip-server is
	// empty (the connected SIP Server application); nil: none.
	ServerFallback func() options.HostPort
	// Timing tunes probes, debounce and retries; zero: the defaults.
	Timing Timing
}

// UA is the SIP subsystem.
type UA struct {
	log  hclog.Logger
	deps Deps
	opts atomic.Pointer[options.SIP]
	web  atomic.Pointer[options.Web] // its certificate serves SIP TLS when sip/tls-certificate is empty
	init *options.Set

	tr atomic.Pointer[transport] // transport for new registrations and calls

	mu       sync.Mutex
	regs     map[string]*Registration // by DN
	dialogs  map[string]*Dialog       // by dialogKey
	retiring map[*transport]bool      // replaced transports still finishing their dialogs
	dnLocks  map[string]*dnLock       // by DN: one REGISTER exchange at a time

	// A replaced transport keeps listening for linger, so that requests
	// the SIP Server still routes to the DNs' old bindings (an INVITE
	// forwarded before the re-REGISTER landed) are served there.
	linger time.Duration

	timing Timing
	health health
	// Counts of SIP messages dropped, summed up in a warning per
	// Timing.MalformedSummary (malformed.go).
	reads      readSources
	malformed  *dropCounter
	unanswered *dropCounter
	ctx        context.Context // background work; cancelled by Stop
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// transport is one sipgo user agent listening on the SIP port.
type transport struct {
	network   string // udp, tcp, tls
	advertise string // host in Via and Contact
	port      int
	bind      string // "udp 127.0.0.1:5060": the socket it holds
	ident     string // bind, advertised host and TLS material: what makes two transports the same
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	cli       *sipgo.Client
	dialogUA  *sipgo.DialogUA
	cancel    func() // closes the listener
	done      chan struct{}

	// Requests hold a use of the transport while they are sent, none
	// starts once it closes, and those in flight are cancelled and waited
	// for before its socket closes: sipgo opens a fresh socket on the SIP
	// port for a request that goes out after that (and keeps reading it),
	// which holds the port and receives requests for a closed transport.
	useMu    sync.Mutex
	closing  bool
	users    sync.WaitGroup
	reqs     context.Context // the requests' parent; cancelled by close
	stopReqs context.CancelFunc
}

// errTransportClosed is a request sent through, or cut by, a transport
// that closed (a reload replaced it): not a verdict on the SIP Server.
var errTransportClosed = errors.New("the SIP transport closed")

// use takes a use of t for one request and returns the request's context
// (ctx, also cancelled when t closes) and its release; ok is false once t
// is closing.
func (t *transport) use(ctx context.Context) (_ context.Context, release func(), ok bool) {
	t.useMu.Lock()
	defer t.useMu.Unlock()
	if t.closing {
		return nil, nil, false
	}
	t.users.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(t.reqs, cancel)
	return ctx, func() { stop(); cancel(); t.users.Done() }, true
}

// isClosing reports whether t closed or is closing.
func (t *transport) isClosing() bool {
	t.useMu.Lock()
	defer t.useMu.Unlock()
	return t.closing
}

// New returns the user agent for set; Start listens.
func New(set *options.Set, deps Deps) *UA {
	u := &UA{log: deps.Log, deps: deps, init: set, regs: map[string]*Registration{}, dialogs: map[string]*Dialog{},
		retiring: map[*transport]bool{}, dnLocks: map[string]*dnLock{}, linger: transportLinger,
		timing: deps.Timing.withDefaults()}
	u.malformed = &dropCounter{log: deps.Log, period: u.timing.MalformedSummary,
		one: "malformed SIP message dropped", many: "malformed SIP messages dropped"}
	u.unanswered = &dropCounter{log: deps.Log, period: u.timing.MalformedSummary,
		one: "SIP request not answered: its sender cannot be reached", many: "SIP requests not answered: their senders cannot be reached"}
	o, w := set.SIP(), set.Web()
	u.opts.Store(&o)
	u.web.Store(&w)
	u.health.up, u.health.reported = true, true
	return u
}

// Start opens the SIP transport and starts watching the SIP Server.
func (u *UA) Start(context.Context) error {
	u.ctx, u.cancel = context.WithCancel(context.Background())
	t, err := u.newTransport(*u.opts.Load())
	if err != nil {
		return err
	}
	u.tr.Store(t)
	u.wg.Add(1)
	go u.keepalive()
	return nil
}

// Reload applies next. Registration expiry applies at each DN's next
// refresh, the SIP Server and timeouts to new registrations and calls. A
// transport change (port, protocol, address, TLS material):
//
//  1. that leaves the transport as it is (an address that resolves to the
//     one in use) changes nothing;
//  2. back to a transport still finishing its dialogs (a rollback, or an
//     operator changing their mind) takes that transport back;
//  3. otherwise opens the new transport first — then every DN re-registers
//     through it and the old one closes once its dialogs ended. When the
//     new one needs the socket the running one holds (same protocol, address
//     and port, another advertised host or TLS material), the running one
//     is closed first if no call uses it, and the change is refused if one
//     does: two transports cannot share a socket.
func (u *UA) Reload(_ context.Context, next *options.Set) error {
	o, w := next.SIP(), next.Web()
	old := *u.opts.Load()
	prevWeb := u.web.Swap(&w)
	cur := u.tr.Load()
	want := u.transportIdent(o, w)
	if want.ident == cur.ident {
		u.opts.Store(&o)
		if o.Server != old.Server {
			u.reregisterAll()
		}
		return nil
	}
	if back := u.takeBack(want.ident); back != nil {
		u.tr.Store(back)
		u.opts.Store(&o)
		u.log.Info("SIP transport taken back", "transport", back.network, "address", back.bind)
		u.reregisterAll()
		u.retire(cur)
		return nil
	}
	if holder, calls := u.socketHolder(want.bind); holder != nil && holder != cur {
		if calls > 0 {
			u.web.Store(prevWeb)
			return fmt.Errorf("sip/sip-address: the new transport needs the socket %s, which %d calls still use: change it again when they have ended, or change sip-port too", want.bind, calls)
		}
		// A retired transport with no call left holds it: close it now.
		if u.takeBack(holder.ident) == holder {
			holder.close()
		}
	} else if holder == cur {
		if calls > 0 {
			u.web.Store(prevWeb)
			return fmt.Errorf("sip/sip-address: the new transport needs the socket %s, which %d calls still use: change it again when they have ended, or change sip-port too", want.bind, calls)
		}
		// The running transport holds the socket and no call uses it:
		// close it, then open the new one in its place (a brief pause in
		// which the SIP Server's retransmissions cover for us).
		cur.close()
		t, err := u.newTransport(o)
		if err != nil {
			if back, berr := u.newTransport(old); berr == nil {
				u.tr.Store(back)
			} else {
				u.log.Error("SIP transport lost: neither the new nor the previous one could be opened", "error", berr)
			}
			u.web.Store(prevWeb)
			return err
		}
		u.tr.Store(t)
		u.opts.Store(&o)
		u.reregisterAll()
		return nil
	}
	t, err := u.newTransport(o)
	if err != nil {
		u.web.Store(prevWeb)
		return err
	}
	u.tr.Store(t)
	u.opts.Store(&o)
	u.reregisterAll()
	u.retire(cur)
	return nil
}

// transportIdent says what the transport for o would be, without opening it.
func (u *UA) transportIdent(o options.SIP, w options.Web) (id struct{ bind, ident string }) {
	local, advertise := u.addresses(o)
	id.bind = o.Transport + " " + net.JoinHostPort(local.String(), strconv.Itoa(o.Port))
	id.ident = id.bind + " as " + advertise
	if o.Transport == "tls" {
		cert, key := o.TLSCertificate, o.TLSCertificateKey
		if cert == "" {
			cert, key = w.Certificate, w.CertificateKey
		}
		id.ident += " tls " + cert + " " + key + " " + o.TLSCA
	}
	return id
}

// takeBack returns the retiring transport that is ident, no longer retiring.
func (u *UA) takeBack(ident string) *transport {
	u.mu.Lock()
	defer u.mu.Unlock()
	for t := range u.retiring {
		if t.ident == ident {
			delete(u.retiring, t)
			return t
		}
	}
	return nil
}

// socketHolder returns the transport (running or retiring) bound to bind,
// and how many dialogs use it.
func (u *UA) socketHolder(bind string) (*transport, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var holder *transport
	if cur := u.tr.Load(); cur != nil && cur.bind == bind {
		holder = cur
	}
	for t := range u.retiring {
		if t.bind == bind {
			holder = t
		}
	}
	if holder == nil {
		return nil, 0
	}
	n := 0
	for _, d := range u.dialogs {
		if d.t == holder {
			n++
		}
	}
	return holder, n
}

// retire closes t in the background once no dialog uses it, unless it is
// taken back first.
func (u *UA) retire(t *transport) {
	u.mu.Lock()
	u.retiring[t] = true
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		u.retireTransport(t)
	}()
}

// Stop unregisters every DN, hangs up every dialog and closes the transport.
func (u *UA) Stop(ctx context.Context) error {
	u.mu.Lock()
	regs := make([]*Registration, 0, len(u.regs))
	for _, r := range u.regs {
		regs = append(regs, r)
	}
	dialogs := make([]*Dialog, 0, len(u.dialogs))
	for _, d := range u.dialogs {
		dialogs = append(dialogs, d)
	}
	u.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range dialogs {
		wg.Add(1)
		go func() { defer wg.Done(); d.Bye(ctx) }()
	}
	for _, r := range regs {
		wg.Add(1)
		go func() { defer wg.Done(); r.Unregister(ctx) }()
	}
	wg.Wait()
	if u.cancel != nil {
		u.cancel()
	}
	u.wg.Wait()
	u.stopHealth()
	if t := u.tr.Swap(nil); t != nil {
		t.close()
	}
	u.malformed.stop()
	u.unanswered.stop()
	return nil
}

// MediaAddr returns the address the SIP side should send RTP to: sip-address
// when it is an IP address, else the address the transport advertises.
func (u *UA) MediaAddr() netip.Addr {
	if a, err := netip.ParseAddr(u.opts.Load().Address); err == nil {
		return a.Unmap()
	}
	if t := u.tr.Load(); t != nil {
		if a, err := netip.ParseAddr(t.advertise); err == nil {
			return a.Unmap()
		}
	}
	return firstLocalIP()
}

// SDES reports whether SIP-side media uses SDES-SRTP (sip/srtp = sdes).
func (u *UA) SDES() bool { return u.opts.Load().SRTP == "sdes" }

// Reachable reports whether the SIP Server is available, as last reported
// to Deps.Reachability.
func (u *UA) Reachable() bool {
	u.health.mu.Lock()
	defer u.health.mu.Unlock()
	return u.health.reported
}

// serverAddr returns the SIP Server to use now (zero when none).
func (u *UA) serverAddr() options.HostPort {
	o := u.opts.Load()
	s := o.Server
	if s.IsZero() && u.deps.ServerFallback != nil {
		s = u.deps.ServerFallback()
	}
	if s.Port == 0 && !s.IsZero() {
		s.Port = 5060
		if o.Transport == "tls" {
			s.Port = 5061
		}
	}
	return s
}

// serverURI is the SIP URI of the server, with the transport parameter.
func (u *UA) serverURI(user string) (sip.Uri, error) {
	s := u.serverAddr()
	if s.IsZero() {
		return sip.Uri{}, ErrNoServer
	}
	uri := sip.Uri{Scheme: "sip", User: uriUser(user), Host: s.Host, Port: s.Port}
	if t := u.opts.Load().Transport; t != "udp" {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", t)
	}
	return uri, nil
}

// newTransport starts a sipgo user agent listening on the SIP port.
// addresses returns the address the transport for o binds and the host it
// advertises in Via and Contact.
func (u *UA) addresses(o options.SIP) (local netip.Addr, advertise string) {
	advertise = o.Address
	local = netip.IPv4Unspecified()
	if s := u.serverAddr(); !s.IsZero() {
		if a, err := netip.ParseAddr(s.Host); err == nil {
			if ip := localIPFor(a); ip.IsValid() {
				local = ip
			}
		}
	}
	if a, err := netip.ParseAddr(advertise); err == nil && a.IsValid() {
		local = a
	}
	if advertise == "" {
		advertise = local.String()
		if local.IsUnspecified() {
			advertise = firstLocalIP().String()
		}
	}
	return local, advertise
}

func (u *UA) newTransport(o options.SIP) (*transport, error) {
	local, advertise := u.addresses(o)
	id := u.transportIdent(o, *u.web.Load())
	slogger := slog.New(sipgoLog{next: logging.NewSlogHandler(u.log.Named("sipgo")), reads: &u.reads,
		malformed: u.malformed, unanswered: u.unanswered})
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("WebRTC-Gateway/" + version.Base),
		sipgo.WithUserAgentHostname(advertise),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slogger),
			sip.WithTransactionLayerUnhandledResponseHandler(u.onStrayResponse)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slogger),
			sip.WithTransportLayerReadFilter(u.reads.noteRead)),
	}
	var serverTLS *tls.Config
	if o.Transport == "tls" {
		clientTLS, st, err := tlsConfigs(o, *u.web.Load())
		if err != nil {
			return nil, err
		}
		serverTLS = st
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(clientTLS))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slogger))
	if err != nil {
		ua.Close()
		return nil, err
	}
	addr := net.JoinHostPort(local.String(), strconv.Itoa(o.Port))
	cliOpts := []sipgo.ClientOption{sipgo.WithClientLogger(slogger), sipgo.WithClientHostname(advertise), sipgo.WithClientPort(o.Port)}
	if !local.IsUnspecified() && o.Transport == "udp" {
		// Requests leave from the SIP port itself, so the SIP Server sees
		// one address for everything the gateway sends and receives.
		cliOpts = append(cliOpts, sipgo.WithClientConnectionAddr(addr))
	}
	cli, err := sipgo.NewClient(ua, cliOpts...)
	if err != nil {
		ua.Close()
		return nil, err
	}
	t := &transport{network: o.Transport, advertise: advertise, port: o.Port, bind: id.bind, ident: id.ident,
		ua: ua, srv: srv, cli: cli, done: make(chan struct{})}
	t.reqs, t.stopReqs = context.WithCancel(context.Background())
	t.dialogUA = &sipgo.DialogUA{Client: cli, ContactHDR: t.contact("")}
	u.handle(t)

	closer, serve, err := listen(o.Transport, addr, serverTLS, srv)
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip/sip-port: listen %s/%s: %w", o.Transport, addr, err)
	}
	t.cancel = func() { closer.Close() }
	go func() {
		defer close(t.done)
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
			u.log.Debug("SIP transport stopped", "address", addr, "error", err)
		}
	}()
	if rc, ok := closer.(*readyConn); ok {
		select {
		case <-rc.ready:
		case <-t.done:
		}
	}
	u.log.Info("SIP transport listening", "transport", o.Transport, "address", addr, "advertised", advertise)
	return t, nil
}

// listen binds the SIP port for network and returns how to serve and close it.
func listen(network, addr string, serverTLS *tls.Config, srv *sipgo.Server) (io.Closer, func() error, error) {
	switch network {
	case "udp":
		conn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		rc := &readyConn{PacketConn: conn, ready: make(chan struct{})}
		return rc, func() error { return srv.ServeUDP(rc) }, nil
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		return ln, func() error { return srv.ServeTCP(ln) }, nil
	case "tls":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		tln := tls.NewListener(ln, serverTLS)
		return tln, func() error { return srv.ServeTLS(tln) }, nil
	}
	return nil, nil, fmt.Errorf("unknown transport %q", network)
}

// readyConn tells when sipgo has taken the UDP socket into its connection
// pool: it does so before its first read. Requests sent before that would
// make sipgo bind a second socket on the same address.
type readyConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *readyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// contact is the Contact header for user on this transport.
func (t *transport) contact(user string) sip.ContactHeader {
	uri := sip.Uri{Scheme: "sip", User: uriUser(user), Host: t.advertise, Port: t.port}
	if t.network != "udp" {
		uri.UriParams = sip.NewParams()
		uri.UriParams.Add("transport", t.network)
	}
	return sip.ContactHeader{Address: uri}
}

// close refuses new requests, cancels those in flight and waits for them,
// then closes the listener and the sipgo layers; it returns once the
// socket is released.
func (t *transport) close() {
	t.useMu.Lock()
	t.closing = true
	t.useMu.Unlock()
	t.stopReqs()
	t.users.Wait()
	t.cancel()
	t.srv.Close()
	t.cli.Close()
	t.ua.Close()
	<-t.done
}

// transportLinger is how long a replaced SIP transport keeps listening
// before it waits for its dialogs to end.
const transportLinger = 5 * time.Second

// retireTransport closes a replaced transport once it has lingered and no
// dialog uses it, or leaves it alone when it was taken back meanwhile.
func (u *UA) retireTransport(t *transport) {
	select {
	case <-u.ctx.Done():
	case <-time.After(u.linger):
	}
	for {
		u.mu.Lock()
		retiring, inUse := u.retiring[t], false
		for _, d := range u.dialogs {
			inUse = inUse || d.t == t
		}
		if retiring && (!inUse || u.ctx.Err() != nil) {
			delete(u.retiring, t)
		}
		u.mu.Unlock()
		if !retiring {
			return // taken back
		}
		if !inUse || u.ctx.Err() != nil {
			break
		}
		select {
		case <-u.ctx.Done():
		case <-time.After(time.Second):
		}
	}
	t.close()
	u.log.Info("old SIP transport closed", "transport", t.network, "port", t.port)
}

// tlsConfigs builds the TLS client (verifying the SIP Server against
// sip/tls-ca or the system's authorities) and server (sip/tls-certificate,
// else the web certificate) configurations.
func tlsConfigs(o options.SIP, w options.Web) (client, server *tls.Config, err error) {
	client = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return nil, nil, fmt.Errorf("sip/tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("sip/tls-ca: %s has no PEM certificate", o.TLSCA)
		}
		client.RootCAs = pool
	}
	server = &tls.Config{MinVersion: tls.VersionTLS12}
	certFile, keyFile, key := o.TLSCertificate, o.TLSCertificateKey, "sip/tls-certificate"
	if certFile == "" {
		certFile, keyFile, key = w.Certificate, w.CertificateKey, "web/certificate"
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%s (for SIP over TLS): %w", key, err)
		}
		server.Certificates = []tls.Certificate{cert}
		client.Certificates = []tls.Certificate{cert}
	}
	return client, server, nil
}

// localIPFor returns the local address the system would use to reach dst.
func localIPFor(dst netip.Addr) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 5060)))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// firstLocalIP is the address advertised when nothing better is known.
func firstLocalIP() netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
				return p.Addr()
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// keepalive probes the SIP Server with OPTIONS (at start, then every
// Timing.Probe, every Timing.ProbeDown while it is unavailable) so that its
// availability is known even without registrations. It runs until Stop.
func (u *UA) keepalive() {
	defer u.wg.Done()
	for interval := time.Duration(0); ; {
		select {
		case <-u.ctx.Done():
			return
		case <-time.After(interval):
		}
		u.ping()
		interval = u.timing.Probe
		if !u.evidenceUp() {
			interval = u.timing.ProbeDown
		}
	}
}

// ping sends one OPTIONS to the SIP Server and notes what its answer says
// (noteProbe).
func (u *UA) ping() {
	t := u.tr.Load()
	uri, err := u.serverURI("")
	if t == nil || err != nil {
		return
	}
	uri.User = ""
	req := sip.NewRequest(sip.OPTIONS, uri)
	req.SetTransport(t.network)
	ctx, cancel := context.WithTimeout(u.ctx, u.timing.ProbeTimeout)
	defer cancel()
	res, err := do(ctx, t, req)
	if u.ctx.Err() != nil || errors.Is(err, errTransportClosed) {
		return
	}
	u.noteProbe(res, err)
}

// allowed is the Allow header of the gateway's answers (RFC 3261 section
// 20.5): the methods it handles.
const allowed = "INVITE, ACK, CANCEL, BYE, INFO, NOTIFY, OPTIONS"

// handle installs the request handlers of a transport.
func (u *UA) handle(t *transport) {
	on := func(method sip.RequestMethod, h sipgo.RequestHandler) { t.srv.OnRequest(method, checkRequest(h)) }
	on(sip.INVITE, func(req *sip.Request, tx sip.ServerTransaction) { u.onInvite(t, req, tx) })
	on(sip.ACK, u.onAck)
	on(sip.BYE, u.onBye)
	on(sip.INFO, u.onInfo)
	on(sip.NOTIFY, u.onNotify)
	on(sip.OPTIONS, func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		tx.Respond(res)
	})
	t.srv.OnNoRoute(checkRequest(u.onOther))
}

// onOther answers a request no handler takes: 481 to a CANCEL (sipgo
// handles those that match an INVITE transaction; RFC 3261 section 9.2),
// 405 with Allow to other methods (section 8.2.1). Quietly: sipgo's own
// default logs a warning per request.
func (u *UA) onOther(req *sip.Request, tx sip.ServerTransaction) {
	u.log.Debug("SIP request not handled", "method", excerpt(string(req.Method), excerptBytes), "from", req.Source())
	if req.IsCancel() {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	tx.Respond(res)
}

// onStrayResponse takes a response that matches no client transaction: a
// retransmission after the transaction ended (RFC 3261 section 17.1.1.2),
// or junk. sipgo's default logs each at info.
func (u *UA) onStrayResponse(res *sip.Response) {
	u.log.Debug("SIP response matches no transaction", "response", excerpt(res.StartLine(), excerptBytes), "from", res.Source())
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		_ = err // the transaction is gone; nothing to do
	}
}

// dialogKey identifies a dialog by its Call-ID and the gateway's own tag
// (RFC 3261 section 12: a dialog is Call-ID, local and remote tag; the local
// tag tells apart the two dialogs of a call that leaves the gateway and comes
// back to it through the SIP Server).
func dialogKey(callID string, localParams sip.HeaderParams) string {
	tag, _ := localParams.Get("tag")
	return callID + "|" + tag
}

// dialog returns the dialog of an incoming in-dialog request: ours is the
// To tag.
func (u *UA) dialog(req *sip.Request) *Dialog {
	cid, to := req.CallID(), req.To()
	if cid == nil || to == nil {
		return nil
	}
	key := dialogKey(cid.Value(), to.Params)
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.dialogs[key]
}

func (u *UA) addDialog(d *Dialog) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.dialogs[d.key] = d
}

func (u *UA) removeDialog(d *Dialog) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dialogs[d.key] == d {
		delete(u.dialogs, d.key)
	}
}

// Dialogs returns the number of dialogs.
func (u *UA) Dialogs() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.dialogs)
}
