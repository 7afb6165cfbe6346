package testpeers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvRequired names the environment variable that turns the skip of an
// end-to-end test whose peer is unavailable into a failure, when it is "1".
// CI sets it so that a missing package cannot pass unnoticed.
const EnvRequired = "E2E_REQUIRED"

// Names of the peer binaries that [Require] knows, with the Debian package
// that provides them.
const (
	BinSipp     = "sipp"
	BinKamailio = "kamailio"
	BinChromium = "chromium"
)

// peerBinary says where a peer binary lives and which Debian package has it.
type peerBinary struct {
	// paths are tried in order before $PATH; the first one is the
	// preferred location (for chromium, the real binary rather than the
	// /usr/bin wrapper script).
	paths []string
	pkg   string
}

// binaries lists the peers the end-to-end tests of the project use.
var binaries = map[string]peerBinary{
	BinSipp:          {[]string{"/usr/bin/sipp"}, "sip-tester"},
	BinKamailio:      {[]string{"/usr/sbin/kamailio"}, "kamailio"},
	BinChromium:      {[]string{"/usr/lib/chromium/chromium"}, "chromium"},
	"baresip":        {[]string{"/usr/bin/baresip"}, "baresip-core"},
	"fail2ban-regex": {[]string{"/usr/bin/fail2ban-regex"}, "fail2ban"},
	"rpm":            {[]string{"/usr/bin/rpm"}, "rpm"},
	"rpmbuild":       {[]string{"/usr/bin/rpmbuild"}, "rpm"},
	"etcd":           {[]string{"/usr/bin/etcd"}, "etcd-server"},
	"etcdctl":        {[]string{"/usr/bin/etcdctl"}, "etcd-client"},
	"tshark":         {[]string{"/usr/bin/tshark"}, "tshark"},
	"tcpdump":        {[]string{"/usr/bin/tcpdump"}, "tcpdump"},
}

// Required reports whether E2E_REQUIRED=1 is set, that is whether an
// unavailable peer fails a test instead of skipping it.
func Required() bool {
	return os.Getenv(EnvRequired) == "1"
}

// SkipOrFail skips t with the formatted reason, or fails it with the same
// reason when E2E_REQUIRED=1 is set.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1)", msg, EnvRequired)
	}
	t.Skip(msg)
}

// Require skips t when one of the peer binaries is missing, and fails it
// (naming the binary and the Debian package to install) when E2E_REQUIRED=1
// is set. A binary is a name that [Require] knows (such as [BinSipp],
// [BinKamailio] or [BinChromium]), any name looked up in $PATH, or an absolute path.
func Require(t testing.TB, binaries ...string) {
	t.Helper()
	for _, name := range binaries {
		if _, err := LookBinary(name); err != nil {
			SkipOrFail(t, "%v", err)
		}
	}
}

// LookBinary returns the path of the peer binary name (see [Require] for the
// names). The error names the Debian package that provides it.
func LookBinary(name string) (string, error) {
	b, known := binaries[name]
	candidates := b.paths
	if filepath.IsAbs(name) {
		candidates = []string{name}
	}
	for _, p := range candidates {
		if isExecutable(p) {
			return p, nil
		}
	}
	if !filepath.IsAbs(name) {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if !known {
		for _, k := range binaries {
			if len(k.paths) > 0 && k.paths[0] == name {
				b, known = k, true
			}
		}
	}
	if known {
		return "", fmt.Errorf("peer binary %s not found: install the Debian package %s (scripts/install-deps)", name, b.pkg)
	}
	return "", fmt.Errorf("peer binary %s not found in $PATH", name)
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	return fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
