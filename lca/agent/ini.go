package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/ini.v1"

	"webrtcgw/options"
)

// The lca.ini format (docs/lca.md):
//
//	[lca]
//	host-name = host1
//	app-users = webrtcgw
//
//	[app gw1]
//	type = WebRTC_Gateway
//	working-directory = /var/lib/webrtc-gateway
//	command-line = /usr/bin/webrtc-gateway
//	arguments = -config /etc/webrtc-gateway/gw1.ini
//	auto-restart = true
//	heartbeat-period = 10            ; the [sml] options, by their catalog names
//	hangup-restart = true
//	autostart = true
//	suspending-wait-timeout = 30

// INI keys of an application section besides the [sml] options.
const (
	keyType        = "type"
	keyWorkingDir  = "working-directory"
	keyCommandLine = "command-line"
	keyArguments   = "arguments"
	keyAutoRestart = "auto-restart"

	keyHostName = "host-name"
	keyAppUsers = "app-users"
)

// maxINISize bounds lca.ini; a real one is a few kilobytes.
const maxINISize = 1 << 20

var appNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// LoadINI reads lca.ini. Every mistake is a *ConfigError naming the
// section and key.
func LoadINI(path string) (Defs, error) {
	f, err := os.Open(path)
	if err != nil {
		return Defs{}, &ConfigError{File: path, Msg: err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxINISize+1))
	if err != nil {
		return Defs{}, &ConfigError{File: path, Msg: err.Error()}
	}
	if len(data) > maxINISize {
		return Defs{}, &ConfigError{File: path, Msg: fmt.Sprintf("larger than %d bytes", maxINISize)}
	}
	defs, err := ParseINI(data)
	if ce, ok := err.(*ConfigError); ok {
		ce.File = path
	}
	return defs, err
}

// ParseINI parses lca.ini text (see LoadINI).
func ParseINI(data []byte) (Defs, error) {
	file, err := ini.LoadSources(ini.LoadOptions{
		IgnoreInlineComment:    true, // arguments may hold ';' and '#'
		IgnoreContinuation:     true,
		AllowShadows:           true, // to say a key is given twice
		AllowNonUniqueSections: true, // to say a section is given twice
	}, data)
	if err != nil {
		return Defs{}, &ConfigError{Msg: err.Error()}
	}
	var defs Defs
	seen := map[string]bool{}
	for _, sec := range file.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			if keys := sec.Keys(); len(keys) > 0 {
				return Defs{}, &ConfigError{Key: keys[0].Name(), Msg: "outside any section: put it under [lca] or [app NAME]"}
			}
			continue
		}
		id := "[" + name + "]"
		if seen[name] {
			return Defs{}, &ConfigError{Key: id, Msg: "section given twice"}
		}
		seen[name] = true
		values := map[string]string{}
		for _, k := range sec.Keys() {
			vals := k.ValueWithShadows()
			if len(vals) > 1 {
				return Defs{}, &ConfigError{Key: id + " " + k.Name(), Msg: fmt.Sprintf("given %d times", len(vals))}
			}
			values[k.Name()] = strings.TrimSpace(k.Value())
		}
		switch fields := strings.Fields(name); {
		case name == "lca":
			for _, k := range slices.Sorted(maps.Keys(values)) {
				switch k {
				case keyHostName:
					if v := values[k]; v != "" && !appNameRE.MatchString(v) {
						return Defs{}, &ConfigError{Key: id + " " + k, Msg: fmt.Sprintf("%q: 1 to 64 letters, digits, '_', '-' or '.'", v)}
					}
					defs.Host = values[k]
				case keyAppUsers:
					users, err := ParseUsers(values[k])
					if err != nil {
						return Defs{}, &ConfigError{Key: id + " " + k, Msg: err.Error()}
					}
					defs.AppUsers = users
				default:
					return Defs{}, &ConfigError{Key: id + " " + k, Msg: "unknown key (the [lca] section knows host-name, app-users)"}
				}
			}
		case len(fields) == 2 && fields[0] == "app":
			app, err := parseAppSection(fields[1], values)
			if err != nil {
				return Defs{}, err
			}
			defs.Apps = append(defs.Apps, app)
		default:
			return Defs{}, &ConfigError{Key: id, Msg: "unknown section: want [lca] or [app NAME]"}
		}
	}
	if err := checkDefs(defs); err != nil {
		return Defs{}, &ConfigError{Msg: err.Error()}
	}
	return defs, nil
}

var autoRestartDef = &options.Def{Section: "app", Name: keyAutoRestart, Type: options.TypeBool, Default: "false"}

func parseAppSection(name string, values map[string]string) (AppDef, error) {
	id := "[app " + name + "]"
	if !appNameRE.MatchString(name) {
		return AppDef{}, &ConfigError{Key: id, Msg: fmt.Sprintf("application name %q: 1 to 64 letters, digits, '_', '-' or '.'", name)}
	}
	d := AppDef{Name: name}
	sml := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		v := values[k]
		switch k {
		case keyType:
			d.Type = v
		case keyWorkingDir:
			d.WorkingDir = v
		case keyCommandLine:
			d.CommandLine = v
		case keyArguments:
			args, err := SplitArgs(v)
			if err != nil {
				return AppDef{}, &ConfigError{Key: id + " " + k, Msg: err.Error()}
			}
			d.Args = args
		case keyAutoRestart:
			text, err := autoRestartDef.Check(v)
			if err != nil {
				return AppDef{}, &ConfigError{Key: id + " " + k, Msg: fmt.Sprintf("%q is not %s", v, autoRestartDef.Allowed())}
			}
			d.AutoRestart = text == "true"
		default:
			def := options.Lookup(options.SectionSML, k)
			if def == nil {
				return AppDef{}, &ConfigError{Key: id + " " + k, Msg: "unknown key (known: " + strings.Join(appKeys(), ", ") + ")"}
			}
			if _, err := def.Check(v); err != nil {
				// Check says "sml/name: what is wrong".
				msg := err.Error()
				msg = strings.TrimPrefix(msg, def.Key()+": ")
				return AppDef{}, &ConfigError{Key: id + " " + k, Msg: msg}
			}
			sml[k] = v
		}
	}
	if d.CommandLine == "" {
		return AppDef{}, &ConfigError{Key: id + " " + keyCommandLine, Msg: "missing: the program to run"}
	}
	var err error
	if d.SML, err = ParseSML(sml); err != nil {
		return AppDef{}, &ConfigError{Key: id, Msg: err.Error()}
	}
	return d, nil
}

// appKeys lists the keys of an application section.
func appKeys() []string {
	keys := []string{keyType, keyWorkingDir, keyCommandLine, keyArguments, keyAutoRestart}
	for _, d := range options.Catalog() {
		if d.Section == options.SectionSML {
			keys = append(keys, d.Name)
		}
	}
	return keys
}

// INISource reads the applications from lca.ini, and again on every value
// of Hangup (SIGHUP). A file that became invalid is logged and the previous
// definitions kept.
type INISource struct {
	Path string
	// Host, when not empty, overrides [lca] host-name (-host-name).
	Host   string
	Hangup <-chan os.Signal
	Log    hclog.Logger
}

// Run implements Source. The first read must succeed: its error is
// returned (a *ConfigError).
func (s *INISource) Run(ctx context.Context, apply func(Defs)) error {
	log := s.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	defs, err := s.load()
	if err != nil {
		return err
	}
	apply(defs)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.Hangup:
			next, err := s.load()
			if err != nil {
				log.Error("configuration not reloaded: the previous one stays in force", "file", s.Path, "error", err)
				continue
			}
			log.Info("configuration reloaded", "file", s.Path, "applications", len(next.Apps))
			apply(next)
		}
	}
}

func (s *INISource) load() (Defs, error) {
	defs, err := LoadINI(s.Path)
	if err != nil {
		return Defs{}, err
	}
	if s.Host != "" {
		defs.Host = s.Host
	}
	return defs, nil
}
