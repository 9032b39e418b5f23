#!/bin/sh
# php.sh ROOT ARGS...: php-cli inside ROOT (see mkroot.sh for its php.ini additions).
ROOT=$1; shift
exec "$(dirname "$0")/inroot.sh" "$ROOT" /usr/bin/php "$@"
