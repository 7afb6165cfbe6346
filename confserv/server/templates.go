package server

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/store"
	"webrtcgw/options"
)

// parseTemplate reads a template from its two XML files (docs/templates.md)
// and checks its metadata: every option has a known type and a valid
// default.
func parseTemplate(apdXML, metadataXML string) (*api.Template, error) {
	var t options.Template
	if err := xml.Unmarshal([]byte(apdXML), &t); err != nil {
		return nil, fmt.Errorf("application template: %w", err)
	}
	if err := api.CheckName(t.Type); err != nil {
		return nil, fmt.Errorf("application template type: %w", err)
	}
	var m options.Metadata
	if err := xml.Unmarshal([]byte(metadataXML), &m); err != nil {
		return nil, fmt.Errorf("option metadata: %w", err)
	}
	if m.Type != "" && m.Type != t.Type {
		return nil, fmt.Errorf("the metadata is for type %q, the template for %q", m.Type, t.Type)
	}
	if _, err := m.Defs(); err != nil {
		return nil, fmt.Errorf("option metadata: %w", err)
	}
	out := &api.Template{Meta: api.Meta{Name: t.Type}, Type: t.Type, Version: t.Version,
		Options: sectionsOf(t.Options), Annex: sectionsOf(t.Annex), Metadata: &api.Metadata{Sections: []api.MetadataSection{}}}
	for _, sec := range m.Sections {
		ms := api.MetadataSection{Name: sec.Name, Annex: sec.Annex, Description: sec.Description}
		for _, o := range sec.Options {
			mo := api.MetadataOption{Name: o.Name, Type: string(o.Type), Default: o.Default, Min: o.Min, Max: o.Max, Off: o.Off,
				Effect: string(o.Effect), Owner: string(o.Owner), Allowed: o.Allowed, Description: o.Description}
			if o.Valid != nil {
				mo.Values = o.Valid.Values
			}
			ms.Options = append(ms.Options, mo)
		}
		out.Metadata.Sections = append(out.Metadata.Sections, ms)
	}
	return out, nil
}

func sectionsOf(secs []options.TemplateSection) api.Sections {
	out := api.Sections{}
	for _, s := range secs {
		m := map[string]string{}
		for _, o := range s.Options {
			if o.Value != "" {
				m[o.Name] = o.Value
			}
		}
		out[s.Name] = m
	}
	return out
}

// defs turns a template's metadata into option definitions, keyed
// "section/name".
func defs(t *api.Template) (map[string]*options.Def, error) {
	m := options.Metadata{Type: t.Type}
	if t.Metadata != nil {
		for _, sec := range t.Metadata.Sections {
			ms := options.MetadataSection{Name: sec.Name, Annex: sec.Annex}
			for _, o := range sec.Options {
				mo := options.MetadataOption{Name: o.Name, Type: options.Type(o.Type), Default: o.Default, Min: o.Min, Max: o.Max,
					Off: o.Off, Effect: options.Effect(o.Effect), Owner: options.Owner(o.Owner)}
				if len(o.Values) > 0 {
					mo.Valid = &options.ValidValues{Values: o.Values}
				}
				ms.Options = append(ms.Options, mo)
			}
			m.Sections = append(m.Sections, ms)
		}
	}
	list, err := m.Defs()
	if err != nil {
		return nil, err
	}
	out := make(map[string]*options.Def, len(list))
	for i := range list {
		out[list[i].Key()] = &list[i]
	}
	return out, nil
}

// template reads a stored template.
func (s *Server) template(name string) (*api.Template, error) {
	data, err := s.st.Get(api.KindTemplate, name)
	if err != nil {
		return nil, err
	}
	var t api.Template
	return &t, json.Unmarshal(data, &t)
}

// compiledTemplate is a stored template decoded once, with its option
// definitions by "section/option".
type compiledTemplate struct {
	raw  []byte
	t    *api.Template
	defs map[string]*options.Def
}

// templateDefs returns template name and its option definitions, both read
// only. Every application read masks secrets through them, so they are
// kept decoded while the stored template is byte for byte the same.
func (s *Server) templateDefs(name string) (*api.Template, map[string]*options.Def, error) {
	data, err := s.st.Get(api.KindTemplate, name)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	c := s.templates[name]
	s.mu.Unlock()
	if c != nil && bytes.Equal(c.raw, data) {
		return c.t, c.defs, nil
	}
	var t api.Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, nil, err
	}
	ds, err := defs(&t)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.templates[name] = &compiledTemplate{raw: data, t: &t, defs: ds}
	s.mu.Unlock()
	return &t, ds, nil
}

// putTemplate stores t expecting revision rev (0: a new template).
func (s *Server) putTemplate(t *api.Template, rev uint64, who string) (uint64, error) {
	now := s.now().UTC()
	t.Created, t.Updated, t.UpdatedBy = now, now, who
	if rev != 0 {
		if old, err := s.template(t.Name); err == nil {
			t.Created = old.Created
		}
	}
	changes := []api.FieldChange{{Field: "version", New: t.Version}}
	newRev, _, err := s.st.Apply(store.Write{Kind: api.KindTemplate, Name: t.Name, Op: api.OpPut, Expect: rev, Who: who, Changes: changes,
		Value: func(r uint64) ([]byte, error) { t.Revision = r; return json.Marshal(t) }})
	return newRev, err
}

func (s *Server) importTemplate(w http.ResponseWriter, r *http.Request, p principal) {
	var in api.TemplateImport
	if !readJSON(w, r, &in) {
		return
	}
	t, err := parseTemplate(in.APD, in.Metadata)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "template refused", err.Error())
		return
	}
	var rev uint64
	if r.URL.Query().Get("replace") == "true" {
		var ok bool
		if rev, ok = ifMatch(w, r); !ok {
			return
		}
	}
	newRev, err := s.putTemplate(t, rev, p.name)
	if err != nil {
		current, _ := s.st.Get(api.KindTemplate, t.Name)
		if errors.Is(err, store.ErrExists) {
			writeError(w, http.StatusConflict, fmt.Sprintf("template %q already exists: import with ?replace=true and If-Match to replace it", t.Name))
			return
		}
		s.storeError(w, err, templateKind, t.Name, current)
		return
	}
	t.Revision = newRev
	s.log.Info("template imported", "template", t.Name, "version", t.Version, "revision", newRev, "by", p.name)
	writeJSON(w, http.StatusCreated, t)
}

// prepareApplication checks an application against its template: the
// template exists (the type follows it), the host and connections exist,
// every option value is valid, and for gateways the rules between options
// hold. Masked secrets keep their stored value. Unknown options are warnings.
func (s *Server) prepareApplication(a, old *api.Application) ([]string, error) {
	if a.Template == "" {
		return nil, refuse(http.StatusBadRequest, "application %q: template is required", a.Name)
	}
	t, ds, err := s.templateDefs(a.Template)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "application %q: no template %q", a.Name, a.Template)
	}
	if a.Type == "" {
		a.Type = t.Type
	} else if a.Type != t.Type {
		return nil, refuse(http.StatusBadRequest, "application %q: type %q does not match template %q (type %q)", a.Name, a.Type, t.Name, t.Type)
	}
	if a.Host != "" {
		if _, err := s.st.Get(api.KindHost, a.Host); err != nil {
			return nil, refuse(http.StatusBadRequest, "application %q: no host %q", a.Name, a.Host)
		}
	}
	for _, c := range a.Connections {
		if c == a.Name {
			return nil, refuse(http.StatusBadRequest, "application %q cannot connect to itself", a.Name)
		}
		if _, ok := s.application(c); !ok {
			return nil, refuse(http.StatusBadRequest, "application %q: no application %q to connect to", a.Name, c)
		}
	}
	for name, port := range a.Ports {
		if port < 1 || port > 65535 {
			return nil, refuse(http.StatusBadRequest, "application %q: port %q = %d is not a port", a.Name, name, port)
		}
	}
	if old == nil && a.Options == nil && a.Annex == nil {
		a.Options, a.Annex = api.CloneSections(t.Options), api.CloneSections(t.Annex)
	}
	if old != nil {
		keepSecrets(ds, a.Options, old.Options)
		keepSecrets(ds, a.Annex, old.Annex)
	}
	var problems, warnings []string
	check := func(secs api.Sections, annex bool) {
		for _, section := range slices.Sorted(maps.Keys(secs)) {
			for _, name := range slices.Sorted(maps.Keys(secs[section])) {
				value := secs[section][name]
				d := ds[section+"/"+name]
				switch {
				case d == nil:
					warnings = append(warnings, section+"/"+name+": not an option of template "+t.Name)
				case d.Annex() != annex:
					where := "options"
					if d.Annex() {
						where = "annex"
					}
					problems = append(problems, fmt.Sprintf("%s/%s: belongs in the %s", section, name, where))
				default:
					if _, err := d.Check(value); err != nil {
						problems = append(problems, err.Error())
					}
				}
			}
		}
	}
	check(a.Options, false)
	check(a.Annex, true)
	if len(problems) == 0 && a.Type == options.ApplicationType {
		// The gateway's own rules between options (port ranges, TLS...).
		merged := api.Sections{}
		for k, v := range a.Options {
			merged[k] = v
		}
		for k, v := range a.Annex {
			merged[k] = v
		}
		if _, err := options.Parse(merged); err != nil {
			var perr *options.Error
			if errors.As(err, &perr) {
				for _, p := range perr.Problems {
					problems = append(problems, p.String())
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, &problemError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("%d invalid option(s) in application %q", len(problems), a.Name), problems: problems}
	}
	return warnings, nil
}

// keepSecrets puts back stored values where a write sends the mask.
func keepSecrets(ds map[string]*options.Def, next, old api.Sections) {
	for section, opts := range next {
		for name, v := range opts {
			d := ds[section+"/"+name]
			if d != nil && d.Type == options.TypeSecret && v == api.Masked {
				opts[name] = old[section][name]
			}
		}
	}
}

// maskSecrets returns secs with set secret values replaced by the mask.
func (s *Server) maskSecrets(template string, secs api.Sections) api.Sections {
	if secs == nil {
		return nil
	}
	_, ds, err := s.templateDefs(template)
	if err != nil {
		return secs
	}
	out := api.Sections{}
	for section, opts := range secs {
		m := map[string]string{}
		for name, v := range opts {
			if d := ds[section+"/"+name]; d != nil && d.Type == options.TypeSecret && v != "" {
				v = api.Masked
			}
			m[name] = v
		}
		out[section] = m
	}
	return out
}
