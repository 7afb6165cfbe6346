package hostcheck

import (
	"bufio"
	"bytes"
	"strings"
)

// Fail2ban is fail2ban's jail configuration and, on the running host, the
// jails its server has loaded.
type Fail2ban struct {
	Installed bool           `json:"installed"`
	JailFile  string         `json:"jail_file"` // the packaged jail file
	Files     []Fail2banFile `json:"files,omitempty"`
	// Status is `fail2ban-client status`, run only on the running host.
	Status *CommandResult `json:"status,omitempty"`
}

// A Fail2banFile is one jail configuration file, in the order fail2ban
// reads them: jail.conf, jail.d/*.conf, jail.local, jail.d/*.local.
type Fail2banFile struct {
	Path     string                       `json:"path"`
	Sections map[string]map[string]string `json:"sections"`
	Order    []string                     `json:"-"`
}

// A CommandResult is what a command printed, or why it could not run.
type CommandResult struct {
	Command string `json:"command"`
	Output  string `json:"output,omitempty"`
	Err     string `json:"error,omitempty"`
}

// ParseFail2banFile parses a fail2ban configuration file (Python
// configparser: [section], key = value or key: value, values continued on
// indented lines, # and ; comments).
func ParseFail2banFile(path string, data []byte) Fail2banFile {
	f := Fail2banFile{Path: path, Sections: map[string]map[string]string{}}
	var sec map[string]string
	lastKey := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if (raw[0] == ' ' || raw[0] == '\t') && sec != nil && lastKey != "" {
			sec[lastKey] += "\n" + line
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			name := strings.TrimSpace(line[1 : len(line)-1])
			if f.Sections[name] == nil {
				f.Sections[name] = map[string]string{}
				f.Order = append(f.Order, name)
			}
			sec, lastKey = f.Sections[name], ""
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 || sec == nil {
			continue
		}
		lastKey = strings.ToLower(strings.TrimSpace(line[:i]))
		sec[lastKey] = strings.TrimSpace(line[i+1:])
	}
	return f
}

// Jails returns the jails the packaged jail file defines.
func (f *Fail2ban) Jails() []string {
	for _, file := range f.Files {
		if file.Path != f.JailFile {
			continue
		}
		var out []string
		for _, s := range file.Order {
			if s != "DEFAULT" && s != "INCLUDES" && s != "Definition" && s != "Init" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// JailEnabled returns a jail's enabled setting as fail2ban resolves it (the
// last file that sets it for the jail, else [DEFAULT], else false) and the
// file that decided.
func (f *Fail2ban) JailEnabled(jail string) (bool, string) {
	val, where := "", ""
	defVal, defWhere := "false", "fail2ban's default"
	for _, file := range f.Files {
		if v, ok := file.Sections[jail]["enabled"]; ok {
			val, where = v, file.Path
		}
		if v, ok := file.Sections["DEFAULT"]["enabled"]; ok {
			defVal, defWhere = v, file.Path+" [DEFAULT]"
		}
	}
	if where == "" {
		val, where = defVal, defWhere
	}
	return parseBool(val), where
}

// ParseFail2banStatus returns the jails `fail2ban-client status` lists
// ("`- Jail list:	sshd, webrtc-gateway").
func ParseFail2banStatus(out string) []string {
	for _, line := range strings.Split(out, "\n") {
		_, list, ok := strings.Cut(line, "Jail list:")
		if !ok {
			continue
		}
		jails := []string{}
		for _, j := range strings.Split(list, ",") {
			if j = strings.TrimSpace(j); j != "" {
				jails = append(jails, j)
			}
		}
		return jails
	}
	return nil
}

func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}

// An XinetdService is a service of /etc/xinetd.d.
type XinetdService struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Disabled bool   `json:"disabled"`
}

// ParseXinetd parses an xinetd configuration file: "service NAME { … }"
// blocks with their "disable = yes|no" (xinetd.conf(5); a service without
// it is enabled).
func ParseXinetd(file string, data []byte) []XinetdService {
	var out []XinetdService
	var cur *XinetdService
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "service":
			out = append(out, XinetdService{Name: f[1], File: file})
			cur = &out[len(out)-1]
		case cur != nil && strings.HasPrefix(line, "}"):
			cur = nil
		case cur != nil:
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "disable" {
				cur.Disabled = parseBool(v)
			}
		}
	}
	return out
}
