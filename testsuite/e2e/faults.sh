#!/bin/sh
# Fault scenarios FS-01..FS-19 of RELIABILITY.md (b), at milter level with
# fake spamd/clamd servers (faults/fakes.py) and, for FS-19, through the
# private sendmail of testsuite/stack/stack.sh.  Needs root for FS-09 (tmpfs
# mount; skipped otherwise) and ./mailcorral built (make).
#
#   sh testsuite/e2e/faults.sh
#
# Environment: MC_FAULTS_DIR (/tmp/mc-faults), MC_FAULTS_PORT (2575; the
# fakes use the next two ports), MC_FAULTS_ONLY ("FS-09 FS-13": run only
# these), MAILCORRAL (the daemon binary).
# Prints PASS/FAIL/SKIP per FS id and, last, "N passed, N failed"; exits
# non-zero on any failure.  Every process it starts is stopped by its pid.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
[ -x "$TOP/mailcorral" ] || { echo "FAIL setup: no ./mailcorral (run make)"; echo "0 passed, 1 failed"; exit 1; }
if ! cc -O2 -Wall -Wextra -Werror -pthread -o "$TOP/testsuite/bench/milterdrv.tmp.$$" \
    "$TOP/testsuite/bench/milterdrv.c"; then
	echo "FAIL setup: cannot build milterdrv"; echo "0 passed, 1 failed"; exit 1
fi
mv -f "$TOP/testsuite/bench/milterdrv.tmp.$$" "$TOP/testsuite/bench/milterdrv"
if [ ! -d "$TOP/testsuite/bench/corpus/mix" ]; then
	python3 "$TOP/testsuite/bench/gencorpus.py" "$TOP/testsuite/bench/corpus" >/dev/null ||
	    { echo "FAIL setup: gencorpus.py"; echo "0 passed, 1 failed"; exit 1; }
fi
PY=""
stop() {
	if [ -n "$PY" ]; then
		# the python driver stops its daemons, fakes, mounts and stack
		kill -TERM "$PY" 2>/dev/null
		wait "$PY" 2>/dev/null
		PY=""
	fi
}
trap 'stop; echo "0 passed, 1 failed"; exit 130' INT TERM
python3 "$TOP/testsuite/e2e/faults/faults.py" &
PY=$!
wait "$PY"
rc=$?
PY=""
exit $rc
