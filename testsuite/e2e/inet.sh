#!/bin/sh
# The daemon on an inet socket (issue 19, item 1): a message it changes
# (header edit, new body, verdict: several small packets) must not wait
# for the MTA's delayed ACK.  With Nagle's algorithm on the filter's side
# every such message took >= 40 ms on loopback; daemon_tune_listener() sets
# TCP_NODELAY on libmilter's listening socket, which the accepted sockets
# inherit.  The same listener gets milter_receive_buffer (SO_RCVBUF) so
# that an MTA streaming the body (SMFIP_NR_BODY) is not held by the
# window.  The driver sets TCP_NODELAY on its own side (-N), so a stall
# left can only be the filter's.
#
#   sh testsuite/e2e/inet.sh
#
# Environment: MC_INET_PORT (2965), MC_INET_DIR (/tmp/mc-inet-$$),
# MAILCORRAL (./mailcorral).  Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/stopwait.sh"
PORT=${MC_INET_PORT:-2965}
W=${MC_INET_DIR:-/tmp/mc-inet-$$}
MC=${MAILCORRAL:-$TOP/mailcorral}
N=40
MSG=$TOP/testsuite/e2e/inet/exe-attachment.eml
rm -rf "$W"
mkdir -p "$W/out"
pid=""
finish() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait_gone "$pid" 60 || kill -KILL "$pid" 2>/dev/null
		pid=""
	fi
	result_line
}
trap 'finish; exit 130' INT TERM
if ! cc -O2 -Wall -Wextra -Werror -pthread -o "$W/milterdrv" \
    "$TOP/testsuite/bench/milterdrv.c"; then
	fail "setup: cannot build milterdrv"; finish; exit 1
fi
printf 'allow_root = yes\nattachment_action = delete\nspool_dir = %s\n' "$W" \
    > "$W/mailcorral.conf"
"$MC" -f -c "$W/mailcorral.conf" -p "inet:$PORT@127.0.0.1" \
    > "$W/mailcorral.log" 2>&1 &
pid=$!
if ! wait_until 10 "$pid" grep -q 'starting on' "$W/mailcorral.log"; then
	fail "setup: mailcorral did not start on inet:$PORT"
	tail -n 5 "$W/mailcorral.log"; finish; exit 1
fi
sleep 0.3
line=$("$W/milterdrv" -s "inet:$PORT@127.0.0.1" -c 1 -n $N -N -q -j \
    -D "$W/out" "$MSG" 2>&1 | tail -n 1)
echo "milterdrv: $line" | cut -c1-200
errors=$(kv "$line" errors)
p50=$(kv "$line" p50_ms)
[ "$errors" = 0 ] && pass "inet: $N messages, no error" ||
    fail "inet: $N messages, errors=$errors"
# milter_receive_buffer (default 4m) on the listening socket, which the
# accepted ones inherit: ss shows it as skmem rb; below it only with the
# log line that names net.core.rmem_max (not root: no SO_RCVBUFFORCE)
rb=$(ss -ltmn "sport = :$PORT" 2>/dev/null | sed -n 's/.*skmem:(r[0-9]*,rb\([0-9]*\),.*/\1/p' | head -n 1)
if [ -n "$rb" ] && [ "$rb" -ge 4194304 ]; then
	pass "inet: listener's receive buffer $rb bytes (milter_receive_buffer 4m)"
elif [ -n "$rb" ] && grep -q 'receive buffer .* rmem_max' "$W/mailcorral.log"; then
	pass "inet: listener's receive buffer $rb bytes, capped and logged"
else
	fail "inet: listener's receive buffer ${rb:-?} bytes, expected >= 4194304"
fi
# every message was changed: the case that sends several packets
changed=$(grep -l '^body:' "$W/out"/*.out 2>/dev/null | wc -l)
[ "$changed" = $N ] && pass "inet: all $N messages changed (attachment removed)" ||
    fail "inet: $changed of $N messages changed"
# a Nagle stall is >= 40 ms on every changed message; the median of
# messages taking ~1 ms stays far below 20 ms even on a busy machine
if [ -n "$p50" ] && awk "BEGIN { exit !($p50 < 20) }"; then
	pass "inet: no Nagle stall (median end-of-message wait $p50 ms < 20 ms)"
else
	fail "inet: median end-of-message wait ${p50:-?} ms (a Nagle stall is >= 40 ms)"
fi

# stop_ms SPEC: starts an idle daemon on SPEC, SIGTERM, ms until it is gone
stop_ms() {
	rm -f "$W/mc.sock"
	"$MC" -f -c "$W/mailcorral.conf" -p "$1" > "$W/stop.log" 2>&1 &
	spid=$!
	if ! wait_until 10 "$spid" grep -q 'starting on' "$W/stop.log"; then
		kill -KILL "$spid" 2>/dev/null
		echo "start-failed"
		return
	fi
	sleep 0.5
	t0=$(date +%s%3N)
	kill -TERM "$spid"
	wait_gone "$spid" 30 || kill -KILL "$spid" 2>/dev/null
	echo $(( $(date +%s%3N) - t0 ))
}
kill -TERM "$pid" 2>/dev/null
wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null
pid=""
for spec in "inet:$PORT@127.0.0.1" "inet:$((PORT + 1))" \
    "inet6:$((PORT + 2))@[::1]" "unix:$W/mc.sock"; do
	ms=$(stop_ms "$spec")
	if [ "$ms" != start-failed ] && [ "$ms" -lt 1500 ]; then
		pass "stop: idle daemon on $spec gone $ms ms after SIGTERM"
	else
		fail "stop: idle daemon on $spec gone $ms ms after SIGTERM (bound 1500 ms)"
	fi
done
finish
result_ok && rm -rf "$W"
