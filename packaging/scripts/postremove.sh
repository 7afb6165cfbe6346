# %postun (RPM: $1 = 0 removal, 1 or more upgrade) / postrm (deb: remove,
# purge, upgrade, ...): systemd forgets the removed units. The data
# (/var/lib/webrtc-gateway*), the logs, the user and group stay, even on
# purge: the configuration database and certificates are the operator's,
# and a reinstall finds them.
case ${1:-} in
0 | remove | purge) systemctl_quiet daemon-reload ;;
esac
exit 0
