// Package templates ships the Configuration Server application templates
// (docs/templates.md): an .apd file and its .metadata.xml per application
// type. The WebRTC_Gateway files are generated from the option catalog.
package templates

import "embed"

// FS holds every template file.
//
//go:embed *.apd *.metadata.xml
var FS embed.FS
