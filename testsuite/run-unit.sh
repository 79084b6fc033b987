#!/bin/sh
# Runs every unit-test program given on the command line; fails if any fails.
# Each is a cmocka program that prints its own summary.
rc=0
for t in "$@"; do
	echo "== $t"
	"./$t" || rc=1
done
exit $rc
