#!/bin/sh
# End-to-end test of the scanner pools (pool.c, scanner_balance): a real
# private sendmail (testsuite/stack/stack.sh) with two real spamd
# (testsuite/stack/spamd.sh) and two real clamd (testsuite/stack/clamd.sh).
# Both servers of each get a share of the mail; one of each killed is
# skipped (paused by its breaker) with no tempfail; started again it comes
# back after its back-off.  Then the archive index over two independent
# MariaDB servers (testsuite/stack/mariadb.sh; a Galera cluster is make
# scale's): one killed, the indexer moves to the other; both down, the
# journal keeps the rows until one is back; no row lost or doubled.  The
# checks are in pools_e2e.py; this script starts and always stops what it
# started.  Needs root (the filter runs as nobody for the archive).
#
# Environment (defaults are this suite's own ports and directories):
#   SMTP_PORT=3650  SPAMD_PORT=3651  SPAMD2_PORT=3652  CLAMD_PORT=3653
#   CLAMD2_PORT=3654  DB_PORT=3655  DB2_PORT=3656
#   STACK_DIR=/tmp/st-pools-e2e
# Output: PASS/FAIL lines, last line "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/st-pools-e2e}
SMTP_PORT=${SMTP_PORT:-3650}
SPAMD_PORT=${SPAMD_PORT:-3651}
SPAMD2_PORT=${SPAMD2_PORT:-3652}
CLAMD_PORT=${CLAMD_PORT:-3653}
CLAMD2_PORT=${CLAMD2_PORT:-3654}
DB_PORT=${DB_PORT:-3655}
DB2_PORT=${DB2_PORT:-3656}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT SPAMD_PORT SPAMD2_PORT CLAMD_PORT CLAMD2_PORT \
    DB_PORT DB2_PORT PYTHONDONTWRITEBYTECODE TOP

. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
T0=$(date +%s)

# The scanners' directories are under $STACK_DIR: stop them before the
# stack (stack.sh stop reports processes still naming the directory).
scanners_stop() {
	for n in 1 2; do
		sd="$STACK_DIR/spamd$n"
		[ -f "$sd/spamd.pid" ] && SPAMD_DIR=$sd sh "$TOP/testsuite/stack/spamd.sh" stop >/dev/null 2>&1
		cd_="$STACK_DIR/clamd$n"
		if [ -f "$cd_/clamd.pid" ] && kill -0 "$(cat "$cd_/clamd.pid")" 2>/dev/null; then
			CLAMD_DIR=$cd_ sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1 ||
			    echo "pools.sh: clamd$n stop failed" >&2
		fi
	done
}
dbs_stop() {
	for n in 1 2; do
		[ -f "$STACK_DIR/db$n/mariadbd.bgpid" ] &&
		    DB_DIR=$STACK_DIR/db$n sh "$TOP/testsuite/stack/mariadb.sh" stop >/dev/null 2>&1
	done
}
cleanup() {
	driver_stop
	scanners_stop
	dbs_stop
	stack_cleanup pools.sh
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
[ "$(id -u)" = 0 ] || result_abort "setup: needs root (the filter runs as nobody)"
command -v mariadbd >/dev/null || result_abort "setup: no mariadbd (make deps)"
for n in 1 2; do
	[ -f "$STACK_DIR/db$n/mariadbd.bgpid" ] &&
	    DB_DIR=$STACK_DIR/db$n sh "$TOP/testsuite/stack/mariadb.sh" stop >/dev/null 2>&1
done
stack_fresh || result_abort "setup: mkdir $STACK_DIR"
mkdir -p "$STACK_DIR/own/spool" "$STACK_DIR/own/archive" "$STACK_DIR/own/corral"
chown -R nobody: "$STACK_DIR/own"
chmod 700 "$STACK_DIR/own/spool" "$STACK_DIR/own/corral"
CONF="$STACK_DIR/pools.conf"
python3 "$TOP/testsuite/pools/pools_e2e.py" --write-conf "$CONF" ||
	result_abort "setup: cannot write the config"

# the four scanners and the two databases at once (spamd takes seconds
# to load its rules)
DB_DIR=$STACK_DIR/db1 DB_PORT=$DB_PORT sh testsuite/stack/mariadb.sh init >"$STACK_DIR/db1.out" 2>&1 &
d1=$!
DB_DIR=$STACK_DIR/db2 DB_PORT=$DB2_PORT sh testsuite/stack/mariadb.sh init >"$STACK_DIR/db2.out" 2>&1 &
d2=$!
SPAMD_PORT=$SPAMD_PORT SPAMD_DIR=$STACK_DIR/spamd1 sh testsuite/stack/spamd.sh start >"$STACK_DIR/spamd1.out" 2>&1 &
s1=$!
SPAMD_PORT=$SPAMD2_PORT SPAMD_DIR=$STACK_DIR/spamd2 sh testsuite/stack/spamd.sh start >"$STACK_DIR/spamd2.out" 2>&1 &
s2=$!
CLAMD_PORT=$CLAMD_PORT CLAMD_DIR=$STACK_DIR/clamd1 CLAMD_MAX_THREADS=4 sh testsuite/stack/clamd.sh start >"$STACK_DIR/clamd1.out" 2>&1 &
c1=$!
CLAMD_PORT=$CLAMD2_PORT CLAMD_DIR=$STACK_DIR/clamd2 CLAMD_MAX_THREADS=4 sh testsuite/stack/clamd.sh start >"$STACK_DIR/clamd2.out" 2>&1 &
c2=$!
wait $c1 || result_abort "setup: clamd 1: $(tail -n 3 "$STACK_DIR/clamd1.out")"
wait $c2 || result_abort "setup: clamd 2: $(tail -n 3 "$STACK_DIR/clamd2.out")"
wait $s1 || result_abort "setup: spamd 1: $(tail -n 3 "$STACK_DIR/spamd1.out")"
wait $s2 || result_abort "setup: spamd 2: $(tail -n 3 "$STACK_DIR/spamd2.out")"
wait $d1 || result_abort "setup: mariadb 1: $(tail -n 3 "$STACK_DIR/db1.out")"
wait $d2 || result_abort "setup: mariadb 2: $(tail -n 3 "$STACK_DIR/db2.out")"
# one password for both (the filter reads one file)
pw=$(cat "$STACK_DIR/db1/password")
DB_DIR=$STACK_DIR/db2 sh testsuite/stack/mariadb.sh sql \
    "ALTER USER 'mailcorral'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER 'mailcorral'@'localhost' IDENTIFIED BY '$pw';" ||
	result_abort "setup: mariadb 2: cannot set the password"
stack_start "$CONF" ||
	result_abort "setup: stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"
echo "# setup $(( $(date +%s) - T0 )) s"

run_driver python3 "$TOP/testsuite/pools/pools_e2e.py"
rc=$?
echo "# pools e2e: $(( $(date +%s) - T0 )) s"
exit $rc
