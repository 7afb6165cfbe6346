package hostcheck

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The firewalld services the package ships (packaging/firewalld/services).
const (
	FirewalldService           = "webrtc-gateway"
	FirewalldServiceSIP        = "webrtc-gateway-sip"
	FirewalldServiceManagement = "webrtc-gateway-management"
)

// fwState is the firewall in effect, as far as the snapshot tells.
type fwState struct {
	kind    string // "firewalld", "nftables", "ufw", "iptables"; "" for none
	detail  string
	ruleset *NftRuleset // the nftables ruleset, when kind is "nftables"
}

// nftRuleset parses the snapshot's ruleset (nil when there is none).
func nftRuleset(s *Snapshot) (*NftRuleset, error) {
	if strings.TrimSpace(s.Nftables.Text) == "" {
		return nil, nil
	}
	rs, err := ParseNftRuleset(s.Nftables.Text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Nftables.Source, err)
	}
	return rs, nil
}

// activeFirewall finds the firewall that filters the host's input: on a
// host whose processes are known, firewalld running or an input chain
// loaded; on an image, the firewall enabled at boot.
func activeFirewall(s *Snapshot) fwState {
	fwd := s.Units["firewalld.service"]
	running := len(s.processes("firewalld")) > 0
	switch {
	case running:
		return fwState{kind: "firewalld", detail: "firewalld runs (default zone " + s.Firewalld.DefaultZone + ")"}
	case !s.ProcessesKnown && fwd.Enabled() && s.Firewalld.Installed:
		return fwState{kind: "firewalld", detail: "firewalld.service is enabled (default zone " + s.Firewalld.DefaultZone + ")"}
	}
	if rs, err := nftRuleset(s); err == nil && rs != nil && rs.HasInputFilter() && (s.Live || s.Units["nftables.service"].Enabled()) {
		return fwState{kind: "nftables", ruleset: rs, detail: "nftables input chains (" + s.Nftables.Source + ")"}
	}
	if s.Live {
		return fwState{}
	}
	switch {
	case s.UFWEnabled && s.Units["ufw.service"].Enabled():
		return fwState{kind: "ufw", detail: "ufw is enabled"}
	case s.Units["iptables.service"].Enabled():
		return fwState{kind: "iptables", detail: "iptables.service is enabled"}
	}
	return fwState{}
}

const remedyNoFirewall = "install and enable firewalld: dnf install firewalld (Debian: apt install firewalld); systemctl enable --now firewalld; " +
	"then open the gateway's ports: firewall-cmd --permanent --zone=public --add-service=" + FirewalldService +
	"; firewall-cmd --permanent --zone=internal --add-service=" + FirewalldServiceSIP + " --add-service=" + FirewalldServiceManagement +
	"; firewall-cmd --reload (or load the ruleset of `webrtc-gateway firewall -format nftables -policy drop` and enable nftables.service)"

func checkFirewall(s *Snapshot) verdict {
	var v verdict
	fw := activeFirewall(s)
	if _, err := nftRuleset(s); err != nil {
		v.warn("the nftables ruleset could not be parsed: "+err.Error(), "check it with nft -c -f FILE")
	}
	v.malformed(s.malformedUnder("/etc/firewalld", "/usr/lib/firewalld"), "firewall-offline-cmd --check-config names the mistake")
	bootEnabled := s.Units["firewalld.service"].Enabled() || s.Units["nftables.service"].Enabled() ||
		s.Units["ufw.service"].Enabled() || s.Units["iptables.service"].Enabled()
	switch fw.kind {
	case "firewalld":
		v.pass(fw.detail)
		if !s.Units["firewalld.service"].Enabled() {
			v.warn("firewalld runs but is not enabled: it will not start at the next boot", "systemctl enable firewalld")
		}
		for _, name := range sortedKeys(s.Firewalld.Zones) {
			z := s.Firewalld.Zones[name]
			if world, why := s.Firewalld.worldFacing(z); world && strings.EqualFold(z.Target, "ACCEPT") {
				v.fail(fmt.Sprintf("zone %s (%s) has target ACCEPT: every port is open to the world", z.Name, why),
					fmt.Sprintf("firewall-cmd --permanent --zone=%s --set-target=default; firewall-cmd --reload (or make another zone the default: firewall-cmd --set-default-zone=public)", z.Name))
			}
		}
	case "nftables":
		v.pass(fw.detail + " filter incoming connections")
		if probe := fw.ruleset.OpenTo(1, "tcp"); probe.Open && len(probe.Caveats) == 0 {
			v.warn("the nftables input chains accept what no rule drops (a new connection from anywhere to an unused port gets in: "+strings.Join(probe.Why, "; ")+")",
				"give the input chain policy drop and accept only what the host serves: `webrtc-gateway firewall -format nftables -policy drop` prints such a ruleset (SSH from the management networks included); or use firewalld")
		}
		if s.Live && !bootEnabled {
			v.warn("the ruleset is loaded but no firewall unit is enabled: it is gone after a reboot",
				"save it (nft list ruleset > /etc/sysconfig/nftables.conf; Debian: /etc/nftables.conf) and systemctl enable nftables")
		}
	case "ufw", "iptables":
		v.pass(fw.detail + " (its rules are read on the running host only: run check-host with -root /)")
	default:
		if u := s.Units["firewalld.service"]; u.Enabled() && s.ProcessesKnown {
			v.fail("firewalld is enabled but does not run", "systemctl start firewalld; journalctl -u firewalld says why it stopped")
			break
		}
		if unread := s.unreadableUnder("nft list ruleset"); len(unread) > 0 {
			v.cannotRead(unread)
			v.warn("no firewalld; the nftables ruleset could not be read", "")
			break
		}
		what := "no firewall filters incoming connections: no firewalld running, no nftables input chain"
		if !s.Live {
			what = "no firewall is enabled in this tree: firewalld.service, nftables.service (with an input chain), ufw or iptables"
		}
		v.fail(what, remedyNoFirewall)
	}
	return v
}

// mgmtPort is a management port and what is known of who listens on it.
type mgmtPort struct {
	name      string // "LCA" or "Configuration Server"
	unit      string
	port      int
	portFrom  string
	listeners []netip.Addr // addresses it listens on
	from      string       // where listeners came from
	known     bool         // listeners is what is (sockets), or what will be (unit)
}

// managementPorts returns the LCA's and confserv's ports with their
// listening addresses: the sockets seen on the running host, else what
// their units say (the LCA binds 127.0.0.1 by default, confserv every
// address).
func managementPorts(s *Snapshot) []mgmtPort {
	lca, lcaFrom := s.LCAPort()
	cs, csFrom := s.ConfservPort()
	out := []mgmtPort{
		{name: "LCA", unit: UnitLCA, port: lca, portFrom: lcaFrom},
		{name: "Configuration Server", unit: UnitConfserv, port: cs, portFrom: csFrom},
	}
	for i := range out {
		m := &out[i]
		if s.SocketsKnown {
			m.known, m.from = true, "listening sockets"
			for _, sock := range s.Sockets {
				if sock.Proto == "tcp" && int(sock.Addr.Port()) == m.port {
					m.listeners = append(m.listeners, sock.Addr.Addr())
				}
			}
			continue
		}
		u := s.unit(m.unit)
		if u == nil {
			continue
		}
		if !u.Enabled() {
			m.known, m.from = true, m.unit+" is not enabled"
			continue
		}
		def := ""
		if m.unit == UnitLCA {
			def = DefaultLCAListen
		}
		listen, where, ok := s.daemonFlag(m.unit, "listen")
		if !ok {
			listen, where = def, m.unit+" (default -listen)"
		}
		m.known, m.from = true, where
		if listen == "" {
			m.listeners = []netip.Addr{netip.IPv6Unspecified()}
		} else if a, err := netip.ParseAddr(listen); err == nil {
			m.listeners = []netip.Addr{a}
		} else {
			m.known = false // a host name: not judged
		}
	}
	return out
}

func loopbackOnly(addrs []netip.Addr) bool {
	return len(addrs) > 0 && !slices.ContainsFunc(addrs, func(a netip.Addr) bool { return !a.IsLoopback() })
}

func addrList(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
		if a.IsUnspecified() {
			parts[i] += " (every address)"
		}
	}
	return strings.Join(parts, ", ")
}

// exposure says whether the firewall lets the world reach a port: open,
// and with which reasons or doubts.
type exposure struct {
	judged  bool // the firewall was analysed
	open    bool
	why     []string
	caveats []string
}

func portExposure(s *Snapshot, fw fwState, port int) exposure {
	switch fw.kind {
	case "firewalld":
		why := s.Firewalld.OpenTo(port, "tcp")
		return exposure{judged: true, open: len(why) > 0, why: why}
	case "nftables":
		v := fw.ruleset.OpenTo(port, "tcp")
		return exposure{judged: true, open: v.Open, why: v.Why, caveats: v.Caveats}
	case "":
		return exposure{judged: true, open: true, why: []string{"no firewall"}}
	}
	return exposure{}
}

func checkFirewallManagement(s *Snapshot) verdict {
	var v verdict
	fw := activeFirewall(s)
	for _, m := range managementPorts(s) {
		e := portExposure(s, fw, m.port)
		label := fmt.Sprintf("%s port %d/tcp (%s)", m.name, m.port, m.portFrom)
		quiet := m.known && (len(m.listeners) == 0 || loopbackOnly(m.listeners))
		state := "nothing listens on it"
		if !s.SocketsKnown {
			state = m.from
		}
		if len(m.listeners) > 0 {
			state = "it listens on " + addrList(m.listeners) + " only"
		}
		switch {
		case !e.judged:
			v.warn(label+": "+fw.detail+"; whether it is open was not analysed", "check that the firewall lets only the management network reach it")
		case !e.open:
			v.pass(label + ": closed to the world")
		case fw.kind == "" && quiet:
			v.pass(label + ": no firewall, but " + state)
		case fw.kind == "" && !m.known:
			v.warn(label+": no firewall, and where it listens is not known", remedyNoFirewall)
		case fw.kind == "":
			v.fail(label+": no firewall, and it listens on "+addrList(m.listeners)+" ("+m.from+")", remedyNoFirewall)
		case len(e.caveats) > 0:
			v.warn(fmt.Sprintf("%s: open to the world %s: %s", label, strings.Join(e.caveats, ", "), strings.Join(e.why, "; ")),
				mgmtRemedy(fw, m.port))
		case quiet:
			v.warn(fmt.Sprintf("%s: open to the world (%s), though %s", label, strings.Join(e.why, "; "), state), mgmtRemedy(fw, m.port))
		default:
			v.fail(fmt.Sprintf("%s: open to the world: %s", label, strings.Join(e.why, "; ")), mgmtRemedy(fw, m.port))
		}
	}
	return v
}

func mgmtRemedy(fw fwState, port int) string {
	if fw.kind == "firewalld" {
		return fmt.Sprintf("take port %d out of the zones facing the world: firewall-cmd --permanent --zone=ZONE --remove-service=%s (or --remove-port=%d/tcp, or delete the rich rule); "+
			"let the management network in through a zone of its own: firewall-cmd --permanent --zone=internal --add-source=10.0.0.0/8 --add-service=%s; firewall-cmd --reload",
			port, FirewalldServiceManagement, port, FirewalldServiceManagement)
	}
	return fmt.Sprintf("accept tcp dport %d only from the management network (ip saddr @management_v4 tcp dport %d accept) and drop it from elsewhere: `webrtc-gateway firewall -format nftables` prints such rules", port, port)
}

func checkFail2ban(s *Snapshot) verdict {
	var v verdict
	f := s.Fail2ban
	v.cannotRead(s.unreadableUnder("/etc/fail2ban"))
	if !f.Installed {
		v.warn("fail2ban is not installed: failed logins are only banned in-process ([security])",
			"install fail2ban (EPEL on RHEL): dnf install epel-release && dnf install fail2ban (Debian/Ubuntu: apt install fail2ban); systemctl enable --now fail2ban")
		return v
	}
	var packaged *Fail2banFile
	for i := range f.Files {
		if f.Files[i].Path == f.JailFile {
			packaged = &f.Files[i]
		}
	}
	jails := f.Jails()
	if packaged == nil || len(jails) == 0 {
		v.fail(fmt.Sprintf("fail2ban is installed but %s (the gateway's jails) is missing or defines no jail", f.JailFile),
			"reinstall the webrtc-gateway package, which ships "+f.JailFile+" and /etc/fail2ban/filter.d/webrtc-gateway.conf; then fail2ban-client reload")
		return v
	}
	var enabled []string
	for _, j := range jails {
		on, where := f.JailEnabled(j)
		shipped := parseBool(packaged.Sections[j]["enabled"])
		switch {
		case on:
			enabled = append(enabled, j)
		case shipped:
			v.fail(fmt.Sprintf("jail %s is disabled by %s", j, where),
				fmt.Sprintf("set enabled = true for [%s] in %s (or remove the override); fail2ban-client reload", j, where))
		}
	}
	if len(enabled) == 0 {
		v.fail("no jail of "+f.JailFile+" is enabled", "enable the jail for how the gateway logs (see the comments of "+f.JailFile+") in /etc/fail2ban/jail.d/webrtc-gateway.local; fail2ban-client reload")
	}
	// gateways started by the LCA write to files the journal jails do not read
	if s.Units[UnitLCA].Enabled() && len(s.LCAApps) > 0 && slices.Contains(jails, "webrtc-gateway-managed") && !slices.Contains(enabled, "webrtc-gateway-managed") {
		v.warn("the LCA starts gateways ("+lcaAppNames(s)+") whose logs go to files, and jail webrtc-gateway-managed is not enabled",
			"in /etc/fail2ban/jail.d/webrtc-gateway.local: [webrtc-gateway-managed] enabled = true, logpath = /var/log/webrtc-gateway/NAME.log for each gateway; fail2ban-client reload")
	}
	if u := s.Units["fail2ban.service"]; u != nil && !u.Enabled() {
		v.warn("fail2ban.service is not enabled", "systemctl enable --now fail2ban")
	}
	if st := f.Status; st != nil {
		loaded := ParseFail2banStatus(st.Output)
		switch {
		case st.Err != "" && strings.Contains(st.Output, "ermission denied"):
			v.cannotRead([]string{st.Command + ": permission denied"})
		case s.ProcessesKnown && len(s.processes("fail2ban-server")) == 0:
			v.fail("fail2ban-server does not run: no jail is loaded",
				"systemctl enable --now fail2ban; if it stops again, fail2ban-client -d shows configuration errors")
		case st.Err != "" || loaded == nil:
			v.fail("the fail2ban server does not answer ("+st.Command+": "+truncate(strings.TrimSpace(st.Err+" "+st.Output), 160)+"): no jail is loaded",
				"systemctl restart fail2ban; fail2ban-client -d shows configuration errors")
		default:
			var missing []string
			for _, j := range enabled {
				if !slices.Contains(loaded, j) {
					missing = append(missing, j)
				}
			}
			if len(missing) > 0 {
				v.fail("the fail2ban server runs without jail(s) "+strings.Join(missing, ", ")+" (loaded: "+strings.Join(loaded, ", ")+")",
					"fail2ban-client reload; fail2ban-client -d shows why a jail is refused (the journal backend needs python3-systemd)")
			} else {
				v.pass("the fail2ban server has loaded " + strings.Join(enabled, ", "))
			}
		}
	}
	v.pass("jails enabled: " + strings.Join(enabled, ", "))
	return v
}

func lcaAppNames(s *Snapshot) string {
	var names []string
	for _, a := range s.LCAApps {
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}
