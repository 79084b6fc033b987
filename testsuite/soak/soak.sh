#!/bin/sh
# Soak run: ./mailcorral (release build, make) driven by milterdrv at c=16
# over the bench corpus for SOAK_MESSAGES messages (default 200000); RSS and
# fd count sampled every 5 s; passes when the RSS slope over the last 80 %
# is <= 2 MiB per 100,000 messages, fds end where they started, no errors.
#
#   SOAK_MESSAGES=50000 sh testsuite/soak/soak.sh
#
# Environment: SOAK_MESSAGES, SOAK_CONC (16), SOAK_INTERVAL (5),
# SOAK_MAX_SLOPE (2), SOAK_DIR (/tmp/mc-faults/soak), MAILCORRAL.
# Ends with "N passed, N failed"; exits non-zero on failure.  Stops the
# daemon and the driver it started (by pid) on exit or interrupt.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
[ -x "${MAILCORRAL:-$TOP/mailcorral}" ] || { echo "FAIL soak: no ./mailcorral (run make)"; echo "0 passed, 1 failed"; exit 1; }
if ! cc -O2 -Wall -Wextra -Werror -pthread -o "$TOP/testsuite/bench/milterdrv.tmp.$$" \
    "$TOP/testsuite/bench/milterdrv.c"; then
	echo "FAIL soak: cannot build milterdrv"; echo "0 passed, 1 failed"; exit 1
fi
mv -f "$TOP/testsuite/bench/milterdrv.tmp.$$" "$TOP/testsuite/bench/milterdrv"
if [ ! -d "$TOP/testsuite/bench/corpus/mix" ]; then
	python3 "$TOP/testsuite/bench/gencorpus.py" "$TOP/testsuite/bench/corpus" >/dev/null ||
	    { echo "FAIL soak: gencorpus.py"; echo "0 passed, 1 failed"; exit 1; }
fi
PY=""
trap '[ -n "$PY" ] && kill -TERM "$PY" 2>/dev/null; wait 2>/dev/null; echo "0 passed, 1 failed"; exit 130' INT TERM
python3 "$TOP/testsuite/soak/soak.py" &
PY=$!
wait "$PY"
rc=$?
PY=""
exit $rc
