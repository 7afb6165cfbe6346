package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"webrtcgw/internal/childproc"
)

// startProc runs bin with args in dir, its output appended to logFile, as
// a child that dies with the harness (childproc).
func startProc(name, logFile, dir, bin string, args ...string) (*childproc.Process, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// The child has its own copy of the descriptor once started.
	defer out.Close()
	fmt.Fprintf(out, "$ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	return childproc.Start(name, cmd)
}

// stopProc stops p (nil: never started), SIGTERM then SIGKILL after grace;
// it reports whether p ended within grace.
func stopProc(p *childproc.Process, grace time.Duration) bool {
	if p == nil {
		return true
	}
	clean, _ := p.Stop(grace)
	return clean
}

// freePort returns a port of 127.0.0.1 that the kernel picked as free for
// UDP and TCP alike.
func freePort() (int, error) {
	for range 100 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		c.Close()
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// moduleRoot returns the directory of the module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// buildBinaries builds the gateway, confserv and the LCA into dir; the
// gateway with the race detector when race is set.
func buildBinaries(dir string, race bool) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	build := func(args ...string) error {
		cmd := exec.Command("go", append([]string{"build", "-o", dir}, args...)...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return nil
	}
	gw := []string{"./cmd/webrtc-gateway"}
	if race {
		gw = append([]string{"-race"}, gw...)
	}
	if err := build(gw...); err != nil {
		return err
	}
	return build("./cmd/confserv", "./cmd/lca")
}

// sipPing sends one OPTIONS over UDP to addr and waits for a 200 until ctx
// ends.
func sipPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp4", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	req := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-soak-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=" + id + "\r\nTo: <sip:" + addr + ">\r\n" +
		"Call-ID: soak-probe-" + id + "@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 200 ")) {
		return fmt.Errorf("OPTIONS answered %q", bytes.SplitN(buf[:n], []byte("\r\n"), 2)[0])
	}
	return nil
}

// readFile returns a file's contents, "" when it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
