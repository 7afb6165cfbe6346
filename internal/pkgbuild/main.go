// Command pkgbuild builds the RPM and deb packages of the WebRTC Gateway
// (webrtc-gateway, webrtc-gateway-confserv, webrtc-gateway-lca) from one
// definition (packages.go) with nfpm, into dist/ (packaging/README.md):
//
//	go run ./internal/pkgbuild [-format rpm,deb] [-package NAMES] [-out dist] [-version V] [-release N] [-arch GOARCH]
//
// It compiles the binaries itself (no cgo, PIE, -trimpath, the version in
// -ldflags as the Makefile does). `make rpm` and `make deb` run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"webrtcgw/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pkgbuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "rpm,deb", "package `formats`, comma-separated: rpm, deb")
	only := fs.String("package", "", "build only these `packages` (comma-separated names; default all)")
	out := fs.String("out", "dist", "`directory` the packages are written to")
	root := fs.String("root", ".", "the repository's root `directory`")
	ver := fs.String("version", "", "the binaries' `version` (the Makefile's VERSION; default "+version.Base+"-dev.COMMIT)")
	release := fs.String("release", "1", "RPM release and deb revision")
	arch := fs.String("arch", defaultArch(), "`GOARCH` of the binaries and the packages")
	maintainer := fs.String("maintainer", "WebRTC Gateway maintainers <maintainers@webrtcgw.invalid>", "packager and maintainer, `Name <address>`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pkgbuild: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if _, err := os.Stat(filepath.Join(*root, "go.mod")); err != nil {
		fmt.Fprintf(stderr, "pkgbuild: -root %s is not the repository's root (no go.mod): run it from there\n", *root)
		return 2
	}
	commit, commitTime := gitHead(*root)
	if *ver == "" {
		*ver = version.Base + "-dev." + commit
	}
	v, err := mapVersion(*ver, *release, commitTime)
	if err != nil {
		fmt.Fprintf(stderr, "pkgbuild: %v\n", err)
		return 2
	}
	mtime, err := sourceDate(commitTime)
	if err != nil {
		fmt.Fprintf(stderr, "pkgbuild: %v\n", err)
		return 2
	}
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var onlyList []string
	if *only != "" {
		onlyList = strings.Split(*only, ",")
	}
	_, err = build(ctx, config{
		Root:       *root,
		Out:        *out,
		Formats:    strings.Split(*format, ","),
		Only:       onlyList,
		Version:    v,
		Arch:       *arch,
		Maintainer: *maintainer,
		MTime:      mtime,
		Commit:     commit,
		Go:         goCmd,
		Log:        stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "pkgbuild: %v\n", err)
		return 1
	}
	return 0
}

func defaultArch() string {
	if a := os.Getenv("GOARCH"); a != "" {
		return a
	}
	return runtime.GOARCH
}

// gitHead returns the short commit of HEAD and its time, or "unknown" and
// the zero time outside a git checkout (as the Makefile does).
func gitHead(root string) (string, time.Time) {
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%h %ct").Output()
	if err != nil {
		return "unknown", time.Time{}
	}
	hash, ct, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	sec, err := strconv.ParseInt(ct, 10, 64)
	if !ok || err != nil {
		return "unknown", time.Time{}
	}
	return hash, time.Unix(sec, 0).UTC()
}

// sourceDate is the time stamped on every file: $SOURCE_DATE_EPOCH
// (reproducible-builds.org), else the commit's time, else now.
func sourceDate(commitTime time.Time) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	if !commitTime.IsZero() {
		return commitTime, nil
	}
	return time.Now().UTC(), nil
}
