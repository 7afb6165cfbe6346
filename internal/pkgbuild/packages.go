package main

import "io/fs"

// The system user and group of every daemon (packaging/sysusers.d).
const (
	sysUser  = "webrtcgw"
	sysGroup = "webrtcgw"
)

// fileKind says how a file is installed: its mode, owner and the way each
// package format marks it.
type fileKind int

const (
	kindBinary     fileKind = iota // 0755 root:root
	kindConfig                     // 0640 root:webrtcgw, %config(noreplace) / conffile
	kindData                       // 0644 root:root: units, sysusers.d, tmpfiles.d, templates
	kindDoc                        // 0644 root:root, %doc in the RPM
	kindHostConfig                 // 0644 root:root, %config(noreplace) / conffile (fail2ban's /etc)
)

// A file is one entry of a package. src is relative to the repository
// root; a src with a glob pattern names every match, installed under dst
// (a directory), and may match nothing when optional is set: files that
// other parts of the tree provide (fail2ban, firewalld) are packaged when
// present.
type file struct {
	src      string
	dst      string
	kind     fileKind
	optional bool
}

// A dir is a directory the package owns, with its mode and group.
type dir struct {
	path  string
	mode  fs.FileMode
	owner string
	group string
}

// A pkgDef is one package, the same for RPM and deb.
type pkgDef struct {
	name        string
	summary     string // one line
	description string
	binaries    []string // commands under cmd/, installed in /usr/bin
	units       []string // systemd units the maintainer scripts stop and restart
	files       []file
	dirs        []dir
	// Weak dependencies: Recommends are installed by default (dnf, apt),
	// Suggests are not.
	depends    []string
	recommends []string
	suggests   []string
	// debRecommends and debSuggests replace recommends and suggests in the
	// deb: Debian hosts filter with nftables more often than firewalld.
	debRecommends, debSuggests []string
}

const (
	etcDir      = "/etc/webrtc-gateway"
	unitDir     = "/usr/lib/systemd/system"
	sysusersDir = "/usr/lib/sysusers.d"
	tmpfilesDir = "/usr/lib/tmpfiles.d"
	docRoot     = "/usr/share/doc"
)

// configDir is /etc/webrtc-gateway, shared by the three packages with the
// same attributes (the daemons read it as webrtcgw; others may not).
var configDir = dir{path: etcDir, mode: 0o750, owner: "root", group: sysGroup}

// stateDirs are owned by the packages so that they exist with the right
// owner from the install on; removal keeps them when they hold data.
func stateDir(path string) dir {
	return dir{path: path, mode: 0o750, owner: sysUser, group: sysGroup}
}

// packages is the one definition of the three packages.
func packages() []pkgDef {
	const (
		gw       = "webrtc-gateway"
		confserv = "webrtc-gateway-confserv"
		lca      = "webrtc-gateway-lca"
	)
	common := func(name string) []file {
		return []file{
			{src: "packaging/sysusers.d/webrtc-gateway.conf", dst: sysusersDir + "/" + name + ".conf", kind: kindData},
			{src: "packaging/tmpfiles.d/" + name + ".conf", dst: tmpfilesDir + "/" + name + ".conf", kind: kindData},
			{src: "packaging/systemd/" + name + ".service", dst: unitDir + "/" + name + ".service", kind: kindData},
		}
	}
	return []pkgDef{
		{
			name:    gw,
			summary: "WebRTC to SIP gateway for contact centres",
			description: "The WebRTC Gateway lets agents and customers in a web browser place and\n" +
				"take calls through a SIP Server: HTTPS signalling towards browsers,\n" +
				"DTLS-SRTP media, SIP and RTP towards the enterprise network.\n" +
				"This package has the gateway, the gwctl operator CLI, the sample\n" +
				"configuration, the hardened systemd unit (local mode), the fail2ban\n" +
				"filter and jail, and the firewalld services.",
			binaries: []string{"webrtc-gateway", "gwctl"},
			units:    []string{gw + ".service"},
			files: append(common(gw),
				file{src: "packaging/webrtc-gateway.ini", dst: etcDir + "/webrtc-gateway.ini", kind: kindConfig},
				file{src: "packaging/fail2ban/filter.d/*.conf", dst: "/etc/fail2ban/filter.d", kind: kindHostConfig, optional: true},
				file{src: "packaging/fail2ban/jail.d/*.conf", dst: "/etc/fail2ban/jail.d", kind: kindHostConfig, optional: true},
				file{src: "packaging/firewalld/services/*.xml", dst: "/usr/lib/firewalld/services", kind: kindData, optional: true},
				file{src: "README.md", dst: docRoot + "/" + gw + "/README.md", kind: kindDoc},
				file{src: "docs/*.md", dst: docRoot + "/" + gw + "/docs", kind: kindDoc},
				file{src: "docs/*.png", dst: docRoot + "/" + gw + "/docs", kind: kindDoc, optional: true},
				file{src: "packaging/README.md", dst: docRoot + "/" + gw + "/packaging.md", kind: kindDoc},
				file{src: "packaging/systemd/examples/webrtc-gateway-low-ports.conf", dst: docRoot + "/" + gw + "/systemd/webrtc-gateway-low-ports.conf", kind: kindDoc},
			),
			dirs: []dir{configDir, stateDir("/var/lib/webrtc-gateway"), stateDir("/var/log/webrtc-gateway")},
			// fail2ban comes from EPEL on RHEL-family hosts: a missing weak
			// dependency does not stop the install.
			recommends:    []string{"fail2ban", "firewalld"},
			suggests:      []string{lca},
			debRecommends: []string{"fail2ban"},
			debSuggests:   []string{"firewalld | nftables", lca},
		},
		{
			name:    confserv,
			summary: "Configuration Server of the WebRTC Gateway",
			description: "The Configuration Server keeps the configuration of WebRTC Gateways,\n" +
				"hosts and Local Control Agents, and serves it over an HTTP(S) API and a\n" +
				"web UI. It imports the shipped application templates on its first start\n" +
				"(they are built into the binary; the files are for gwctl template import).",
			binaries: []string{"confserv"},
			units:    []string{confserv + ".service"},
			files: append(common(confserv),
				file{src: "templates/*.apd", dst: "/usr/share/" + confserv + "/templates", kind: kindData},
				file{src: "templates/*.metadata.xml", dst: "/usr/share/" + confserv + "/templates", kind: kindData},
				file{src: "docs/confserv-api.md", dst: docRoot + "/" + confserv + "/confserv-api.md", kind: kindDoc},
				file{src: "docs/confserv-ui.md", dst: docRoot + "/" + confserv + "/confserv-ui.md", kind: kindDoc},
				file{src: "docs/templates.md", dst: docRoot + "/" + confserv + "/templates.md", kind: kindDoc},
				file{src: "packaging/README.md", dst: docRoot + "/" + confserv + "/packaging.md", kind: kindDoc},
			),
			dirs: []dir{configDir, stateDir("/var/lib/webrtc-gateway-confserv")},
			// gwctl, the CLI of the Configuration Server, is in the gateway's
			// package.
			suggests: []string{gw},
		},
		{
			name:    lca,
			summary: "Local Control Agent of the WebRTC Gateway",
			description: "The Local Control Agent starts, watches, restarts and stops the\n" +
				"applications of a host (the WebRTC Gateway), from a local lca.ini or\n" +
				"from the Configuration Server; the applications outlive its restarts.\n" +
				"This package has the agent, its hardened systemd unit and a sample\n" +
				"lca.ini that runs the gateway.",
			binaries: []string{"lca"},
			units:    []string{lca + ".service"},
			files: append(common(lca),
				file{src: "packaging/lca.ini", dst: etcDir + "/lca.ini", kind: kindConfig},
				file{src: "packaging/logrotate.d/webrtc-gateway-lca", dst: "/etc/logrotate.d/webrtc-gateway-lca", kind: kindHostConfig},
				file{src: "docs/lca.md", dst: docRoot + "/" + lca + "/lca.md", kind: kindDoc},
				file{src: "docs/lca-protocol.md", dst: docRoot + "/" + lca + "/lca-protocol.md", kind: kindDoc},
				file{src: "packaging/README.md", dst: docRoot + "/" + lca + "/packaging.md", kind: kindDoc},
				file{src: "packaging/systemd/examples/webrtc-gateway-lca-low-ports.conf", dst: docRoot + "/" + lca + "/systemd/webrtc-gateway-lca-low-ports.conf", kind: kindDoc},
			),
			dirs: []dir{configDir, stateDir("/var/lib/webrtc-gateway-lca"), stateDir("/var/lib/webrtc-gateway"), stateDir("/var/log/webrtc-gateway")},
			// The sample lca.ini starts the gateway.
			recommends: []string{gw},
			// It rotates the output of the applications the LCA starts.
			depends: []string{"logrotate"},
		},
	}
}
