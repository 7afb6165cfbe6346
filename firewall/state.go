package firewall

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"webrtcgw/options"
)

// StateFileName is the name of the record of the installed rules in the
// gateway's data directory (/var/lib/webrtc-gateway under systemd), where
// `webrtc-gateway firewall -state` writes it and the gateway looks for it.
const StateFileName = "firewall-ports.json"

// State records the ports that installed firewall rules open, and how to
// make them again.
type State struct {
	// Command is the command line that made the rules.
	Command string `json:"command"`
	// Source names the options the rules were generated from.
	Source string      `json:"source"`
	Ports  []StatePort `json:"ports"`
}

// StatePort is one rule of a State.
type StatePort struct {
	Zone     Zone     `json:"zone"`
	Protocol Protocol `json:"protocol"`
	Min      int      `json:"min"`
	Max      int      `json:"max"`
	For      string   `json:"for"`
}

// NewState returns the record of rs, made by command.
func NewState(rs *Ruleset, command string) *State {
	st := &State{Command: command, Source: rs.Source, Ports: []StatePort{}}
	for _, r := range rs.Rules {
		st.Ports = append(st.Ports, StatePort{r.Zone, r.Protocol, r.Ports.Min, r.Ports.Max, r.For})
	}
	return st
}

// WriteState writes st to path, replacing the file whole (written to a
// temporary file, then renamed) so that the gateway never reads half of one.
func WriteState(path string, st *State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// ReadState reads a State; the error wraps fs.ErrNotExist when there is
// none.
func ReadState(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, p := range st.Ports {
		if p.Min < 1 || p.Max > 65535 || p.Min > p.Max || (p.Protocol != TCP && p.Protocol != UDP) {
			return nil, fmt.Errorf("%s: invalid port entry %d-%d/%s", path, p.Min, p.Max, p.Protocol)
		}
	}
	return &st, nil
}

// Uncovered returns the rules that the options of set need and st does not
// cover: same zone and protocol, every port inside a recorded range. The
// management ports are not gateway options and are not compared.
func Uncovered(set *options.Set, st *State) ([]Rule, error) {
	rules, err := Rules(set, ManagementPorts{})
	if err != nil {
		return nil, err
	}
	var out []Rule
	for _, r := range rules {
		covered := false
		for _, p := range st.Ports {
			covered = covered || (p.Zone == r.Zone && p.Protocol == r.Protocol && PortRange{p.Min, p.Max}.contains(r.Ports))
		}
		if !covered {
			out = append(out, r)
		}
	}
	return out, nil
}

// WarnUncovered is the gateway's check of its options against the installed
// rules: it logs a warning for every port the options of set need that the
// rules recorded at path (see StateFileName) do not open, naming the option,
// the port and the command to run again. No file, no check: the rules were
// not installed by the command with -state. Call it once the options are in
// effect, at start and after each reload that changed them; it reads one
// small file and logs nothing when everything is covered.
func WarnUncovered(log hclog.Logger, set *options.Set, path string) {
	st, err := ReadState(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		log.Warn("firewall record unreadable; ports not compared with the installed rules", "path", path, "error", err)
		return
	}
	gaps, err := Uncovered(set, st)
	if err != nil {
		log.Warn("ports not compared with the installed firewall rules", "path", path, "error", err)
		return
	}
	for _, r := range gaps {
		log.Warn("port outside the installed firewall rules: the firewall may drop this traffic",
			"option", r.For, "port", r.Ports.String(), "protocol", string(r.Protocol), "zone", string(r.Zone),
			"rules_from", st.Source, "run_again", st.Command)
	}
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, mode 0644: rules and port records are not secret, and the
// gateway's unprivileged user reads the record.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
