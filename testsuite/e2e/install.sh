#!/bin/sh
# install.sh -- from the tree to an installed MailCorral (issue 17).
#
#   1. `make install DESTDIR=...` (PREFIX=/usr/local) lays out exactly the
#      files of scripts/install.list, the shim where the built daemon's
#      default perl_shim points, and `make uninstall` removes them all.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
. "$TOP/testsuite/lib/result.sh"
W=${INSTALL_DIR:-/tmp/mc-install-$$}
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
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
for m in mailcorral.8 spamcorral-notify.8 mailcorral.conf.5 mailcorral-perl.7 mailcorral-judge.1; do
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

result_line
result_ok
