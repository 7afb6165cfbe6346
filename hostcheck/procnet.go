package hostcheck

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A Socket is a listening TCP socket or an unconnected (bound) UDP socket of
// the host, from /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Proto string         `json:"proto"` // "tcp" or "udp"
	Addr  netip.AddrPort `json:"addr"`  // local address; 0.0.0.0 or :: for every address
	UID   int            `json:"uid"`
	Inode uint64         `json:"inode"`
	PID   int            `json:"pid,omitempty"`  // owning process, when /proc/PID/fd was readable
	Comm  string         `json:"comm,omitempty"` // its command name
}

// String is "tcp 0.0.0.0:23 (pid 812 in.telnetd)".
func (s Socket) String() string {
	out := s.Proto + " " + s.Addr.String()
	if s.PID != 0 {
		out += fmt.Sprintf(" (pid %d %s)", s.PID, s.Comm)
	}
	return out
}

// Kernel socket states as /proc/net prints them (include/net/tcp_states.h).
const (
	stateClose  = "07" // an unconnected UDP socket
	stateListen = "0A"
)

// ParseProcNet parses the text of /proc/net/tcp, tcp6, udp or udp6 (proto
// "tcp" or "udp") and returns the listening TCP sockets, or the UDP sockets
// not connected to a peer. Lines it cannot parse are skipped and reported in
// the error; the sockets of the other lines are still returned.
func ParseProcNet(data []byte, proto string) ([]Socket, error) {
	var out []Socket
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || (n == 1 && f[0] == "sl") {
			continue
		}
		if len(f) < 10 {
			bad = append(bad, fmt.Sprintf("line %d: %d fields, want at least 10", n, len(f)))
			continue
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: local address %q: %v", n, f[1], err))
			continue
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: remote address %q: %v", n, f[2], err))
			continue
		}
		switch st := strings.ToUpper(f[3]); {
		case proto == "tcp" && st == stateListen:
		case proto == "udp" && st == stateClose && remote.Port() == 0:
		default:
			continue
		}
		uid, err1 := strconv.Atoi(f[7])
		inode, err2 := strconv.ParseUint(f[9], 10, 64)
		if err1 != nil || err2 != nil {
			bad = append(bad, fmt.Sprintf("line %d: uid %q or inode %q is not a number", n, f[7], f[9]))
			continue
		}
		out = append(out, Socket{Proto: proto, Addr: local, UID: uid, Inode: inode})
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		more := ""
		if len(bad) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(bad)-1)
		}
		return out, fmt.Errorf("%s%s", bad[0], more)
	}
	return out, nil
}

// parseHexAddrPort parses "0100007F:1F90" or the 32-digit IPv6 form. The
// kernel prints each 32-bit word of the address as a number in the host's
// byte order, so the bytes are read back the same way.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	hexAddr, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no ':'")
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("port %q is not 4 hex digits", hexPort)
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q is not 8 or 32 hex digits", hexAddr)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}
