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
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
[ -x "${MAILCORRAL:-$TOP/mailcorral}" ] || result_abort "soak: no ./mailcorral (run make)"
milterdrv_ready soak
trap 'driver_stop; fail "soak: interrupted"; result_line; exit 130' INT TERM
run_driver python3 "$TOP/testsuite/soak/soak.py"
