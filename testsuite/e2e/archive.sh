#!/bin/sh
# End-to-end tests of MailCorral's mail archive (archive.c) through a real
# private sendmail (testsuite/stack/stack.sh) and a real private MariaDB
# (testsuite/stack/mariadb.sh): archive files and modes, the index rows,
# hostile header values, the third-party archiver's copy, MariaDB killed
# and stopped, the archive directory unwritable, removed and full.  The
# tests are in archive/archive_e2e.py; this script starts and always stops
# what it started.  Needs root (the filter runs as "nobody"; tmpfs mount).
#
# Environment (defaults are this suite's own ports and directories):
#   SMTP_PORT=2605  DB_PORT=2609  STACK_DIR=/tmp/mc-e2e-archive
#   DB_DIR=$STACK_DIR/db
# Output: PASS/FAIL lines, last line "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-archive}
SMTP_PORT=${SMTP_PORT:-2605}
DB_PORT=${DB_PORT:-2609}
DB_DIR=${DB_DIR:-$STACK_DIR/db}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT DB_PORT DB_DIR PYTHONDONTWRITEBYTECODE TOP

STACK="sh $TOP/testsuite/stack/stack.sh"
DB="sh $TOP/testsuite/stack/mariadb.sh"
stack_up=""
db_up=""
driver=""

cleanup() {
	if [ -n "$driver" ]; then
		kill "$driver" 2>/dev/null
		wait "$driver" 2>/dev/null
		driver=""
	fi
	# MariaDB first: stack.sh stop reports anything still running in
	# STACK_DIR, and the datadir is in it
	if [ -n "$db_up" ]; then
		db_up=""
		$DB stop >/dev/null 2>&1 || echo "archive.sh: mariadb stop failed" >&2
	fi
	if [ -n "$stack_up" ]; then
		stack_up=""
		$STACK stop >/dev/null 2>&1 || echo "archive.sh: stack stop failed" >&2
	fi
	mountpoint -q "$STACK_DIR/own/archive" 2>/dev/null && umount "$STACK_DIR/own/archive"
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

early_fail() {
	echo "FAIL setup: $*"
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$TOP/mailcorral" ] || early_fail "no ./mailcorral (run make)"
[ "$(id -u)" = 0 ] || early_fail "needs root (the filter runs as nobody)"
id nobody >/dev/null 2>&1 || early_fail "no user nobody"
command -v mariadbd >/dev/null || early_fail "no mariadbd (make deps)"
if [ -f "$STACK_DIR/sendmail.pid" ] || [ -f "$STACK_DIR/mailcorral.bgpid" ]; then
	$STACK stop >/dev/null 2>&1
fi
[ -f "$DB_DIR/mariadbd.bgpid" ] && $DB stop >/dev/null 2>&1
mountpoint -q "$STACK_DIR/own/archive" 2>/dev/null && umount "$STACK_DIR/own/archive"
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR/own/spool" "$STACK_DIR/own/archive" "$STACK_DIR/own/corral"
chmod 755 "$STACK_DIR"
chown -R nobody: "$STACK_DIR/own"
chmod 700 "$STACK_DIR/own/spool" "$STACK_DIR/own/corral"
CONF="$STACK_DIR/archive-base.conf"
python3 "$TOP/testsuite/e2e/archive/archive_e2e.py" --write-conf "$CONF" base ||
	early_fail "cannot write the config"

db_up=1
$DB init >"$STACK_DIR/db-init.out" 2>&1 ||
	early_fail "mariadb.sh init: $(tail -n 3 "$STACK_DIR/db-init.out")"
stack_up=1
MC_CONF=$CONF $STACK start >"$STACK_DIR/stack-start.out" 2>&1 ||
	early_fail "stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

python3 "$TOP/testsuite/e2e/archive/archive_e2e.py" &
driver=$!
wait "$driver"
rc=$?
driver=""
exit $rc
