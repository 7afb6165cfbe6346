package options

import "fmt"

// Change is one option whose value differs between two sets.
type Change struct {
	Def      *Def
	Old, New string // canonical text
}

// String describes the change for a log line; secret values are not shown.
func (c Change) String() string {
	if c.Def.Type == TypeSecret {
		return c.Def.Key() + " changed"
	}
	return fmt.Sprintf("%s: %q -> %q", c.Def.Key(), c.Old, c.New)
}

// Group is the changes of one owner and takes-effect class.
type Group struct {
	Owner   Owner
	Effect  Effect
	Changes []Change
}

// Delta is the difference between two sets, grouped by owning subsystem in
// ApplyOrder and, within one owner, by class in Effects order.
type Delta struct {
	Groups []Group
}

// Diff returns the options whose canonical values differ from old to next.
// A nil old is treated as the defaults.
func Diff(old, next *Set) Delta {
	if old == nil {
		old = Defaults()
	}
	var d Delta
	for _, owner := range ApplyOrder {
		for _, effect := range Effects {
			var g Group
			for i := range catalog {
				def := &catalog[i]
				if def.Owner != owner || def.Effect != effect {
					continue
				}
				if o, n := old.Text(def), next.Text(def); o != n {
					g.Changes = append(g.Changes, Change{Def: def, Old: o, New: n})
				}
			}
			if len(g.Changes) > 0 {
				g.Owner, g.Effect = owner, effect
				d.Groups = append(d.Groups, g)
			}
		}
	}
	return d
}

// Empty reports whether nothing changed.
func (d Delta) Empty() bool { return len(d.Groups) == 0 }

// Owners returns the owners with changes, in ApplyOrder.
func (d Delta) Owners() []Owner {
	var out []Owner
	for _, g := range d.Groups {
		if len(out) == 0 || out[len(out)-1] != g.Owner {
			out = append(out, g.Owner)
		}
	}
	return out
}

// Changes returns every change of owner, or of all owners when owner is "".
func (d Delta) Changes(owner Owner) []Change {
	var out []Change
	for _, g := range d.Groups {
		if owner == "" || g.Owner == owner {
			out = append(out, g.Changes...)
		}
	}
	return out
}
