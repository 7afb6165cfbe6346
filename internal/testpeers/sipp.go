package testpeers

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"webrtcgw/internal/childproc"
)

// scenarioFS holds the sipp scenarios of the package.
//
//go:embed scenarios/*.xml
var scenarioFS embed.FS

// Names of the embedded sipp scenarios. The XML comment at the top of each
// file describes its message flow and its keys.
const (
	// ScenarioUASCall answers a call, then requires a hold re-INVITE
	// (sendonly or inactive), a resume re-INVITE (sendrecv), any INFOs
	// and a BYE, failing on a wrong direction. Key: rtp_port.
	ScenarioUASCall = "uas_call.xml"
	// ScenarioUASAnswer answers a call and answers re-INVITEs (mirrored
	// direction) and INFOs until the BYE. Key: rtp_port.
	ScenarioUASAnswer = "uas_answer.xml"
	// ScenarioUASAnswerBye answers a call and sends a BYE after hold_ms.
	// Keys: rtp_port, hold_ms.
	ScenarioUASAnswerBye = "uas_answer_bye.xml"
	// ScenarioUASBusy rejects a call with 486 Busy Here.
	ScenarioUASBusy = "uas_busy.xml"
	// ScenarioUASRing rings (180) until the call is cancelled, then
	// answers 200 to the CANCEL and 487 to the INVITE.
	ScenarioUASRing = "uas_ring.xml"
	// ScenarioUACCall calls [service], waits hold_ms and sends BYE.
	// Keys: rtp_port, hold_ms, from_user.
	ScenarioUACCall = "uac_call.xml"
	// ScenarioUACCallRemoteBye calls [service] and waits for the far
	// side's BYE, answering re-INVITEs and INFOs. Keys: rtp_port,
	// from_user.
	ScenarioUACCallRemoteBye = "uac_call_remote_bye.xml"
	// ScenarioUACCancel calls [service] and cancels it after ringing for
	// hold_ms. Keys: rtp_port, hold_ms, from_user.
	ScenarioUACCancel = "uac_cancel.xml"
	// ScenarioUACHoldResume calls [service], holds (a=hold_dir), resumes,
	// sends an INFO and hangs up; the partner of ScenarioUASCall. Keys:
	// rtp_port, hold_ms, hold_dir, from_user.
	ScenarioUACHoldResume = "uac_hold_resume.xml"
)

// Scenario keys (sipp -key) of the embedded scenarios. sipp reserves the
// keyword [media_port] for its own media socket, so the port of the Go RTP
// peer is the key rtp_port.
const (
	KeyRTPPort  = "rtp_port"  // media port in the SDP (required)
	KeyRTPIP    = "rtp_ip"    // media address in the SDP; default 127.0.0.1
	KeyHoldMs   = "hold_ms"   // milliseconds between steps; default 3000
	KeyHoldDir  = "hold_dir"  // direction of the hold offer; default sendonly
	KeyFromUser = "from_user" // user part of the UAC's From; default sipp
)

// scenarioKeys gives, per embedded scenario, the keys it needs: a key with
// an empty default is required.
var scenarioKeys = map[string]map[string]string{
	ScenarioUASCall:          {KeyRTPPort: "", KeyRTPIP: "127.0.0.1"},
	ScenarioUASAnswer:        {KeyRTPPort: "", KeyRTPIP: "127.0.0.1"},
	ScenarioUASAnswerBye:     {KeyRTPPort: "", KeyRTPIP: "127.0.0.1", KeyHoldMs: "3000"},
	ScenarioUASBusy:          {},
	ScenarioUASRing:          {},
	ScenarioUACCall:          {KeyRTPPort: "", KeyRTPIP: "127.0.0.1", KeyHoldMs: "3000", KeyFromUser: "sipp"},
	ScenarioUACCallRemoteBye: {KeyRTPPort: "", KeyRTPIP: "127.0.0.1", KeyFromUser: "sipp"},
	ScenarioUACCancel:        {KeyRTPPort: "", KeyRTPIP: "127.0.0.1", KeyHoldMs: "3000", KeyFromUser: "sipp"},
	ScenarioUACHoldResume:    {KeyRTPPort: "", KeyRTPIP: "127.0.0.1", KeyHoldMs: "3000", KeyHoldDir: "sendonly", KeyFromUser: "sipp"},
}

// ScenarioNames returns the names of the embedded sipp scenarios, sorted.
func ScenarioNames() []string {
	entries, _ := fs.ReadDir(scenarioFS, "scenarios")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// Scenario returns the XML of the embedded scenario name.
func Scenario(name string) ([]byte, error) {
	return scenarioFS.ReadFile(path.Join("scenarios", name))
}

// SippConfig describes one sipp run.
type SippConfig struct {
	// Scenario is the name of an embedded scenario (such as
	// ScenarioUASCall) or the path of a scenario file.
	Scenario string

	// Remote is the host:port that a UAC sends its first request to
	// (usually Kamailio's Addr); empty for a UAS.
	Remote string

	// Service is the user part of the Request-URI a UAC calls (-s).
	Service string

	// Port is the local SIP port (-p); 0 picks a free one.
	Port int

	// Transport is sipp's -t value; empty means "u1" (UDP, one socket).
	// "t1" is TCP.
	Transport string

	// Calls is the number of calls before sipp exits (-m); 0 means 1.
	Calls int

	// MediaPort, when not 0, sets the key rtp_port: the port of the RTP
	// peer put in the SDP.
	MediaPort int

	// Keys are scenario keys (-key NAME VALUE); they override the
	// defaults of the embedded scenario and MediaPort.
	Keys map[string]string

	// Args are appended to sipp's command line.
	Args []string
}

// Sipp is a running sipp started by [StartSipp].
type Sipp struct {
	name     string
	port     int
	proc     *childproc.Process
	outPath  string
	msgPath  string
	errPath  string
	logsPath string
}

// sippReadyTimeout bounds the wait for sipp to bind its SIP port.
const sippReadyTimeout = 10 * time.Second

// StartSipp runs /usr/bin/sipp for cfg with -i 127.0.0.1 (sipp would pick
// eth0's address otherwise), -nostdin, message and error traces under
// t.TempDir(), and its own media and control sockets on free loopback ports.
// It returns once sipp has bound its SIP port. The traces are printed when t
// fails; t.Cleanup kills sipp if it still runs. Use Wait for the verdict.
func StartSipp(t testing.TB, cfg SippConfig) *Sipp {
	t.Helper()
	Require(t, BinSipp)
	bin, _ := LookBinary(BinSipp)
	dir := t.TempDir()

	scenario, name, err := prepareScenario(dir, cfg.Scenario)
	if err != nil {
		t.Fatalf("StartSipp: %v", err)
	}
	keys := map[string]string{}
	for k, v := range scenarioKeys[cfg.Scenario] {
		if v != "" {
			keys[k] = v
		}
	}
	if cfg.MediaPort != 0 {
		keys[KeyRTPPort] = strconv.Itoa(cfg.MediaPort)
	}
	for k, v := range cfg.Keys {
		keys[k] = v
	}
	if specs, ok := scenarioKeys[cfg.Scenario]; ok {
		for k := range specs {
			if _, ok := keys[k]; !ok {
				t.Fatalf("StartSipp: scenario %s needs the key %s (SippConfig.Keys or MediaPort)", cfg.Scenario, k)
			}
		}
	}

	s := &Sipp{
		name:     name,
		port:     cfg.Port,
		outPath:  filepath.Join(dir, name+".out"),
		msgPath:  filepath.Join(dir, name+"_messages.log"),
		errPath:  filepath.Join(dir, name+"_errors.log"),
		logsPath: filepath.Join(dir, name+"_logs.log"),
	}
	if s.port == 0 {
		s.port = FreePort(t, NetSIP)
	}
	mediaPort, err := freeUDPRange(4)
	if err != nil {
		t.Fatalf("StartSipp: media port: %v", err)
	}
	transport := cfg.Transport
	if transport == "" {
		transport = "u1"
	}
	calls := cfg.Calls
	if calls == 0 {
		calls = 1
	}

	var args []string
	if cfg.Remote != "" {
		args = append(args, cfg.Remote)
	}
	args = append(args,
		"-sf", scenario,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(s.port),
		"-t", transport,
		"-m", strconv.Itoa(calls),
		"-nostdin",
		"-mi", "127.0.0.1",
		"-mp", strconv.Itoa(mediaPort),
		"-cp", strconv.Itoa(FreePort(t, NetUDP)),
		"-trace_msg", "-message_file", s.msgPath,
		"-trace_err", "-error_file", s.errPath,
		"-trace_logs", "-log_file", s.logsPath,
	)
	if cfg.Service != "" {
		args = append(args, "-s", cfg.Service)
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		args = append(args, "-key", k, keys[k])
	}
	args = append(args, cfg.Args...)

	out := openLog(t, s.outPath)
	fmt.Fprintf(out, "$ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	s.proc, err = childproc.Start("sipp", cmd)
	if err != nil {
		t.Fatalf("StartSipp: %v", err)
	}
	printOnFailure(t, "sipp "+name, s.outPath, s.msgPath, s.errPath, s.logsPath)
	t.Cleanup(s.Kill)

	network := "udp"
	if strings.HasPrefix(transport, "t") {
		network = "tcp"
	}
	deadline := time.Now().Add(sippReadyTimeout)
	for !portBound(network, s.port) {
		if s.proc.Exited() {
			t.Fatalf("StartSipp %s: %v", name, s.exitError())
		}
		if time.Now().After(deadline) {
			t.Fatalf("StartSipp %s: SIP port %d not bound after %v", name, s.port, sippReadyTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// prepareScenario returns the path of the scenario file for sipp (writing an
// embedded scenario into dir) and a short name for the trace files.
func prepareScenario(dir, scenario string) (file, name string, err error) {
	if scenario == "" {
		return "", "", errors.New("no scenario")
	}
	name = strings.TrimSuffix(filepath.Base(scenario), ".xml")
	if b, err := Scenario(scenario); err == nil {
		file = filepath.Join(dir, filepath.Base(scenario))
		return file, name, os.WriteFile(file, b, 0o644)
	}
	if _, err := os.Stat(scenario); err != nil {
		return "", "", fmt.Errorf("scenario %s is neither embedded (%s) nor a file: %w", scenario, strings.Join(ScenarioNames(), ", "), err)
	}
	abs, err := filepath.Abs(scenario)
	return abs, name, err
}

// Port returns sipp's local SIP port.
func (s *Sipp) Port() int { return s.port }

// Addr returns sipp's SIP address, "127.0.0.1:PORT".
func (s *Sipp) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URI returns a SIP URI for sipp's address, "sip:127.0.0.1:PORT".
func (s *Sipp) URI() string { return "sip:" + s.Addr() }

// Wait waits for sipp to exit and returns nil when it exited with 0 (every
// call passed its scenario), or an error that explains sipp's exit code and
// quotes its error trace. When ctx ends first, Wait kills sipp and says so.
func (s *Sipp) Wait(ctx context.Context) error {
	select {
	case <-s.proc.Done():
		return s.exitError()
	case <-ctx.Done():
		s.Kill()
		return fmt.Errorf("sipp %s: killed, still running when the wait ended: %w%s", s.name, ctx.Err(), s.errTrace())
	}
}

// Exited reports whether sipp has exited.
func (s *Sipp) Exited() bool { return s.proc.Exited() }

// Kill kills sipp if it still runs and waits for it. It is safe to call more
// than once; t.Cleanup calls it.
func (s *Sipp) Kill() {
	if !s.proc.Exited() {
		s.proc.Kill()
	}
}

// Messages returns sipp's message trace (-trace_msg) so far.
func (s *Sipp) Messages() string { return readTail(s.msgPath, maxLogPrint) }

// exitError turns the exit status of an exited sipp into nil or an error.
func (s *Sipp) exitError() error {
	code := s.proc.ExitCode()
	if code == 0 {
		return nil
	}
	return fmt.Errorf("sipp %s: %s%s", s.name, SippExitReason(code), s.errTrace())
}

// errTrace returns the end of sipp's error trace, for an error message.
func (s *Sipp) errTrace() string {
	const max = 4 << 10
	text := strings.TrimSpace(readTail(s.errPath, max))
	if text == "(no file)" || text == "(empty)" {
		text = strings.TrimSpace(readTail(s.outPath, max))
	}
	return "\n" + text
}

// SippExitReason explains an exit code of sipp (see "Exit codes" in sipp -h).
func SippExitReason(code int) string {
	switch code {
	case 0:
		return "exit 0: all calls were successful"
	case 1:
		return "exit 1: at least one call failed (unexpected message, failed regexp check, timeout or retransmission limit)"
	case 97:
		return "exit 97: exit on internal command (calls may have been processed)"
	case 99:
		return "exit 99: normal exit without calls processed"
	case 255:
		return "exit 255 (-1): fatal error (bad scenario or arguments)"
	case 254:
		return "exit 254 (-2): fatal error binding a socket"
	case -1:
		return "killed by a signal"
	default:
		return fmt.Sprintf("exit %d", code)
	}
}

// portBound reports whether a socket of this network namespace has
// 127.0.0.1:port (or the wildcard address) bound: UDP at all, TCP listening.
// It reads /proc/net/{udp,tcp} instead of binding the port, which could
// steal it from the peer.
func portBound(network string, port int) bool {
	f, err := os.Open("/proc/net/" + network)
	if err != nil {
		return false
	}
	defer f.Close()
	want := []string{
		fmt.Sprintf("0100007F:%04X", port),
		fmt.Sprintf("00000000:%04X", port),
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !slices.Contains(want, fields[1]) {
			continue
		}
		if network == "udp" || fields[3] == "0A" { // 0A: TCP_LISTEN
			return true
		}
	}
	return false
}
