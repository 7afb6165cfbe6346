package hostcheck

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"strings"
)

func checkAdminBind(s *Snapshot) verdict {
	var v verdict
	fw := activeFirewall(s)
	any := false
	var idle []string
	for _, m := range managementPorts(s) {
		if !m.known {
			if s.unit(m.unit) != nil {
				listen, where, _ := s.daemonFlag(m.unit, "listen")
				v.warn(fmt.Sprintf("%s binds %q (%s): a host name, not judged", m.name, listen, where), "bind an address: -listen 127.0.0.1 or an internal address of this host")
			}
			continue
		}
		if len(m.listeners) == 0 {
			if s.unit(m.unit) != nil {
				idle = append(idle, fmt.Sprintf("%s: nothing listens on port %d (%s)", m.name, m.port, m.from))
			}
			continue
		}
		any = true
		remedy := bindRemedy(m)
		for _, a := range m.listeners {
			label := fmt.Sprintf("%s (port %d) listens on %s (%s)", m.name, m.port, addrList([]netip.Addr{a}), m.from)
			switch {
			case a.IsLoopback():
				v.pass(label + ": loopback")
			case a.IsUnspecified():
				if e := portExposure(s, fw, m.port); e.judged && !e.open && fw.kind != "" {
					v.pass(label + ", and the firewall keeps the world out")
				} else {
					v.warn(label+": reachable on every network of the host unless the firewall stops it", remedy)
				}
			case privateAddr(a):
				v.pass(label + ": an internal address")
			default:
				v.fail(label+": a public address", remedy)
			}
		}
	}
	switch {
	case !any && v.status == "" && len(idle) > 0:
		v.skip(strings.Join(idle, "\n"))
	case !any && v.status == "":
		v.skip("neither the LCA nor the Configuration Server listens or is installed here")
	}
	return v
}

func bindRemedy(m mgmtPort) string {
	if m.unit == UnitLCA {
		return "bind the LCA to loopback (its default): systemctl edit " + UnitLCA + ", and take -listen out of LCA_ARGS (or set -listen 127.0.0.1); gwctl then runs on this host"
	}
	return "bind the Configuration Server to an internal address: systemctl edit " + UnitConfserv + ", [Service] Environment=\"CONFSERV_ARGS=-listen 10.1.2.3\" (keeping the -tls-cert/-tls-key you have there); or let the firewall admit only the management network (see firewall-management)"
}

// fileKind says how a file is judged by its mode.
type fileKind int

const (
	kindSecret    fileKind = iota // no access for others; readable by its group at most
	kindSecretDir                 // a directory of secrets: no access for others
	kindNoWrite                   // may be read by all; must not be writable by others
)

// A secretFile is a file the secret-files check judges.
type secretFile struct {
	Path string
	Kind fileKind
	What string
}

// secretNames are environment variables that hold credentials.
var secretNames = regexp.MustCompile(`(?i)(TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL)`)

// secretFiles lists the files whose modes matter: the gateway's options,
// keys, tokens and data directories, from the options, the units, lca.ini
// and the defaults of the installed layout. Gather stats them.
func secretFiles(s *Snapshot) []secretFile {
	var out []secretFile
	seen := map[string]bool{}
	add := func(p string, k fileKind, what string) {
		if p == "" || seen[absPath(p)] {
			return
		}
		seen[absPath(p)] = true
		out = append(out, secretFile{absPath(p), k, what})
	}
	gatewayFiles := func(args []string, from string) {
		if c, ok := FlagValue(args, "config"); ok {
			add(c, kindSecret, "the gateway's options ("+from+")")
		}
		if t, ok := FlagValue(args, "app-token-file"); ok {
			add(t, kindSecret, "the gateway's Configuration Server credential ("+from+")")
		}
		if d, ok := FlagValue(args, "data"); ok {
			add(path.Join(d, "tls"), kindSecretDir, "the gateway's TLS directory")
			add(path.Join(d, "tls/self-signed.key"), kindSecret, "the key of the self-signed certificate")
		}
	}
	if s.Gateway.ConfigPath != "" && !s.Gateway.Absent {
		add(s.Gateway.ConfigPath, kindSecret, "the gateway's options (TURN password, paths of keys)")
	}
	if set := s.Gateway.Options; set != nil {
		add(set.Web().CertificateKey, kindSecret, "[web] certificate-key")
		add(set.SIP().TLSCertificateKey, kindSecret, "[sip] tls-certificate-key")
		add(set.Web().Certificate, kindNoWrite, "[web] certificate")
		add(set.SIP().TLSCertificate, kindNoWrite, "[sip] tls-certificate")
	}
	for _, u := range s.ourUnits() {
		c, ok := s.command(u)
		if !ok {
			continue
		}
		from := u.Name
		switch daemonOf(s, u) {
		case CommGateway:
			gatewayFiles(c.Args, from)
		case CommConfserv:
			d, _ := FlagValue(c.Args, "data")
			if d == "" {
				d = DefaultConfservData
			}
			add(d, kindSecretDir, "the Configuration Server's data ("+from+")")
			add(path.Join(d, "initial-admin-password"), kindSecret, "the initial admin password")
			add(path.Join(d, "confserv.db"), kindSecret, "the Configuration Server's store")
			if k, ok := FlagValue(c.Args, "tls-key"); ok {
				add(k, kindSecret, "the Configuration Server's TLS key ("+from+")")
			}
		case CommLCA:
			d, _ := FlagValue(c.Args, "data")
			if d == "" {
				d = strings.Split(s.unitEnv(u)["STATE_DIRECTORY"], ":")[0]
			}
			if d == "" {
				d = DefaultLCAData
			}
			if t, ok := FlagValue(c.Args, "control-token-file"); ok {
				add(t, kindSecret, "the LCA's control token ("+from+")")
			}
			add(path.Join(d, "control-token"), kindSecret, "the LCA's control token")
			if t, ok := FlagValue(c.Args, "token-file"); ok {
				add(t, kindSecret, "the LCA's host credential ("+from+")")
			}
			if t, ok := FlagValue(c.Args, "config"); ok {
				add(t, kindNoWrite, "lca.ini: the commands the LCA runs ("+from+")")
			}
		}
		for _, f := range envFilesOf(u) {
			kind := kindNoWrite
			if secretNames.MatchString(s.EnvFiles[f]) {
				kind = kindSecret
			}
			add(f, kind, "an EnvironmentFile of "+u.Name)
		}
	}
	for _, app := range s.LCAApps {
		gatewayFiles(app.Args, "lca.ini [app "+app.Name+"]")
	}
	// the layout's defaults, when nothing above named them
	add(path.Join(DefaultGatewayData, "tls/self-signed.key"), kindSecret, "the key of the self-signed certificate")
	add(DefaultConfservData, kindSecretDir, "the Configuration Server's data")
	add(path.Join(DefaultConfservData, "initial-admin-password"), kindSecret, "the initial admin password")
	add(path.Join(DefaultConfservData, "confserv.db"), kindSecret, "the Configuration Server's store")
	add(path.Join(DefaultLCAData, "control-token"), kindSecret, "the LCA's control token")
	add("/etc/webrtc-gateway/lca-token", kindSecret, "the LCA's host credential (docs/lca.md)")
	add(DefaultLCAINI, kindNoWrite, "lca.ini: the commands the LCA runs")
	add("/etc/webrtc-gateway", kindNoWrite, "the configuration directory")
	return out
}

func checkSecretFiles(s *Snapshot) verdict {
	var v verdict
	for _, f := range secretFiles(s) {
		v.malformed(s.malformedUnder(f.Path), "fix the file: check-host could not find the files its applications name")
	}
	judged := 0
	serviceUID, serviceGID := -1, -1
	for uid, name := range s.Users {
		if name == ServiceUser {
			serviceUID = uid
		}
	}
	for gid, name := range s.Groups {
		if name == ServiceUser {
			serviceGID = gid
		}
	}
	for _, f := range secretFiles(s) {
		if reason, ok := s.Unreadable[f.Path]; ok {
			v.cannotRead([]string{f.Path + ": " + reason})
			continue
		}
		st, ok := s.Files[f.Path]
		if !ok || !st.Exists {
			continue
		}
		judged++
		perm := st.Mode.Perm()
		desc := fmt.Sprintf("%s (%s) is %s %s:%s", f.Path, f.What, st.Mode, s.userName(st.UID), s.groupName(st.GID))
		want := "0640"
		if st.Mode.IsDir() {
			want = "0750"
		}
		chmod := fmt.Sprintf("chmod %s %s; chown root:%s %s", want, f.Path, ServiceUser, f.Path)
		if st.UID == serviceUID && serviceUID >= 0 || st.Mode.IsDir() {
			chmod = fmt.Sprintf("chmod o-rwx %s", f.Path)
		}
		switch f.Kind {
		case kindSecret, kindSecretDir:
			switch {
			case perm&0o002 != 0:
				v.fail(desc+": writable by every user", chmod)
			case perm&0o004 != 0 && !st.Mode.IsDir():
				v.fail(desc+": readable by every user", chmod)
			case perm&0o005 != 0:
				v.warn(desc+": every user may list it or reach the files in it", chmod)
			case perm&0o020 != 0 && !st.Mode.IsDir():
				v.warn(desc+": writable by its group", fmt.Sprintf("chmod g-w %s", f.Path))
			case perm&0o040 != 0 && st.GID != 0 && st.GID != serviceGID && st.GID >= 0:
				v.warn(desc+": readable by group "+s.groupName(st.GID), fmt.Sprintf("chgrp %s %s", ServiceUser, f.Path))
			case st.UID != 0 && st.UID != serviceUID && st.UID >= 0:
				v.warn(desc+": owned by another user than root or "+ServiceUser, fmt.Sprintf("chown root:%s %s", ServiceUser, f.Path))
			default:
				v.pass(fmt.Sprintf("%s %s", f.Path, st.Mode))
			}
		case kindNoWrite:
			switch {
			case perm&0o002 != 0 && st.Mode&fs.ModeSticky == 0:
				v.fail(desc+": writable by every user", fmt.Sprintf("chmod o-w %s", f.Path))
			default:
				v.pass(fmt.Sprintf("%s %s", f.Path, st.Mode))
			}
		}
	}
	for _, u := range s.ourUnits() {
		for _, d := range u.Values("Service", "Environment") {
			env := map[string]string{}
			ParseEnvironment(d.Value, env)
			for k, val := range env {
				if secretNames.MatchString(k) && val != "" {
					v.fail(fmt.Sprintf("%s sets %s in Environment= (%s): unit files are readable by every user, and systemctl show prints it", u.Name, k, d.Where()),
						"move the credential to a file readable by "+ServiceUser+" only and pass it by name (webrtc-gateway -app-token-file, lca -token-file)")
				}
			}
		}
	}
	if judged == 0 && v.status == "" {
		v.skip("none of the gateway's configuration, key or token files is on this host")
	}
	return v
}

// remedyUnitSyntax is what to do about a unit file that does not parse.
const remedyUnitSyntax = "systemd-analyze verify UNIT names the mistake; systemd ignores such lines"

func checkNotRoot(s *Snapshot) verdict {
	var v verdict
	v.cannotRead(s.unreadableUnder(unitDirs...))
	v.malformed(s.malformedUnder(s.unitFiles(s.ourUnits()...)...), remedyUnitSyntax)
	found := false
	for _, u := range s.ourUnits() {
		found = true
		user, userSet := u.Last("Service", "User")
		dyn, _ := u.Last("Service", "DynamicUser")
		c, _ := s.command(u)
		switch {
		case strings.Contains(c.Prefix, "+"):
			v.fail(fmt.Sprintf("%s: ExecStart=+ (%s) runs the daemon with full privileges, as root, whatever User= says", u.Name, c.From.Where()),
				fmt.Sprintf("remove the + from ExecStart (systemctl revert %s, or edit the drop-in)", u.Name))
		case parseBool(dyn.Value):
			v.pass(u.Name + " runs as a dynamic user")
		case !userSet || user.Value == "" || user.Value == "root" || user.Value == "0":
			where := "User= is not set"
			if userSet {
				where = fmt.Sprintf("User=%s (%s)", user.Value, user.Where())
			}
			v.fail(fmt.Sprintf("%s runs as root: %s", u.Name, where),
				fmt.Sprintf("run it as %s: systemctl revert %s (drops local overrides), or set User=%s in its drop-in; systemctl daemon-reload; systemctl restart %s", ServiceUser, u.Name, ServiceUser, u.Name))
		default:
			v.pass(fmt.Sprintf("%s runs as %s", u.Name, user.Value))
		}
	}
	for _, p := range s.processes(CommGateway, CommConfserv, CommLCA) {
		found = true
		if p.UID == 0 {
			v.fail(fmt.Sprintf("process %d (%s) runs as root", p.PID, p.Comm),
				"start it from its packaged unit (which runs it as "+ServiceUser+"), not by hand as root")
		} else if p.UID > 0 {
			v.pass(fmt.Sprintf("process %d (%s) runs as %s", p.PID, p.Comm, s.userName(p.UID)))
		}
	}
	if !found {
		v.skip("no unit or process of the gateway, confserv or the LCA on this host")
	}
	return v
}
