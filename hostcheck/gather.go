package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/ini.v1"

	"webrtcgw/gateway"
	"webrtcgw/lca/agent"
	"webrtcgw/options"
)

// GatherOptions say what to gather from.
type GatherOptions struct {
	Root  string // the tree to audit; "" is "/"
	Flags Flags
	Now   time.Time // zero: time.Now()
	// Run runs a command on the running host (only when Root is "/"), for
	// `nft list ruleset` and `fail2ban-client status`. Nil: os/exec with a
	// timeout.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ErrConfigAbsent means the -config file given on the command line is not there.
var ErrConfigAbsent = errors.New("no such options file")

// Gather reads a host's state from a root directory: files under it, and,
// when it is "/", this host's processes and the commands of GatherOptions.Run.
// Files that cannot be read are recorded in the snapshot, for the checks to
// report; only an unusable root or an absent -config file is an error.
func Gather(ctx context.Context, o GatherOptions) (*Snapshot, error) {
	root := o.Root
	if root == "" {
		root = "/"
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("-root %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("-root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("-root %s: not a directory", root)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("-root %s: %w", root, err)
	}
	s := &Snapshot{
		Root: root, Live: real == "/", Now: o.Now, Flags: o.Flags,
		Units: map[string]*Unit{}, EnvFiles: map[string]string{},
		Files: map[string]FileStat{}, Certs: map[string][]byte{},
		Users: map[int]string{}, Groups: map[int]string{},
		Unreadable: map[string]string{}, Malformed: map[string]string{},
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	g := &gatherer{s: s, r: rootFS{dir: real}, run: o.Run}
	if g.run == nil {
		g.run = runCommand
	}
	g.accounts()
	g.hostname()
	g.processes()
	g.sockets()
	g.units()
	g.inetd()
	g.firewalls(ctx)
	g.fail2ban(ctx)
	if err := g.gateway(); err != nil {
		return nil, err
	}
	g.lcaINI()
	g.files()
	g.localAddrs()
	return s, nil
}

type gatherer struct {
	s   *Snapshot
	r   rootFS
	run func(ctx context.Context, name string, args ...string) ([]byte, error)
}

// read reads a file, recording why it could not be read unless it is absent.
func (g *gatherer) read(p string) ([]byte, bool) {
	data, err := g.r.ReadFile(p)
	if err != nil {
		if !absent(err) {
			g.s.Unreadable[p] = g.errText(err)
		}
		return nil, false
	}
	return data, true
}

// readDir lists a directory, recording why it could not be listed unless it
// is absent.
func (g *gatherer) readDir(p string) []fs.DirEntry {
	ents, err := g.r.ReadDir(p)
	if err != nil && !absent(err) {
		g.s.Unreadable[p] = g.errText(err)
	}
	return ents
}

// errText is an error without the host path of the tree, which says nothing
// to the reader of the report.
func (g *gatherer) errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if g.r.dir == "/" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), g.r.dir, "")
}

func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// command runs a command on the running host and returns its result.
func (g *gatherer) command(ctx context.Context, name string, args ...string) *CommandResult {
	res := &CommandResult{Command: strings.Join(append([]string{name}, args...), " ")}
	out, err := g.run(ctx, name, args...)
	res.Output = string(out)
	if err != nil {
		res.Err = err.Error()
	}
	return res
}

func (g *gatherer) accounts() {
	for file, into := range map[string]map[int]string{"/etc/passwd": g.s.Users, "/etc/group": g.s.Groups} {
		data, ok := g.read(file)
		if !ok {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			if id, err := strconv.Atoi(f[2]); err == nil {
				if _, dup := into[id]; !dup {
					into[id] = f[0]
				}
			}
		}
	}
}

func (g *gatherer) hostname() {
	if g.s.Live {
		g.s.Hostname, _ = os.Hostname()
		return
	}
	if data, ok := g.read("/etc/hostname"); ok {
		g.s.Hostname = strings.TrimSpace(string(data))
	}
}

var numeric = regexp.MustCompile(`^[0-9]+$`)

// processes reads ROOT/proc/PID/comm and status. Processes vanish while
// they are read: those are skipped silently.
func (g *gatherer) processes() {
	ents, err := g.r.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		if !numeric.MatchString(e.Name()) {
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		comm, err := g.r.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		p := Process{PID: pid, Comm: strings.TrimSpace(string(comm)), UID: -1}
		if g.s.Live && pid == os.Getpid() || p.Comm == CommGateway && g.toolRun(e.Name()) {
			continue // check-host itself, or another tool run of the binary: not the daemon
		}
		if status, err := g.r.ReadFile("/proc/" + e.Name() + "/status"); err == nil {
			for _, line := range strings.Split(string(status), "\n") {
				if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" {
					p.UID, _ = strconv.Atoi(f[2]) // real, effective, saved, fs
				}
			}
		}
		g.s.Processes = append(g.s.Processes, p)
	}
	g.s.ProcessesKnown = len(g.s.Processes) > 0
}

// toolRun reports whether a webrtc-gateway process runs one of its
// subcommands (check-host, firewall) rather than the daemon.
func (g *gatherer) toolRun(pid string) bool {
	cmdline, err := g.r.ReadFile("/proc/" + pid + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 1 && (args[1] == "check-host" || args[1] == "firewall")
}

// sockets parses ROOT/proc/net and finds each socket's process through
// ROOT/proc/PID/fd.
func (g *gatherer) sockets() {
	for _, f := range []struct{ file, proto string }{{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"}} {
		p := "/proc/net/" + f.file
		data, ok := g.read(p)
		if !ok {
			continue
		}
		g.s.SocketsKnown = true
		socks, err := ParseProcNet(data, f.proto)
		if err != nil {
			g.s.Malformed[p] = p + ": " + err.Error()
		}
		g.s.Sockets = append(g.s.Sockets, socks...)
	}
	if len(g.s.Sockets) == 0 {
		return
	}
	owners := map[uint64]Process{}
	denied := 0
	for _, proc := range g.s.Processes {
		dir := "/proc/" + strconv.Itoa(proc.PID) + "/fd"
		ents, err := g.r.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				denied++
			}
			continue
		}
		for _, e := range ents {
			target, err := g.r.Readlink(dir + "/" + e.Name())
			if err != nil || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			if ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]"), 10, 64); err == nil {
				if _, seen := owners[ino]; !seen {
					owners[ino] = proc
				}
			}
		}
	}
	for i, sock := range g.s.Sockets {
		if p, ok := owners[sock.Inode]; ok {
			g.s.Sockets[i].PID, g.s.Sockets[i].Comm = p.PID, p.Comm
		}
	}
	if denied > 0 {
		g.s.Unreadable["/proc/PID/fd"] = fmt.Sprintf("permission denied for %d processes: their sockets' owners are unknown", denied)
	}
}

// unitNames are the units looked at besides the packaged ones, those named
// webrtc-gateway*, and the operator's own units in /etc/systemd/system.
func unitNames() []string {
	names := []string{"firewalld.service", "nftables.service", "ufw.service", "iptables.service", "ip6tables.service",
		"fail2ban.service"}
	for _, l := range legacyUnits {
		names = append(names, l.names...)
	}
	return names
}

func (g *gatherer) units() {
	want := map[string]bool{}
	for _, n := range append(unitNames(), PackagedUnits...) {
		want[n] = true
	}
	for _, dir := range unitDirs {
		for _, e := range g.readDir(dir) {
			n := e.Name()
			if strings.HasPrefix(n, "webrtc-gateway") && !strings.HasSuffix(n, ".d") && !strings.HasSuffix(n, ".wants") ||
				dir == "/etc/systemd/system" && strings.HasSuffix(n, ".service") {
				want[n] = true
			}
		}
	}
	enabled := g.enableLinks()
	for _, name := range sortedKeys(want) {
		u := g.unit(name)
		u.EnabledBy = enabled[name]
		if u.Path != "" || u.Masked || len(u.EnabledBy) > 0 {
			g.s.Units[name] = u
		}
	}
	for _, name := range sortedKeys(g.s.Units) {
		u := g.s.Units[name]
		if !slices.Contains(PackagedUnits, name) && daemonOf(g.s, u) == "" {
			continue
		}
		for _, f := range envFilesOf(u) {
			if data, ok := g.read(f); ok {
				g.s.EnvFiles[f] = string(data)
			}
		}
	}
}

// unit finds a unit's fragment and drop-ins.
func (g *gatherer) unit(name string) *Unit {
	u := &Unit{Name: name}
	seen := map[string]bool{}
	names := []string{name}
	if t := templateOf(name); t != "" {
		names = append(names, t)
	}
	for _, n := range names {
		for _, dir := range unitDirs {
			p := path.Join(dir, n)
			if _, err := g.r.Lstat(p); err != nil {
				continue
			}
			hp, err := g.r.realPath(p)
			if err == nil && seen[hp] {
				continue // /lib → /usr/lib on merged systems
			}
			seen[hp] = true
			if target, err := g.r.Readlink(p); err == nil && target == "/dev/null" {
				if u.Path == "" {
					u.Masked = true
				}
				continue
			}
			if u.Path == "" && !u.Masked {
				u.Path = p
			} else {
				u.Shadowed = append(u.Shadowed, p)
			}
		}
		if u.Path != "" || u.Masked {
			break
		}
	}
	if u.Path != "" {
		if data, ok := g.read(u.Path); ok {
			ds, err := ParseUnitFile(u.Path, data)
			if err != nil {
				u.ParseError = err.Error()
				g.s.Malformed[u.Path] = err.Error()
			}
			u.Directives = ds
		}
		for _, p := range append([]string{u.Path}, u.Shadowed...) {
			if !strings.HasPrefix(p, "/usr/lib/systemd/") && !strings.HasPrefix(p, "/lib/systemd/") {
				continue
			}
			u.VendorPath = p
			if p == u.Path {
				u.Vendor = slices.Clone(u.Directives)
			} else if data, ok := g.read(p); ok {
				u.Vendor, _ = ParseUnitFile(p, data)
			}
			break
		}
	}
	// drop-ins: by file name; the same name in a higher-priority directory,
	// or in a more specific drop-in directory, hides the others
	files := map[string][]string{}
	dds := dropInDirs(name)
	for _, dir := range unitDirs {
		for i := len(dds) - 1; i >= 0; i-- {
			dd := path.Join(dir, dds[i])
			for _, e := range g.readDir(dd) {
				if strings.HasSuffix(e.Name(), ".conf") {
					files[e.Name()] = append(files[e.Name()], path.Join(dd, e.Name()))
				}
			}
		}
	}
	for _, p := range sortDropIns(files) {
		u.DropIns = append(u.DropIns, p)
		if target, err := g.r.Readlink(p); err == nil && target == "/dev/null" {
			continue
		}
		data, ok := g.read(p)
		if !ok {
			continue
		}
		ds, err := ParseUnitFile(p, data)
		if err != nil {
			g.s.Malformed[p] = err.Error()
		}
		u.Directives = append(u.Directives, ds...)
	}
	return u
}

// enableLinks returns, by unit name, the links of *.wants and *.requires
// directories that pull it in (an instance counts for its template too).
func (g *gatherer) enableLinks() map[string][]string {
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, dir := range []string{"/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"} {
		if hp, err := g.r.realPath(dir); err != nil || seen[hp] {
			continue // /lib is /usr/lib on merged systems
		} else {
			seen[hp] = true
		}
		for _, e := range g.readDir(dir) {
			if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 || !(strings.HasSuffix(e.Name(), ".wants") || strings.HasSuffix(e.Name(), ".requires")) {
				continue
			}
			sub := path.Join(dir, e.Name())
			for _, l := range g.readDir(sub) {
				out[l.Name()] = appendNew(out[l.Name()], path.Join(sub, l.Name()))
				if t := templateOf(l.Name()); t != "" {
					out[t] = appendNew(out[t], path.Join(sub, l.Name()))
				}
			}
		}
	}
	return out
}

func (g *gatherer) inetd() {
	for _, e := range g.readDir("/etc/xinetd.d") {
		if e.IsDir() || strings.HasSuffix(e.Name(), "~") || strings.Contains(e.Name(), ".rpm") || strings.Contains(e.Name(), ".dpkg") {
			continue // xinetd skips backup files too
		}
		p := "/etc/xinetd.d/" + e.Name()
		if data, ok := g.read(p); ok {
			g.s.Xinetd = append(g.s.Xinetd, ParseXinetd(p, data)...)
		}
	}
	if data, ok := g.read("/etc/inetd.conf"); ok {
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			g.s.Inetd = append(g.s.Inetd, strings.Fields(line)[0])
		}
	}
}

func (g *gatherer) firewalls(ctx context.Context) {
	fw := &g.s.Firewalld
	fw.Installed = g.r.Exists("/etc/firewalld") || g.r.Exists("/usr/lib/firewalld")
	if fw.Installed {
		fw.DefaultZone = "public"
		if data, ok := g.read("/etc/firewalld/firewalld.conf"); ok {
			env := map[string]string{}
			ParseEnvironmentFile(data, env)
			if z := env["DefaultZone"]; z != "" {
				fw.DefaultZone = z
			}
		}
		fw.Zones = map[string]*Zone{}
		fw.Services = map[string]*FirewalldServiceDef{}
		for _, dir := range []string{"/usr/lib/firewalld", "/etc/firewalld"} {
			for _, e := range g.readDir(dir + "/zones") {
				name, ok := strings.CutSuffix(e.Name(), ".xml")
				p := dir + "/zones/" + e.Name()
				if !ok {
					continue
				}
				if data, ok := g.read(p); ok {
					z, err := ParseZone(name, p, data)
					if err != nil {
						g.s.Malformed[p] = err.Error()
						continue
					}
					fw.Zones[name] = z
				}
			}
			for _, e := range g.readDir(dir + "/services") {
				name, ok := strings.CutSuffix(e.Name(), ".xml")
				p := dir + "/services/" + e.Name()
				if !ok {
					continue
				}
				if data, ok := g.read(p); ok {
					svc, err := ParseFirewalldService(name, p, data)
					if err != nil {
						g.s.Malformed[p] = err.Error()
						continue
					}
					fw.Services[name] = svc
				}
			}
		}
	}

	nft := &g.s.Nftables
	nft.Installed = g.r.Exists("/usr/sbin/nft") || g.r.Exists("/sbin/nft")
	if g.s.Live && nft.Installed {
		res := g.command(ctx, "nft", "list", "ruleset")
		if res.Err != "" {
			g.s.Unreadable[res.Command] = strings.TrimSpace(res.Err + ": " + truncate(strings.TrimSpace(res.Output), 200))
		} else {
			nft.Source, nft.Text = res.Command, res.Output
		}
	} else if !g.s.Live {
		g.nftBootRuleset()
	}

	if data, ok := g.read("/etc/ufw/ufw.conf"); ok {
		env := map[string]string{}
		ParseEnvironmentFile(data, env)
		g.s.UFWEnabled = parseBool(env["ENABLED"])
	}
}

// nftBootRuleset reads the ruleset the nftables unit loads at boot: the
// file of its ExecStart's -f, else the distribution's usual file, with its
// includes.
func (g *gatherer) nftBootRuleset() {
	files := []string{"/etc/sysconfig/nftables.conf", "/etc/nftables.conf"}
	if u := g.s.unit("nftables.service"); u != nil {
		if c, ok := g.s.command(u); ok {
			if f, ok := FlagValue(c.Args, "f"); ok {
				files = []string{f}
			} else if f, ok := FlagValue(c.Args, "file"); ok {
				files = []string{f}
			}
		}
	}
	for _, f := range files {
		text, ok := g.nftFile(f, 0)
		if ok {
			g.s.Nftables.Source, g.s.Nftables.Text = f, text
			g.s.Nftables.Installed = true
			return
		}
	}
}

var nftInclude = regexp.MustCompile(`(?m)^\s*include\s+"([^"]+)"\s*$`)

// nftFile reads an nft -f file with its include "…" files (globs allowed).
func (g *gatherer) nftFile(p string, depth int) (string, bool) {
	data, ok := g.read(p)
	if !ok || depth > 8 {
		return "", false
	}
	text := nftInclude.ReplaceAllStringFunc(string(data), func(m string) string {
		pat := nftInclude.FindStringSubmatch(m)[1]
		if !path.IsAbs(pat) {
			pat = path.Join(path.Dir(p), pat)
		}
		var out strings.Builder
		dir := path.Dir(pat)
		for _, e := range g.readDir(dir) {
			if ok, _ := path.Match(path.Base(pat), e.Name()); ok {
				if t, ok := g.nftFile(path.Join(dir, e.Name()), depth+1); ok {
					out.WriteString(t + "\n")
				}
			}
		}
		return out.String()
	})
	return text, true
}

func (g *gatherer) fail2ban(ctx context.Context) {
	f := &g.s.Fail2ban
	f.JailFile = DefaultJailFile
	f.Installed = g.r.Exists("/etc/fail2ban") || g.r.Exists("/usr/bin/fail2ban-server") || g.s.unit("fail2ban.service") != nil
	if !f.Installed {
		return
	}
	var files []string
	files = append(files, "/etc/fail2ban/jail.conf")
	confs, locals := []string{}, []string{}
	for _, e := range g.readDir("/etc/fail2ban/jail.d") {
		switch {
		case strings.HasSuffix(e.Name(), ".conf"):
			confs = append(confs, "/etc/fail2ban/jail.d/"+e.Name())
		case strings.HasSuffix(e.Name(), ".local"):
			locals = append(locals, "/etc/fail2ban/jail.d/"+e.Name())
		}
	}
	files = append(append(append(files, confs...), "/etc/fail2ban/jail.local"), locals...)
	for _, p := range files {
		if data, ok := g.read(p); ok {
			f.Files = append(f.Files, ParseFail2banFile(p, data))
		}
	}
	if g.s.Live {
		f.Status = g.command(ctx, "fail2ban-client", "status")
	}
}

// gateway reads the gateway's options file: -config, else the -config of
// the gateway's unit, else the default.
func (g *gatherer) gateway() error {
	gw := &g.s.Gateway
	gw.ConfigPath, gw.From = g.s.Flags.Config, "-config"
	if gw.ConfigPath == "" {
		gw.ConfigPath, gw.From = DefaultConfig, "the default"
		if v, where, ok := g.s.daemonFlag(UnitGateway, "config"); ok && v != "" {
			gw.ConfigPath, gw.From = v, where
		}
	}
	gw.DataDir = DefaultGatewayData
	if u := g.s.unit(UnitGateway); u != nil {
		if v, _, ok := g.s.daemonFlag(UnitGateway, "data"); ok && v != "" {
			gw.DataDir = v
		} else if d := g.s.unitEnv(u)["STATE_DIRECTORY"]; d != "" {
			gw.DataDir, _, _ = strings.Cut(d, ":")
		}
	}
	if !path.IsAbs(gw.ConfigPath) {
		if g.s.Live {
			if a, err := filepath.Abs(gw.ConfigPath); err == nil {
				gw.ConfigPath = a
			}
		} else {
			gw.ConfigPath = "/" + gw.ConfigPath
		}
	}
	if _, err := g.r.ReadFile(gw.ConfigPath); err != nil {
		if absent(err) {
			if g.s.Flags.Config != "" {
				return fmt.Errorf("-config %s: %w", g.s.Flags.Config, ErrConfigAbsent)
			}
			gw.Absent = true
			return nil
		}
		gw.ReadErr = g.errText(err)
		g.s.Unreadable[gw.ConfigPath] = gw.ReadErr
		return nil
	}
	hp, err := g.r.hostPath(gw.ConfigPath)
	if err != nil {
		gw.ReadErr = err.Error()
		return nil
	}
	set, warnings, err := gateway.LoadFile(hp)
	var perr *options.Error
	switch {
	case errors.As(err, &perr):
		for _, p := range perr.Problems {
			gw.Invalid = append(gw.Invalid, p.String())
		}
		for _, p := range perr.Warnings {
			gw.Warnings = append(gw.Warnings, p.String())
		}
		return nil
	case err != nil:
		gw.Invalid = []string{strings.ReplaceAll(err.Error(), hp, gw.ConfigPath)}
		return nil
	}
	gw.Options = set
	for _, w := range warnings {
		gw.Warnings = append(gw.Warnings, w.String())
	}
	for _, c := range []string{set.Web().Certificate, set.SIP().TLSCertificate} {
		if c == "" {
			continue
		}
		if data, ok := g.read(absPath(c)); ok {
			g.s.Certs[absPath(c)] = data
		}
	}
	return nil
}

// absPath makes a path of the options absolute: the daemon runs from "/"
// unless its unit says otherwise.
func absPath(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join("/", p)
}

// lcaINI reads the applications of lca.ini for the files their arguments name.
func (g *gatherer) lcaINI() {
	p := DefaultLCAINI
	if v, _, ok := g.s.daemonFlag(UnitLCA, "config"); ok && v != "" {
		p = absPath(v)
	}
	data, ok := g.read(p)
	if !ok {
		return
	}
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, IgnoreContinuation: true, AllowShadows: false}, data)
	if err != nil {
		g.s.Malformed[p] = p + ": " + err.Error()
		return
	}
	for _, sec := range f.Sections() {
		name, ok := strings.CutPrefix(sec.Name(), "app ")
		if !ok {
			continue
		}
		args, err := agent.SplitArgs(sec.Key("arguments").String())
		if err != nil {
			g.s.Malformed[p] = fmt.Sprintf("%s: [%s] arguments: %v", p, sec.Name(), err)
		}
		g.s.LCAApps = append(g.s.LCAApps, LCAApp{Name: strings.TrimSpace(name), File: p,
			CommandLine: sec.Key("command-line").String(), Args: args})
	}
}

// files stats the files the secret-files check judges.
func (g *gatherer) files() {
	var paths []string
	for _, f := range secretFiles(g.s) {
		paths = append(paths, f.Path)
	}
	for c := range g.s.Certs {
		paths = append(paths, c)
	}
	for _, p := range paths {
		if _, done := g.s.Files[p]; done {
			continue
		}
		fi, err := g.r.Stat(p)
		if err != nil {
			if !absent(err) {
				g.s.Unreadable[p] = g.errText(err)
				continue
			}
			g.s.Files[p] = FileStat{}
			continue
		}
		st := FileStat{Exists: true, Mode: fi.Mode(), UID: -1, GID: -1}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			st.UID, st.GID = int(sys.Uid), int(sys.Gid)
		}
		g.s.Files[p] = st
	}
}

// localAddrs lists the host's addresses: the interfaces' on the running
// host, else those sockets are bound to.
func (g *gatherer) localAddrs() {
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) {
		if a.IsValid() && !a.IsUnspecified() && !seen[a] {
			seen[a] = true
			g.s.LocalAddrs = append(g.s.LocalAddrs, a)
		}
	}
	if g.s.Live {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					add(p.Addr().Unmap())
				}
			}
		}
	}
	for _, s := range g.s.Sockets {
		add(s.Addr.Addr())
	}
}
