#!/bin/sh
# Fault scenarios FS-01..FS-19 of RELIABILITY.md (b), at milter level with
# fake spamd/clamd servers (testsuite/lib/fakes.py) and, for FS-19, through the
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
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
milterdrv_ready setup
# the python driver stops its daemons, fakes, mounts and stack
trap 'driver_stop; fail "interrupted"; result_line; exit 130' INT TERM
run_driver python3 "$TOP/testsuite/e2e/faults/faults.py"
