# %preun (RPM: $1 = 0 removal, 1 or more upgrade) / prerm (deb: remove,
# upgrade, deconfigure, failed-upgrade): removal stops and disables the
# units; an upgrade leaves them to %post / postinst.
case ${1:-} in
0 | remove | deconfigure) stop_units ;;
esac
exit 0
