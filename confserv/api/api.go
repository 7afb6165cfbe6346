// Package api holds the JSON types of the Configuration Server API
// (docs/confserv-api.md), shared by the server, its Go client, gwctl and the
// daemons.
package api

import (
	"fmt"
	"maps"
	"regexp"
	"time"
)

// Sections is option text: section → option → value.
type Sections = map[string]map[string]string

// CloneSections returns a deep copy of s (nil stays nil).
func CloneSections(s Sections) Sections {
	if s == nil {
		return nil
	}
	out := make(Sections, len(s))
	for k, v := range s {
		out[k] = maps.Clone(v)
	}
	return out
}

// Kinds of objects, as they appear in URLs, events and audit entries.
const (
	KindHost        = "host"
	KindApplication = "application"
	KindTemplate    = "template"
	KindOperator    = "operator"
)

// Roles of operators; RoleApplication is a daemon with its credential,
// RoleHost the Local Control Agent of a host with the host's credential.
const (
	RoleAdmin       = "admin"
	RoleOperator    = "operator"
	RoleViewer      = "viewer"
	RoleApplication = "application"
	RoleHost        = "host"
)

// Meta is what every object carries.
type Meta struct {
	Name      string    `json:"name"`
	Revision  uint64    `json:"revision,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	Updated   time.Time `json:"updated,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Host is a machine with a Local Control Agent.
type Host struct {
	Meta
	Address string `json:"address"`
	LCAPort int    `json:"lca_port,omitempty"`
}

// Application is a daemon's configuration.
type Application struct {
	Meta
	Type        string         `json:"type"`
	Template    string         `json:"template"`
	Host        string         `json:"host,omitempty"`
	WorkingDir  string         `json:"working_dir,omitempty"`
	CommandLine string         `json:"command_line,omitempty"`
	Args        []string       `json:"args,omitempty"`
	AutoRestart bool           `json:"auto_restart,omitempty"`
	Options     Sections       `json:"options,omitempty"`
	Annex       Sections       `json:"annex,omitempty"`
	Connections []string       `json:"connections,omitempty"`
	Ports       map[string]int `json:"ports,omitempty"`
	Report      *Report        `json:"report,omitempty"`   // read-only
	Status      *AppStatus     `json:"status,omitempty"`   // read-only: from the host's LCA
	Warnings    []string       `json:"warnings,omitempty"` // read-only: options the template does not know
}

// Report is what a daemon says about the options of a revision.
type Report struct {
	Revision uint64    `json:"revision"`
	Status   string    `json:"status"` // "applied" or "rejected"
	Error    string    `json:"error,omitempty"`
	Time     time.Time `json:"time,omitzero"`
}

// AppStatus is what the Local Control Agent of the application's host last
// said about it (docs/lca-protocol.md has the status model).
type AppStatus struct {
	Status   string    `json:"status"`
	Detail   string    `json:"detail,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Since    time.Time `json:"since,omitzero"`   // when the status began
	Started  time.Time `json:"started,omitzero"` // when the process started
	Restarts int       `json:"restarts,omitempty"`
	Managed  bool      `json:"managed,omitempty"`
	Updated  time.Time `json:"updated,omitzero"` // set by the server
}

// Report statuses.
const (
	ReportApplied  = "applied"
	ReportRejected = "rejected"
)

// Template is an application template with its option metadata.
type Template struct {
	Meta
	Type     string    `json:"type"`
	Version  string    `json:"version,omitempty"`
	Options  Sections  `json:"options,omitempty"`
	Annex    Sections  `json:"annex,omitempty"`
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Metadata is a template's option metadata in JSON (the XML of
// docs/templates.md, same fields).
type Metadata struct {
	Sections []MetadataSection `json:"sections"`
}

// MetadataSection is one section of Metadata.
type MetadataSection struct {
	Name        string           `json:"name"`
	Annex       bool             `json:"annex,omitempty"`
	Description string           `json:"description,omitempty"`
	Options     []MetadataOption `json:"options"`
}

// MetadataOption describes one option.
type MetadataOption struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Default     string   `json:"default"`
	Min         string   `json:"min,omitempty"`
	Max         string   `json:"max,omitempty"`
	Off         bool     `json:"off,omitempty"`
	Effect      string   `json:"takes_effect,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Values      []string `json:"values,omitempty"`
	Allowed     string   `json:"allowed,omitempty"`
	Description string   `json:"description,omitempty"`
}

// TemplateImport is the body of POST /templates/import: the two XML files.
type TemplateImport struct {
	APD      string `json:"apd"`
	Metadata string `json:"metadata"`
}

// Operator is a person who signs in. Password is write-only.
type Operator struct {
	Meta
	Role     string `json:"role"`
	Password string `json:"password,omitempty"`
}

// Login is the body of POST /login.
type Login struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// Session is the answer to a login.
type Session struct {
	Token   string    `json:"token"`
	Role    string    `json:"role"`
	Expires time.Time `json:"expires"`
}

// Whoami is the answer to GET /whoami.
type Whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// Credential is a new application token, shown once.
type Credential struct {
	Token string `json:"token"`
}

// Event is one change in the watch stream.
type Event struct {
	Revision uint64       `json:"revision"`
	Kind     string       `json:"kind"`
	Name     string       `json:"name"`
	Op       string       `json:"op"` // "put" or "delete"
	Object   *EventObject `json:"object,omitempty"`
}

// Ops of events.
const (
	OpPut    = "put"
	OpDelete = "delete"
)

// EventObject is the object of an event, one field set by kind.
type EventObject struct {
	Host        *Host        `json:"host,omitempty"`
	Application *Application `json:"application,omitempty"`
	Template    *Template    `json:"template,omitempty"`
	Operator    *Operator    `json:"operator,omitempty"`
}

// Watch is the answer to GET /watch.
type Watch struct {
	Revision uint64  `json:"revision"`
	Events   []Event `json:"events,omitempty"`
	Reset    bool    `json:"reset,omitempty"`
}

// AuditEntry is one accepted change.
type AuditEntry struct {
	Revision uint64        `json:"revision"`
	Time     time.Time     `json:"time"`
	Who      string        `json:"who"`
	Kind     string        `json:"kind"`
	Name     string        `json:"name"`
	Op       string        `json:"op"`
	Changes  []FieldChange `json:"changes,omitempty"`
}

// FieldChange is one field of an audit entry.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// Audit is the answer to GET /audit.
type Audit struct {
	Entries []AuditEntry `json:"entries"`
}

// Error is every error response.
type Error struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems,omitempty"`
}

// Masked is what a set secret option shows to operators.
const Masked = "********"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// CheckName validates an object name.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: 1 to 64 letters, digits, '_', '-' or '.'", name)
	}
	if name == "." || name == ".." {
		// Path segments: /api/v1/hosts/. is /api/v1/hosts, so an object
		// so named could never be read, changed or deleted.
		return fmt.Errorf("name %q: . and .. cannot name an object", name)
	}
	return nil
}
