#!/bin/sh
# build-deb.sh [OUTDIR] -- the Debian package from this tree (`make deb`).
# Builds in a copy under /tmp, so neither the tree's own build nor its
# parent directory is touched; runs lintian on the result and copies the
# .deb (and its .changes, .buildinfo) to OUTDIR (default: dist/).
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
OUT=${1:-$TOP/dist}
case "$OUT" in /*) ;; *) OUT=$TOP/$OUT ;; esac
B=$(mktemp -d /tmp/mailcorral-deb.XXXXXX)
trap 'rm -rf "$B"' EXIT
trap 'exit 130' INT TERM
t0=$(date +%s)

# the tree's files, without what its builds and tests leave behind
mkdir "$B/mailcorral"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - -cf - | tar -xf - -C "$B/mailcorral"
else
	cp -a . "$B/mailcorral"
fi
(cd "$B/mailcorral" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) > "$B/build.log" 2>&1 || {
	tail -n 40 "$B/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
changes=$(ls "$B"/mailcorral_*.changes)
# errors and warnings fail; debian/mailcorral.lintian-overrides says why
lintian --fail-on error,warning \
	"$changes" > "$B/lintian.log" 2>&1 || {
	cat "$B/lintian.log" >&2
	echo "build-deb.sh: lintian failed" >&2
	exit 1
}
mkdir -p "$OUT"
for f in "$B"/mailcorral_*.deb "$B"/mailcorral-dbgsym_*.deb "$changes" "$B"/mailcorral_*.buildinfo; do
	[ -f "$f" ] && cp "$f" "$OUT/"
done
cat "$B/lintian.log"
echo "build-deb.sh: $(cd "$OUT" && ls mailcorral_*.deb) in $OUT, lintian clean, $(( $(date +%s) - t0 )) s"
