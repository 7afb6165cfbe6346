package options

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the generated files")

// TestGeneratedFilesFresh fails when a file generated from the catalog is
// stale: run go generate ./options (or go test ./options -update).
func TestGeneratedFilesFresh(t *testing.T) {
	for _, g := range GeneratedFiles {
		t.Run(g.Path, func(t *testing.T) {
			var want bytes.Buffer
			if err := g.Render(&want); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(want.String(), "DO NOT EDIT") {
				t.Error("generated text has no DO NOT EDIT header")
			}
			path := filepath.Join("..", g.Path)
			if *update {
				if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go generate ./options)", err)
			}
			if diff := cmp.Diff(want.String(), string(got)); diff != "" {
				t.Errorf("%s is stale; run go generate ./options (-want +got):\n%s", g.Path, diff)
			}
		})
	}
}

// TestReferenceComplete checks the reference names every option with its
// default, class and description.
func TestReferenceComplete(t *testing.T) {
	var b bytes.Buffer
	if err := RenderReference(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, d := range Catalog() {
		if !strings.Contains(doc, "### "+d.Name+"\n") {
			t.Errorf("reference lacks a heading for %s", d.Key())
		}
		if !strings.Contains(strings.Join(strings.Fields(doc), " "), d.Doc) {
			t.Errorf("reference lacks the description of %s", d.Key())
		}
	}
}
