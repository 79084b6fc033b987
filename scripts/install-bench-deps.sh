#!/bin/sh
# Installs the Debian 12 packages `make bench` needs (testsuite/bench/bench.sh):
# what make check needs (scripts/install-deps.sh, which does the installing)
# and the peers measured beside MailCorral (clamav-milter, spamass-milter,
# MIMEDefang with Debian's default filter).  Only what is missing.
#
# The peers' packages would start their own services on install; the bench
# runs each peer from a private configuration on a private socket instead.
# install-deps.sh installs under a policy-rc.d that forbids starting
# services, and the services of the peers installed here are then disabled,
# so that they do not start at the next boot either; a peer the machine had
# before keeps its own settings.  Nothing else of the machine's mail
# configuration or services is changed.  Run as root.
set -e

SERVICES="clamav-milter spamass-milter mimedefang"
new=""
for s in $SERVICES; do
	case $(dpkg-query -W -f='${Status}' "$s" 2>/dev/null || true) in
	*" installed") ;;
	*) new="$new $s" ;;
	esac
done
# shellcheck disable=SC2086
sh "$(dirname "$0")/install-deps.sh" $SERVICES
for s in $new; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --quiet "$s" >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
