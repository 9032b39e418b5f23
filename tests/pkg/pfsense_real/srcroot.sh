#!/bin/sh
# srcroot.sh ROOT CMD...: like inroot.sh (chrooted in ROOT, private mount namespace), plus the
# ifconfig(8) stand-in of srcstubs/ over /usr/sbin/ifconfig (only inside the namespace),
# for resolve-src.php against pfSense's real includes. Needs root, unshare(1), chroot(8).
ROOT=$1; shift
# shellcheck disable=SC2016  # the inner script expands its own $R and $@
exec unshare -m --propagation private sh -c '
R=$1; shift
mount --bind /usr "$R/usr" && mount --bind "$R/local" "$R/usr/local" &&
mount --bind "$R/srcstubs/ifconfig" "$R/usr/sbin/ifconfig" && mount --bind /dev "$R/dev" &&
mount -t proc proc "$R/proc" &&
exec chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root "$@"' sh "$ROOT" "$@"
