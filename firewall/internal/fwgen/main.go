// Command fwgen writes the firewalld services the packages ship
// (firewall.Shipped) into packaging/firewalld/services. It runs from go
// generate in the firewall package.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"webrtcgw/firewall"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := firewall.Shipped()
	if err == nil {
		dir := filepath.Join(*root, firewall.ShippedDir)
		if err = os.MkdirAll(dir, 0o755); err == nil {
			_, err = firewall.WriteDir(dir, files)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fwgen: %v\n", err)
		os.Exit(1)
	}
}
