package options

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBindings(t *testing.T) {
	if _, err := bind(); err != nil {
		t.Fatal(err)
	}
}

// TestCatalog checks every definition is complete: generated documents and
// the Configuration Server's editors rely on it.
func TestCatalog(t *testing.T) {
	owners := map[Owner]bool{}
	for _, o := range ApplyOrder {
		owners[o] = true
	}
	effects := map[Effect]bool{}
	for _, e := range Effects {
		effects[e] = true
	}
	seen := map[string]bool{}
	for _, d := range Catalog() {
		t.Run(d.Key(), func(t *testing.T) {
			if seen[d.Key()] {
				t.Error("defined twice")
			}
			seen[d.Key()] = true
			if !knownSection(d.Section) {
				t.Errorf("section %q is not in SectionNames", d.Section)
			}
			if goType(d.Type) == nil {
				t.Errorf("type %q has no Go type", d.Type)
			}
			if !owners[d.Owner] || !effects[d.Effect] {
				t.Errorf("owner %q / effect %q unknown", d.Owner, d.Effect)
			}
			if !strings.HasSuffix(d.Doc, ".") || len(d.Doc) < 20 {
				t.Errorf("Doc %q: want one or more full sentences", d.Doc)
			}
			if (d.Type == TypeEnum) != (len(d.Enum) > 0) && d.Type != TypeList {
				t.Errorf("Enum %v does not fit type %s", d.Enum, d.Type)
			}
			if d.Min > d.Max && d.Max != 0 {
				t.Errorf("Min %d > Max %d", d.Min, d.Max)
			}
			// The default is in canonical form, so that Diff against defaults
			// and the generated template agree with what Parse produces.
			if got, err := d.Check(d.Default); err != nil || got != d.Default {
				t.Errorf("Check(default %q) = %q, %v; want the default unchanged", d.Default, got, err)
			}
		})
	}
	for s := range SectionDocs {
		if !knownSection(s) {
			t.Errorf("SectionDocs has unknown section %q", s)
		}
	}
}

func TestDefaults(t *testing.T) {
	s := Defaults()
	w := s.Web()
	if w.HTTPSPort != 8443 || w.HTTPPort != 0 || w.PollingTimeout.Seconds() != 25 || !w.DemoPage || w.MaxRequestSize != 64<<10 {
		t.Errorf("Web() = %+v, want DESIGN defaults", w)
	}
	if m := s.Media(); m.RTPPortMin != 20000 || m.WebRTCPortMax != 39999 || !cmp.Equal(m.Codecs, []string{"PCMU", "PCMA", "telephone-event"}) {
		t.Errorf("Media() = %+v", m)
	}
	if l := s.Log(); l.Verbose != "standard" || !cmp.Equal(l.Outputs, []string{"stdout"}) || l.Segment != 100<<20 || l.Expire != 10 {
		t.Errorf("Log() = %+v", l)
	}
	if sml := s.SML(); sml.HeartbeatPeriod != 0 || !sml.HangupRestart || sml.Autostart || sml.SuspendingWaitTimeout.Seconds() != 10 {
		t.Errorf("SML() = %+v", sml)
	}
	for _, d := range Catalog() {
		if s.Explicit(d) {
			t.Errorf("Explicit(%s) = true for the defaults", d.Key())
		}
	}
}

// TestSetImmutable checks that what an accessor returns cannot change the Set.
func TestSetImmutable(t *testing.T) {
	s := mustParse(t, Sections{"media": {"codecs": "PCMU,PCMA"}, "web": {"domain-whitelist": "https://a.example.com"}})
	m := s.Media()
	m.Codecs[0] = "opus"
	w := s.Web()
	w.DomainWhitelist[0].Host = "evil.test"
	if got := s.Media().Codecs[0]; got != "PCMU" {
		t.Errorf("Media().Codecs[0] = %q after the caller changed its copy, want PCMU", got)
	}
	if got := s.Web().DomainWhitelist[0].Host; got != "a.example.com" {
		t.Errorf("Web().DomainWhitelist[0].Host = %q, want a.example.com", got)
	}
}

// TestMetadataRoundTrip checks the generated metadata holds everything the
// catalog knows: reading it back gives the same definitions.
func TestMetadataRoundTrip(t *testing.T) {
	var b strings.Builder
	if err := RenderMetadata(&b); err != nil {
		t.Fatal(err)
	}
	var m Metadata
	if err := xml.Unmarshal([]byte(b.String()), &m); err != nil {
		t.Fatal(err)
	}
	defs, err := m.Defs()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(catalog, defs); diff != "" {
		t.Errorf("metadata -> Defs differs from the catalog (-catalog +metadata):\n%s", diff)
	}
}

func TestMetadataDefsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, xml, want string
	}{
		{"unknown type", `<option-metadata><section name="web"><option name="x" type="colour"/></section></option-metadata>`, `web/x: unknown type "colour"`},
		{"bad min", `<option-metadata><section name="web"><option name="x" type="integer" min="a"/></section></option-metadata>`, `web/x: min "a"`},
		{"bad default", `<option-metadata><section name="web"><option name="x" type="integer" min="1" max="5" default="9"/></section></option-metadata>`, `web/x: default "9": out of range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Metadata
			if err := xml.Unmarshal([]byte(tc.xml), &m); err != nil {
				t.Fatal(err)
			}
			_, err := m.Defs()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Defs() error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tpl := NewTemplate()
	if tpl.Type != ApplicationType || len(tpl.Annex) != 1 || tpl.Annex[0].Name != SectionSML {
		t.Fatalf("NewTemplate() = type %q annex %+v, want %s with the [sml] annex", tpl.Type, tpl.Annex, ApplicationType)
	}
	n := 0
	for _, s := range append(tpl.Options, tpl.Annex...) {
		for _, o := range s.Options {
			if d := Lookup(s.Name, o.Name); d == nil || d.Default != o.Value {
				t.Errorf("template option %s/%s = %q does not match the catalog", s.Name, o.Name, o.Value)
			}
			n++
		}
	}
	if n != len(catalog) {
		t.Errorf("template has %d options, catalog %d", n, len(catalog))
	}
}

func mustParse(t *testing.T, s Sections) *Set {
	t.Helper()
	set, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%v) error = %v", s, err)
	}
	return set
}
