// Package options is the option catalog: one table that describes every option
// of the WebRTC Gateway, and everything derived from it — parsing and
// validation into an immutable typed Set, the Diff that drives hot reload, INI
// loading, and the generated reference, sample configuration and application
// template.
//
// Other packages read typed fields of a *Set, never option strings by name.
package options

import "fmt"

// Type is the value type of an option. Its string form is used in the
// generated documentation and template metadata.
type Type string

// The value types. Each one has a parser in value.go.
const (
	TypeInt        Type = "integer"     // whole number within [Min, Max]
	TypePort       Type = "port"        // TCP/UDP port 1-65535 (0 = off when Off is set)
	TypeBool       Type = "boolean"     // true/false, yes/no, 1/0, on/off
	TypeEnum       Type = "enum"        // one of Enum
	TypeList       Type = "list"        // comma-separated; each item one of Enum when Enum is set
	TypeCIDRList   Type = "cidr-list"   // comma-separated IP prefixes or addresses
	TypeOriginList Type = "origin-list" // comma-separated https://host[:port], host or *.domain
	TypePath       Type = "path"        // file path
	TypeSize       Type = "size"        // byte size: 100MB, 512KB, 1GB (a bare number is KB)
	TypeSeconds    Type = "seconds"     // whole seconds within [Min, Max]
	TypeString     Type = "string"      // free text on one line
	TypeSecret     Type = "secret"      // like String, never shown back (passwords)
	TypeHost       Type = "host"        // DNS name or IP address
	TypeHostPort   Type = "host-port"   // host[:port]
	TypeAddress    Type = "address"     // IP address
	TypeURLList    Type = "url-list"    // comma-separated STUN/TURN URIs (RFC 7064, RFC 7065)
	TypeOutputList Type = "output-list" // comma-separated log outputs: stdout, stderr or file paths
)

// Effect says when a changed option takes effect. No option needs a restart.
type Effect string

// The takes-effect classes (docs/operations.md says what each does).
const (
	// Immediate options apply atomically to the next request or packet.
	Immediate Effect = "immediate"
	// Listener options start a new listener, then drain the old one.
	Listener Effect = "listener"
	// Transport options start a new SIP transport; dialogs on the old one finish there.
	Transport Effect = "transport"
	// NewCalls options apply to calls set up after the change.
	NewCalls Effect = "new-calls"
)

// Effects lists the classes in the order a reload applies them within one
// subsystem.
var Effects = []Effect{Immediate, NewCalls, Transport, Listener}

// Owner names the subsystem that applies an option.
type Owner string

// The owning subsystems.
const (
	OwnerLog   Owner = "log"
	OwnerMedia Owner = "media"
	OwnerSIP   Owner = "sip"
	OwnerWeb   Owner = "web"
	OwnerBan   Owner = "ban"
	OwnerLCA   Owner = "lca" // the [sml] annex: read by the Local Control Agent, not the gateway
)

// ApplyOrder is the order in which a reload applies changes: logging first so
// the rest of the reload is logged at the new level, then media → sip → web,
// so that a new listener never hands out work to a subsystem still on the
// old options.
var ApplyOrder = []Owner{OwnerLog, OwnerMedia, OwnerSIP, OwnerWeb, OwnerBan, OwnerLCA}

// Def describes one option.
type Def struct {
	Section string
	Name    string
	Type    Type
	// Default is the value used when the option is absent or empty, in its
	// canonical text form.
	Default string
	// Min and Max bound Int, Port and Seconds values, Size values in bytes, and
	// the number of items of list types (0 = no bound).
	Min, Max int64
	// Off allows 0 (or "false") besides [Min, Max], meaning "disabled".
	Off bool
	// Enum lists the allowed values of an Enum, or of each item of a List.
	Enum []string
	// Effect says when a change takes effect; Owner which subsystem applies it.
	Effect Effect
	Owner  Owner
	// Doc is the operator-facing description: full sentences.
	Doc string
}

// Key returns "section/name", the way every message names an option.
func (d *Def) Key() string { return d.Section + "/" + d.Name }

// Annex reports whether the option lives in the application's annex rather
// than in its options (the [sml] section read by the Local Control Agent).
func (d *Def) Annex() bool { return d.Section == SectionSML }

// Allowed describes the valid values in words, for messages and documentation.
func (d *Def) Allowed() string {
	off := ""
	if d.Off {
		off = "0 (off) or "
	}
	switch d.Type {
	case TypeInt:
		return fmt.Sprintf("%san integer from %d to %d", off, d.Min, d.Max)
	case TypeSeconds:
		return fmt.Sprintf("%sa number of seconds from %d to %d", off, d.Min, d.Max)
	case TypePort:
		return fmt.Sprintf("%sa port from %d to %d", off, d.Min, d.Max)
	case TypeBool:
		return "true or false (also yes/no, on/off, 1/0)"
	case TypeEnum:
		return "one of " + joinQuoted(d.Enum)
	case TypeList:
		if len(d.Enum) > 0 {
			return "a comma-separated list of " + joinQuoted(d.Enum)
		}
		return "a comma-separated list"
	case TypeCIDRList:
		return "a comma-separated list of IP addresses or CIDR prefixes (10.0.0.0/8, 2001:db8::/32)"
	case TypeOriginList:
		return "a comma-separated list of origins (https://host[:port]), bare hosts (any scheme and port) or *.domain wildcards"
	case TypePath:
		return "a file path"
	case TypeSize:
		return fmt.Sprintf("%sa size from %s to %s, with unit B, KB, MB or GB (a bare number is KB)", off, formatSize(d.Min), formatSize(d.Max))
	case TypeString, TypeSecret:
		return "text on one line"
	case TypeHost:
		return "a DNS name or IP address"
	case TypeHostPort:
		return "host or host:port (IPv6 in brackets: [2001:db8::1]:5060)"
	case TypeAddress:
		return "an IP address"
	case TypeURLList:
		return "a comma-separated list of stun:, stuns:, turn: or turns: URIs"
	case TypeOutputList:
		return "a comma-separated list of stdout, stderr or file paths"
	}
	return string(d.Type)
}

func joinQuoted(items []string) string {
	s := ""
	for i, it := range items {
		if i > 0 {
			s += ", "
		}
		s += it
	}
	return s
}
