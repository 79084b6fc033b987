#!/bin/sh
# Every configuration keyword the daemon knows (from `mailcorral -h`) must
# be documented in mailcorral.conf(5) and doc/mailcorral.conf.example, and
# every option in mailcorral(8).
cd "$(dirname "$0")/.." || exit 1
fail=0
for k in $(./mailcorral -h | awk '/^  [a-z_]+ / { print $1 }'); do
	if ! grep -q "^\.B $k\$" doc/mailcorral.conf.5; then
		echo "FAIL docs: keyword $k is not in doc/mailcorral.conf.5"
		fail=1
	fi
done
# ... and shown, commented where it is the default, in the example
# configuration the package installs, which must itself pass -n
for k in $(./mailcorral -h | awk '/^  [a-z_]+ / { print $1 }'); do
	if ! grep -Eq "^#?$k +=" doc/mailcorral.conf.example; then
		echo "FAIL docs: keyword $k is not in doc/mailcorral.conf.example"
		fail=1
	fi
done
if ! ./mailcorral -n -c doc/mailcorral.conf.example >/dev/null; then
	echo "FAIL docs: doc/mailcorral.conf.example does not pass mailcorral -n"
	fail=1
fi
for o in c p f n u P V h; do
	if ! grep -q "^\.B.* \\\\-$o" doc/mailcorral.8 &&
	    ! grep -q "^\.B \\\\-$o" doc/mailcorral.8; then
		echo "FAIL docs: option -$o is not in doc/mailcorral.8"
		fail=1
	fi
done
# SC-A1: SQL only through prepared statements, no formatted query text
# (the same gate runs in testsuite/e2e/archive.sh, with a self-test)
if ! PYTHONDONTWRITEBYTECODE=1 python3 testsuite/e2e/archive/archive_e2e.py --gate .; then
	echo "FAIL SC-A1: mysql_query/mysql_real_query or formatted SQL text"
	fail=1
fi
# README's file list (section Files) names every top-level file and
# directory and every file in doc/ and scripts/ (x.h goes with x.c), and
# only what exists
readme_names() {
	sed -n '/^Files$/,/^The noxxi/p' README | grep '^  [^ ]' |
		sed -e 's/^  //' -e 's/   *.*$//' | tr ',' '\n' | sed 's/^ *//; s/ *$//' |
		grep -v '^$'
}
readme_names | sort -u > /tmp/check-docs.readme.$$
# the tree's own files (git's list: no build products), else the directory
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	tree=$(git ls-files --cached --others --exclude-standard |
		grep -v '^\.' | sed 's|^\([^/]*\)/.*|\1/|' | sort -u
		git ls-files --cached --others --exclude-standard doc scripts)
else
	tree=$(for f in * doc/* scripts/*; do
		if [ -d "$f" ]; then echo "$f/"; else echo "$f"; fi
	done)
fi
echo "$tree" | sort -u > /tmp/check-docs.tree.$$
for f in $(cat /tmp/check-docs.tree.$$); do
	case "$f" in
	*.h) [ -f "${f%.h}.c" ] && grep -qx "${f%.h}.c" /tmp/check-docs.readme.$$ && continue ;;
	*.o|*.a|mailcorral|mailcorral-judge|paths.stamp|dist/) continue ;;
	esac
	if ! grep -qxF "$f" /tmp/check-docs.readme.$$; then
		echo "FAIL docs: $f is not in README's file list"
		fail=1
	fi
done
for f in $(cat /tmp/check-docs.readme.$$); do
	if [ ! -e "${f%/}" ]; then
		echo "FAIL docs: README's file list names $f, which does not exist"
		fail=1
	fi
done
rm -f /tmp/check-docs.readme.$$ /tmp/check-docs.tree.$$
[ $fail = 0 ] && echo "docs: every keyword and option documented, README lists every file"
exit $fail
