#!/bin/sh
# pkgroot.sh ROOT PKG8 ABI OSVERSION ARGS...: FreeBSD's real pkg(8) on the chroot tree ROOT
# (`pkg -r ROOT`), in the same private mount namespace as inroot.sh (ROOT/usr/local is
# ROOT/local), NOT chrooted: pkg(8) runs the package's scripts, and they chroot into
# PKG_ROOTDIR themselves to run pfSense's rc.packages. Needs root and unshare(1).
ROOT=$1; PKG8=$2; ABI=$3; OSV=$4; shift 4
# shellcheck disable=SC2016  # the inner script expands its own $R and $@
exec unshare -m --propagation private sh -c '
R=$1; P=$2; A=$3; V=$4; shift 4
mount --bind /usr "$R/usr" && mount --bind "$R/local" "$R/usr/local" &&
mount --bind "$R/harness-stubs/pgrep" "$R/usr/bin/pgrep" && mount --bind /dev "$R/dev" &&
mount -t proc proc "$R/proc" &&
exec env ASSUME_ALWAYS_YES=yes "$P" -o "ABI=$A" -o "OSVERSION=$V" -r "$R" "$@"' \
	sh "$ROOT" "$PKG8" "$ABI" "$OSV" "$@"
