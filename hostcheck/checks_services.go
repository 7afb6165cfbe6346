package hostcheck

import (
	"fmt"
	"slices"
	"strings"
)

// legacyListener is a port of a clear-text legacy service.
type legacyListener struct {
	proto  string
	lo, hi int
	what   string
}

var legacyListeners = []legacyListener{
	{"tcp", 21, 21, "FTP"},
	{"tcp", 23, 23, "telnet"},
	{"udp", 69, 69, "TFTP"},
	{"tcp", 512, 512, "rexec"},
	{"tcp", 513, 513, "rlogin"},
	{"tcp", 514, 514, "rsh"}, // 514/udp is syslog
}

// legacyUnits are the units of the clear-text services, with the packages
// that bring them and their daemons' command names.
var legacyUnits = []struct {
	what     string
	names    []string
	packages string
	comms    []string
}{
	{"telnet", []string{"telnet.socket", "telnet@.service", "telnetd.service", "inetutils-telnetd.service"},
		"telnet-server (Debian: telnetd, inetutils-telnetd)", []string{"in.telnetd", "telnetd"}},
	{"FTP", []string{"vsftpd.service", "vsftpd@.service", "vsftpd.socket", "proftpd.service", "pure-ftpd.service"},
		"vsftpd, proftpd, pure-ftpd", []string{"vsftpd", "proftpd", "pure-ftpd"}},
	{"TFTP", []string{"tftp.socket", "tftp.service", "tftp-server.socket", "tftp-server.service", "tftpd-hpa.service", "atftpd.service"},
		"tftp-server (Debian: tftpd-hpa, atftpd)", []string{"in.tftpd", "tftpd", "atftpd"}},
	{"rsh", []string{"rsh.socket", "rsh@.service", "rlogin.socket", "rlogin@.service", "rexec.socket", "rexec@.service"},
		"rsh-server (Debian: rsh-server, rsh-redone-server)", []string{"in.rshd", "in.rlogind", "in.rexecd", "rshd", "rlogind"}},
	{"xinetd", []string{"xinetd.service", "inetd.service", "openbsd-inetd.service", "inetutils-inetd.service"},
		"xinetd (Debian: openbsd-inetd, inetutils-inetd)", []string{"xinetd", "inetd"}},
}

func checkLegacyListeners(s *Snapshot) verdict {
	var v verdict
	v.cannotRead(s.unreadableUnder("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"))
	v.malformed(s.malformedUnder("/proc/net"), "report it: the kernel's format is not what check-host expects")
	if !s.SocketsKnown {
		if len(v.unreadable) == 0 {
			v.skip(fmt.Sprintf("no %s/proc/net: listeners are seen on a running host only (-root /)", strings.TrimSuffix(s.Root, "/")))
		}
		return v
	}
	for _, sock := range s.Sockets {
		for _, l := range legacyListeners {
			if sock.Proto != l.proto || int(sock.Addr.Port()) < l.lo || int(sock.Addr.Port()) > l.hi {
				continue
			}
			v.fail(fmt.Sprintf("%s listens: %s", l.what, sock),
				fmt.Sprintf("stop what listens on %s port %d (ss -lnp%s 'sport = :%d' shows it), then disable its unit and remove its package (see legacy-services)",
					l.proto, sock.Addr.Port(), string(l.proto[0]), sock.Addr.Port()))
		}
	}
	v.pass("nothing listens on 21/tcp, 23/tcp, 69/udp or 512-514/tcp")
	return v
}

func checkLegacyServices(s *Snapshot) verdict {
	var v verdict
	v.cannotRead(s.unreadableUnder(unitDirs...))
	var installed []string
	for _, l := range legacyUnits {
		for _, name := range l.names {
			v.malformed(s.malformedUnder(s.unitFiles(s.Units[name])...), remedyUnitSyntax)
		}
	}
	for _, l := range legacyUnits {
		if l.what == "xinetd" {
			continue // the xinetd check
		}
		for _, name := range l.names {
			u := s.Units[name]
			switch {
			case u == nil || u.Masked:
			case u.Enabled():
				v.fail(fmt.Sprintf("%s is enabled (%s)", name, strings.Join(u.EnabledBy, ", ")),
					fmt.Sprintf("systemctl disable --now %s, then remove %s (dnf remove / apt purge)", name, l.packages))
			case u.Path != "":
				installed = append(installed, name)
			}
		}
		for _, p := range s.processes(l.comms...) {
			v.fail(fmt.Sprintf("%s runs: pid %d %s", l.what, p.PID, p.Comm),
				fmt.Sprintf("stop it and remove %s", l.packages))
		}
	}
	if len(installed) > 0 {
		v.pass("installed but not enabled: " + strings.Join(installed, ", ") + " (removing the packages is cleaner)")
	} else {
		v.pass("no telnet, FTP, TFTP or rsh unit is enabled")
	}
	return v
}

// clearTextInetd are the inetd services the guide wants off.
var clearTextInetd = []string{"telnet", "ftp", "tftp", "shell", "login", "exec", "rsh", "rlogin", "rexec"}

func checkXinetd(s *Snapshot) verdict {
	var v verdict
	v.cannotRead(s.unreadableUnder(append(slices.Clone(unitDirs), "/etc/xinetd.d", "/etc/inetd.conf")...))
	active := false
	for _, name := range legacyUnits[len(legacyUnits)-1].names {
		u := s.Units[name]
		if u.Enabled() {
			active = true
			v.fail(fmt.Sprintf("%s is enabled (%s)", name, strings.Join(u.EnabledBy, ", ")),
				fmt.Sprintf("systemctl disable --now %s, then remove the package (dnf remove xinetd / apt purge openbsd-inetd inetutils-inetd)", name))
		}
	}
	for _, p := range s.processes("xinetd", "inetd") {
		active = true
		v.fail(fmt.Sprintf("%s runs: pid %d", p.Comm, p.PID), "stop it (systemctl disable --now xinetd) and remove the package")
	}
	var on []string
	for _, svc := range s.Xinetd {
		if !svc.Disabled {
			on = append(on, fmt.Sprintf("%s (%s)", svc.Name, svc.File))
		}
	}
	for _, name := range s.Inetd {
		if slices.Contains(clearTextInetd, name) {
			on = append(on, name+" (/etc/inetd.conf)")
		}
	}
	switch {
	case len(on) > 0 && active:
		v.fail("services it starts: "+strings.Join(on, ", "), "set disable = yes in each file of /etc/xinetd.d (or comment the lines of /etc/inetd.conf)")
	case len(on) > 0:
		v.pass("xinetd/inetd are not enabled; their configuration still has services on: " + strings.Join(on, ", "))
	default:
		v.pass("xinetd and inetd are not enabled")
	}
	return v
}
