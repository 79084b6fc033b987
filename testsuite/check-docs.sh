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
[ $fail = 0 ] && echo "docs: every keyword and option documented"
exit $fail
