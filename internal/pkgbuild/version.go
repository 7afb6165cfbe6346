package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A pkgVersion is the version of the packages.
type pkgVersion struct {
	// Binary is the version the binaries print with -V (the Makefile's
	// VERSION): 0.1.0 for a release, 0.1.0-dev.60c55ec between releases.
	Binary string
	// Upstream is the RPM Version and the upstream part of the deb version:
	// Binary with its pre-release after a '~', which sorts before the
	// release in both rpm and dpkg (0.1.0~dev... < 0.1.0), and a development
	// build's commit time before its commit, so that later builds sort
	// later: 0.1.0~dev.20250102150405.g60c55ec.
	Upstream string
	// Release is the RPM Release and the deb revision (1 unless the same
	// version is packaged again).
	Release string
}

// Deb is the version of the deb: upstream-revision.
func (v pkgVersion) Deb() string { return v.Upstream + "-" + v.Release }

// RPM is the version-release of the RPM.
func (v pkgVersion) RPM() string { return v.Upstream + "-" + v.Release }

var (
	binaryVersionRE = regexp.MustCompile(`^([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z][0-9A-Za-z.-]*))?$`)
	releaseRE       = regexp.MustCompile(`^[0-9A-Za-z._+]+$`)
	commitRE        = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
)

// mapVersion maps the binaries' version to the packages'. commitTime, when
// not zero, orders development builds (dev.COMMIT) by time.
func mapVersion(binary, release string, commitTime time.Time) (pkgVersion, error) {
	m := binaryVersionRE.FindStringSubmatch(binary)
	if m == nil {
		return pkgVersion{}, fmt.Errorf("version %q: want X.Y.Z or X.Y.Z-PRERELEASE (letters, digits, '.', '-'), as the Makefile's VERSION", binary)
	}
	if !releaseRE.MatchString(release) {
		return pkgVersion{}, fmt.Errorf("release %q: want letters, digits, '.', '_' or '+'", release)
	}
	up := m[1]
	if pre := m[2]; pre != "" {
		parts := strings.Split(strings.ReplaceAll(pre, "-", "."), ".")
		if slices.Contains(parts, "") {
			return pkgVersion{}, fmt.Errorf("version %q: empty part in the pre-release %q", binary, pre)
		}
		// dev.COMMIT: the Makefile's development build.
		if len(parts) == 2 && parts[0] == "dev" && commitRE.MatchString(parts[1]) {
			parts = []string{"dev", "g" + parts[1]}
			if !commitTime.IsZero() {
				parts = []string{"dev", commitTime.UTC().Format("20060102150405"), "g" + m[2][len("dev."):]}
			}
		}
		up += "~" + strings.Join(parts, ".")
	}
	return pkgVersion{Binary: binary, Upstream: up, Release: release}, nil
}
