#!/bin/sh
# install.sh install|uninstall|list -- MailCorral's files as
# scripts/install.list names them; the Makefile's install and uninstall
# targets call it, and the Debian package's build is `make install`.
#
#   install     copy every file (a conf file only where none is yet)
#   uninstall   remove them again (a conf file only while it is unchanged)
#   list        print the installed paths, without DESTDIR, one a line
#
# Environment (the Makefile sets them): DESTDIR, PREFIX (/usr/local),
# SYSCONFDIR (/etc), SBINDIR, BINDIR, LIBDIR, MANDIR, DOCDIR.
set -eu

cd "$(dirname "$0")/.."
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
SBINDIR=${SBINDIR:-$PREFIX/sbin}
BINDIR=${BINDIR:-$PREFIX/bin}
LIBDIR=${LIBDIR:-$PREFIX/lib}
MANDIR=${MANDIR:-$PREFIX/share/man}
DOCDIR=${DOCDIR:-$PREFIX/share/doc/mailcorral}

die() { echo "install.sh: $*" >&2; exit 1; }

dir_of() {
	case "$1" in
	sbin) echo "$SBINDIR" ;;
	bin) echo "$BINDIR" ;;
	lib) echo "$LIBDIR/mailcorral" ;;
	man[1-8]) echo "$MANDIR/$1" ;;
	doc) echo "$DOCDIR" ;;
	examples) echo "$DOCDIR/examples" ;;
	conf) echo "$SYSCONFDIR/mailcorral" ;;
	*) die "scripts/install.list: unknown directory $1" ;;
	esac
}

# A configuration file names the paths of this layout, not the defaults'.
conf_text() {
	sed -e "s|/etc/mailcorral/|$SYSCONFDIR/mailcorral/|g" \
	    -e "s|/usr/lib/mailcorral/|$LIBDIR/mailcorral/|g" "$1"
}

# Calls "$1 MODE KEY SOURCE DEST" for each line of the list.
each() {
	grep -v -e '^#' -e '^[[:space:]]*$' scripts/install.list |
	while read -r mode key src name; do
		dest=$(dir_of "$key")/${name:-$(basename "$src")}
		"$1" "$mode" "$key" "$src" "$dest"
	done
}

do_list() { echo "$4"; }

do_install() {
	[ -f "$3" ] || die "$3 is missing (run make first)"
	if [ "$2" = conf ]; then
		[ -e "$DESTDIR$4" ] && { echo "install.sh: keeping $DESTDIR$4"; return 0; }
		mkdir -p "$DESTDIR$(dirname "$4")"
		conf_text "$3" > "$DESTDIR$4.new"
		chmod "$1" "$DESTDIR$4.new"
		mv "$DESTDIR$4.new" "$DESTDIR$4"
	else
		install -D -m "$1" "$3" "$DESTDIR$4"
	fi
	echo "  $DESTDIR$4"
}

do_uninstall() {
	[ -e "$DESTDIR$4" ] || return 0
	if [ "$2" = conf ] && ! conf_text "$3" | cmp -s - "$DESTDIR$4"; then
		echo "install.sh: keeping $DESTDIR$4 (changed since install)"
		return 0
	fi
	rm -f "$DESTDIR$4"
	echo "  removed $DESTDIR$4"
	# the directories of our own (lib/mailcorral, doc/mailcorral/examples,
	# doc/mailcorral, etc/mailcorral) once empty; never sbin, man8, ...
	d=$(dirname "$4")
	while case "$d" in */mailcorral|*/mailcorral/*) true ;; *) false ;; esac
	do
		rmdir "$DESTDIR$d" 2>/dev/null || break
		d=$(dirname "$d")
	done
}

case "${1:-}" in
list) each do_list ;;
install) each do_install ;;
uninstall) each do_uninstall ;;
*) echo "usage: install.sh install|uninstall|list" >&2; exit 2 ;;
esac
