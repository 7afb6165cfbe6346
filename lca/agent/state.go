package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The LCA remembers the processes of its applications in DATA/processes/
// NAME.json, so that after it restarts it knows which ones still run: those
// are adopted when they register again, and autostart does not start them a
// second time.

// procRecord is one remembered process.
type procRecord struct {
	PID        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks,omitempty"` // /proc start time: tells pid reuse apart
	Started    time.Time `json:"started"`
	// OwnGroup: the agent started the process in a process group it
	// created (Setpgid): signals go to the group. Older LCAs wrote "group",
	// true also for a process that registered by itself leading a group it
	// did not create: that one is not read, and their processes get
	// signals to their pid only.
	OwnGroup bool `json:"lca_group,omitempty"`
}

func (ag *Agent) recordDir() string {
	if ag.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(ag.cfg.DataDir, "processes")
}

// writeRecord remembers app's process; failures are logged, not fatal.
func (ag *Agent) writeRecord(name string, r procRecord) {
	dir := ag.recordDir()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		ag.log.Warn("cannot remember the process", "app", name, "error", err)
		return
	}
	data, _ := json.Marshal(r)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		ag.log.Warn("cannot remember the process", "app", name, "error", err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".json")); err != nil {
		ag.log.Warn("cannot remember the process", "app", name, "error", err)
	}
}

func (ag *Agent) removeRecord(name string) {
	if dir := ag.recordDir(); dir != "" {
		os.Remove(filepath.Join(dir, name+".json"))
	}
}

// readRecords returns the remembered processes that still run, and forgets
// the others.
func (ag *Agent) readRecords() map[string]procRecord {
	out := map[string]procRecord{}
	dir := ag.recordDir()
	if dir == "" {
		return out
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		var r procRecord
		if err != nil || json.Unmarshal(data, &r) != nil || !processAlive(r.PID, r.StartTicks) {
			os.Remove(path)
			continue
		}
		out[name] = r
	}
	return out
}
