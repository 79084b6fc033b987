#!/bin/sh
# End-to-end tests of MailCorral's virus scanning through a real private
# sendmail (testsuite/stack/stack.sh) and a real clamd
# (testsuite/stack/clamd.sh), clamd busy (milterdrv, 32 sessions), then a
# stopped clamd and a fake clamd that never answers (FS-04, FS-05).  The tests themselves are in
# virus/virus_e2e.py; this script starts and always stops what it started.
#
# Environment (defaults are this suite's own ports and directories):
#   SMTP_PORT=2545  CLAMD_PORT=2548  STACK_DIR=/tmp/mc-e2e-virus
#   CLAMD_DIR=/tmp/mc-e2e-clamd
# Output: PASS/FAIL lines, last line "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-virus}
SMTP_PORT=${SMTP_PORT:-2545}
CLAMD_DIR=${CLAMD_DIR:-/tmp/mc-e2e-clamd}
CLAMD_PORT=${CLAMD_PORT:-2548}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT CLAMD_DIR CLAMD_PORT PYTHONDONTWRITEBYTECODE TOP

. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
CLAMD="sh $TOP/testsuite/stack/clamd.sh"

cleanup() {
	driver_stop	# its fake clamd thread ends with it
	stack_cleanup virus.sh
	# clamd.sh stop removes CLAMD_DIR; the driver may have stopped it already
	if [ -f "$CLAMD_DIR/clamd.pid" ] && kill -0 "$(cat "$CLAMD_DIR/clamd.pid")" 2>/dev/null; then
		$CLAMD stop >/dev/null 2>&1 || echo "virus.sh: clamd stop failed" >&2
	fi
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
milterdrv_ready setup
stack_fresh || result_abort "setup: mkdir $STACK_DIR"
CONF="$STACK_DIR/virus-base.conf"
python3 "$TOP/testsuite/e2e/virus/virus_e2e.py" --write-conf "$CONF" base ||
	result_abort "setup: cannot write the config"

$CLAMD start >"$STACK_DIR/clamd-start.out" 2>&1 ||
	result_abort "setup: clamd.sh start: $(tail -n 3 "$STACK_DIR/clamd-start.out")"
stack_start "$CONF" ||
	result_abort "setup: stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

run_driver python3 "$TOP/testsuite/e2e/virus/virus_e2e.py"
