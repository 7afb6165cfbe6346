package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"webrtcgw/options"
)

// AppDef is how the LCA runs one application of its host: from lca.ini or
// from the application object of the Configuration Server.
type AppDef struct {
	Name        string
	Type        string // for people (the register message says it too)
	WorkingDir  string // "" is the LCA's own working directory
	CommandLine string // the executable: absolute, relative to WorkingDir when it has a '/', else looked up in PATH
	Args        []string
	AutoRestart bool
	SML         options.SML // the [sml] annex: heartbeat-period, hangup-restart, autostart, suspending-wait-timeout
}

func (d AppDef) equal(o AppDef) bool {
	return d.Name == o.Name && d.Type == o.Type && d.WorkingDir == o.WorkingDir && d.CommandLine == o.CommandLine &&
		slices.Equal(d.Args, o.Args) && d.AutoRestart == o.AutoRestart && d.SML == o.SML
}

// Defs are the applications of the host, as a Source sees them now.
type Defs struct {
	Host string // the host's name; "" keeps the one the LCA has
	Apps []AppDef
	// AppUsers are the uids, besides root and the LCA's own, whose
	// processes may register applications ([lca] app-users).
	AppUsers []uint32
}

// A Source delivers the host's application definitions.
type Source interface {
	// Run calls apply with the complete definitions once they are known,
	// then again after every change, until ctx is done. apply does not
	// block for long. Run returns nil when ctx ends, or an error when the
	// source cannot work at all (a *ConfigError for bad configuration).
	Run(ctx context.Context, apply func(Defs)) error
}

// ConfigError is configuration the LCA cannot run with: an invalid lca.ini,
// a refused credential. Key names what is wrong ("[app gw1] command-line").
type ConfigError struct {
	File string
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	s := e.Msg
	if e.Key != "" {
		s = e.Key + ": " + s
	}
	if e.File != "" {
		s = e.File + ": " + s
	}
	return s
}

// DefaultSML is the [sml] annex with every option at its catalog default.
func DefaultSML() options.SML { return options.Defaults().SML() }

// ParseSML reads the [sml] annex options of one application with the
// option catalog's parsers; absent or empty options take their catalog
// defaults. Options it does not know are ignored (the annex may carry other
// sections' keys in other products). An invalid value is an *options.Error
// naming it; SMLLenient falls back instead.
func ParseSML(sml map[string]string) (options.SML, error) {
	known := map[string]string{}
	for k, v := range sml {
		if options.Lookup(options.SectionSML, k) != nil {
			known[k] = v
		}
	}
	set, err := options.Parse(options.Sections{options.SectionSML: known})
	if err != nil {
		return options.SML{}, err
	}
	return set.SML(), nil
}

// SMLLenient is ParseSML that keeps going: an invalid value takes its
// default, and the problems are returned for the log.
func SMLLenient(sml map[string]string) (options.SML, []options.Problem) {
	got, err := ParseSML(sml)
	if err == nil {
		return got, nil
	}
	var perr *options.Error
	if !errors.As(err, &perr) {
		return DefaultSML(), []options.Problem{{Section: options.SectionSML, Msg: err.Error()}}
	}
	valid := map[string]string{}
	bad := map[string]bool{}
	for _, p := range perr.Problems {
		bad[p.Name] = true
	}
	for k, v := range sml {
		if !bad[k] {
			valid[k] = v
		}
	}
	got, err = ParseSML(valid)
	if err != nil {
		return DefaultSML(), perr.Problems
	}
	return got, perr.Problems
}

// checkDefs rejects definitions the agent cannot hold: names twice, empty
// names or command lines.
func checkDefs(d Defs) error {
	seen := map[string]bool{}
	for _, a := range d.Apps {
		switch {
		case a.Name == "":
			return errors.New("an application without a name")
		case seen[a.Name]:
			return fmt.Errorf("application %s defined twice", a.Name)
		case a.CommandLine == "":
			return fmt.Errorf("application %s has no command line", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}
