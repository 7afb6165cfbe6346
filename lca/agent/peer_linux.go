//go:build linux

package agent

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
)

// provePeer proves that pid is a process holding the client's end of nc,
// an accepted loopback TCP connection, and that the connection and the
// process belong to users that may register (allowed). Any doubt is an
// error: the registration is refused (fail closed).
//
//  1. /proc/net/tcp and /proc/net/tcp6 give the socket whose local address
//     is nc's remote (the client's) address and whose remote address is
//     nc's local (the agent's): its inode and the user who created it.
//  2. That user must be allowed: a process of another user holding a socket
//     it was handed (SCM_RIGHTS) proves nothing.
//  3. /proc/PID/fd of the claimed pid must hold socket:[inode]. Only the
//     claimed pid is read: whether other processes hold the socket too
//     does not matter.
//  4. The process's own users (real and effective) must be allowed.
//
// Its start time, read before and after the file descriptors, tells that
// the process that held the socket is the one adopted, not a later one
// reusing its pid.
func provePeer(nc net.Conn, pid int, allowed func(uint32) bool) (peer, error) {
	client, err1 := netip.ParseAddrPort(nc.RemoteAddr().String())
	server, err2 := netip.ParseAddrPort(nc.LocalAddr().String())
	if err := errors.Join(err1, err2); err != nil {
		return peer{}, fmt.Errorf("cannot verify the registering process: %w", err)
	}
	inode, uid, err := socketOwner(client, server)
	if err != nil {
		return peer{}, fmt.Errorf("cannot verify the registering process: %w", err)
	}
	if !allowed(uid) {
		return peer{}, fmt.Errorf("its connection belongs to %s, who may not register applications (root, the LCA's user and the users of [lca] app-users or -app-users may)", userName(uid))
	}
	tgid, uids, err := procStatus(pid)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return peer{}, fmt.Errorf("pid %d is not a running process", pid)
		}
		return peer{}, fmt.Errorf("cannot verify pid %d: %w", pid, err)
	}
	if tgid != pid {
		return peer{}, fmt.Errorf("pid %d is a thread of process %d, not a process", pid, tgid)
	}
	before := processStartTicks(pid)
	held, err := holdsSocket(pid, inode)
	if err != nil {
		return peer{}, fmt.Errorf("cannot verify pid %d: %w", pid, err)
	}
	if !held || before == 0 || processStartTicks(pid) != before {
		return peer{}, fmt.Errorf("pid %d does not hold this connection (an application registers with its own pid)", pid)
	}
	for _, u := range uids {
		if !allowed(u) {
			return peer{}, fmt.Errorf("pid %d runs as %s, who may not register applications", pid, userName(u))
		}
	}
	return peer{proven: true, startTicks: before}, nil
}

// socketOwner finds the client's end of a TCP connection in /proc/net/tcp
// and /proc/net/tcp6 (proc_net_tcp(5)) and returns its inode and uid.
// Entries without an inode (TIME_WAIT, orphaned) are no one's.
func socketOwner(client, server netip.AddrPort) (inode uint64, uid uint32, err error) {
	client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port())
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		inode, uid, err := findSocket(file, client, server)
		if err != nil || inode != 0 {
			return inode, uid, err
		}
	}
	return 0, 0, fmt.Errorf("no socket %s → %s in /proc/net/tcp or /proc/net/tcp6", client, server)
}

func findSocket(file string, client, server netip.AddrPort) (inode uint64, uid uint32, err error) {
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, 0, nil // no IPv6
		}
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, err1 := parseProcAddr(fields[1])
		remote, err2 := parseProcAddr(fields[2])
		if err1 != nil || err2 != nil || local != client || remote != server {
			continue
		}
		n, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil || n == 0 {
			continue
		}
		u, err := strconv.ParseUint(fields[7], 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: malformed uid %q", file, fields[7])
		}
		return n, uint32(u), nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", file, err)
	}
	return 0, 0, nil
}

// parseProcAddr parses an address of /proc/net/tcp{,6}: the IP as 32-bit
// words in hex, each in the host's byte order, ':' and the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || (len(ipHex) != 8 && len(ipHex) != 32) {
		return netip.AddrPort{}, fmt.Errorf("malformed address %q", s)
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("malformed address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("malformed address %q", s)
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// holdsSocket reports whether one of pid's file descriptors is the socket
// inode. A descriptor closed while it is read is skipped.
func holdsSocket(pid int, inode uint64) (bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	want := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return false, err
		}
		if target == want {
			return true, nil
		}
	}
	return false, nil
}

// procStatus reads the thread group id and the real and effective uids of
// pid from /proc/PID/status (proc_pid_status(5)).
func procStatus(pid int) (tgid int, uids []uint32, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, nil, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		switch key {
		case "Tgid":
			tgid, err = strconv.Atoi(strings.TrimSpace(value))
			if err != nil {
				return 0, nil, fmt.Errorf("malformed /proc status: Tgid %q", value)
			}
		case "Uid":
			f := strings.Fields(value)
			if len(f) < 2 {
				return 0, nil, fmt.Errorf("malformed /proc status: Uid %q", value)
			}
			for _, s := range f[:2] {
				u, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return 0, nil, fmt.Errorf("malformed /proc status: Uid %q", value)
				}
				uids = append(uids, uint32(u))
			}
		}
	}
	if tgid == 0 || uids == nil {
		return 0, nil, errors.New("malformed /proc status: no Tgid or Uid")
	}
	return tgid, uids, nil
}

// userName says who uid is, for messages: "name (uid N)", or "uid N".
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return "user " + u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
