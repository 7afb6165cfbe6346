// Package version holds the product version shared by every binary and by the
// generated application template.
package version

// Base is the release number. Generated files (the application template) carry
// it, so they do not change with every commit.
const Base = "0.1.0"

// Version is the full version printed by -V. Release builds set it with
// -ldflags "-X webrtcgw/version.Version=...".
var Version = Base + "-dev"
