// Package fail2ban holds no code: its tests check the fail2ban filter and
// jails that the packages install from filter.d and jail.d (docs/fail2ban.md).
//
//   - The filter is run by fail2ban-regex on what the real gateway,
//     Configuration Server and Local Control Agent write: the gateway's [log]
//     file, the LCA's per-application log, and their stdout as a systemd
//     journal stores it. Failed logins match with the client's address and no
//     other, whatever user name the client sent; successes and other lines
//     do not match.
//   - A real fail2ban-server, in the network namespace the tests run in, bans
//     a client after three failed sign-ins with an nftables action, so that
//     its connections to the gateway no longer get through, and lifts the ban
//     after bantime.
//   - The jails, as fail2ban itself reads them, keep the [security] defaults
//     of the option catalog and the daemons' default ports.
package fail2ban
