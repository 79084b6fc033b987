#!/bin/sh
# sigterm.sh -- SIGTERM with sessions in flight (issue 13; RELIABILITY.md
# FS-15): a daemon stopped in the middle of its work always ends, within
# the bound mailcorral(8) states, and loses no message.
#
#   sh testsuite/tsan/sigterm.sh BINARY PORTBASE [WORKDIR]
#
# BINARY is a built mailcorral (./mailcorral, or the TSan build
# testsuite/tsan/build/mailcorral-tsan that tsan.sh makes; a TSan build is
# run under setarch -R with its reports written to WORKDIR/tsan.*).
# PORTBASE: the fake spamd's port, the fake clamd on PORTBASE+1
# (testsuite/tsan/scanners.py).  WORKDIR (default /tmp/mc-sigterm-PID) is
# kept on failure.  Two scenarios, one fresh daemon each:
#   1. load: spamd and clamd answering (ham, spam, virus, garbage, ERROR in
#      turn), 16 sessions of the mixed benchmark corpus, SIGTERM after 20
#      decisions; stop_timeout = MC_STOP_TIMEOUT (30 s, the default).  The
#      sessions in flight finish or are cut off; the daemon exits 0.
#   2. stuck: both scanners read and never answer (timeouts 120 s), 8
#      sessions, SIGTERM once 4 of them wait on the fakes (or after 20 s),
#      stop_timeout = 2 s.  The daemon must abandon them after 2 s, log one
#      "abandoning eom of queue id ..." line for each (at least one for
#      each connection to a fake), and exit 0 within 2 + 5 s (+ slack).
# For each: the daemon is gone within stop_timeout + 20 s (mailcorral(8)
# STOPPING) + MC_SIGTERM_SLACK (default 15 s: a loaded machine, a TSan
# build), logged "mailcorral stopping", exited 0 (66 is a TSan report); the
# driver got a well-formed reply or a closed connection for every message
# (closed: the MTA keeps the mail, F=T), and got no more answers than the
# daemon logged decisions.  If the daemon is still there at
# the deadline, every thread's stack (gdb), its sockets (ss) and its /proc
# view are written to WORKDIR (testsuite/lib/stopwait.sh) before the kill.
# Environment: MILTERDRV (a built testsuite/bench/milterdrv; else built
# into WORKDIR), MC_STOP_TIMEOUT, MC_SIGTERM_SLACK, TSAN_OPTIONS.
# Prints PASS/FAIL lines and "N passed, N failed"; exit 1 on any failure.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$TOP/testsuite/lib/stopwait.sh"
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/decision.sh"
. "$HERE/scanners.sh"

[ $# -ge 2 ] || { echo "usage: sigterm.sh BINARY PORTBASE [WORKDIR]" >&2; exit 2; }
MC=$1
PORT=$2
W=${3:-/tmp/mc-sigterm-$$}
MIX=$TOP/testsuite/bench/corpus/mix
SLACK=${MC_SIGTERM_SLACK:-15}
MCPID=""
SCPID=""
DRVPID=""


cleanup() {
	for p in $DRVPID $MCPID $SCPID; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM "$p" 2>/dev/null
		wait_gone "$p" 5 || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	DRVPID="" MCPID="" SCPID=""
}
finish() {
	cleanup
	if [ $nfail = 0 ]; then rm -rf "$W"; else echo "logs kept in $W"; fi
	result_line
	[ $nfail = 0 ]
	exit $?
}
trap 'cleanup; echo "0 passed, 1 failed"; exit 130' INT TERM

[ -x "$MC" ] || { fail "setup: $MC is not an executable"; finish; }
rm -rf "$W"
mkdir -p "$W" || { fail "setup: mkdir $W"; finish; }
DRV=${MILTERDRV:-}
if [ -z "$DRV" ]; then
	DRV=$W/milterdrv
	cc -O2 -Wall -Wextra -Werror -pthread -o "$DRV" \
	    "$TOP/testsuite/bench/milterdrv.c" || { fail "setup: milterdrv build"; finish; }
fi
if [ ! -d "$MIX" ]; then
	python3 "$TOP/testsuite/bench/gencorpus.py" "$TOP/testsuite/bench/corpus" >/dev/null ||
	    { fail "setup: gencorpus.py"; finish; }
fi
RUN=""
if nm "$MC" 2>/dev/null | grep -q __tsan_init; then
	RUN="setarch $(uname -m) -R"
	TSAN_OPTIONS="halt_on_error=0 log_path=$W/tsan second_deadlock_stack=1 suppressions=$HERE/tsan.supp${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
	export TSAN_OPTIONS
fi

# start NAME STOP_TIMEOUT SCANNER_TIMEOUT [hang]: fakes and a daemon in
# $W/NAME; sets D, SCPID, MCPID.
start() {
	D=$W/$1
	mkdir -p "$D/spool" "$D/corral" && chmod 700 "$D/corral" || return 1
	{ scanners_conf "$D" "$PORT" "$3"; cat <<CONF
on_clamd_failure = accept
clamd_max_failures = 3
spamassassin_config = ""
spam_arbitron = spamd
spamd_servers = 127.0.0.1:$PORT
spamd_timeout = $3s
on_spamd_failure = accept
spam_disposition = corral
attachment_action = delete
stop_timeout = $2s
CONF
	} > "$D/mc.conf"
	if ss -ltn | awk '{ print $4 }' | grep -q -E ":($PORT|$((PORT + 1)))\$"; then
		echo "ports $PORT/$((PORT + 1)) are in use: $(ss -ltnp "( sport = :$PORT or sport = :$((PORT + 1)) )" | tail -n +2 | head -n 2)"
		return 1
	fi
	python3 "$HERE/scanners.py" "$PORT" "$((PORT + 1))" ${4:-} > "$D/scanners.log" 2>&1 &
	SCPID=$!
	if ! wait_until 10 "$SCPID" grep -qsx ready "$D/scanners.log"; then
		echo "fake spamd/clamd did not start: $(tail -n 3 "$D/scanners.log")"
		return 1
	fi
	$RUN "$MC" -f -c "$D/mc.conf" -p "unix:$D/mc.sock" > "$D/mc.log" 2>&1 &
	MCPID=$!
	if ! wait_until 30 "$MCPID" test -S "$D/mc.sock"; then
		echo "$MC did not start: $(tail -n 5 "$D/mc.log")"
		return 1
	fi
}

# sigterm NAME STOP_TIMEOUT: SIGTERM, wait for the bound; sets RC, TOOK.
sigterm() {
	bound=$(($2 + 20))
	T0=$(date +%s)
	kill -TERM "$MCPID"
	if wait_gone "$MCPID" $((bound + SLACK)); then
		wait "$MCPID"
		RC=$?
		TOOK=$(($(date +%s) - T0))
	else
		TOOK=$(($(date +%s) - T0))
		collect_evidence "$MCPID" "$D" stop
		kill -KILL "$MCPID" 2>/dev/null
		wait "$MCPID" 2>/dev/null
		RC="still running after $TOOK s"
	fi
	MCPID=""
	if [ "$RC" = 0 ] && grep -q 'mailcorral stopping' "$D/mc.log"; then
		pass "$1: exit status 0 after $TOOK s (bound $bound s + $SLACK s of slack)"
	else
		fail "$1: exit status $RC (66: TSan reports), log: $(tail -n 3 "$D/mc.log" | tr '\n' '|')"
		ls "$D"/stop.*.stacks >/dev/null 2>&1 && echo "  evidence: $(ls "$D"/stop.*)"
	fi
}

# driver_ok NAME: the driver saw only replies it could parse, or closed
# connections, and no message was accepted, rejected or discarded that the
# daemon did not decide (each such answer has its decision line; a tempfail
# may come from the closed gate, and the MTA keeps that mail).
driver_ok() {
	wait "$DRVPID"
	DRVPID=""
	l=$(cat "$D/drv.out")
	# a tempfail may come from the closed gate, without a decision
	answered=$(( $(kv "$l" accept) + $(kv "$l" continue) + $(kv "$l" reject) + $(kv "$l" discard) ))
	decided=$(decisions "$D/mc.log")
	if [ -z "$l" ] || grep -q -i -E 'garbage|bad reply|unexpected|malformed' "$D/drv.out.err"; then
		fail "$1: the driver saw a malformed reply: $(grep -i -m1 -E 'garbage|bad reply|unexpected|malformed' "$D/drv.out.err")"
	elif [ "$answered" -gt "$decided" ]; then
		fail "$1: $answered messages accepted, rejected or discarded but only $decided decision lines"
	else
		pass "$1: every message answered after its decision or its connection closed ($answered accepted/rejected/discarded, $decided decided, $(kv "$l" tempfail) tempfailed, $(kv "$l" errors) cut off or refused)"
	fi
}

# ------------------------------------------------------------ 1. load
ST=${MC_STOP_TIMEOUT:-30}
start load "$ST" 3 || { fail "load: setup (the line above says why)"; finish; }
"$DRV" -j -q -s "unix:$D/mc.sock" -T 30 -c 16 -n 200 -d "$MIX" > "$D/drv.out" 2>"$D/drv.out.err" &
DRVPID=$!
i=0
while [ "$(decisions "$D/mc.log")" -lt 20 ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
sigterm "SIGTERM with 16 sessions in flight" "$ST"
# libmilter's worker pool may leave smfi_main() blocked after the stop
# (mailcorral(8) STOPPING, 4.); the daemon's monitor ends the stop anyway
if grep -q "smfi_main() has not returned" "$D/mc.log"; then
	echo "INFO libmilter's smfi_main() did not return; the stop monitor ended the process: $(grep -m1 'has not returned' "$D/mc.log" | sed 's/.*stop: //')"
fi
driver_ok "SIGTERM with 16 sessions in flight"
cleanup

# ------------------------------------------------------------ 2. stuck
# Each session stuck in EOM on a fake holds one connection to it, so at
# least as many callbacks as connections open at the signal must be
# abandoned (others may still be on their way to the fakes).
# (Debian's libmilter runs sessions on a worker pool that may leave some of
# the 8 waiting for a worker while others block: they never reach EOM, and
# are closed at exit like any open session.)
# The spamd client half-closes after its request, so its side of the
# connection is FIN-WAIT-2 (05), not ESTABLISHED (01); FIN-WAIT-1 (04) in
# between.  Read from /proc/net/tcp.
fakeconns() {
	awk -v a="$(printf ':%04X' "$PORT")" -v b="$(printf ':%04X' $((PORT + 1)))" '
	    ($4 == "01" || $4 == "04" || $4 == "05") &&
	    (substr($3, length($3) - 4) == a || substr($3, length($3) - 4) == b) { n++ }
	    END { print n + 0 }' /proc/net/tcp
}
start stuck 2 120 hang || { fail "stuck: setup (the line above says why)"; finish; }
"$DRV" -j -q -s "unix:$D/mc.sock" -T 150 -c 8 -n 8 -d "$MIX" > "$D/drv.out" 2>"$D/drv.out.err" &
DRVPID=$!
t0=$(date +%s)
while [ "$(fakeconns)" -lt 4 ] && [ $(($(date +%s) - t0)) -lt 20 ]; do
	sleep 0.2
done
sleep 1
stuck=$(fakeconns)
sigterm "SIGTERM with $stuck sessions stuck on a silent scanner (stop_timeout 2 s)" 2
n=$(grep -c 'stop: abandoning eom of queue id [0-9A-F]' "$D/mc.log")
if [ "$stuck" -ge 1 ] && [ "$n" -ge "$stuck" ] && [ "$n" -le 8 ] &&
    grep -q "stop: $n callbacks abandoned after stop_timeout 2 s" "$D/mc.log"; then
	pass "$n callbacks abandoned and each logged ($stuck of them waiting on a fake): $(grep -m1 'abandoning' "$D/mc.log" | sed 's/.*stop: //' | cut -c1-100)"
else
	fail "abandoned sessions: $n 'abandoning eom' lines for $stuck sessions waiting on the fakes: $(grep 'stop:' "$D/mc.log" | tail -n 2 | tr '\n' '|')"
fi
kill -TERM "$SCPID" 2>/dev/null
driver_ok "SIGTERM with sessions stuck"
cleanup
if [ -n "$RUN" ]; then
	if grep -q -E 'WARNING: ThreadSanitizer|ERROR: ThreadSanitizer' "$W"/tsan.* 2>/dev/null; then
		fail "ThreadSanitizer report(s) in $W/tsan.*: $(grep -h -m3 'SUMMARY' "$W"/tsan.* | tr '\n' '|')"
	else
		pass "no ThreadSanitizer report"
	fi
fi
finish
