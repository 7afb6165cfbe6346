package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"webrtcgw/confserv/api"
	"webrtcgw/confserv/client"
)

func runTemplateList(ctx context.Context, c *cli, path string, args []string) error {
	return listObjects(ctx, c, path, args, "templates", (*client.Client).Templates,
		[]string{"NAME", "TYPE", "VERSION", "REVISION", "UPDATED"},
		func(t api.Template) []string {
			return []string{t.Name, t.Type, t.Version, rev(t.Revision), when(t.Updated)}
		})
}

func runTemplateShow(ctx context.Context, c *cli, path string, args []string) error {
	fs := c.newFlags(path)
	pos, err := c.parse(fs, path, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	t, err := readTemplate(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if c.json() {
		return printJSON(c.stdout, t)
	}
	updated := when(t.Updated)
	if t.UpdatedBy != "" {
		updated += " by " + t.UpdatedBy
	}
	if err := fields(c.stdout, [][2]string{
		{"name", t.Name}, {"type", t.Type}, {"version", t.Version},
		{"revision", rev(t.Revision)}, {"updated", updated},
	}); err != nil {
		return err
	}
	for _, annex := range []bool{false, true} {
		k := newCatalog(t, annex)
		if len(k.sections) == 0 {
			continue
		}
		this, _ := sides(annex)
		fmt.Fprintf(c.stdout, "\n%s:\n", this)
		var rows [][]string
		for _, s := range k.sections {
			for _, o := range s.Options {
				rows = append(rows, []string{s.Name + "/" + o.Name, o.Type, valueText(o.Default), o.Effect})
			}
		}
		if err := table(c.stdout, []string{"OPTION", "TYPE", "DEFAULT", "TAKES EFFECT"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// metadataPath is the metadata file that goes with an .apd file:
// templates/X.apd → templates/X.metadata.xml.
func metadataPath(apd string) string {
	return strings.TrimSuffix(apd, ".apd") + ".metadata.xml"
}

// apdType reads the application type of an .apd file: the template's name.
func apdType(apd []byte) (string, error) {
	var root struct {
		XMLName xml.Name
		Type    string `xml:"type,attr"`
	}
	if err := xml.Unmarshal(apd, &root); err != nil {
		return "", fmt.Errorf("not an application template: %w", err)
	}
	if root.XMLName.Local != "application-template" || root.Type == "" {
		return "", fmt.Errorf("not an application template (<application-template type=…>), but <%s>", root.XMLName.Local)
	}
	return root.Type, nil
}

func runTemplateImport(ctx context.Context, c *cli, path string, args []string) error {
	fset := c.newFlags(path)
	metaFile := fset.String("metadata", "", "the option metadata `file` (default: FILE's sibling BASE.metadata.xml)")
	replace := fset.Bool("replace", false, "replace a template of the same name (applications keep their options)")
	pos, err := c.parse(fset, path, args, 1, 1)
	if err != nil {
		return err
	}
	apdFile := pos[0]
	if *metaFile == "" {
		*metaFile = metadataPath(apdFile)
	}
	apd, err := os.ReadFile(apdFile)
	if err != nil {
		return &codeError{code: exitError, msg: err.Error()}
	}
	meta, err := os.ReadFile(*metaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &codeError{code: exitError, msg: fmt.Sprintf("no metadata file %s: give it with --metadata", *metaFile)}
	}
	if err != nil {
		return &codeError{code: exitError, msg: err.Error()}
	}
	name, err := apdType(apd)
	if err != nil {
		return &codeError{code: exitError, msg: fmt.Sprintf("%s: %v", apdFile, err)}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	var revision uint64
	if *replace {
		old, err := cl.Template(ctx, name)
		switch {
		case client.HasStatus(err, http.StatusNotFound):
			// Nothing to replace: a plain import.
		case err != nil:
			return fmt.Errorf("read template %s: %w", name, err)
		default:
			revision = old.Revision
		}
	}
	t, err := cl.ImportTemplate(ctx, string(apd), string(meta), revision != 0, revision)
	if client.HasStatus(err, http.StatusConflict) && !*replace {
		return &codeError{code: exitError, msg: fmt.Sprintf("template %s exists already: --replace replaces it", name)}
	}
	if err != nil {
		return fmt.Errorf("import template %s from %s: %w", name, apdFile, err)
	}
	if c.json() {
		return printJSON(c.stdout, t)
	}
	verb := "imported"
	if revision != 0 {
		verb = "replaced"
	}
	fmt.Fprintf(c.stdout, "%s template %s (type %s, version %s) at revision %d\n", verb, t.Name, t.Type, t.Version, t.Revision)
	return nil
}

func runTemplateDelete(ctx context.Context, c *cli, path string, args []string) error {
	return deleteObject(ctx, c, path, args, deleteSpec[*api.Template]{
		kind: api.KindTemplate, noun: "template", read: readTemplate,
		meta:  func(t *api.Template) (string, uint64) { return t.Name, t.Revision },
		del:   (*client.Client).DeleteTemplate,
		inUse: "template %s is used by applications: delete them or move them to another template first",
	})
}
