// Package confservtest runs the real confserv binary for tests: built once
// per test binary, started on a loopback port with its data in a directory
// of the test's, stopped when the test ends.
package confservtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"webrtcgw/confserv/client"
	"webrtcgw/internal/testpeers"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles cmd/confserv once. Without -race: bcrypt under the race
// detector takes seconds per hash; the server's concurrency is race-tested in
// process (confserv/server).
func build() (string, error) {
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "confservtest")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "confserv")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/confserv")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build confserv: %v\n%s", err, out)
		}
	})
	return binary, buildErr
}

// Server is a running confserv process.
type Server struct {
	t    testing.TB
	Dir  string
	Port int
	URL  string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
}

// Start runs confserv with its data in dir on port (0: a free one) and
// waits until it serves. Extra arguments are appended.
func Start(t testing.TB, dir string, port int, extra ...string) *Server {
	t.Helper()
	bin, err := build()
	if err != nil {
		t.Fatal(err)
	}
	if port == 0 {
		port = testpeers.FreePort(t, testpeers.NetTCP)
	}
	s := &Server{t: t, Dir: dir, Port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	args := append([]string{"-listen", "127.0.0.1", "-port", fmt.Sprint(port), "-data", dir}, extra...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("confserv output:\n%s", s.Output())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.Output(), "started") {
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			t.Fatalf("confserv did not start:\n%s", s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Write collects the process's output.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// Output returns what the process printed.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Stop ends the process with SIGTERM (idempotent).
func (s *Server) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}

// Kill ends the process with SIGKILL.
func (s *Server) Kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// AdminPassword reads the initial admin password of the data directory.
func (s *Server) AdminPassword() string {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir, "initial-admin-password"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// Client returns a client signed in as name with password (the initial
// admin when both are empty).
func (s *Server) Client(name, password string) *client.Client {
	s.t.Helper()
	if name == "" {
		name, password = "admin", s.AdminPassword()
	}
	c, err := client.New(client.Config{URL: s.URL})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, name, password); err != nil {
		s.t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// Pid is the process id (for measuring its memory).
func (s *Server) Pid() int { return s.cmd.Process.Pid }
