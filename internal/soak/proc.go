package main

import (
	"bytes"
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

// readFile returns a file's contents, "" when it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
