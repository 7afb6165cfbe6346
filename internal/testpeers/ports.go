package testpeers

import (
	"fmt"
	"net"
	"testing"
)

// Networks that [FreePort] accepts.
const (
	// NetTCP asks for a free TCP port.
	NetTCP = "tcp"
	// NetUDP asks for a free UDP port.
	NetUDP = "udp"
	// NetSIP asks for a port free for both UDP and TCP, as a SIP listener
	// on both transports needs.
	NetSIP = "udp+tcp"
	// NetRTP asks for an even UDP port whose next port (RTCP) is free too
	// (RFC 3550 section 11).
	NetRTP = "rtp"
)

// FreePort returns a port of 127.0.0.1 that is free for network (one of
// [NetTCP], [NetUDP], [NetSIP], [NetRTP]) at the time of the call. The caller
// binds it; another process could take it in between, so prefer binding
// 127.0.0.1:0 directly when the code under test allows it.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	var (
		port int
		err  error
	)
	switch network {
	case NetTCP:
		port, err = freePort(func(p int) bool { return true }, "tcp")
	case NetUDP:
		port, err = freePort(func(p int) bool { return true }, "udp")
	case NetSIP:
		port, err = freePort(func(p int) bool { return canBind("tcp", p) }, "udp")
	case NetRTP:
		port, err = freeUDPRange(2)
	default:
		t.Fatalf("FreePort: unknown network %q", network)
	}
	if err != nil {
		t.Fatalf("FreePort(%s): %v", network, err)
	}
	return port
}

// freePort binds 127.0.0.1:0 on network ("tcp" or "udp") until the kernel
// picks a port for which also(port) is true, and returns it unbound.
func freePort(also func(port int) bool, network string) (int, error) {
	for range 100 {
		var (
			port    int
			release func() error
		)
		if network == "tcp" {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port, release = l.Addr().(*net.TCPAddr).Port, l.Close
		} else {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				return 0, err
			}
			port, release = c.LocalAddr().(*net.UDPAddr).Port, c.Close
		}
		ok := also(port)
		release()
		if ok {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no suitable %s port found", network)
}

// freeUDPRange returns an even UDP port p such that p .. p+n-1 are all free.
func freeUDPRange(n int) (int, error) {
	for range 100 {
		conns, port, err := bindUDPRange(n)
		if err != nil {
			return 0, err
		}
		for _, c := range conns {
			c.Close()
		}
		if port != 0 {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free UDP ports found", n)
}

// bindUDPRange binds an even port p chosen by the kernel and then p+1 ..
// p+n-1 on 127.0.0.1. It returns port 0 and no sockets when this attempt
// failed (odd port, neighbour taken); the caller retries.
func bindUDPRange(n int) ([]*net.UDPConn, int, error) {
	first, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, 0, err
	}
	port := first.LocalAddr().(*net.UDPAddr).Port
	conns := []*net.UDPConn{first}
	fail := func() ([]*net.UDPConn, int, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, 0, nil
	}
	if port%2 != 0 || port+n-1 > 65535 {
		return fail()
	}
	for i := 1; i < n; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + i})
		if err != nil {
			return fail()
		}
		conns = append(conns, c)
	}
	return conns, port, nil
}

// canBind reports whether 127.0.0.1:port can be bound on network now.
func canBind(network string, port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if network == "tcp" {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
