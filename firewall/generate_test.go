package firewall

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestShippedFresh fails when the firewalld services in
// packaging/firewalld/services are not those of the default options: run
// go generate ./firewall (or go test ./firewall -update).
func TestShippedFresh(t *testing.T) {
	files, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", ShippedDir)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		if !strings.Contains(string(f.Data), "DO NOT EDIT") {
			t.Errorf("%s has no DO NOT EDIT header", f.Name)
		}
		path := filepath.Join(dir, f.Name)
		if *update {
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go generate ./firewall)", err)
			continue
		}
		if diff := cmp.Diff(string(f.Data), string(got)); diff != "" {
			t.Errorf("%s is stale; run go generate ./firewall (-want +got):\n%s", path, diff)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(names, e.Name()) {
			t.Errorf("%s/%s is not generated: remove it or generate it", ShippedDir, e.Name())
		}
	}
}
