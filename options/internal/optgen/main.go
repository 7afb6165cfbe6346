// Command optgen writes the files generated from the option catalog
// (options.GeneratedFiles). It runs from go generate in the options package.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"webrtcgw/options"
)

func main() {
	root := flag.String("root", ".", "repository root the generated paths are relative to")
	flag.Parse()
	for _, g := range options.GeneratedFiles {
		var b bytes.Buffer
		if err := g.Render(&b); err != nil {
			fmt.Fprintf(os.Stderr, "optgen: render %s: %v\n", g.Path, err)
			os.Exit(1)
		}
		path := filepath.Join(*root, g.Path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "optgen: %v\n", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "optgen: %v\n", err)
			os.Exit(1)
		}
	}
}
