#!/bin/sh
# mkroot.sh PFSENSE_CHECKOUT PROJECT ROOT: a chroot tree with pfSense's real PHP (from
# PFSENSE_CHECKOUT/src, a checkout of github.com/pfsense/pfsense), the s2s-agent package
# files (from PROJECT) and this directory's stubs and fakes. Nothing of pfSense is copied
# into the project: ROOT is a temporary directory.
set -eu
SRC=$1/src; PROJ=$2; ROOT=$3; H=$(cd "$(dirname "$0")" && pwd)
rm -rf "$ROOT"; mkdir -p "$ROOT"
cd "$ROOT"
mkdir -p usr local etc cf/conf/backup var/run var/etc/ipsec var/db var/log tmp dev proc
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
ln -s cf/conf conf
cp -a /etc/. etc/
cp -a "$SRC/etc/inc" etc/inc
for f in rc.packages rc.start_packages rc.newwanip rc.package_reinstall_all version version.patch; do
	if [ -e "$SRC/etc/$f" ]; then cp -a "$SRC/etc/$f" etc/; fi
done
# /usr/local: pfSense's own tree + the package's files + fakes
cp -a "$SRC/usr/local/." local/
FILES=$PROJ/pkg/pfSense-pkg-s2s-agent/files
(cd "$FILES" && find usr -type f) | while read -r f; do
	mkdir -p "local/$(dirname "${f#usr/local/}")"
	cp "$FILES/$f" "local/${f#usr/local/}"
done
sed -i 's/%%PKGVERSION%%/0.2.0/' local/pkg/s2s_agent.xml local/pkg/s2s_agent_profiles.xml local/share/pfSense-pkg-s2s-agent/info.xml
mkdir -p local/bin local/sbin local/etc/rc.d
ln -sf /usr/bin/php local/bin/php
printf '#!/bin/sh\nexec /usr/bin/php "$@"\n' > local/bin/php-cgi
cp "$H/fakes/swanctl" "$H/fakes/strongswanrc" "$H/fakes/pkg-static" local/sbin/
cp "$H/fakes/rc.d-s2s_agent" local/etc/rc.d/s2s_agent
cp "$H/fakes/s2s-agent" local/bin/s2s-agent
cp "$H/fakes/python3.11" local/bin/python3.11
chmod 755 local/bin/php-cgi local/sbin/swanctl local/sbin/strongswanrc local/sbin/pkg-static \
	local/etc/rc.d/s2s_agent local/bin/s2s-agent local/bin/python3.11
cp "$PROJ/tests/golden/pfsense/config-2.7.xml" cf/conf/config.xml
echo 1 > var/run/php-fpm.pid
cp -a "$H/stubs" harness-stubs
mkdir -p harness-stubs/real
cp /usr/bin/pgrep harness-stubs/real/pgrep
ln -sf pgrep harness-stubs/real/pkill
# every php in the root (also the ones pfSense starts itself) gets pfSense's include_path,
# with the harness stubs first
IP="/harness-stubs:.:/etc/inc:/usr/local/pfSense/include:/usr/local/pfSense/include/www:/usr/local/www:/usr/local/pkg:/usr/local/www/classes:/usr/local/www/classes/Form"
for d in etc/php/*/cli/conf.d; do
	printf 'include_path = "%s"\nauto_prepend_file = /harness-stubs/prepend.php\ndisplay_errors = stderr\nerror_reporting = E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING\n' "$IP" > "$d/99-pfharness.ini"
done
