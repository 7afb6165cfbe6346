package main

import (
	"strings"
	"testing"
	"time"
)

func TestMapVersion(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 31, 8, 0, time.UTC)
	tests := []struct {
		binary, release string
		commitTime      time.Time
		upstream        string
	}{
		{"0.1.0", "1", at, "0.1.0"},
		{"1.2.3", "4", time.Time{}, "1.2.3"},
		{"0.1.0-dev.60c55ec", "1", at, "0.1.0~dev.20261206073108.g60c55ec"},
		{"0.1.0-dev.60c55ec", "1", time.Time{}, "0.1.0~dev.g60c55ec"},
		{"0.1.0-dev.unknown", "1", at, "0.1.0~dev.unknown"},
		{"2.0.0-rc.1", "1", at, "2.0.0~rc.1"},
		{"2.0.0-rc-2", "1", at, "2.0.0~rc.2"},
		{"2.0.0-beta", "1", at, "2.0.0~beta"},
	}
	for _, tt := range tests {
		t.Run(tt.binary, func(t *testing.T) {
			v, err := mapVersion(tt.binary, tt.release, tt.commitTime)
			if err != nil {
				t.Fatalf("mapVersion(%q) = %v", tt.binary, err)
			}
			if v.Upstream != tt.upstream || v.Release != tt.release || v.Binary != tt.binary {
				t.Errorf("mapVersion(%q) = %+v, want upstream %q release %q", tt.binary, v, tt.upstream, tt.release)
			}
			if want := tt.upstream + "-" + tt.release; v.RPM() != want || v.Deb() != want {
				t.Errorf("RPM() = %q, Deb() = %q, want %q", v.RPM(), v.Deb(), want)
			}
		})
	}
}

func TestMapVersionRefuses(t *testing.T) {
	tests := []struct{ binary, release, want string }{
		{"", "1", `version ""`},
		{"v0.1.0", "1", `version "v0.1.0"`},
		{"0.1", "1", `version "0.1"`},
		{"0.1.0-", "1", `version "0.1.0-"`},
		{"0.1.0-dev..x", "1", "empty part"},
		{"0.1.0-dev_x", "1", `version "0.1.0-dev_x"`},
		{"0.1.0 ", "1", `version "0.1.0 "`},
		{"0.1.0", "", `release ""`},
		{"0.1.0", "1-2", `release "1-2"`},
		{"0.1.0", "1~", `release "1~"`},
	}
	for _, tt := range tests {
		_, err := mapVersion(tt.binary, tt.release, time.Time{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mapVersion(%q, %q) = %v, want an error naming %s", tt.binary, tt.release, err, tt.want)
		}
	}
}

// TestVersionOrder checks with rpm's and dpkg's own comparison that a
// development build sorts before its release and after an older
// development build, and a release candidate before its release.
func TestVersionOrder(t *testing.T) {
	requireTools(t, "rpm", "dpkg")
	older, _ := mapVersion("0.1.0-dev.aaaaaaa", "1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	newer, _ := mapVersion("0.1.0-dev.0000000", "1", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	rc, _ := mapVersion("0.1.0-rc.1", "1", time.Time{})
	release, _ := mapVersion("0.1.0", "1", time.Time{})
	next, _ := mapVersion("0.1.1-dev.aaaaaaa", "1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	order := []pkgVersion{older, newer, rc, release, next}
	for i := 0; i+1 < len(order); i++ {
		a, b := order[i], order[i+1]
		// rpm's rpmvercmp through its Lua interpreter.
		got := strings.TrimSpace(runOut(t, "rpm", "--eval", "%{lua: print(rpm.vercmp('"+a.RPM()+"', '"+b.RPM()+"'))}"))
		if got != "-1" {
			t.Errorf("rpm.vercmp(%s, %s) = %s, want -1", a.RPM(), b.RPM(), got)
		}
		if _, err := runErr("dpkg", "--compare-versions", a.Deb(), "lt", b.Deb()); err != nil {
			t.Errorf("dpkg --compare-versions %s lt %s: %v", a.Deb(), b.Deb(), err)
		}
	}
}
