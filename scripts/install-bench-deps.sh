#!/bin/sh
# Installs the Debian 12 packages `make bench` needs (testsuite/bench/bench.sh):
# the milter library for the reference filter, sendmail for the end-to-end
# part, the private spamd and clamd, and the peers measured beside MailCorral
# (clamav-milter, spamass-milter, MIMEDefang with Debian's default filter).
# Installs only what is missing; silent and fast when everything is present.
#
# The peers' packages would start their own services on install; the bench
# runs each peer from a private configuration on a private socket instead.
# So the install runs under a policy-rc.d that forbids starting services,
# and the services of the peer packages installed here are then disabled,
# so that they do not start at the next boot either.  Nothing else of the
# machine's mail configuration or services is changed.  Run as root.
set -e

PKGS="libmilter-dev sendmail-bin sendmail-cf spamassassin spamd spamc
clamav-daemon clamav clamav-testfiles python3 iproute2 util-linux
clamav-milter spamass-milter mimedefang"
SERVICES="clamav-milter spamass-milter mimedefang"

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
	echo "install-bench-deps.sh: missing packages:$missing" >&2
	echo "install-bench-deps.sh: must run as root to install them" >&2
	exit 1
fi

echo "install-bench-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive

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
	echo "install-bench-deps.sh: install failed; updating and retrying once" >&2
	$APT update -q
	$APT install -y --no-install-recommends $missing
fi

# Disable (for the next boot) the services of the peers installed just now;
# a peer the machine had before keeps its own settings.
for s in $SERVICES; do
	case " $missing " in
	*" $s "*) ;;
	*) continue ;;
	esac
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --quiet "$s" >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
echo "install-bench-deps.sh: done"
