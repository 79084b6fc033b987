#!/bin/sh
# make scale (issue 21): two MX hosts on one corral, one Galera index.
# Starts, all on 127.0.0.1 and all under $SCALE_DIR:
#   two sendmail + MailCorral stacks (testsuite/stack/stack.sh), host A on
#     SCALE_PORT+10, host B on SCALE_PORT+20, corral_host_id 1 and 2, sharing
#     one corral directory and one bypass key ($SCALE_DIR/shared; a local
#     directory: the naming and locking are what is proved, the file system
#     calls are the NFS-safe ones of safefile.c);
#   two spamd (SCALE_PORT+31, +32) and two clamd (+41, +42), both listed in
#     spamd_servers / clamd_servers of both hosts;
#   a three-node Galera cluster (testsuite/scale/galera.sh, SQL ports
#     SCALE_PORT+51..53), the archive index of both hosts;
#   spamcorral-robot behind each host's spamcorral@ alias, releasing
#     through that host's own MTA (the MSP stand-in of the spamcorral e2e).
# then testsuite/scale/scale.py sends the mail and checks (its docstring).
# Every process started here is stopped on exit.  Must run as root.
# Environment: SCALE_DIR (/tmp/mc-scale), SCALE_PORT (2700: ports
# 2710..2783 are used).  Last line: "N passed, N failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
S=${SCALE_DIR:-/tmp/mc-scale}
P=${SCALE_PORT:-2700}
RUN_AS=${SC_RUN_AS:-mail}
T0=$(date +%s)
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"

G="env GALERA_DIR=$S/galera GALERA_PORT=$((P + 50)) sh $HERE/galera.sh"
STK="sh $TOP/testsuite/stack/stack.sh"
up_stacks="" up_spamd="" up_clamd="" up_galera=""

on_host() {	# on_host a|b CMD...: CMD with that stack's environment
	_h=$1; shift
	case $_h in
	a) STACK_DIR=$S/a SMTP_PORT=$((P + 10)) "$@" ;;
	b) STACK_DIR=$S/b SMTP_PORT=$((P + 20)) "$@" ;;
	esac
}

cleanup() {
	for h in $up_stacks; do on_host "$h" $STK stop >/dev/null 2>&1 || echo "scale.sh: stack $h stop failed" >&2; done
	for i in $up_spamd; do
		SPAMD_PORT=$((P + 30 + i)) SPAMD_DIR=$S/spamd$i sh "$TOP/testsuite/stack/spamd.sh" stop >/dev/null 2>&1
	done
	for i in $up_clamd; do
		CLAMD_PORT=$((P + 40 + i)) CLAMD_DIR=$S/clamd$i sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1
	done
	[ -n "$up_galera" ] && $G stop all >/dev/null 2>&1
	up_stacks="" up_spamd="" up_clamd="" up_galera=""
}
finish() {
	cleanup
	if [ -f "$S/summary" ]; then
		result_add_file "$S/summary" || fail "scale.py: no counts in $S/summary"
	elif [ -n "${driver_ran:-}" ]; then
		fail "scale.py gave no result"
	fi
	echo "# make scale: $(( $(date +%s) - T0 )) s (logs under $S)"
	result_line
}
trap 'finish; trap - EXIT; result_ok && exit 0; exit 1' EXIT
trap 'fail "interrupted"; exit 1' INT TERM HUP
bail() { fail "$*"; exit 1; }

[ "$(id -u)" = 0 ] || bail "needs root (private sendmail, galera as mysql)"
cd "$TOP" || bail "cd $TOP"
[ -x mailcorral ] && [ -x spamcorral/spamcorral-robot ] || bail "run make first"

# a clean directory
for h in a b; do [ -f "$S/$h/mailcorral.bgpid" ] && on_host "$h" $STK stop >/dev/null 2>&1; done
$G stop all >/dev/null 2>&1
rm -rf "$S"
mkdir -p "$S/shared/corral" "$S/a" "$S/b" || bail "mkdir $S"
chmod 755 "$S" "$S/shared" "$S/a" "$S/b"
chown "$RUN_AS:" "$S/shared/corral" && chmod 700 "$S/shared/corral"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$S/shared/spamkey"
chown "$RUN_AS:" "$S/shared/spamkey" && chmod 600 "$S/shared/spamkey"

# scanners and the cluster start in the background: they take the longest
t=$(date +%s)
for i in 1 2; do
	mkdir -p "$S/spamd$i" "$S/clamd$i"
	(SPAMD_PORT=$((P + 30 + i)) SPAMD_DIR=$S/spamd$i sh "$TOP/testsuite/stack/spamd.sh" start > "$S/spamd$i/start.out" 2>&1; echo $? > "$S/spamd$i/start.rc") &
	(CLAMD_PORT=$((P + 40 + i)) CLAMD_DIR=$S/clamd$i CLAMD_LOG_CLEAN=yes CLAMD_WAIT=120 sh "$TOP/testsuite/stack/clamd.sh" start > "$S/clamd$i/start.out" 2>&1; echo $? > "$S/clamd$i/start.rc") &
done
up_spamd="1 2" up_clamd="1 2" up_galera=1
$G init > "$S/galera-init.out" 2>&1 || bail "galera init: $(tail -n 4 "$S/galera-init.out")"
wait
for i in 1 2; do
	[ "$(cat "$S/spamd$i/start.rc")" = 0 ] || bail "spamd $i: $(tail -n 3 "$S/spamd$i/start.out")"
	[ "$(cat "$S/clamd$i/start.rc")" = 0 ] || bail "clamd $i: $(tail -n 3 "$S/clamd$i/start.out")"
done
pass "scanners (2 spamd, 2 clamd) and a 3-node Galera cluster (size $($G size 3)) up in $(( $(date +%s) - t )) s"

# archive_db_host: the three nodes (the indexer moves to the next when
# one fails, issue 21 item 3)
dbhost="127.0.0.1:$((P + 51)), 127.0.0.1:$((P + 52)), 127.0.0.1:$((P + 53))"
dbport=0
echo "# archive_db_host = $dbhost (port $dbport)"

for h in a b; do
	D=$S/$h
	hid=1; [ "$h" = b ] && hid=2
	port=$((P + 10)); [ "$h" = b ] && port=$((P + 20))
	mkdir -p "$D/spool" "$D/archive" "$D/journal"
	chown "$RUN_AS:" "$D/spool" "$D/archive" "$D/journal" &&
		chmod 700 "$D/spool" "$D/journal" && chmod 750 "$D/archive"
	spamcorral_wiring "$D" "$port" "$RUN_AS" || bail "host $h: robot wiring"
	cat > "$D/sc/mailcorral.conf" <<EOF2
# make scale, host $h (testsuite/scale/scale.sh)
user               = $RUN_AS
attachment_action  = delete
spam_arbitron      = spamd
scanner_balance    = spread
spamd_servers      = 127.0.0.1:$((P + 31)), 127.0.0.1:$((P + 32))
spamd_connect_timeout = 1s
spamd_timeout      = 20s
virus_arbitron     = clamd
clamd_servers      = 127.0.0.1:$((P + 41)), 127.0.0.1:$((P + 42))
spam_disposition   = corral
corral_dir         = $S/shared/corral
corral_host_id     = $hid
bypass_key_file    = $S/shared/spamkey
spool_dir          = @STACK_DIR@/spool
spamcorral_address = spamcorral@mx.mailcorral.test
sendmail_path      = @STACK_DIR@/sc/sendmail
archive_dir        = @STACK_DIR@/archive
archive_journal    = @STACK_DIR@/journal/index.journal
archive_db_host    = $dbhost
archive_db_port    = $dbport
archive_db_name    = mailcorral
archive_db_user    = mailcorral
archive_db_password_file = $S/galera/password
archive_db_timeout = 2s
EOF2
	up_stacks="$up_stacks $h"
	on_host "$h" env MC_CONF="$D/sc/mailcorral.conf" \
		STACK_ALIASES="spamcorral: :include:$D/sc/robot.alias" \
		$STK start > "$D/stack-start.out" 2>&1 ||
		bail "stack $h start: $(tail -n 5 "$D/stack-start.out")"
done
pass "hosts A (port $((P + 10))) and B (port $((P + 20))) up on one corral"

driver_ran=1
SCALE_DIR=$S SCALE_PORT=$P RUN_AS=$RUN_AS python3 "$HERE/scale.py" "$TOP"
