package main

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
	"testing"
	"time"

	"webrtcgw/internal/testpeers"
	"webrtcgw/version"
)

// repoRoot is the repository's root, from this package's directory.
const repoRoot = "../.."

// testDir holds the packages the tests build, for every test of the run.
var testDir string

func TestMain(m *testing.M) {
	if os.Getenv(sandboxEnv) != "" {
		sandboxExec(os.Args[1:]) // does not return
	}
	dir, err := os.MkdirTemp("", "pkgbuild-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTools skips t when a tool is missing (fails it with
// E2E_REQUIRED=1).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testpeers.SkipOrFail(t, "%s not found: scripts/install-deps installs it", tool)
		}
	}
}

// requireRoot skips t unless it runs as root (mount and network
// namespaces), or fails it with E2E_REQUIRED=1.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testpeers.SkipOrFail(t, "needs root for its mount and network namespaces")
	}
}

// runErr runs a command and returns its stdout; the error carries stderr.
func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// runOut runs a command and returns its stdout, failing t when it fails.
func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testPackages are the packages of one build.
type testPackages struct {
	version pkgVersion
	byName  map[string]string // "rpm webrtc-gateway" → path
}

func (p *testPackages) path(format, name string) string { return p.byName[format+" "+name] }

// packageNames are the packages, in the order of packages().
var packageNames = []string{"webrtc-gateway", "webrtc-gateway-confserv", "webrtc-gateway-lca"}

var (
	buildOnce sync.Once
	built     *testPackages
	buildErr  error
)

// builtPackages builds every package in both formats once per test run.
func builtPackages(t *testing.T) *testPackages {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildForTest(filepath.Join(testDir, "dist"), "1", nil) })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// buildForTest builds the packages as make rpm and make deb do (the
// version from version.Base and git), with release and only, into dir.
func buildForTest(dir, release string, only []string) (*testPackages, error) {
	commit, commitTime := gitHead(repoRoot)
	v, err := mapVersion(version.Base+"-dev."+commit, release, commitTime)
	if err != nil {
		return nil, err
	}
	mtime, err := sourceDate(commitTime)
	if err != nil {
		return nil, err
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := build(ctx, config{Root: repoRoot, Out: dir, Formats: formats, Only: only, Version: v, Arch: runtime.GOARCH,
		Maintainer: "Test <test@example.invalid>", MTime: mtime, Commit: commit, Go: "go", Log: &log})
	if err != nil {
		return nil, fmt.Errorf("build: %w\n%s", err, log.String())
	}
	p := &testPackages{version: v, byName: map[string]string{}}
	for _, b := range out {
		p.byName[b.Format+" "+b.Name] = b.Path
	}
	return p, nil
}

// readRepo reads a file of the repository.
func readRepo(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// repoGlob is the base names of the repository's files matching pattern.
func repoGlob(t *testing.T, pattern string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot, pattern))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range matches {
		matches[i] = filepath.Base(m)
	}
	return matches
}
