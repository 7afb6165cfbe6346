package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"webrtcgw/internal/testpeers"
	"webrtcgw/lca/agent"
	"webrtcgw/lca/wire"
)

// runInstalled runs the binaries installed under root: -V, the gateway's
// -check on the shipped ini (as is, with the unit's arguments and with the
// arguments of the shipped lca.ini), and the LCA on the shipped lca.ini.
func runInstalled(t *testing.T, root string, v pkgVersion, withLCA bool) {
	t.Helper()
	bin := func(name string) string { return filepath.Join(root, "usr/bin", name) }
	for _, args := range [][]string{
		{bin("webrtc-gateway"), "-V"},
		{bin("confserv"), "-V"},
		{bin("lca"), "-V"},
		{bin("gwctl"), "version"}, // gwctl has no -V
	} {
		out := runOut(t, args[0], args[1:]...)
		if want := filepath.Base(args[0]) + " " + v.Binary; !strings.HasPrefix(out, want) {
			t.Errorf("%s %s = %q, want %q...", filepath.Base(args[0]), args[1], out, want)
		}
	}
	ini := filepath.Join(root, "etc/webrtc-gateway/webrtc-gateway.ini")
	if out := runOut(t, bin("webrtc-gateway"), "-check", "-config", ini); !strings.Contains(out, ": valid") {
		t.Errorf("webrtc-gateway -check -config %s:\n%s", ini, out)
	}
	state := t.TempDir()
	rebase := rebaser(root, state)

	// The arguments the unit starts the gateway with.
	execStart := unitSetting(t, readFile(t, filepath.Join(root, "usr/lib/systemd/system/webrtc-gateway.service")), "ExecStart")
	args := rebase(strings.Fields(execStart[0]))
	runOut(t, args[0], append(args[1:], "-check")...)

	// lca.ini parses, and the gateway accepts its arguments.
	defs, err := agent.LoadINI(filepath.Join(root, "etc/webrtc-gateway/lca.ini"))
	if err != nil {
		t.Fatalf("the shipped lca.ini: %v", err)
	}
	if len(defs.Apps) != 1 {
		t.Fatalf("the shipped lca.ini has %d applications, want 1", len(defs.Apps))
	}
	app := defs.Apps[0]
	joined := " " + strings.Join(app.Args, " ") + " "
	for _, want := range []string{" -app " + app.Name + " ", " -lca-port " + strconv.Itoa(wire.DefaultPort) + " ",
		" -config /etc/webrtc-gateway/webrtc-gateway.ini ", " -data /var/lib/webrtc-gateway "} {
		if !strings.Contains(joined, want) {
			t.Errorf("lca.ini [app %s] arguments %q lack %q", app.Name, joined, want)
		}
	}
	if app.CommandLine != "/usr/bin/webrtc-gateway" || app.WorkingDir != "/var/lib/webrtc-gateway" || !app.AutoRestart || !app.SML.Autostart {
		t.Errorf("lca.ini [app %s] = %+v, want the installed gateway, in its state directory, autostart and auto-restart", app.Name, app)
	}
	args = rebase(append([]string{app.CommandLine}, app.Args...))
	runOut(t, args[0], append(args[1:], "-check")...)

	if !withLCA {
		return
	}
	t.Run("LCA runs the gateway", func(t *testing.T) {
		requireRoot(t)
		requireTools(t, "unshare", "ip")
		runLCA(t, root, state, rebase)
	})
}

// rebaser returns a function that moves the installed paths of args into
// the scratch root, and /var (state, logs) into state: nothing a test runs
// may write to the host's directories.
func rebaser(root, state string) func([]string) []string {
	return func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			switch {
			case strings.HasPrefix(a, "/var/"):
				a = filepath.Join(state, a)
			case strings.HasPrefix(a, "/usr/") || strings.HasPrefix(a, "/etc/"):
				a = filepath.Join(root, a)
			}
			out[i] = a
		}
		return out
	}
}

// unitSetting returns the values of key in a unit file's text.
func unitSetting(t *testing.T, unit, key string) []string {
	t.Helper()
	var vals []string
	for line := range strings.Lines(unit) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		t.Fatalf("no %s= in the unit", key)
	}
	return vals
}

// runLCA runs the installed LCA on the shipped lca.ini (its paths moved
// into the scratch root) in a network namespace of its own, until the
// gateway it starts from the scratch root has registered and is Running;
// then stops the LCA, which leaves the gateway running, as it must under
// KillMode=process.
func runLCA(t *testing.T, root, state string, rebase func([]string) []string) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "lca.ini")
	writeFile(t, ini, rebaseLCAIni(t, readFile(t, filepath.Join(root, "etc/webrtc-gateway/lca.ini")), rebase))
	if err := os.MkdirAll(filepath.Join(state, "var/lib/webrtc-gateway"), 0o750); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "lca")
	lcaArgs := []string{filepath.Join(root, "usr/bin/lca"), "-config", ini, "-data", data, "-logs", filepath.Join(dir, "logs")}
	cmd := exec.Command("unshare", append([]string{"--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh"}, lcaArgs...)...)
	lines2 := startLines(t, cmd)
	var gatewayPID int
	t.Cleanup(func() {
		if gatewayPID > 0 {
			syscall.Kill(gatewayPID, syscall.SIGKILL)
		}
	})
	running := regexp.MustCompile(`lca\.agent: status: app=gw1 status=Running`)
	if _, err := lines2.waitFor(running, 60*time.Second); err != nil {
		t.Fatalf("the LCA did not report gw1 Running: %v\n%s\ngw1.log:\n%s", err, lines2.text(), tryRead(filepath.Join(dir, "logs/gw1.log")))
	}
	var rec struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(data, "processes/gw1.json"))), &rec); err != nil || rec.PID <= 0 {
		t.Fatalf("processes/gw1.json: %v", err)
	}
	gatewayPID = rec.PID
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := lines2.wait(30 * time.Second); err != nil {
		t.Errorf("the LCA did not stop cleanly on SIGTERM: %v\n%s", err, lines2.text())
	}
	if err := syscall.Kill(gatewayPID, 0); err != nil {
		t.Errorf("the gateway (pid %d) ended with the LCA: %v", gatewayPID, err)
	}
	syscall.Kill(gatewayPID, syscall.SIGTERM)
	waitGone(t, gatewayPID, 30*time.Second)
	gatewayPID = 0
}

// rebaseLCAIni is the text of an lca.ini with the paths of its values
// moved by rebase.
func rebaseLCAIni(t *testing.T, text string, rebase func([]string) []string) string {
	t.Helper()
	var lines []string
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, "=")
		if ok && !strings.HasPrefix(k, ";") {
			words, err := agent.SplitArgs(v)
			if err != nil {
				t.Fatal(err)
			}
			line = k + "= " + agent.JoinArgs(rebase(words)) + "\n"
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "")
}

func tryRead(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// waitGone waits until pid is no longer a process.
func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Errorf("pid %d still runs after %v", pid, d)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lineReader collects a process's output lines.
type lineReader struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	all  []string
	next chan string
	done chan error
}

// startLines starts cmd with its stdout and stderr read line by line; the
// process is killed when t ends.
func startLines(t *testing.T, cmd *exec.Cmd) *lineReader {
	t.Helper()
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lr := &lineReader{cmd: cmd, next: make(chan string, 1024), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.mu.Lock()
			lr.all = append(lr.all, sc.Text())
			lr.mu.Unlock()
			select {
			case lr.next <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		w.Close()
		lr.done <- err
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-lr.done:
		case <-time.After(10 * time.Second):
		}
	})
	return lr
}

func (lr *lineReader) text() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return strings.Join(lr.all, "\n")
}

// waitFor returns the first line (already read or to come) that matches
// re.
func (lr *lineReader) waitFor(re *regexp.Regexp, d time.Duration) (string, error) {
	lr.mu.Lock()
	for _, l := range lr.all {
		if re.MatchString(l) {
			lr.mu.Unlock()
			return l, nil
		}
	}
	lr.mu.Unlock()
	timeout := time.After(d)
	for {
		select {
		case l := <-lr.next:
			if re.MatchString(l) {
				return l, nil
			}
		case err := <-lr.done:
			lr.done <- err
			// The lines read before the end may still be queued.
			lr.mu.Lock()
			defer lr.mu.Unlock()
			for _, l := range lr.all {
				if re.MatchString(l) {
					return l, nil
				}
			}
			return "", fmt.Errorf("the process ended (%v) before %q", err, re)
		case <-timeout:
			return "", fmt.Errorf("no %q in %v", re, d)
		}
	}
}

// wait waits for the process to end and returns its error.
func (lr *lineReader) wait(d time.Duration) error {
	select {
	case err := <-lr.done:
		lr.done <- err
		return err
	case <-time.After(d):
		return errors.New("still running")
	}
}

// sandboxEnv makes the test binary a launcher (TestMain): it applies
// what the units' NoNewPrivileges, MemoryDenyWriteExecute, UMask and
// LimitNOFILE do, and runs its arguments.
const sandboxEnv = "PKGBUILD_TEST_SANDBOX"

// exitNoMDWE is the launcher's exit code when the kernel has no
// PR_SET_MDWE (before Linux 6.3).
const exitNoMDWE = 125

// sandboxExec is the launcher: NoNewPrivileges=yes is PR_SET_NO_NEW_PRIVS;
// MemoryDenyWriteExecute=yes refuses writable-and-executable memory and
// making memory executable, which the kernel's PR_SET_MDWE
// (PR_MDWE_REFUSE_EXEC_GAIN) enforces the same way for the process and
// what it executes; UMask=0027; LimitNOFILE=65536.
func sandboxExec(args []string) {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: PR_SET_NO_NEW_PRIVS: %v\n", err)
		os.Exit(126)
	}
	if err := unix.Prctl(unix.PR_SET_MDWE, unix.PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: PR_SET_MDWE: %v\n", err)
		os.Exit(exitNoMDWE)
	}
	unix.Umask(0o027)
	// At most the hard limit: raising it needs CAP_SYS_RESOURCE, which
	// a container's root may lack (systemd has it).
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: RLIMIT_NOFILE: %v\n", err)
		os.Exit(126)
	}
	lim.Cur = min(65536, lim.Max)
	lim.Max = lim.Cur
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: RLIMIT_NOFILE: %v\n", err)
		os.Exit(126)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		os.Exit(127)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, sandboxEnv+"=") })
	err = syscall.Exec(path, args, env)
	fmt.Fprintf(os.Stderr, "sandbox: exec %s: %v\n", path, err)
	os.Exit(127)
}

// nsAddress is the address of the network namespace the daemons run in:
// a veth pair inside the namespace, so that there is an interface besides
// loopback and the gateway has something to find over netlink.
const nsAddress = "10.9.8.7"

// The user and group the daemons run as in the sandbox, for webrtcgw: ids
// no account of the host has (setpriv needs no account).
const (
	sandboxUID = 61234
	sandboxGID = 61234
)

var socketRE = regexp.MustCompile(`socket\((AF_[A-Z0-9]+),`)

// A sandbox is a directory laid out as the units' host: the scratch
// root's configuration copied to etc/webrtc-gateway (0750/0640
// root:webrtcgw), and var/ with the state and log directories (0750
// webrtcgw), as systemd's StateDirectory= and LogsDirectory= make them.
type sandbox struct {
	root string // the scratch root the binaries come from
	dir  string
}

func newSandbox(t *testing.T, root string) *sandbox {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's directories are 0700: webrtcgw must reach its own.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sb := &sandbox{root: root, dir: dir}
	for _, d := range []string{"etc", "var", "var/lib", "var/log"} {
		sb.mkdir(t, filepath.Join(dir, d), 0o755, 0, 0)
	}
	etc := filepath.Join(dir, "etc/webrtc-gateway")
	sb.mkdir(t, etc, 0o750, 0, sandboxGID)
	files, err := filepath.Glob(filepath.Join(root, "etc/webrtc-gateway/*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configuration in the scratch root: %v", err)
	}
	for _, f := range files {
		sb.writeConfig(t, filepath.Join(etc, filepath.Base(f)), readFile(t, f))
	}
	for _, d := range []string{"var/lib/webrtc-gateway", "var/lib/webrtc-gateway-confserv", "var/lib/webrtc-gateway-lca", "var/log/webrtc-gateway"} {
		sb.mkdir(t, filepath.Join(dir, d), 0o750, sandboxUID, sandboxGID)
	}
	return sb
}

func (sb *sandbox) mkdir(t *testing.T, path string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a configuration file 0640 root:webrtcgw.
func (sb *sandbox) writeConfig(t *testing.T, path, text string) {
	t.Helper()
	writeFile(t, path, text)
	if err := os.Chown(path, 0, sandboxGID); err != nil {
		t.Fatal(err)
	}
}

// rebase moves the installed paths of args into the sandbox: /usr to the
// scratch root, /etc and /var to the sandbox's copies.
func (sb *sandbox) rebase(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "/usr/"):
			a = filepath.Join(sb.root, a)
		case strings.HasPrefix(a, "/etc/") || strings.HasPrefix(a, "/var/"):
			a = filepath.Join(sb.dir, a)
		}
		out[i] = a
	}
	return out
}

// sandboxRun is one daemon started the way its unit starts it.
type sandboxRun struct {
	families []string // address families of the sockets it opened
	output   string
	notify   []string // its sd_notify messages
}

// run starts argv (an installed daemon, its paths rebased) the way its
// unit starts it: as webrtcgw (setpriv: an unprivileged user, no
// capability), with NoNewPrivileges, MemoryDenyWriteExecute, UMask and
// LimitNOFILE (the launcher), /proc mounted with hidepid=invisible
// (ProtectProc=invisible) in a PID namespace, in a network namespace of
// its own with nsAddress, with NOTIFY_SOCKET, under strace. It waits until
// a line of the daemon's output matches ready (or, when ready is nil,
// until it says READY=1), stops it with SIGTERM and returns what it did.
func (sb *sandbox) run(t *testing.T, argv []string, ready *regexp.Regexp) sandboxRun {
	t.Helper()
	requireRoot(t)
	requireTools(t, "unshare", "ip", "strace", "setpriv")
	notifyPath := filepath.Join(sb.dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := os.Chmod(notifyPath, 0o777); err != nil { // systemd's socket takes anyone's messages too
		t.Fatal(err)
	}
	notes := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()
	straceOut := filepath.Join(sb.dir, "strace.txt")
	writeFile(t, straceOut, "")
	if err := os.Chown(straceOut, sandboxUID, sandboxGID); err != nil {
		t.Fatal(err)
	}
	setup := `mount -t proc -o hidepid=invisible proc /proc && ip link set lo up && ` +
		`ip link add v0 type veth peer name v1 && ip addr add ` + nsAddress + `/24 dev v0 && ip link set v0 up && ip link set v1 up && exec "$@"`
	args := append([]string{"--net", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", setup, "sh", os.Args[0],
		"setpriv", "--reuid", strconv.Itoa(sandboxUID), "--regid", strconv.Itoa(sandboxGID), "--clear-groups", "--bounding-set", "-all",
		"strace", "-f", "-qq", "-e", "trace=socket", "-e", "signal=none", "-o", straceOut}, argv...)
	cmd := exec.Command("unshare", args...)
	cmd.Dir = sb.dir
	cmd.Env = append(os.Environ(), sandboxEnv+"=1", "NOTIFY_SOCKET="+notifyPath)
	lines := startLines(t, cmd)

	var run sandboxRun
	fail := func(format string, args ...any) {
		t.Helper()
		if strings.Contains(lines.text(), "sandbox: PR_SET_MDWE") {
			requireMDWE(t, lines.text())
		}
		t.Fatalf(format, args...)
	}
	if ready != nil {
		if _, err := lines.waitFor(ready, 60*time.Second); err != nil {
			fail("%s: %v\n%s", filepath.Base(argv[0]), err, lines.text())
		}
	} else {
		timeout := time.After(60 * time.Second)
	wait:
		for {
			select {
			case n, ok := <-notes:
				if !ok {
					break wait
				}
				run.notify = append(run.notify, n)
				if slices.Contains(strings.Split(n, "\n"), "READY=1") {
					break wait
				}
			case <-timeout:
				fail("%s: no READY=1 on NOTIFY_SOCKET in 60 s (got %q)\n%s", filepath.Base(argv[0]), run.notify, lines.text())
			case err := <-lines.done:
				lines.done <- err
				fail("%s ended (%v) before READY=1 (got %q)\n%s", filepath.Base(argv[0]), err, run.notify, lines.text())
			}
		}
	}
	// The daemons are the processes running the scratch root's binaries:
	// the LCA's applications too, which a stop of the LCA leaves running.
	var daemons []int
	for _, pid := range descendants(cmd.Process.Pid) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasPrefix(exe, sb.root+"/") {
			daemons = append(daemons, pid)
		}
	}
	if len(daemons) == 0 {
		t.Fatalf("no daemon under pid %d", cmd.Process.Pid)
	}
	for _, pid := range daemons {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	// strace ends as the daemon did (143: killed by SIGTERM, which systemd
	// counts as a clean end too). The end of strace, the PID namespace's
	// first process, ends whatever is left in it.
	if err := lines.wait(30 * time.Second); err != nil && err.Error() != "exit status 143" {
		t.Errorf("%s did not stop cleanly on SIGTERM: %v\n%s", filepath.Base(argv[0]), err, lines.text())
	}
	run.output = lines.text()
	for _, m := range socketRE.FindAllStringSubmatch(tryRead(straceOut), -1) {
		if !slices.Contains(run.families, m[1]) {
			run.families = append(run.families, m[1])
		}
	}
	slices.Sort(run.families)
	return run
}

// descendants are the processes under pid. A child belongs to the thread
// that started it: every thread's children are read.
func descendants(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		for _, c := range strings.Fields(tryRead(task)) {
			if n, err := strconv.Atoi(c); err == nil {
				out = append(out, n)
				out = append(out, descendants(n)...)
			}
		}
	}
	return out
}

func requireMDWE(t *testing.T, output string) {
	t.Helper()
	testpeers.SkipOrFail(t, "this kernel has no PR_SET_MDWE (Linux 6.3): MemoryDenyWriteExecute is not tried\n%s", output)
}
