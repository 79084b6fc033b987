#!/bin/sh
# End-to-end tests of MailCorral's virus scanning through a real private
# sendmail (testsuite/stack/stack.sh) and a real clamd
# (testsuite/stack/clamd.sh), then a stopped clamd and a fake clamd that
# never answers (FS-04, FS-05).  The tests themselves are in
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

STACK="sh $TOP/testsuite/stack/stack.sh"
CLAMD="sh $TOP/testsuite/stack/clamd.sh"
stack_up=""
driver=""

cleanup() {
	if [ -n "$driver" ]; then
		kill "$driver" 2>/dev/null	# its fake clamd thread ends with it
		wait "$driver" 2>/dev/null
		driver=""
	fi
	if [ -n "$stack_up" ]; then
		stack_up=""
driver=""
		$STACK stop >/dev/null 2>&1 || echo "virus.sh: stack stop failed" >&2
	fi
	# clamd.sh stop removes CLAMD_DIR; the driver may have stopped it already
	if [ -f "$CLAMD_DIR/clamd.pid" ] && kill -0 "$(cat "$CLAMD_DIR/clamd.pid")" 2>/dev/null; then
		$CLAMD stop >/dev/null 2>&1 || echo "virus.sh: clamd stop failed" >&2
	fi
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

early_fail() {
	echo "FAIL setup: $*"
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$TOP/mailcorral" ] || early_fail "no ./mailcorral (run make)"
if [ -f "$STACK_DIR/sendmail.pid" ] || [ -f "$STACK_DIR/mailcorral.bgpid" ]; then
	$STACK stop >/dev/null 2>&1
fi
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR"
CONF="$STACK_DIR/virus-base.conf"
python3 "$TOP/testsuite/e2e/virus/virus_e2e.py" --write-conf "$CONF" base ||
	early_fail "cannot write the config"

$CLAMD start >"$STACK_DIR/clamd-start.out" 2>&1 ||
	early_fail "clamd.sh start: $(tail -n 3 "$STACK_DIR/clamd-start.out")"
stack_up=1
MC_CONF=$CONF $STACK start >"$STACK_DIR/stack-start.out" 2>&1 ||
	early_fail "stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

# in the background, so that a signal runs the trap at once
python3 "$TOP/testsuite/e2e/virus/virus_e2e.py" &
driver=$!
wait "$driver"
rc=$?
driver=""
exit $rc
