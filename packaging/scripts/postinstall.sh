# %post (RPM: $1 = 1 install, 2 or more upgrade) / postinst (deb: configure
# with the previous version, empty on a first install). The units are
# neither enabled nor started on install: the operator chooses how the
# gateway runs (its own unit or under the LCA, not both). An upgrade
# restarts the units that run; configuration (%config(noreplace) /
# conffiles) and data are kept.

# create_dirs creates the directories of the package's tmpfiles.d file:
# with systemd-tmpfiles when there is one, else from its d lines.
create_dirs() {
	[ -f "$TMPFILES_FILE" ] || return 0
	if command -v systemd-tmpfiles >/dev/null 2>&1; then
		systemd-tmpfiles --create "$TMPFILES_FILE" && return 0
		warn "systemd-tmpfiles failed; creating the directories by hand"
	fi
	while read -r type path mode user group _; do
		case $type in
		d) ;;
		*) continue ;;
		esac
		mkdir -p "$path" && chown "$user:$group" "$path" && chmod "$mode" "$path" ||
			warn "cannot create $path ($mode $user:$group)"
	done <"$TMPFILES_FILE"
	return 0
}

upgrade=
case ${1:-} in
[0-9]*) [ "$1" -ge 2 ] && upgrade=yes ;;
configure) [ -n "${2:-}" ] && upgrade=yes ;;
abort-upgrade | abort-remove | abort-deconfigure) ;;
*) exit 0 ;;
esac
create_dirs
systemctl_quiet daemon-reload
if [ -n "$upgrade" ]; then
	restart_running
fi
exit 0
