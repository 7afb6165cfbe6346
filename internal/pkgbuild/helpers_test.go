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
	// The daemons run as an unprivileged user from here (sandbox.run).
	if err := os.Chmod(dir, 0o755); err != nil {
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

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// buildForTest builds the packages as make rpm and make deb do, with the
// pkgbuild command (built without the race detector, which would make
// nfpm's compression minutes long), the version from version.Base and git,
// release and only, into dir.
func buildForTest(dir, release string, only []string) (*testPackages, error) {
	cliOnce.Do(func() {
		cliPath = filepath.Join(testDir, "pkgbuild")
		_, cliErr = runErr("go", "build", "-o", cliPath, ".")
	})
	if cliErr != nil {
		return nil, cliErr
	}
	commit, commitTime := gitHead(repoRoot)
	v, err := mapVersion(version.Base+"-dev."+commit, release, commitTime)
	if err != nil {
		return nil, err
	}
	names := packageNames
	if only != nil {
		names = only
	}
	args := []string{"-root", repoRoot, "-out", dir, "-format", "rpm,deb", "-version", v.Binary, "-release", release,
		"-package", strings.Join(names, ","), "-maintainer", "Test <test@example.invalid>"}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliPath, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pkgbuild %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	p := &testPackages{version: v, byName: map[string]string{}}
	for _, name := range names {
		p.byName["rpm "+name] = filepath.Join(dir, name+"-"+v.RPM()+"."+arch+".rpm")
		p.byName["deb "+name] = filepath.Join(dir, name+"_"+v.Deb()+"_"+runtime.GOARCH+".deb")
		for _, path := range []string{p.byName["rpm "+name], p.byName["deb "+name]} {
			if _, err := os.Stat(path); err != nil {
				entries, _ := os.ReadDir(dir)
				return nil, fmt.Errorf("pkgbuild did not write %s (%v); %s has %v", filepath.Base(path), err, dir, entries)
			}
		}
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
