package hostcheck

import (
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"webrtcgw/options"
)

// The packaged units (packaging/systemd).
const (
	UnitGateway  = "webrtc-gateway.service"
	UnitConfserv = "webrtc-gateway-confserv.service"
	UnitLCA      = "webrtc-gateway-lca.service"
)

// PackagedUnits are the units the packages install, in the order reported.
var PackagedUnits = []string{UnitGateway, UnitConfserv, UnitLCA}

// Defaults of the installed layout and of the daemons' flags.
const (
	DefaultConfig       = "/etc/webrtc-gateway/webrtc-gateway.ini"
	DefaultLCAINI       = "/etc/webrtc-gateway/lca.ini"
	DefaultGatewayData  = "/var/lib/webrtc-gateway"
	DefaultConfservData = "/var/lib/webrtc-gateway-confserv"
	DefaultLCAData      = "/var/lib/webrtc-gateway-lca"
	DefaultLCAPort      = 4999
	DefaultConfservPort = 2020
	DefaultLCAListen    = "127.0.0.1" // lca -listen
	DefaultJailFile     = "/etc/fail2ban/jail.d/webrtc-gateway.conf"
	ServiceUser         = "webrtcgw"
)

// The daemons' command names, as /proc/PID/comm shows them.
const (
	CommGateway  = "webrtc-gateway"
	CommConfserv = "confserv"
	CommLCA      = "lca"
)

// Snapshot is what check-host knows of a host, gathered once from a root
// directory by Gather. The checks read it and nothing else, so that they are
// tested on snapshots of scratch trees.
type Snapshot struct {
	Root string    // the audited tree, as given
	Live bool      // Root is "/": processes, sockets and commands are this host's
	Now  time.Time // for certificate expiry

	Flags Flags // what the command line said

	Hostname   string
	LocalAddrs []netip.Addr // this host's addresses (live), or those sockets are bound to

	Sockets        []Socket
	SocketsKnown   bool // ROOT/proc/net was there
	Processes      []Process
	ProcessesKnown bool // ROOT/proc holds processes: "not running" means something

	Units    map[string]*Unit  // the units looked at, by name
	EnvFiles map[string]string // EnvironmentFile= contents, by path

	Xinetd []XinetdService
	Inetd  []string // services enabled in /etc/inetd.conf

	Firewalld  Firewalld
	Nftables   Nftables
	UFWEnabled bool // /etc/ufw/ufw.conf ENABLED=yes
	Fail2ban   Fail2ban

	Gateway Gateway
	LCAApps []LCAApp

	Files  map[string]FileStat // the files judged by mode, by path
	Certs  map[string][]byte   // certificate files read, by path
	Users  map[int]string      // /etc/passwd
	Groups map[int]string      // /etc/group

	// Unreadable holds what exists but could not be read, by path or command:
	// the checks that needed it say so instead of passing.
	Unreadable map[string]string
	// Malformed holds what was read but could not be parsed in full.
	Malformed map[string]string
}

// Flags are check-host's command line.
type Flags struct {
	Config            string // -config; "" if not given
	LCAPort           int    // -lca-port; 0 if not given
	ConfservPort      int    // -confserv-port; 0 if not given
	LCAPortGiven      bool
	ConfservPortGiven bool
}

// A Process is a process of the host (/proc/PID).
type Process struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	UID  int    `json:"uid"` // effective
}

// Nftables is the nftables ruleset: the one loaded (running host) or the
// one the nftables unit loads at boot (an image).
type Nftables struct {
	Installed bool   `json:"installed"`
	Source    string `json:"source,omitempty"` // "nft list ruleset" or a file
	Text      string `json:"-"`
}

// Gateway is the gateway's options file, read as -check reads it.
type Gateway struct {
	ConfigPath string       `json:"config"`
	From       string       `json:"from"`                 // where the path came from
	Absent     bool         `json:"absent,omitempty"`     // no such file
	ReadErr    string       `json:"read_error,omitempty"` // there but not readable
	Invalid    []string     `json:"invalid,omitempty"`    // read, and refused
	Warnings   []string     `json:"warnings,omitempty"`
	DataDir    string       `json:"data_dir"` // where the self-signed certificate is kept
	Options    *options.Set `json:"-"`
}

// An LCAApp is an application of lca.ini, as far as its files go.
type LCAApp struct {
	Name        string   `json:"name"`
	File        string   `json:"file"`
	CommandLine string   `json:"command_line"`
	Args        []string `json:"args"`
}

// A FileStat is the mode and owner of a file, following links.
type FileStat struct {
	Exists bool        `json:"exists"`
	Mode   fs.FileMode `json:"mode"`
	UID    int         `json:"uid"`
	GID    int         `json:"gid"`
}

// Command is a unit's ExecStart, expanded.
type Command struct {
	Prefix  string   // systemd's -, @, :, +, ! prefixes
	Program string   // the executable
	Args    []string // after the program name
	From    Directive
}

// unit returns a unit that exists (has a fragment), or nil.
func (s *Snapshot) unit(name string) *Unit {
	if u := s.Units[name]; u != nil && u.Path != "" {
		return u
	}
	return nil
}

// ourUnits returns the units that run the gateway, confserv or the LCA:
// the packaged ones and any other whose ExecStart runs one of the daemons.
func (s *Snapshot) ourUnits() []*Unit {
	var out []*Unit
	for _, name := range sortedKeys(s.Units) {
		u := s.unit(name)
		if u == nil || u.Masked {
			continue
		}
		if slices.Contains(PackagedUnits, name) || daemonOf(s, u) != "" {
			out = append(out, u)
		}
	}
	return out
}

// daemonOf returns which daemon a unit runs ("webrtc-gateway", "confserv",
// "lca"), or "".
func daemonOf(s *Snapshot, u *Unit) string {
	switch u.Name {
	case UnitGateway:
		return CommGateway
	case UnitConfserv:
		return CommConfserv
	case UnitLCA:
		return CommLCA
	}
	if c, ok := s.command(u); ok {
		switch path.Base(c.Program) {
		case CommGateway, CommConfserv, CommLCA:
			return path.Base(c.Program)
		}
	}
	return ""
}

// unitEnv is the environment systemd gives a unit's ExecStart: the
// directories it creates, then Environment= and EnvironmentFile= in order.
func (s *Snapshot) unitEnv(u *Unit) map[string]string {
	env := map[string]string{}
	for key, base := range map[string]string{"StateDirectory": "/var/lib", "LogsDirectory": "/var/log",
		"ConfigurationDirectory": "/etc", "RuntimeDirectory": "/run", "CacheDirectory": "/var/cache"} {
		var dirs []string
		for _, d := range u.Values("Service", key) {
			for _, f := range strings.Fields(d.Value) {
				f, _, _ = strings.Cut(f, ":")
				dirs = append(dirs, path.Join(base, f))
			}
		}
		if len(dirs) > 0 {
			env[strings.ToUpper(strings.TrimSuffix(key, "Directory"))+"_DIRECTORY"] = strings.Join(dirs, ":")
		}
	}
	for _, d := range u.Directives {
		if d.Section != "Service" {
			continue
		}
		switch d.Key {
		case "Environment":
			ParseEnvironment(d.Value, env)
		case "EnvironmentFile":
			if data, ok := s.EnvFiles[strings.TrimPrefix(d.Value, "-")]; ok {
				ParseEnvironmentFile([]byte(data), env)
			}
		}
	}
	return env
}

// envFilesOf returns the EnvironmentFile= paths of a unit.
func envFilesOf(u *Unit) []string {
	var out []string
	for _, d := range u.Values("Service", "EnvironmentFile") {
		out = append(out, strings.TrimPrefix(d.Value, "-"))
	}
	return out
}

// command returns a unit's ExecStart in effect (the last one; an empty
// assignment in a drop-in resets the list), expanded.
func (s *Snapshot) command(u *Unit) (Command, bool) {
	starts := u.Values("Service", "ExecStart")
	if len(starts) == 0 {
		return Command{}, false
	}
	d := starts[len(starts)-1]
	prefix, words, err := SplitCommand(d.Value, s.unitEnv(u))
	if err != nil || len(words) == 0 {
		return Command{}, false
	}
	return Command{Prefix: prefix, Program: words[0], Args: words[1:], From: d}, true
}

// daemonFlag returns a flag of the daemon a packaged unit runs, from its
// ExecStart, with the place it was read.
func (s *Snapshot) daemonFlag(unitName, flag string) (string, string, bool) {
	u := s.unit(unitName)
	if u == nil {
		return "", "", false
	}
	c, ok := s.command(u)
	if !ok {
		return "", "", false
	}
	v, ok := FlagValue(c.Args, flag)
	return v, c.From.Where(), ok
}

// managementPort returns the LCA's or confserv's port: the command line's,
// else its unit's -port, else the default.
func (s *Snapshot) managementPort(unitName string, given bool, flagPort, def int) (int, string) {
	if given {
		return flagPort, "the command line"
	}
	if v, where, ok := s.daemonFlag(unitName, "port"); ok {
		if p, err := strconv.Atoi(v); err == nil && p > 0 && p < 65536 {
			return p, where
		}
	}
	return def, "the default"
}

// LCAPort returns the Local Control Agent's port and where it came from.
func (s *Snapshot) LCAPort() (int, string) {
	return s.managementPort(UnitLCA, s.Flags.LCAPortGiven, s.Flags.LCAPort, DefaultLCAPort)
}

// ConfservPort returns the Configuration Server's port and where it came from.
func (s *Snapshot) ConfservPort() (int, string) {
	return s.managementPort(UnitConfserv, s.Flags.ConfservPortGiven, s.Flags.ConfservPort, DefaultConfservPort)
}

// processes returns the processes with one of the command names.
func (s *Snapshot) processes(comms ...string) []Process {
	var out []Process
	for _, p := range s.Processes {
		if slices.Contains(comms, p.Comm) {
			out = append(out, p)
		}
	}
	return out
}

// unreadableUnder returns the read failures of paths under the prefixes.
func (s *Snapshot) unreadableUnder(prefixes ...string) []string {
	var out []string
	for _, k := range sortedKeys(s.Unreadable) {
		for _, p := range prefixes {
			if k == p || strings.HasPrefix(k, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, k+": "+s.Unreadable[k])
				break
			}
		}
	}
	return out
}

// malformedUnder returns the parse errors of files under the prefixes.
func (s *Snapshot) malformedUnder(prefixes ...string) []string {
	var out []string
	for _, k := range sortedKeys(s.Malformed) {
		for _, p := range prefixes {
			if k == p || strings.HasPrefix(k, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, s.Malformed[k])
				break
			}
		}
	}
	return out
}

// unitFiles returns the fragment and drop-ins of units.
func (s *Snapshot) unitFiles(units ...*Unit) []string {
	var out []string
	for _, u := range units {
		if u != nil {
			out = append(append(out, u.Path), u.DropIns...)
		}
	}
	return out
}

// userName returns "name (uid N)" or "uid N".
func (s *Snapshot) userName(uid int) string {
	if n, ok := s.Users[uid]; ok {
		return n
	}
	return "uid " + strconv.Itoa(uid)
}

func (s *Snapshot) groupName(gid int) string {
	if n, ok := s.Groups[gid]; ok {
		return n
	}
	return "gid " + strconv.Itoa(gid)
}
