package firewall

import (
	"webrtcgw/lca/wire"
	"webrtcgw/options"
)

//go:generate go run ./internal/fwgen -root ..

// ShippedDir is where the packages' firewalld services are kept, relative
// to the repository root.
const ShippedDir = "packaging/firewalld/services"

// Shipped returns the firewalld services the packages install: the rules of
// the default options and the management daemons' default ports.
func Shipped() ([]File, error) {
	rs, err := Compute(options.Defaults(), Config{
		Source:         "the default options",
		Management:     ManagementPorts{LCAPort: wire.DefaultPort, ConfservPort: DefaultConfservPort},
		InternalNets:   DefaultNets,
		ManagementNets: DefaultNets,
	})
	if err != nil {
		return nil, err
	}
	return Files(rs, Firewalld)
}
