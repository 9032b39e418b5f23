#!/bin/sh
# inroot.sh ROOT CMD...: run CMD chrooted in ROOT, in a private mount namespace (the host's
# mounts are untouched). Needs root, unshare(1) and chroot(8).
ROOT=$1; shift
# shellcheck disable=SC2016  # the inner script expands its own $R and $@
exec unshare -m --propagation private sh -c '
R=$1; shift
mount --bind /usr "$R/usr" && mount --bind "$R/local" "$R/usr/local" &&
mount --bind "$R/harness-stubs/pgrep" "$R/usr/bin/pgrep" && mount --bind /dev "$R/dev" &&
mount -t proc proc "$R/proc" &&
exec chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root FAKE_RELOAD_DELAY="${FAKE_RELOAD_DELAY:-2}" "$@"' sh "$ROOT" "$@"
