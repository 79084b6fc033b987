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

. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
DB="sh $TOP/testsuite/stack/mariadb.sh"
db_up=""

cleanup() {
	driver_stop
	# MariaDB first: stack.sh stop reports anything still running in
	# STACK_DIR, and the datadir is in it
	if [ -n "$db_up" ]; then
		db_up=""
		$DB stop >/dev/null 2>&1 || echo "archive.sh: mariadb stop failed" >&2
	fi
	stack_cleanup archive.sh
	mountpoint -q "$STACK_DIR/own/archive" 2>/dev/null && umount "$STACK_DIR/own/archive"
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
[ "$(id -u)" = 0 ] || result_abort "setup: needs root (the filter runs as nobody)"
id nobody >/dev/null 2>&1 || result_abort "setup: no user nobody"
command -v mariadbd >/dev/null || result_abort "setup: no mariadbd (make deps)"
[ -f "$DB_DIR/mariadbd.bgpid" ] && $DB stop >/dev/null 2>&1
mountpoint -q "$STACK_DIR/own/archive" 2>/dev/null && umount "$STACK_DIR/own/archive"
stack_fresh
mkdir -p "$STACK_DIR/own/spool" "$STACK_DIR/own/archive" "$STACK_DIR/own/corral"
chown -R nobody: "$STACK_DIR/own"
chmod 700 "$STACK_DIR/own/spool" "$STACK_DIR/own/corral"
CONF="$STACK_DIR/archive-base.conf"
python3 "$TOP/testsuite/e2e/archive/archive_e2e.py" --write-conf "$CONF" base ||
	result_abort "setup: cannot write the config"

db_up=1
$DB init >"$STACK_DIR/db-init.out" 2>&1 ||
	result_abort "setup: mariadb.sh init: $(tail -n 3 "$STACK_DIR/db-init.out")"
stack_start "$CONF" ||
	result_abort "setup: stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

run_driver python3 "$TOP/testsuite/e2e/archive/archive_e2e.py"
