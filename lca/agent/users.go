package agent

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// peer is what was proven of a registering process (provePeer).
type peer struct {
	proven     bool   // the claimed pid holds the connection; false: nothing is known
	startTicks uint64 // the claimed process's start time (/proc), when proven
}

// ParseUsers parses a list of users ([lca] app-users, -app-users): names
// or numeric uids, separated by commas or blanks. A name must exist; a uid
// need not.
func ParseUsers(s string) ([]uint32, error) {
	out := []uint32{}
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if uid, err := strconv.ParseUint(name, 10, 32); err == nil {
			out = append(out, uint32(uid))
			continue
		}
		u, err := user.Lookup(name)
		if err != nil {
			var unknown user.UnknownUserError
			if errors.As(err, &unknown) {
				return nil, fmt.Errorf("unknown user %q", name)
			}
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %q: uid %q is not a number", name, u.Uid)
		}
		out = append(out, uint32(uid))
	}
	return out, nil
}
