#!/bin/sh
# Installs the Debian 12 packages MailCorral needs to build and test, and
# the packages named as arguments (scripts/install-bench-deps.sh names the
# benchmark's peers).  Installs only what is missing; silent and fast when
# everything is present.  Run as root.
set -e

PKGS="sendmail-bin sendmail-cf libmilter-dev libssl-dev libmariadb-dev
default-libmysqlclient-dev libcmocka-dev libarchive-dev miltertest
spamassassin spamd spamc clamav-daemon clamav clamav-testfiles mariadb-server
clang-14 libclang-rt-14-dev pkg-config m4 make gcc python3 swaks faketime
util-linux procps gdb iproute2
gir1.2-gmime-3.0 python3-gi libmime-tools-perl mimedefang
debhelper dpkg-dev lintian systemd adduser
tidy chromium"
# mimedefang: testsuite/e2e/mdcompat.sh runs Debian's MIMEDefang beside
# perl_filter_api = mimedefang (its services are kept stopped and, when
# installed here, disabled: see the end)
# debhelper ... adduser: make deb and testsuite/e2e/install.sh (builds the
# package, installs it, systemd-analyze verify on its units)
# tidy chromium: the digest's HTML part is checked by tidy and laid out
# 360 px wide in headless chromium (testsuite/e2e/spamcorral/e2e.py)
# the MIME oracle's JavaScript parser (testsuite/oracle/setup.sh: npm ci)
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
PKGS="$PKGS $*"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: missing packages:$missing" >&2
	echo "install-deps.sh: must run as root to install them" >&2
	exit 1
fi

echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive

# Keep the packages from starting the system's own services.
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
cleanup() { [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d; true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

APT="apt-get -o DPkg::Lock::Timeout=600"
$APT update -q || true
# shellcheck disable=SC2086
if ! $APT install -y --no-install-recommends $missing; then
	echo "install-deps.sh: install failed; updating and retrying once" >&2
	$APT update -q
	$APT install -y --no-install-recommends $missing
fi
# MIMEDefang's services would start at the next boot: the tests run it
# from a private configuration on a private socket, never as a service.
case " $missing " in
*" mimedefang "*)
	for s in mimedefang mimedefang-multiplexor; do
		if command -v systemctl >/dev/null 2>&1; then
			systemctl disable --quiet "$s" >/dev/null 2>&1 || true
		fi
	done
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d mimedefang disable >/dev/null 2>&1 || true
	fi ;;
esac
echo "install-deps.sh: done"
