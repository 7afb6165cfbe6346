package options

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"webrtcgw/version"
)

// ApplicationType is the Configuration Server application type of the gateway.
const ApplicationType = "WebRTC_Gateway"

// Template is an application template (.apd file): the application type,
// its version, and the default options and annex an application of that type
// is created with. The format is documented in docs/templates.md.
type Template struct {
	XMLName     xml.Name          `xml:"application-template"`
	Type        string            `xml:"type,attr"`
	Version     string            `xml:"version,attr"`
	Description string            `xml:"description"`
	Options     []TemplateSection `xml:"options>section"`
	Annex       []TemplateSection `xml:"annex>section"`
}

// TemplateSection is one section of a template's options or annex.
type TemplateSection struct {
	Name    string           `xml:"name,attr"`
	Options []TemplateOption `xml:"option"`
}

// TemplateOption is one option with its default value.
type TemplateOption struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Metadata describes every option of an application type (.metadata.xml):
// enough for the Configuration Server to validate values and for its UI to
// build a typed editor per option.
type Metadata struct {
	XMLName  xml.Name          `xml:"option-metadata"`
	Type     string            `xml:"type,attr"`
	Version  string            `xml:"version,attr"`
	Sections []MetadataSection `xml:"section"`
}

// MetadataSection is one section of Metadata.
type MetadataSection struct {
	Name        string           `xml:"name,attr"`
	Annex       bool             `xml:"annex,attr,omitempty"`
	Description string           `xml:"description"`
	Options     []MetadataOption `xml:"option"`
}

// MetadataOption describes one option. Min and Max are integers (bytes for
// sizes, seconds for seconds, item counts for lists) and are absent when the
// type has no bound.
type MetadataOption struct {
	Name        string       `xml:"name,attr"`
	Type        Type         `xml:"type,attr"`
	Default     string       `xml:"default,attr"`
	Min         string       `xml:"min,attr,omitempty"`
	Max         string       `xml:"max,attr,omitempty"`
	Off         bool         `xml:"off,attr,omitempty"`
	Effect      Effect       `xml:"takes-effect,attr"`
	Owner       Owner        `xml:"owner,attr"`
	Valid       *ValidValues `xml:"valid,omitempty"`
	Allowed     string       `xml:"allowed"`
	Description string       `xml:"description"`
}

// ValidValues lists the values an enum option (or each item of a list
// option) may take.
type ValidValues struct {
	Values []string `xml:"value"`
}

// NewTemplate builds the gateway's application template from the catalog.
func NewTemplate() *Template {
	t := &Template{
		Type:        ApplicationType,
		Version:     version.Base,
		Description: "WebRTC Gateway: browsers to SIP through HTTPS signalling, DTLS-SRTP and RTP.",
	}
	for _, section := range SectionNames {
		ts := TemplateSection{Name: section}
		for i := range catalog {
			if d := &catalog[i]; d.Section == section {
				ts.Options = append(ts.Options, TemplateOption{Name: d.Name, Value: d.Default})
			}
		}
		if section == SectionSML {
			t.Annex = append(t.Annex, ts)
		} else {
			t.Options = append(t.Options, ts)
		}
	}
	return t
}

// NewMetadata builds the gateway's option metadata from the catalog.
func NewMetadata() *Metadata {
	m := &Metadata{Type: ApplicationType, Version: version.Base}
	for _, section := range SectionNames {
		ms := MetadataSection{Name: section, Annex: section == SectionSML, Description: SectionDocs[section]}
		for i := range catalog {
			d := &catalog[i]
			if d.Section != section {
				continue
			}
			mo := MetadataOption{
				Name: d.Name, Type: d.Type, Default: d.Default, Off: d.Off,
				Effect: d.Effect, Owner: d.Owner,
				Allowed: d.Allowed(), Description: d.Doc,
			}
			if len(d.Enum) > 0 {
				mo.Valid = &ValidValues{Values: d.Enum}
			}
			if d.Min != 0 || d.Max != 0 {
				mo.Min, mo.Max = strconv.FormatInt(d.Min, 10), strconv.FormatInt(d.Max, 10)
			}
			ms.Options = append(ms.Options, mo)
		}
		m.Sections = append(m.Sections, ms)
	}
	return m
}

// Defs turns metadata back into option definitions, so that the
// Configuration Server can validate values of any imported template with the
// same parsers the gateway uses.
func (m *Metadata) Defs() ([]Def, error) {
	var out []Def
	for _, s := range m.Sections {
		for _, o := range s.Options {
			d := Def{
				Section: s.Name, Name: o.Name, Type: o.Type, Default: o.Default, Off: o.Off,
				Effect: o.Effect, Owner: o.Owner, Doc: o.Description,
			}
			if o.Valid != nil {
				d.Enum = o.Valid.Values
			}
			if goType(d.Type) == nil {
				return nil, fmt.Errorf("option %s: unknown type %q", d.Key(), d.Type)
			}
			var err error
			if o.Min != "" {
				if d.Min, err = strconv.ParseInt(o.Min, 10, 64); err != nil {
					return nil, fmt.Errorf("option %s: min %q is not an integer", d.Key(), o.Min)
				}
			}
			if o.Max != "" {
				if d.Max, err = strconv.ParseInt(o.Max, 10, 64); err != nil {
					return nil, fmt.Errorf("option %s: max %q is not an integer", d.Key(), o.Max)
				}
			}
			if d.Default != "" {
				if _, _, err := d.parse(d.Default); err != nil {
					return nil, fmt.Errorf("option %s: default %q: %v", d.Key(), d.Default, err)
				}
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// Check validates one raw value against d, as Parse does, and returns the
// canonical text. An empty value means the default.
func (d *Def) Check(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = d.Default
	}
	if raw == "" {
		return "", nil
	}
	_, text, err := d.parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %s", d.Key(), describe(d, raw, err))
	}
	return text, nil
}
