package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// formats are the package formats pkgbuild writes.
var formats = []string{"rpm", "deb"}

// A config says what to build.
type config struct {
	Root       string // the repository root
	Out        string // where the packages go
	Formats    []string
	Only       []string // package names to build; empty: all
	Version    pkgVersion
	Arch       string    // GOARCH of the binaries and packages
	Maintainer string    // "Name <address>"
	MTime      time.Time // of every file, for reproducible packages
	Commit     string    // the git commit built, for the changelog
	Go         string    // the go command
	Log        io.Writer
}

// A builtPackage is one package file build wrote.
type builtPackage struct {
	Name   string // webrtc-gateway, ...
	Format string // rpm or deb
	Path   string
}

// build compiles the binaries and writes every package (or those of
// cfg.Only) in every format of cfg into cfg.Out.
func build(ctx context.Context, cfg config) ([]builtPackage, error) {
	for _, f := range cfg.Formats {
		if !slices.Contains(formats, f) {
			return nil, fmt.Errorf("format %q: want one of %s", f, strings.Join(formats, ", "))
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(cfg.Out, ".pkgbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	var defs []pkgDef
	for _, def := range packages() {
		if len(cfg.Only) == 0 || slices.Contains(cfg.Only, def.name) {
			defs = append(defs, def)
		}
	}
	for _, name := range cfg.Only {
		if !slices.ContainsFunc(defs, func(d pkgDef) bool { return d.name == name }) {
			return nil, fmt.Errorf("package %q: no such package", name)
		}
	}
	binDir := filepath.Join(work, "bin")
	if err := compile(ctx, cfg, defs, binDir); err != nil {
		return nil, err
	}
	stage := &stager{dir: filepath.Join(work, "files"), staged: map[string]string{}}
	changelog, err := writeChangelog(filepath.Join(work, "changelog.yml"), cfg)
	if err != nil {
		return nil, err
	}
	var out []builtPackage
	for _, def := range defs {
		scripts, err := writeScripts(cfg.Root, filepath.Join(work, "scripts", def.name), def)
		if err != nil {
			return nil, err
		}
		for _, format := range cfg.Formats {
			info, err := nfpmInfo(cfg, def, format, binDir, scripts, changelog, stage)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", def.name, format, err)
			}
			p, err := writePackage(cfg.Out, format, info)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", def.name, format, err)
			}
			fmt.Fprintf(cfg.Log, "pkgbuild: %s\n", p)
			out = append(out, builtPackage{Name: def.name, Format: format, Path: p})
		}
	}
	return out, nil
}

// compile builds the binaries of defs for linux/cfg.Arch into dir: without
// cgo (CGO_ENABLED=0: pion, sipgo, bbolt and the rest are pure Go, so the
// binaries need no shared library), position-independent for ASLR (they
// need the system's dynamic loader for that, nothing else), without the
// build host's paths (-trimpath), with the version -V prints.
func compile(ctx context.Context, cfg config, defs []pkgDef, dir string) error {
	args := []string{"build", "-trimpath", "-buildmode=pie", "-ldflags", "-X webrtcgw/version.Version=" + cfg.Version.Binary, "-o", dir + "/"}
	for _, def := range defs {
		for _, b := range def.binaries {
			args = append(args, "./cmd/"+b)
		}
	}
	cmd := exec.CommandContext(ctx, cfg.Go, args...)
	cmd.Dir = cfg.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+cfg.Arch)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = cfg.Log, &stderr
	fmt.Fprintf(cfg.Log, "pkgbuild: %s %s (CGO_ENABLED=0 GOARCH=%s)\n", cfg.Go, strings.Join(args, " "), cfg.Arch)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, stderr.String())
	}
	return nil
}

// The maintainer scripts, by nfpm's name for the step. RPM runs them as
// %pre, %post, %preun and %postun; dpkg as preinst, postinst, prerm and
// postrm.
var scriptPhases = []string{"preinstall", "postinstall", "preremove", "postremove"}

// writeScripts puts together the maintainer scripts of def in dir (see
// packaging/scripts/functions.sh) and returns their paths by phase.
func writeScripts(root, dir string, def pkgDef) (map[string]string, error) {
	functions, err := readScript(root, "functions.sh")
	if err != nil {
		return nil, err
	}
	sysusers, err := sysusersLines(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, phase := range scriptPhases {
		body, err := readScript(root, phase+".sh")
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "#!/bin/sh\n# %s: %s, put together by internal/pkgbuild from packaging/scripts.\n", def.name, phase)
		fmt.Fprintf(&b, "PKG=%s\n", def.name)
		fmt.Fprintf(&b, "UNITS='%s'\n", strings.Join(def.units, " "))
		fmt.Fprintf(&b, "SYSUSERS_FILE=%s/%s.conf\n", sysusersDir, def.name)
		fmt.Fprintf(&b, "TMPFILES_FILE=%s/%s.conf\n", tmpfilesDir, def.name)
		fmt.Fprintf(&b, "SYSUSERS='%s'\n\n", sysusers)
		b.WriteString(functions)
		b.WriteString("\n")
		b.WriteString(body)
		p := filepath.Join(dir, phase)
		if err := os.WriteFile(p, []byte(b.String()), 0o755); err != nil {
			return nil, err
		}
		out[phase] = p
	}
	return out, nil
}

// sysusersLines returns the lines of packaging/sysusers.d that are not
// comments, for %pre / preinst, which run before the file is installed.
func sysusersLines(root string) (string, error) {
	const name = "packaging/sysusers.d/webrtc-gateway.conf"
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return "", err
	}
	var lines []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "'") {
			return "", fmt.Errorf("%s: %q: no ' please (the scripts quote the lines with ')", name, line)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s: no user", name)
	}
	return strings.Join(lines, "\n"), nil
}

// readScript reads packaging/scripts/name without its #! line.
func readScript(root, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "packaging/scripts", name))
	if err != nil {
		return "", err
	}
	s := string(data)
	if strings.HasPrefix(s, "#!") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s, nil
}

// nfpmInfo is def as nfpm's description of one package in format.
func nfpmInfo(cfg config, def pkgDef, format, binDir string, scripts map[string]string, changelog string, stage *stager) (*nfpm.Info, error) {
	var contents files.Contents
	for _, b := range def.binaries {
		contents = append(contents, content(filepath.Join(binDir, b), "/usr/bin/"+b, "", 0o755, "root", "root", cfg.MTime))
	}
	for _, d := range def.dirs {
		contents = append(contents, content("", d.path, files.TypeDir, d.mode, d.owner, d.group, cfg.MTime))
	}
	for _, f := range def.files {
		srcs, err := expand(cfg.Root, f)
		if err != nil {
			return nil, err
		}
		if len(srcs) == 0 {
			fmt.Fprintf(cfg.Log, "pkgbuild: %s: nothing matches %s yet: not packaged\n", def.name, f.src)
		}
		for _, src := range srcs {
			staged, err := stage.copy(src)
			if err != nil {
				return nil, err
			}
			dst := f.dst
			if isGlob(f.src) {
				dst = path.Join(f.dst, filepath.Base(src))
			}
			typ, mode, group := "", os.FileMode(0o644), "root"
			switch f.kind {
			case kindBinary:
				mode = 0o755
			case kindConfig:
				typ, mode, group = files.TypeConfigNoReplace, 0o640, sysGroup
			case kindHostConfig:
				typ = files.TypeConfigNoReplace
			case kindDoc:
				if format == "rpm" {
					typ = files.TypeRPMDoc
				}
			}
			contents = append(contents, content(staged, dst, typ, mode, "root", group, cfg.MTime))
		}
	}

	recommends, suggests := def.recommends, def.suggests
	description := def.description
	if format == "deb" {
		if def.debRecommends != nil || def.debSuggests != nil {
			recommends, suggests = def.debRecommends, def.debSuggests
		}
		// The first line of a deb's Description is its synopsis.
		description = def.summary + "\n" + def.description
	}
	info := &nfpm.Info{
		Name:            def.name,
		Arch:            cfg.Arch,
		Platform:        "linux",
		Version:         cfg.Version.Upstream,
		VersionSchema:   "none", // mapVersion made it valid for both formats
		Release:         cfg.Version.Release,
		Section:         "net",
		Priority:        "optional",
		Maintainer:      cfg.Maintainer,
		Description:     description,
		Vendor:          "WebRTC Gateway",
		License:         "LicenseRef-Proprietary",
		Changelog:       changelog,
		DisableGlobbing: true,
		MTime:           cfg.MTime,
		Overridables: nfpm.Overridables{
			Depends:    def.depends,
			Recommends: recommends,
			Suggests:   suggests,
			Contents:   contents,
			Umask:      0o022,
			Scripts: nfpm.Scripts{
				PreInstall:  scripts["preinstall"],
				PostInstall: scripts["postinstall"],
				PreRemove:   scripts["preremove"],
				PostRemove:  scripts["postremove"],
			},
			RPM: nfpm.RPM{
				Summary:     def.summary,
				Group:       "Applications/Communications",
				Packager:    cfg.Maintainer,
				BuildHost:   "localhost", // reproducible
				Compression: "xz",
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	}
	return nfpm.WithDefaults(info), nil
}

func content(src, dst, typ string, mode os.FileMode, owner, group string, mtime time.Time) *files.Content {
	return &files.Content{Source: src, Destination: dst, Type: typ,
		FileInfo: &files.ContentFileInfo{Mode: mode, Owner: owner, Group: group, MTime: mtime}}
}

func isGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// expand returns the source files of f: the file itself (which must exist)
// or the matches of its pattern, sorted.
func expand(root string, f file) ([]string, error) {
	if !isGlob(f.src) {
		p := filepath.Join(root, f.src)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w", f.src, err)
		}
		return []string{p}, nil
	}
	matches, err := filepath.Glob(filepath.Join(root, f.src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.src, err)
	}
	if len(matches) == 0 && !f.optional {
		return nil, fmt.Errorf("%s: no file matches", f.src)
	}
	slices.Sort(matches)
	return matches, nil
}

// A stager copies the source files into the work directory once, so that
// every package and format gets the same content even while the tree is
// being edited (nfpm reads a file's size and its content at different
// times).
type stager struct {
	dir    string
	staged map[string]string // source → copy
}

func (s *stager) copy(src string) (string, error) {
	if p, ok := s.staged[src]; ok {
		return p, nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	p := filepath.Join(s.dir, strconv.Itoa(len(s.staged)), filepath.Base(src))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", err
	}
	s.staged[src] = p
	return p, nil
}

// writeChangelog writes the packages' changelog (RPM %changelog, deb
// changelog.Debian.gz) in nfpm's format: one entry, this build, naming the
// commit it was built from.
func writeChangelog(path string, cfg config) (string, error) {
	note := fmt.Sprintf("webrtc-gateway %s, built from commit %s.", cfg.Version.Binary, cfg.Commit)
	text := fmt.Sprintf("- semver: %s\n  date: %s\n  packager: %s\n  changes:\n    - note: %s\n",
		strconv.Quote(cfg.Version.RPM()), cfg.MTime.UTC().Format(time.RFC3339), strconv.Quote(cfg.Maintainer), strconv.Quote(note))
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// writePackage writes the package of info in format into dir.
func writePackage(dir, format string, info *nfpm.Info) (string, error) {
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, packager.ConventionalFileName(info))
	tmp := p + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	err = packager.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return p, nil
}
