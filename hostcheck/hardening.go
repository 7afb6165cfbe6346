package hostcheck

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// hardeningKind says how a setting is compared with its packaged value.
type hardeningKind int

const (
	hBool     hardeningKind = iota // yes must stay yes
	hRank                          // a level at least as strict
	hCaps                          // a capability set no wider
	hFamilies                      // RestrictAddressFamilies no wider
	hSyscalls                      // SystemCallFilter no wider
	hUser                          // not root
	hUMask                         // masks at least the same bits
	hExact                         // the same value
)

type hardeningSetting struct {
	kind  hardeningKind
	ranks [][]string // hRank: levels, weakest first; the first is the default
}

// hardeningSettings are the [Service] settings of the packaged units that
// confine the daemons (systemd.exec(5)); a unit in effect must keep each
// at least as strict as the packaged unit sets it.
var hardeningSettings = map[string]hardeningSetting{
	"User":                    {kind: hUser},
	"UMask":                   {kind: hUMask},
	"CapabilityBoundingSet":   {kind: hCaps},
	"AmbientCapabilities":     {kind: hCaps},
	"NoNewPrivileges":         {kind: hBool},
	"ProtectSystem":           {kind: hRank, ranks: [][]string{{"no", "false"}, {"yes", "true"}, {"full"}, {"strict"}}},
	"ProtectHome":             {kind: hRank, ranks: [][]string{{"no", "false"}, {"read-only", "tmpfs"}, {"yes", "true"}}},
	"PrivateTmp":              {kind: hBool},
	"PrivateDevices":          {kind: hBool},
	"PrivateUsers":            {kind: hBool},
	"PrivateNetwork":          {kind: hBool},
	"PrivateIPC":              {kind: hBool},
	"ProtectKernelTunables":   {kind: hBool},
	"ProtectKernelModules":    {kind: hBool},
	"ProtectKernelLogs":       {kind: hBool},
	"ProtectControlGroups":    {kind: hBool},
	"ProtectClock":            {kind: hBool},
	"ProtectHostname":         {kind: hBool},
	"ProtectProc":             {kind: hRank, ranks: [][]string{{"default"}, {"ptraceable"}, {"invisible"}, {"noaccess"}}},
	"ProcSubset":              {kind: hRank, ranks: [][]string{{"all"}, {"pid"}}},
	"RestrictAddressFamilies": {kind: hFamilies},
	"RestrictNamespaces":      {kind: hBool},
	"RestrictRealtime":        {kind: hBool},
	"RestrictSUIDSGID":        {kind: hBool},
	"LockPersonality":         {kind: hBool},
	"MemoryDenyWriteExecute":  {kind: hBool},
	"RemoveIPC":               {kind: hBool},
	"SystemCallFilter":        {kind: hSyscalls},
	"SystemCallArchitectures": {kind: hExact},
	"DevicePolicy":            {kind: hRank, ranks: [][]string{{"auto"}, {"closed"}, {"strict"}}},
	"KeyringMode":             {kind: hRank, ranks: [][]string{{"inherit"}, {"shared"}, {"private"}}},
}

// lowPortsCapability is what the documented low-ports drop-in grants.
const lowPortsCapability = "CAP_NET_BIND_SERVICE"

// builtinHardening is the hardening of the packaged units
// (packaging/systemd), for a host where the packaged copy is not there to
// compare with (units installed by hand into /etc/systemd/system).
// TestBuiltinHardeningMatchesPackaging keeps it in step.
var builtinHardening = func() map[string][]Directive {
	common := `[Service]
User=webrtcgw
UMask=0027
CapabilityBoundingSet=
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallArchitectures=native
DevicePolicy=closed
KeyringMode=private
`
	out := map[string][]Directive{}
	for unit, families := range map[string]string{
		UnitGateway:  "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
		UnitConfserv: "AF_INET AF_INET6 AF_UNIX",
		UnitLCA:      "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	} {
		ds, err := ParseUnitFile("(built-in "+unit+")", []byte(common+"RestrictAddressFamilies="+families+"\n"))
		if err != nil {
			panic(err) // a programming error, caught by the tests
		}
		out[unit] = ds
	}
	return out
}()

// serviceOnly keeps the [Service] directives.
func serviceOnly(ds []Directive) *Unit {
	u := &Unit{}
	for _, d := range ds {
		if d.Section == "Service" {
			u.Directives = append(u.Directives, d)
		}
	}
	return u
}

// weakenings compares the [Service] settings in effect with the packaged
// ones and returns how each hardening setting was weakened, and the
// capabilities granted beyond the packaged ones by the low-ports drop-in.
func weakenings(ref, eff *Unit) (weak []string, lowPorts bool) {
	for _, key := range sortedKeys(hardeningSettings) {
		h := hardeningSettings[key]
		if !ref.Assigned("Service", key) {
			continue
		}
		refD, _ := ref.Last("Service", key)
		effD, effSet := eff.Last("Service", key)
		where := "not set"
		if effSet {
			where = fmt.Sprintf("%s=%s (%s)", key, effD.Value, effD.Where())
		}
		notSet := fmt.Sprintf("%s is not set (packaged: %s=%s)", key, key, refD.Value)
		bad := func(msg string) {
			if !effSet {
				weak = append(weak, notSet)
				return
			}
			weak = append(weak, where+": "+msg)
		}
		switch h.kind {
		case hBool:
			if b, isBool := boolValue(refD.Value); isBool {
				if got, _ := boolValue(effD.Value); b && !got {
					bad("packaged: " + key + "=" + refD.Value)
				}
			} else if effD.Value != refD.Value {
				bad("packaged: " + key + "=" + refD.Value)
			}
		case hRank:
			if rankOf(h.ranks, effD.Value, effSet) < rankOf(h.ranks, refD.Value, true) {
				bad("weaker than the packaged " + key + "=" + refD.Value)
			}
		case hExact:
			if effD.Value != refD.Value {
				bad("packaged: " + key + "=" + refD.Value)
			}
		case hUser:
			if !isRootUser(refD.Value) && isRootUser(effD.Value) {
				if dyn, _ := eff.Last("Service", "DynamicUser"); !parseBool(dyn.Value) {
					bad("runs the daemon as root")
				}
			}
		case hUMask:
			r, err1 := strconv.ParseUint(refD.Value, 8, 32)
			e, err2 := strconv.ParseUint(effD.Value, 8, 32)
			if !effSet {
				e, err2 = 0o022, nil
			}
			if err1 == nil && (err2 != nil || e&r != r) {
				bad(fmt.Sprintf("masks less than the packaged UMask=%s (new files readable by more users)", refD.Value))
			}
		case hCaps:
			rc := capSet(ref, key)
			ec := capSet(eff, key)
			switch {
			case ec.all && !rc.all:
				bad("keeps every capability but those named")
			case !rc.all:
				for _, c := range ec.caps {
					if slices.Contains(rc.caps, c) {
						continue
					}
					if c == lowPortsCapability {
						lowPorts = true
						continue
					}
					bad("adds " + c)
				}
			}
		case hFamilies:
			rf, ef := listSetting(ref, key), listSetting(eff, key)
			switch {
			case rf.none:
			case ef.none || ef.inverted && !rf.inverted:
				bad("allows every address family but those named")
			case !rf.inverted:
				for _, f := range ef.items {
					if !slices.Contains(rf.items, f) {
						bad("allows " + f + " too")
					}
				}
			}
		case hSyscalls:
			rs, es := syscallSetting(ref), syscallSetting(eff)
			switch {
			case rs.unfiltered:
			case es.unfiltered:
				bad("no system call filter in effect")
			default:
				if len(rs.allow) > 0 {
					if len(es.allow) == 0 {
						bad("allows every system call but those denied")
					}
					for _, a := range es.allow {
						if !slices.Contains(rs.allow, a) {
							bad("allows " + a + " too")
						}
					}
				}
				for _, d := range rs.deny {
					if !slices.Contains(es.deny, d) {
						bad("no longer denies " + d)
					}
				}
			}
		}
	}
	return weak, lowPorts
}

func boolValue(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "on":
		return true, true
	case "0", "no", "false", "off", "":
		return false, true
	}
	return false, false
}

func rankOf(ranks [][]string, v string, set bool) int {
	if !set {
		return 0
	}
	for i, level := range ranks {
		if slices.Contains(level, strings.ToLower(v)) {
			return i
		}
	}
	return 0
}

func isRootUser(u string) bool { return u == "" || u == "root" || u == "0" }

type caps struct {
	all  bool // every capability (unset bounding set, or ~ list)
	caps []string
}

// capSet returns a capability setting in effect: an empty assignment empties
// it; "~" lists keep every capability but those.
func capSet(u *Unit, key string) caps {
	if !u.Assigned("Service", key) {
		return caps{all: key == "CapabilityBoundingSet"}
	}
	var out caps
	for _, d := range u.Values("Service", key) {
		v := strings.TrimSpace(d.Value)
		if strings.HasPrefix(v, "~") {
			out.all = true
			continue
		}
		for _, c := range strings.Fields(v) {
			out.caps = appendNew(out.caps, strings.ToUpper(c))
		}
	}
	return out
}

type listValue struct {
	none     bool // no restriction
	inverted bool
	items    []string
}

func listSetting(u *Unit, key string) listValue {
	vals := u.Values("Service", key)
	if len(vals) == 0 {
		return listValue{none: true}
	}
	var out listValue
	for _, d := range vals {
		v := strings.TrimSpace(d.Value)
		if strings.HasPrefix(v, "~") {
			out.inverted = true
			v = v[1:]
		}
		for _, f := range strings.Fields(v) {
			out.items = appendNew(out.items, f)
		}
	}
	return out
}

type syscalls struct {
	unfiltered  bool
	allow, deny []string
}

func syscallSetting(u *Unit) syscalls {
	vals := u.Values("Service", "SystemCallFilter")
	if len(vals) == 0 {
		return syscalls{unfiltered: true}
	}
	var out syscalls
	for _, d := range vals {
		v := strings.TrimSpace(d.Value)
		if rest, ok := strings.CutPrefix(v, "~"); ok {
			for _, f := range strings.Fields(rest) {
				out.deny = appendNew(out.deny, f)
			}
			continue
		}
		for _, f := range strings.Fields(v) {
			out.allow = appendNew(out.allow, f)
		}
	}
	return out
}

func checkUnitHardening(s *Snapshot) verdict {
	var v verdict
	v.cannotRead(s.unreadableUnder(unitDirs...))
	found := false
	for _, name := range PackagedUnits {
		u := s.unit(name)
		if u == nil || u.Masked {
			continue
		}
		found = true
		v.malformed(s.malformedUnder(s.unitFiles(u)...), remedyUnitSyntax)
		ref, refFrom := serviceOnly(u.Vendor), u.VendorPath
		if u.VendorPath == "" {
			ref, refFrom = serviceOnly(builtinHardening[name]), "the packaged unit"
		}
		weak, lowPorts := weakenings(ref, serviceOnly(u.Directives))
		revert := fmt.Sprintf("undo the change: systemctl revert %s (removes /etc copies and drop-ins), or remove the lines from the drop-in named; systemctl daemon-reload; systemctl restart %s", name, name)
		for _, w := range weak {
			v.fail(name+": "+w, revert)
		}
		if c, ok := s.command(u); ok && strings.ContainsAny(c.Prefix, "+!") {
			v.fail(fmt.Sprintf("%s: ExecStart=%s (%s) runs the daemon outside its sandbox", name, c.Prefix, c.From.Where()), revert)
		}
		if u.VendorPath != "" && u.VendorPath != u.Path {
			v.warn(fmt.Sprintf("%s: %s hides the packaged %s: updates of the package to it do not apply", name, u.Path, u.VendorPath),
				fmt.Sprintf("put local changes in a drop-in (systemctl edit %s), then remove the copy: systemctl revert %s", name, name))
		}
		note := fmt.Sprintf("%s keeps the hardening of %s", name, refFrom)
		if len(u.DropIns) > 0 {
			note += " (drop-ins: " + strings.Join(u.DropIns, ", ") + ")"
		}
		if lowPorts {
			note += "; " + lowPortsCapability + " granted for ports below 1024"
		}
		v.pass(note)
	}
	if !found {
		v.skip("none of the packaged units (" + strings.Join(PackagedUnits, ", ") + ") is installed")
	}
	return v
}
