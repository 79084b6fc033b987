#!/bin/sh
# install.sh -- from the tree to an installed MailCorral (issue 17).
#
#   1. `make install DESTDIR=...` (PREFIX=/usr/local) lays out exactly the
#      files of scripts/install.list, the shim where the built daemon's
#      default perl_shim points, and `make uninstall` removes them all.
#   2. The Debian package, built from the tree (scripts/build-deb.sh:
#      lintian clean), ships the same files (+ its units, cron.d,
#      README.Debian, copyright); installed with service starts denied
#      (policy-rc.d), it makes the user, the directories and the key,
#      its configuration passes `mailcorral -n`, its units pass
#      `systemd-analyze verify`; the installed daemon, on the installed
#      configuration, filters one message through a private sendmail
#      (testsuite/stack/stack.sh); purge removes everything but the user
#      and a corral holding mail.
#      It refuses to run (SKIP) where MailCorral is installed already: an
#      administrator's installation is never replaced or purged.  Nothing
#      under /etc/mail is read or changed.
#
# Environment: SMTP_PORT (2625), STACK_DIR (/tmp/mc-e2e-install),
# INSTALL_DIR (work directory, /tmp/mc-install-PID).
# Output: PASS/FAIL/SKIP lines, last "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
. "$TOP/testsuite/lib/result.sh"
W=${INSTALL_DIR:-/tmp/mc-install-$$}
SMTP_PORT=${SMTP_PORT:-2625}
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-install}
PYTHONDONTWRITEBYTECODE=1
export SMTP_PORT STACK_DIR PYTHONDONTWRITEBYTECODE
STACK="sh $TOP/testsuite/stack/stack.sh"
rm -rf "$W"
mkdir -p "$W"
installed=""	# we installed the package: purge it on the way out
made_policy=""	# our policy-rc.d
stack_up=""

cleanup() {
	if [ -n "$stack_up" ]; then
		stack_up=""
		$STACK stop >/dev/null 2>&1 || echo "install.sh: stack stop failed" >&2
	fi
	if [ -n "$installed" ]; then
		installed=""
		dpkg --purge mailcorral >/dev/null 2>&1 ||
			echo "install.sh: dpkg --purge mailcorral failed" >&2
		rm -f /var/spool/mailcorral/corral/mc-install-test.*
		rmdir /var/spool/mailcorral/corral /var/spool/mailcorral 2>/dev/null
	fi
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	rm -rf "$W" "$STACK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# ------------------------------------------------------------ 1. make install
D=$W/dest
if make -s install DESTDIR="$D" PREFIX=/usr/local SYSCONFDIR=/etc \
    > "$W/install.out" 2>&1; then
	pass "make install DESTDIR=$D"
else
	fail "make install DESTDIR=$D: $(tail -n 3 "$W/install.out")"
fi
sh scripts/install.sh list | sort > "$W/expected"
(cd "$D" && find . -type f | sed 's|^\.||' | sort) > "$W/installed"
if [ -s "$W/expected" ] && cmp -s "$W/expected" "$W/installed"; then
	pass "make install: the $(wc -l < "$W/expected") files of scripts/install.list, nothing else"
else
	fail "make install: layout differs from scripts/install.list: $(diff "$W/expected" "$W/installed" | grep '^[<>]' | tr '\n' ' ')"
fi
shim=$(strings ./mailcorral | grep -m1 '/mailcorral/perlshim\.pl$')
if [ "$shim" = /usr/local/lib/mailcorral/perlshim.pl ] && [ -f "$D$shim" ] &&
    cmp -s perlshim.pl "$D$shim"; then
	pass "the daemon's default perl_shim $shim is the installed shim"
else
	fail "default perl_shim '$shim' not installed there"
fi
if grep -q '^#*perl_shim *= */usr/local/lib/mailcorral/perlshim.pl' \
    "$D/etc/mailcorral/mailcorral.conf"; then
	pass "installed mailcorral.conf names the installed shim"
else
	fail "installed mailcorral.conf does not name /usr/local/lib/mailcorral/perlshim.pl"
fi
for m in mailcorral.8 spamcorral-notify.8 mailcorral.conf.5 mailcorral-perl.7 mailcorral-judge.1 \
    mailcorral-archive.8; do
	s=${m##*.}
	if [ -f "$D/usr/local/share/man/man$s/$m" ]; then
		pass "man page $m in man$s"
	else
		fail "man page $m not in man$s"
	fi
done
# an administrator's edited configuration survives both install and uninstall
echo "# edited" >> "$D/etc/mailcorral/mailcorral.conf"
make -s install DESTDIR="$D" > "$W/install2.out" 2>&1
make -s uninstall DESTDIR="$D" > "$W/uninstall.out" 2>&1
left=$(cd "$D" && find . -type f | sed 's|^\.||')
if [ "$left" = /etc/mailcorral/mailcorral.conf ] &&
    tail -n1 "$D/etc/mailcorral/mailcorral.conf" | grep -q '^# edited$'; then
	pass "install keeps and uninstall keeps an edited mailcorral.conf, removes the rest"
else
	fail "after uninstall left: $(echo "$left" | tr '\n' ' ')"
fi
rm -f "$D/etc/mailcorral/mailcorral.conf"
make -s install DESTDIR="$D" > /dev/null 2>&1
make -s uninstall DESTDIR="$D" > /dev/null 2>&1
left=$(cd "$D" && find . -path '*mailcorral*' | tr '\n' ' ')
if [ -z "$left" ]; then
	pass "make uninstall removes every file and directory of its own"
else
	fail "make uninstall left $left"
fi

# ------------------------------------------------------------ 2. the package
# Where MailCorral is installed (package, its files, its spool), refuse.
refuse=""
st=$(dpkg-query -W -f='${db:Status-Status}' mailcorral 2>/dev/null || true)
[ -n "$st" ] && [ "$st" != not-installed ] && refuse="package mailcorral is $st"
for f in /etc/mailcorral /usr/sbin/mailcorral /var/spool/mailcorral \
    /lib/systemd/system/mailcorral.service /etc/cron.d/mailcorral; do
	[ -e "$f" ] && refuse="${refuse:+$refuse; }$f exists"
done
[ "$(id -u)" = 0 ] || refuse="${refuse:+$refuse; }not root"
if [ -e /usr/sbin/policy-rc.d ]; then
	/usr/sbin/policy-rc.d mailcorral.service start >/dev/null 2>&1
	[ $? = 101 ] || refuse="${refuse:+$refuse; }/usr/sbin/policy-rc.d allows service starts"
fi
if [ -n "$refuse" ]; then
	echo "SKIP the package test refuses to run here: $refuse"
	result_line
	result_ok
	exit
fi

# (no debug-symbol package: this build is only installed here)
if DEB_BUILD_OPTIONS=noautodbgsym sh scripts/build-deb.sh "$W/dist" > "$W/deb.out" 2>&1; then
	pass "make deb's build: $(tail -n1 "$W/deb.out" | sed 's/^build-deb.sh: //')"
else
	fail "package build or lintian: $(tail -n 15 "$W/deb.out" | tr '\n' ' ')"
	result_line
	exit 1
fi
deb=$(ls "$W"/dist/mailcorral_*.deb)

# the package's files: make install's list with PREFIX=/usr (man pages
# and long documents gzipped by dh_compress) and what only a package has
{
	PREFIX=/usr SYSCONFDIR=/etc sh scripts/install.sh list
	printf '%s\n' /etc/cron.d/mailcorral \
	    /lib/systemd/system/mailcorral.service \
	    /lib/systemd/system/spamcorral-notify.service \
	    /lib/systemd/system/spamcorral-notify.timer \
	    /usr/share/doc/mailcorral/README.Debian \
	    /usr/share/doc/mailcorral/changelog \
	    /usr/share/doc/mailcorral/copyright \
	    /usr/share/lintian/overrides/mailcorral
} | sort > "$W/deb.expected"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' |
	sed -e 's|^\.||' -e 's|\.gz$||' | sort > "$W/deb.files"
if cmp -s "$W/deb.expected" "$W/deb.files"; then
	pass "the package ships scripts/install.list's $(sh scripts/install.sh list | wc -l) files and its own 8, nothing else"
else
	fail "package files differ from scripts/install.list: $(diff "$W/deb.expected" "$W/deb.files" | grep '^[<>]' | tr '\n' ' ')"
fi

if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\n# testsuite/e2e/install.sh: no service starts\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	made_policy=1
fi
installed=1
if DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$W/dpkg-i.out" 2>&1; then
	pass "dpkg -i $(basename "$deb") (service starts denied)"
else
	fail "dpkg -i: $(tail -n 5 "$W/dpkg-i.out" | tr '\n' ' ')"
fi

# the account, its directories, the key
pw=$(getent passwd mailcorral)
uid=$(echo "$pw" | cut -d: -f3)
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] &&
    [ "$(echo "$pw" | cut -d: -f6)" = /var/spool/mailcorral ] &&
    getent group mailcorral >/dev/null; then
	pass "system user and group mailcorral (uid $uid, home /var/spool/mailcorral)"
else
	fail "system user mailcorral: '$pw'"
fi
check_stat() {	# PATH "OWNER:GROUP MODE"
	got=$(stat -c '%U:%G %a' "$1" 2>/dev/null)
	if [ "$got" = "$2" ]; then
		pass "$1 is $2"
	else
		fail "$1 is '$got', want $2"
	fi
}
check_stat /var/spool/mailcorral "mailcorral:mailcorral 750"
check_stat /var/spool/mailcorral/corral "mailcorral:mailcorral 700"
check_stat /etc/mailcorral/spamkey "mailcorral:mailcorral 600"
check_stat /etc/mailcorral/robot.alias "mailcorral:mailcorral 644"
check_stat /etc/mailcorral/mailcorral.conf "root:root 644"
if grep -Eqx '[0-9a-f]{64}' /etc/mailcorral/spamkey &&
    ! dpkg-deb -c "$deb" | grep -q spamkey; then
	pass "the bypass key is 64 hex digits made at install, not shipped"
else
	fail "the bypass key is not 64 hex digits, or the package ships one"
fi
if dpkg-query -W -f='${Conffiles}\n' mailcorral |
    grep -q '^ /etc/mailcorral/mailcorral.conf '; then
	pass "/etc/mailcorral/mailcorral.conf is a conffile"
else
	fail "/etc/mailcorral/mailcorral.conf is not a conffile"
fi

# the installed configuration, found at the compiled-in default path
out=$(/usr/sbin/mailcorral -n 2>&1)
if [ "$out" = "/etc/mailcorral/mailcorral.conf: configuration OK" ]; then
	pass "mailcorral -n: $out"
else
	fail "mailcorral -n: $out"
fi
# perl_filter on, perl_shim left at its default: the installed shim
{ cat /etc/mailcorral/mailcorral.conf
  echo "perl_filter = /usr/share/doc/mailcorral/examples/filter.pl.example"; } > "$W/perl.conf"
if out=$(/usr/sbin/mailcorral -n -c "$W/perl.conf" 2>&1); then
	pass "perl_filter with the default perl_shim (/usr/lib/mailcorral/perlshim.pl): $out"
else
	fail "perl_filter with the default perl_shim: $out"
fi
if systemd-analyze verify --man=no /lib/systemd/system/mailcorral.service \
    /lib/systemd/system/spamcorral-notify.service \
    /lib/systemd/system/spamcorral-notify.timer > "$W/verify.out" 2>&1; then
	pass "systemd-analyze verify: mailcorral.service, spamcorral-notify.service and .timer"
else
	fail "systemd-analyze verify: $(tr '\n' ' ' < "$W/verify.out")"
fi
if grep -q '^Before=sendmail.service' /lib/systemd/system/mailcorral.service; then
	pass "mailcorral.service is ordered before sendmail.service"
else
	fail "mailcorral.service is not ordered before sendmail.service"
fi

# the installed daemon on the installed configuration, one message
if MAILCORRAL=/usr/sbin/mailcorral MC_CONF=/etc/mailcorral/mailcorral.conf \
    $STACK start > "$W/stack.out" 2>&1; then
	stack_up=1
	printf 'jblow@mx.mailcorral.test\t%s\n' \
	    "$TOP/testsuite/corpus/001-exe-attachment.eml" |
		python3 testsuite/stack/send.py --port "$SMTP_PORT" --crlf \
		    "$W/sent.tsv" > /dev/null 2>&1
	got=$(ls "$STACK_DIR"/mail/jblow.* 2>/dev/null | head -n1)
	if [ -n "$got" ] && grep -q '^X-MailCorral-Filtered:' "$got" &&
	    grep -q MCKEEP-001 "$got" && ! grep -q MCPAYLOAD-001 "$got"; then
		pass "installed daemon, installed configuration: one message filtered through a private sendmail (.exe removed)"
	else
		fail "installed daemon: message not filtered as expected ($(cut -f3 "$W/sent.tsv" 2>/dev/null); ${got:-nothing delivered})"
	fi
	pid=$(cat "$STACK_DIR/mailcorral.bgpid" 2>/dev/null)
	user=$(ps -o user= -p "$pid" 2>/dev/null)
	if [ "$user" = mailcorral ]; then
		pass "the installed daemon runs as mailcorral"
	else
		fail "the installed daemon runs as '$user'"
	fi
	stack_up=""
	$STACK stop > /dev/null 2>&1 || fail "stack stop"
else
	fail "stack with the installed daemon: $(tail -n 5 "$W/stack.out" | tr '\n' ' ')"
fi

# purge: nothing of it left but the user and the corral's mail
echo "corralled spam" > /var/spool/mailcorral/corral/mc-install-test.1
files=$(dpkg-query -L mailcorral 2>/dev/null)
if dpkg --purge mailcorral > "$W/purge.out" 2>&1; then
	installed=""
	pass "dpkg --purge mailcorral"
else
	fail "dpkg --purge: $(tail -n 5 "$W/purge.out" | tr '\n' ' ')"
fi
left=""
for f in $files; do
	case "$f" in /var/spool/mailcorral*) continue ;; esac
	[ -f "$f" ] && left="$left $f"
done
for f in /etc/mailcorral /run/mailcorral /etc/cron.d/mailcorral \
    /etc/systemd/system/multi-user.target.wants/mailcorral.service \
    /etc/systemd/system/timers.target.wants/spamcorral-notify.timer; do
	[ -e "$f" ] && left="$left $f"
done
st=$(dpkg-query -W -f='${db:Status-Status}' mailcorral 2>/dev/null || true)
if [ -z "$left" ] && { [ -z "$st" ] || [ "$st" = not-installed ]; }; then
	pass "purge removed every file, /etc/mailcorral, the unit links"
else
	fail "after purge (${st:-unknown}):$left"
fi
if [ -f /var/spool/mailcorral/corral/mc-install-test.1 ] &&
    [ -z "$(ls -A /var/spool/mailcorral | grep -v '^corral$')" ] &&
    getent passwd mailcorral > /dev/null; then
	pass "purge kept the corral with mail in it and the user, nothing else"
else
	fail "purge: corral or user gone, or more kept: $(ls -A /var/spool/mailcorral 2>&1)"
fi
rm -f /var/spool/mailcorral/corral/mc-install-test.1
rmdir /var/spool/mailcorral/corral /var/spool/mailcorral 2>/dev/null

result_line
result_ok
