# Shell functions of the maintainer scripts (POSIX sh: dash on Debian, bash
# on RHEL). internal/pkgbuild puts each script together: the package's
# variables, this file, then the step (preinstall.sh, postinstall.sh,
# preremove.sh, postremove.sh). One script serves RPM and deb: RPM passes a
# number (how many versions of the package are installed after the step),
# dpkg a word (install, upgrade, configure, remove, purge...).
#
# Nothing here may fail an install: a host without systemd running (a
# container, a chroot, an image build) gets the user and the directories,
# and the service manager is left alone. Errors are reported on stderr and
# the script still ends with 0.
#
# Variables set before this file:
#   PKG            the package name
#   UNITS          its systemd units, blank-separated
#   SYSUSERS       the lines of its sysusers.d file
#   SYSUSERS_FILE  where the package installs that file
#   TMPFILES_FILE  where the package installs its tmpfiles.d file

# systemd_running: systemd is the service manager of this host (PID 1) and
# systemctl is there to talk to it.
systemd_running() {
	[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

warn() {
	echo "$PKG: $*" >&2
}

# systemctl_quiet runs systemctl when systemd runs this host; a failure is
# reported, never fatal.
systemctl_quiet() {
	systemd_running || return 0
	systemctl "$@" || warn "systemctl $* failed"
	return 0
}

# restart_running restarts the package's units that run, so that they run
# the new binaries; stopped ones stay stopped.
restart_running() {
	systemd_running || return 0
	for unit in $UNITS; do
		systemctl try-restart "$unit" || warn "systemctl try-restart $unit failed"
	done
	return 0
}

# stop_units stops and disables the package's units (removal).
stop_units() {
	systemd_running || return 0
	for unit in $UNITS; do
		systemctl --no-reload disable --now "$unit" >/dev/null 2>&1 ||
			systemctl stop "$unit" || warn "systemctl stop $unit failed"
	done
	return 0
}
