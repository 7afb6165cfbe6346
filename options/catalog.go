package options

// Section names, in the order they appear in documents.
const (
	SectionWeb      = "web"
	SectionSIP      = "sip"
	SectionMedia    = "media"
	SectionSecurity = "security"
	SectionLog      = "log"
	SectionSML      = "sml" // annex: Local Control Agent behaviour
)

// Sections lists every section in document order.
var SectionNames = []string{SectionWeb, SectionSIP, SectionMedia, SectionSecurity, SectionLog, SectionSML}

// SectionDocs describes each section for the generated documents.
var SectionDocs = map[string]string{
	SectionWeb:      "HTTP(S) signalling towards browsers: listeners, TLS, CORS, sessions.",
	SectionSIP:      "The SIP user agent towards the SIP Server: transport, registration, calls.",
	SectionMedia:    "Media relay between browsers (ICE, DTLS-SRTP) and the SIP side (RTP).",
	SectionSecurity: "Failed-login bans, applied in-process (the shipped fail2ban filter reads the same log lines).",
	SectionLog:      "Logging: level, outputs and file rotation.",
	SectionSML:      "Annex options read by the Local Control Agent (LCA) that supervises the gateway.",
}

// Audio codec and SRTP profile names accepted by media/codecs and media/srtp-profiles.
var (
	CodecNames       = []string{"PCMU", "PCMA", "G722", "opus", "telephone-event"}
	SRTPProfileNames = []string{"AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES128_CM_HMAC_SHA1_80", "AES128_CM_HMAC_SHA1_32"}
)

// catalog is the option table. Order matters: it is the order of every
// generated document and of the sample configuration.
var catalog = []Def{
	// [web]
	{Section: SectionWeb, Name: "https-port", Type: TypePort, Default: "8443", Min: 1, Max: 65535, Off: true, Effect: Listener, Owner: OwnerWeb,
		Doc: "TCP port of the HTTPS signalling listener that browsers connect to. 0 turns HTTPS off (then http-port must be set, behind a TLS-terminating proxy)."},
	{Section: SectionWeb, Name: "http-port", Type: TypePort, Default: "0", Min: 1, Max: 65535, Off: true, Effect: Listener, Owner: OwnerWeb,
		Doc: "TCP port of a plain HTTP signalling listener, for use behind a TLS-terminating proxy or load balancer only. 0 turns it off."},
	{Section: SectionWeb, Name: "listen-address", Type: TypeAddress, Default: "", Effect: Listener, Owner: OwnerWeb,
		Doc: "IP address the signalling listeners bind to. Empty binds every address."},
	{Section: SectionWeb, Name: "certificate", Type: TypePath, Default: "", Effect: Immediate, Owner: OwnerWeb,
		Doc: "PEM file with the HTTPS certificate chain. Empty uses a self-signed certificate generated once and kept in the data directory (a warning is logged). A certificate that cannot be read, does not match its key or has expired is refused and the previous one kept."},
	{Section: SectionWeb, Name: "certificate-key", Type: TypePath, Default: "", Effect: Immediate, Owner: OwnerWeb,
		Doc: "PEM file with the private key of certificate. Set both or neither."},
	{Section: SectionWeb, Name: "tls-min-version", Type: TypeEnum, Default: "1.2", Enum: []string{"1.2", "1.3"}, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Oldest TLS version accepted by the HTTPS listener. New handshakes use the new value."},
	{Section: SectionWeb, Name: "domain-whitelist", Type: TypeOriginList, Default: "", Effect: Immediate, Owner: OwnerWeb,
		Doc: "Origins of the web pages allowed to use the gateway (CORS). An entry is an origin such as https://app.example.com or https://app.example.com:8443 (exact scheme, host and port), a bare host such as app.example.com (any scheme and port), or *.example.com (any subdomain, not example.com itself). Empty allows every origin and logs a warning: set it in production."},
	{Section: SectionWeb, Name: "trusted-proxies", Type: TypeCIDRList, Default: "", Effect: Immediate, Owner: OwnerWeb,
		Doc: "Addresses of proxies and load balancers whose X-Forwarded-For header is believed. The client address is the rightmost address in X-Forwarded-For that is not itself a trusted proxy. Empty ignores X-Forwarded-For."},
	{Section: SectionWeb, Name: "polling-timeout", Type: TypeSeconds, Default: "25", Min: 1, Max: 300, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Seconds a long-polling request (/wait) is held when there is nothing to deliver. Keep it below the browser library's own polling_timeout (30 seconds by default), or the browser aborts the request first."},
	{Section: SectionWeb, Name: "session-timeout", Type: TypeSeconds, Default: "60", Min: 5, Max: 3600, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Seconds a browser session lives without polling. An expired session is signed out: its DN is unregistered and its calls are released. Must be longer than polling-timeout."},
	{Section: SectionWeb, Name: "max-sessions", Type: TypeInt, Default: "10000", Min: 1, Max: 1000000, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Largest number of browser sessions at once. Sign-ins beyond it are refused with 503."},
	{Section: SectionWeb, Name: "allow-anonymous", Type: TypeBool, Default: "true", Effect: Immediate, Owner: OwnerWeb,
		Doc: "Admit anonymous sessions (GET /sign_in?anon…: a web page's connect(), for customers who call without a DN of their own). On by default because Genesys web applications use it; anyone who can reach the gateway can then open sessions and place calls as anonymous, so keep domain-whitelist set and the per-client limits below, or turn it off when only agents with DNs use the gateway. Off: anonymous sign-ins are refused with 403."},
	{Section: SectionWeb, Name: "anonymous-session-timeout", Type: TypeSeconds, Default: "20", Min: 5, Max: 3600, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Seconds an anonymous session lives without polling: shorter than session-timeout, so that sessions a flood of anonymous sign-ins left behind are reclaimed quickly. A browser that polls keeps its session whatever its age."},
	{Section: SectionWeb, Name: "max-anonymous-sessions", Type: TypeInt, Default: "5000", Min: 1, Max: 1000000, Off: true, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Largest number of anonymous sessions at once, within max-sessions: the rest of max-sessions stays for agents who register their DN, even while anonymous sign-ins pour in from many addresses. 0 lets anonymous sessions take all of max-sessions. Refused sign-ins get 503."},
	{Section: SectionWeb, Name: "max-sessions-per-client", Type: TypeInt, Default: "1000", Min: 1, Max: 1000000, Off: true, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Largest number of sessions from one client address (an IPv6 client counts by its /64; behind trusted-proxies, the forwarded client address). Agents of a contact centre behind one NAT share an address: allow for all of them. Refused sign-ins get 429. 0 turns the limit off."},
	{Section: SectionWeb, Name: "max-anonymous-per-client", Type: TypeInt, Default: "20", Min: 1, Max: 1000000, Off: true, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Largest number of anonymous sessions from one client address (an IPv6 client counts by its /64). Refused sign-ins get 429. 0 turns the limit off."},
	{Section: SectionWeb, Name: "sign-in-rate", Type: TypeInt, Default: "10", Min: 1, Max: 100000, Off: true, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Sign-ins per second allowed from one client address, on average (a token bucket of sign-in-burst). Faster sign-ins get 429 with Retry-After. 0 turns the limit off."},
	{Section: SectionWeb, Name: "sign-in-burst", Type: TypeInt, Default: "50", Min: 1, Max: 100000, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Sign-ins one client address may make at once before sign-in-rate applies: allow for the agents behind one NAT who sign in together at the start of a shift."},
	{Section: SectionWeb, Name: "max-request-size", Type: TypeSize, Default: "64KB", Min: 4 << 10, Max: 1 << 20, Effect: Immediate, Owner: OwnerWeb,
		Doc: "Largest signalling request body accepted. Larger requests are refused with 413 before they are parsed. An offer from a browser is a few kilobytes."},
	{Section: SectionWeb, Name: "demo-page", Type: TypeBool, Default: "true", Effect: Immediate, Owner: OwnerWeb,
		Doc: "Serve the demo softphone page at /. Turn it off in production if the gateway should only answer signalling requests."},

	// [sip]
	{Section: SectionSIP, Name: "sip-server", Type: TypeHostPort, Default: "", Effect: NewCalls, Owner: OwnerSIP,
		Doc: "SIP Server as host or host:port (default port 5060, 5061 for TLS). Empty uses the SIP Server application this gateway has a connection to in the Configuration Server. Registrations move to a new server at once; calls already up stay where they are."},
	{Section: SectionSIP, Name: "sip-port", Type: TypePort, Default: "5060", Min: 1, Max: 65535, Effect: Transport, Owner: OwnerSIP,
		Doc: "Local port of the SIP transport; incoming requests from the SIP Server arrive here."},
	{Section: SectionSIP, Name: "sip-transport", Type: TypeEnum, Default: "udp", Enum: []string{"udp", "tcp", "tls"}, Effect: Transport, Owner: OwnerSIP,
		Doc: "SIP transport towards the SIP Server. tls needs a certificate (tls-certificate, or the web certificate)."},
	{Section: SectionSIP, Name: "sip-address", Type: TypeHost, Default: "", Effect: Transport, Owner: OwnerSIP,
		Doc: "Address advertised in Via and Contact headers. Empty picks the local address used to reach the SIP Server."},
	{Section: SectionSIP, Name: "register-expires", Type: TypeSeconds, Default: "600", Min: 60, Max: 86400, Effect: Immediate, Owner: OwnerSIP,
		Doc: "Expiry requested in REGISTER for browser DNs; registrations are refreshed before they expire. A change applies at each DN's next refresh."},
	{Section: SectionSIP, Name: "invite-timeout", Type: TypeSeconds, Default: "60", Min: 5, Max: 3600, Effect: NewCalls, Owner: OwnerSIP,
		Doc: "Seconds an outgoing call may ring unanswered before it is cancelled."},
	{Section: SectionSIP, Name: "srtp", Type: TypeEnum, Default: "off", Enum: []string{"off", "sdes"}, Effect: NewCalls, Owner: OwnerSIP,
		Doc: "Media encryption on the SIP side: off (plain RTP) or sdes (SRTP keyed in SDP, RFC 4568; use it only with sip-transport=tls, or the keys travel in clear)."},
	{Section: SectionSIP, Name: "tls-certificate", Type: TypePath, Default: "", Effect: Transport, Owner: OwnerSIP,
		Doc: "PEM certificate chain of the SIP TLS transport. Empty uses the web certificate."},
	{Section: SectionSIP, Name: "tls-certificate-key", Type: TypePath, Default: "", Effect: Transport, Owner: OwnerSIP,
		Doc: "PEM private key of tls-certificate. Set both or neither."},
	{Section: SectionSIP, Name: "tls-ca", Type: TypePath, Default: "", Effect: Transport, Owner: OwnerSIP,
		Doc: "PEM file of the certificate authorities trusted to sign the SIP Server's certificate. Empty trusts the system's authorities."},

	// [media]
	{Section: SectionMedia, Name: "rtp-port-min", Type: TypePort, Default: "20000", Min: 1024, Max: 65535, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Lowest UDP port of the SIP-side RTP range. Each call takes two ports (RTP and RTCP)."},
	{Section: SectionMedia, Name: "rtp-port-max", Type: TypePort, Default: "29999", Min: 1024, Max: 65535, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Highest UDP port of the SIP-side RTP range."},
	{Section: SectionMedia, Name: "webrtc-port-min", Type: TypePort, Default: "30000", Min: 1024, Max: 65535, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Lowest UDP port of the browser-side range (ICE, DTLS-SRTP). Each call takes one port. Must not overlap the RTP range."},
	{Section: SectionMedia, Name: "webrtc-port-max", Type: TypePort, Default: "39999", Min: 1024, Max: 65535, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Highest UDP port of the browser-side range."},
	{Section: SectionMedia, Name: "webrtc-mux-port", Type: TypePort, Default: "0", Min: 1024, Max: 65535, Off: true, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "One UDP port shared by every browser call (ICE UDP mux), instead of a port per call from the WebRTC range: one firewall rule instead of a range. 0 uses the range."},
	{Section: SectionMedia, Name: "public-address", Type: TypeAddress, Default: "", Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Public IP address announced in the gateway's ICE candidates when it sits behind a 1:1 NAT or in a DMZ. Empty announces the local addresses."},
	{Section: SectionMedia, Name: "ice-servers", Type: TypeURLList, Default: "", Effect: NewCalls, Owner: OwnerMedia,
		Doc: "STUN and TURN servers used for the gateway's own candidate gathering, such as stun:stun.example.com:3478, turn:turn.example.com?transport=tcp. Empty gathers host candidates only."},
	{Section: SectionMedia, Name: "turn-username", Type: TypeString, Default: "", Effect: NewCalls, Owner: OwnerMedia,
		Doc: "User name for the TURN servers in ice-servers."},
	{Section: SectionMedia, Name: "turn-password", Type: TypeSecret, Default: "", Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Password for the TURN servers in ice-servers. Never shown back."},
	{Section: SectionMedia, Name: "dtls-role", Type: TypeEnum, Default: "auto", Enum: []string{"auto", "client", "server"}, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "DTLS role of the gateway when it answers a browser's offer (outgoing calls): auto and client answer active (the gateway starts the handshake, RFC 5763 section 5), server answers passive. When the gateway makes the offer (incoming calls) it offers actpass and the browser chooses."},
	{Section: SectionMedia, Name: "srtp-profiles", Type: TypeList, Default: "AEAD_AES_128_GCM,AES128_CM_HMAC_SHA1_80", Min: 1, Enum: SRTPProfileNames, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "SRTP protection profiles offered to browsers in DTLS, most preferred first."},
	{Section: SectionMedia, Name: "codecs", Type: TypeList, Default: "PCMU,PCMA,telephone-event", Min: 1, Enum: CodecNames, Effect: NewCalls, Owner: OwnerMedia,
		Doc: "Codecs offered and accepted, most preferred first. Media is relayed without transcoding, so both sides must share one. telephone-event carries DTMF (RFC 4733)."},
	{Section: SectionMedia, Name: "rtp-timeout", Type: TypeSeconds, Default: "60", Min: 5, Max: 3600, Off: true, Effect: Immediate, Owner: OwnerMedia,
		Doc: "Seconds without media from one side of a call (the browser or the SIP side) before the call is hung up: how a peer that vanished shows. Calls on hold are exempt. 0 never hangs up for silence."},
	{Section: SectionMedia, Name: "max-calls", Type: TypeInt, Default: "2000", Min: 1, Max: 100000, Effect: Immediate, Owner: OwnerMedia,
		Doc: "Largest number of calls at once. Calls beyond it are refused (486 Busy Here towards SIP, an error towards the browser)."},

	// [security]
	{Section: SectionSecurity, Name: "ban-max-failures", Type: TypeInt, Default: "3", Min: 1, Max: 1000, Off: true, Effect: Immediate, Owner: OwnerBan,
		Doc: "Failed logins from one client address within ban-find-time before that address is banned. 0 turns in-process bans off (the fail2ban jail may still ban)."},
	{Section: SectionSecurity, Name: "ban-find-time", Type: TypeSeconds, Default: "600", Min: 1, Max: 86400, Effect: Immediate, Owner: OwnerBan,
		Doc: "Window, in seconds, in which failed logins are counted."},
	{Section: SectionSecurity, Name: "ban-time", Type: TypeSeconds, Default: "600", Min: 1, Max: 604800, Effect: Immediate, Owner: OwnerBan,
		Doc: "Seconds a banned address is refused, even with valid credentials."},
	{Section: SectionSecurity, Name: "ban-exempt", Type: TypeCIDRList, Default: "", Effect: Immediate, Owner: OwnerBan,
		Doc: "Addresses never banned, such as load balancers and monitoring probes."},

	// [log]
	{Section: SectionLog, Name: "verbose", Type: TypeEnum, Default: "standard", Enum: []string{"all", "debug", "trace", "interaction", "standard", "alarm", "none"}, Effect: Immediate, Owner: OwnerLog,
		Doc: "Log level: all and debug log everything; trace adds protocol detail; interaction adds one line per session and call event; standard logs start-up, configuration changes, warnings and errors; alarm logs warnings and errors only; none logs nothing."},
	{Section: SectionLog, Name: "all", Type: TypeOutputList, Default: "stdout", Min: 1, Effect: Immediate, Owner: OwnerLog,
		Doc: "Where log lines go: stdout, stderr, a file path, or several of them separated by commas. A file's directory must exist."},
	{Section: SectionLog, Name: "segment", Type: TypeSize, Default: "100MB", Min: 64 << 10, Max: 16 << 30, Off: true, Effect: Immediate, Owner: OwnerLog,
		Doc: "Size at which a log file is rotated: it is renamed with a UTC timestamp and a new file started. 0 or false never rotates."},
	{Section: SectionLog, Name: "expire", Type: TypeInt, Default: "10", Min: 1, Max: 10000, Off: true, Effect: Immediate, Owner: OwnerLog,
		Doc: "Number of rotated log files kept besides the current one; older ones are deleted. 0 or false keeps them all."},

	// [sml] annex
	{Section: SectionSML, Name: "heartbeat-period", Type: TypeSeconds, Default: "0", Min: 1, Max: 3600, Off: true, Effect: Immediate, Owner: OwnerLCA,
		Doc: "Seconds between heartbeats from the gateway to its Local Control Agent. A gateway silent for longer is considered hung. 0 turns heartbeats off."},
	{Section: SectionSML, Name: "hangup-restart", Type: TypeBool, Default: "true", Effect: Immediate, Owner: OwnerLCA,
		Doc: "Restart the gateway when it is found hung (no heartbeat within heartbeat-period). false only reports it."},
	{Section: SectionSML, Name: "autostart", Type: TypeBool, Default: "false", Effect: Immediate, Owner: OwnerLCA,
		Doc: "Start the gateway when its Local Control Agent starts."},
	{Section: SectionSML, Name: "suspending-wait-timeout", Type: TypeSeconds, Default: "10", Min: 1, Max: 86400, Effect: Immediate, Owner: OwnerLCA,
		Doc: "Seconds a graceful stop waits for the gateway to finish its calls and report Suspended before it is stopped."},
}

// Catalog returns every option definition in document order. The slice is a
// copy; the definitions it points to must not be modified.
func Catalog() []*Def {
	out := make([]*Def, len(catalog))
	for i := range catalog {
		out[i] = &catalog[i]
	}
	return out
}

var byKey = func() map[string]*Def {
	m := make(map[string]*Def, len(catalog))
	for i := range catalog {
		m[catalog[i].Key()] = &catalog[i]
	}
	return m
}()

// Lookup returns the definition of section/name, or nil.
func Lookup(section, name string) *Def { return byKey[section+"/"+name] }
