# %pre (RPM: $1 = 1 install, 2 upgrade) / preinst (deb: install, upgrade,
# abort-upgrade): the user and group before the files are unpacked, so that
# they get their group (configuration 0640 root:webrtcgw).

# create_users creates the users and groups of $SYSUSERS: with
# systemd-sysusers when there is one (it reads the lines on stdin), else
# with groupadd and useradd. Existing ones are left as they are.
create_users() {
	if command -v systemd-sysusers >/dev/null 2>&1; then
		printf '%s\n' "$SYSUSERS" | systemd-sysusers --replace="$SYSUSERS_FILE" - && return 0
		warn "systemd-sysusers failed; trying useradd"
	fi
	printf '%s\n' "$SYSUSERS" | while read -r line; do
		case $line in
		u\ *) ;;
		*) continue ;;
		esac
		# The package's own line: u NAME ID "GECOS" HOME SHELL.
		eval "set -- $line"
		name=$2 gecos=${4:-} home=${5:--}
		[ "$home" = - ] && home=/
		if ! getent group "$name" >/dev/null 2>&1; then
			groupadd -r "$name" || warn "groupadd $name failed"
		fi
		if ! getent passwd "$name" >/dev/null 2>&1; then
			useradd -r -g "$name" -d "$home" -M -s "$(nologin_shell)" -c "$gecos" "$name" ||
				warn "useradd $name failed"
		fi
	done
	return 0
}

nologin_shell() {
	for s in /usr/sbin/nologin /sbin/nologin; do
		if [ -x "$s" ]; then
			echo "$s"
			return
		fi
	done
	echo /bin/false
}

case ${1:-} in
abort-upgrade) ;;
*) create_users ;;
esac
exit 0
