#!/bin/sh
# tsan.sh -- MailCorral under ThreadSanitizer: a load run of the
# multithreaded path (issue 7; RELIABILITY.md FS-14 "TSan build clean on a
# 200-session run", FS-15, FS-16).
#
#   sh testsuite/tsan/tsan.sh            (from anywhere; make tsan does it)
#
# Builds the daemon with clang-14 -fsanitize=thread -g -O1 into
# testsuite/tsan/build/mailcorral-tsan (LIBSRC of the Makefile plus
# mailcorral.c; the normal objects are not touched) and the load driver
# testsuite/bench/milterdrv.c into testsuite/tsan/build/milterdrv, starts
# fake spamd and clamd (scanners.py: their answers cycle through ham, spam,
# virus, garbage and ERROR, so the clamd circuit breaker opens and closes),
# then on one daemon, over a unix socket:
#   1. c=16, 3 messages per connection, the mixed corpus of
#      testsuite/bench (up to 2500 messages or 30 s); all along, SIGUSR1
#      one second after the previous reload was logged, alternating two
#      configurations and, every fifth time, a broken one
#   2. 200 sessions at once (400 messages), two reloads during it
#   3. the MTA gives up part way: SMFIC_ABORT, then connection resets
#   4. SIGTERM while 16 sessions are in flight; the daemon must be gone
#      within the bound of mailcorral(8) (stop_timeout + 5 s, + 15 s of
#      slack), else every thread's stack, its sockets and /proc are kept
#      (testsuite/lib/stopwait.sh) before it is killed
#   5. testsuite/tsan/sigterm.sh on fresh daemons: SIGTERM under load, and
#      with every session stuck on a silent scanner (abandoned after
#      stop_timeout, each logged)
# Pass: the driver saw no error in 1-3 (every message got a final reply),
# every reload was logged, the daemon exits 0 after SIGTERM, and the TSan
# log has no "WARNING: ThreadSanitizer" report that tsan.supp does not
# suppress (each entry there says why it is not our bug).
#
# TSan maps its shadow at fixed addresses: with vm.mmap_rnd_bits > 28 it
# fails at start, so the daemon always runs under setarch -R (no ASLR).
# Environment: MC_TSAN_PORT (2595; fake spamd there, fake clamd on +1),
# MC_TSAN_DIR (work directory, /tmp/mc-tsan-PID; kept on failure),
# TSAN_CC (clang-14).  Prints PASS/FAIL per check and, last,
# "N passed, N failed"; exit status 1 on any failure.  Every process it
# starts is stopped by its pid.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BDIR=$HERE/build
CC=${TSAN_CC:-clang-14}
PORT=${MC_TSAN_PORT:-2595}
W=${MC_TSAN_DIR:-/tmp/mc-tsan-$$}
MC=$BDIR/mailcorral-tsan
DRV=$BDIR/milterdrv
MIX=$TOP/testsuite/bench/corpus/mix
T_ALL=$(date +%s)
. "$TOP/testsuite/lib/stopwait.sh"
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/decision.sh"
. "$HERE/scanners.sh"
MCPID=""
SCPID=""
DRVPID=""


# stop_pid PID SECS: TERM, wait up to SECS, then KILL.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup() {
	stop_pid "$DRVPID" 5
	stop_pid "$MCPID" 20
	stop_pid "$SCPID" 5
	DRVPID="" MCPID="" SCPID=""
}

finish() {
	cleanup
	echo "tsan: $(($(date +%s) - T_ALL)) s"
	if [ $nfail = 0 ]; then
		rm -rf "$W"
	else
		echo "logs kept in $W"
	fi
	result_line
	[ $nfail = 0 ]
	exit $?
}
trap 'cleanup; echo "0 passed, 1 failed"; exit 130' INT TERM


# ---------------------------------------------------------------- build
command -v "$CC" >/dev/null 2>&1 || {
	fail "setup: $CC not found (sh scripts/install-deps.sh)"; finish; }
libsrc=$(sed -n '/^LIBSRC[[:space:]]*=/,/[^\\]$/p' "$TOP/Makefile" |
    tr '\\\n' '  ' | sed 's/^LIBSRC[[:space:]]*=//')
[ -n "$libsrc" ] || { fail "setup: no LIBSRC in Makefile"; finish; }
DEFS="-D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED"
PKGS="libarchive libcrypto libmariadb"
FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=thread -std=gnu11 -pthread $DEFS"
CFLAGS_PKG=$(pkg-config --cflags $PKGS 2>/dev/null)
LIBS="-lmilter $(pkg-config --libs $PKGS 2>/dev/null || echo -larchive -lcrypto -lmariadb) -pthread"
mkdir -p "$BDIR/obj" || { fail "setup: mkdir $BDIR"; finish; }
stamp=$BDIR/obj/.flags
want="$CC $FLAGS $libsrc mailcorral.c"
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] || rm -f "$BDIR"/obj/*.o
objs=""
berr=0
T0=$(date +%s)
for s in $libsrc mailcorral.c; do
	o=$BDIR/obj/${s%.c}.o
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$TOP/$s" -nt "$o" ] ||
	    [ -n "$(find "$TOP" -maxdepth 1 -name '*.h' -newer "$o")" ]; then
		$CC $FLAGS $CFLAGS_PKG -I"$TOP" -c -o "$o" "$TOP/$s" \
		    2>"$BDIR/obj/${s%.c}.err" || { berr=1; cat "$BDIR/obj/${s%.c}.err"; }
	fi
done
echo "$want" > "$stamp"
# shellcheck disable=SC2086
[ $berr = 0 ] && $CC $FLAGS -o "$MC" $objs $LIBS || berr=1
cc -O2 -Wall -Wextra -Werror -pthread -o "$DRV" "$TOP/testsuite/bench/milterdrv.c" || berr=1
if [ ! -d "$MIX" ]; then
	python3 "$TOP/testsuite/bench/gencorpus.py" "$TOP/testsuite/bench/corpus" >/dev/null || berr=1
fi
[ $berr = 0 ] || { fail "setup: build of $MC, milterdrv or the corpus failed"; finish; }
echo "built $MC and milterdrv in $(($(date +%s) - T0)) s"

# TSan's shadow layout needs no more than 28 random mmap bits; setarch -R
# turns randomisation off for the daemon whatever the sysctl says.
RUN="setarch $(uname -m) -R"
if ! $RUN true 2>/dev/null; then
	bits=$(sysctl -n vm.mmap_rnd_bits 2>/dev/null || echo 0)
	if [ "$bits" -gt 28 ]; then
		fail "setup: setarch -R does not work here and vm.mmap_rnd_bits = $bits > 28 (TSan cannot start; sysctl -w vm.mmap_rnd_bits=28)"
		finish
	fi
	RUN=""
fi

# ---------------------------------------------------------------- start
rm -rf "$W"
mkdir -p "$W/spool" "$W/corral" || { fail "setup: mkdir $W"; finish; }
chmod 700 "$W/corral"
common=$(scanners_conf "$W" "$PORT" 3)
# A: spamd and clamd, spam corralled, failures accepted; no SpamAssassin
# files (B reads them: seconds under TSan and load, so few reloads fit)
printf '%s\nspamassassin_config = ""\nspam_arbitron = spamd\nspamd_servers = 127.0.0.1:%d\nspamd_timeout = 3s\non_spamd_failure = accept\nspam_disposition = corral\non_clamd_failure = accept\nclamd_max_failures = 3\nattachment_action = delete\n' \
    "$common" "$PORT" > "$W/a.conf"
# B: built-in spam checker, mangled attachments, clamd failures tempfailed
printf '%s\nspam_arbitron = builtin\nspam_disposition = tag\non_clamd_failure = tempfail\nclamd_max_failures = 5\nattachment_action = mangle\nhtml_defang = all\n' \
    "$common" > "$W/b.conf"
{ cat "$W/a.conf"; echo "spam_threshold = banana"; } > "$W/broken.conf"
cp "$W/a.conf" "$W/mc.conf"

python3 "$HERE/scanners.py" "$PORT" "$((PORT + 1))" > "$W/scanners.log" 2>&1 &
SCPID=$!
if ! wait_until 10 "$SCPID" grep -qsx ready "$W/scanners.log"; then
	fail "setup: fake spamd/clamd did not start: $(tail -n 3 "$W/scanners.log")"
	finish
fi

TSAN_OPTIONS="halt_on_error=0 log_path=$W/tsan second_deadlock_stack=1 print_suppressions=1 suppressions=$HERE/tsan.supp${TSAN_OPTIONS:+ $TSAN_OPTIONS}" \
    $RUN "$MC" -f -c "$W/mc.conf" -p "unix:$W/mc.sock" > "$W/mc.log" 2>&1 &
MCPID=$!
if ! wait_until 30 "$MCPID" test -S "$W/mc.sock"; then
	fail "setup: mailcorral-tsan did not start: $(tail -n 5 "$W/mc.log"; cat "$W"/tsan.* 2>/dev/null | head -5)"
	finish
fi

# reload CONF: install CONF atomically, SIGUSR1, then wait (at most 20 s)
# until the daemon logs that it took or refused it, so that no signal is
# merged with the next one (a reload takes seconds under TSan and load).
nreload=0
nbroken=0
reload() {
	cp "$W/$1.conf" "$W/mc.conf.new" && mv -f "$W/mc.conf.new" "$W/mc.conf"
	r0=$(grep -c -E 'configuration reloaded|reload failed' "$W/mc.log")
	kill -USR1 "$MCPID"
	if [ "$1" = broken ]; then nbroken=$((nbroken + 1)); else nreload=$((nreload + 1)); fi
	j=0
	while [ "$(grep -c -E 'configuration reloaded|reload failed' "$W/mc.log")" -le "$r0" ] &&
	    [ $j -lt 200 ]; do
		sleep 0.1
		j=$((j + 1))
	done
}

# drive OUT ARGS...: milterdrv -j in the background (DRVPID); while it runs
# and RELOADS=1, a reload a second after the last, alternating b and a,
# broken every 5th.
drive() {
	out=$1
	shift
	"$DRV" -j -q -s "unix:$W/mc.sock" -T 60 "$@" > "$out" 2>"$out.err" &
	DRVPID=$!
	k=0
	while kill -0 "$DRVPID" 2>/dev/null; do
		sleep 1
		[ "${RELOADS:-0}" = 1 ] && kill -0 "$DRVPID" 2>/dev/null || continue
		k=$((k + 1))
		case $((k % 5)) in
		0) reload broken ;;
		1|3) reload b ;;
		*) reload a ;;
		esac
	done
	wait "$DRVPID"
	DRVPID=""
}

# ---------------------------------------------------------------- 1. load
T0=$(date +%s)
RELOADS=1
drive "$W/load.out" -c 16 -m 3 -n 2500 -t 30 -d "$MIX"
RELOADS=0
l=$(cat "$W/load.out")
n=$(kv "$l" messages)
if [ "$(kv "$l" errors)" = 0 ] && [ "${n:-0}" -gt 0 ]; then
	pass "c=16 load: $n messages in $(($(date +%s) - T0)) s, 0 errors (accept/continue $(kv "$l" accept)/$(kv "$l" continue), reject $(kv "$l" reject), tempfail $(kv "$l" tempfail), discard $(kv "$l" discard)), $nreload+$nbroken reloads"
else
	fail "c=16 load: messages ${n:-?} errors $(kv "$l" errors): $(head -c 300 "$W/load.out.err")"
fi

# ---------------------------------------------------------------- 2. 200
T0=$(date +%s)
"$DRV" -j -q -s "unix:$W/mc.sock" -T 60 -c 200 -n 400 -d "$MIX" > "$W/c200.out" 2>"$W/c200.out.err" &
DRVPID=$!
sleep 1; reload b; sleep 1; reload a
wait "$DRVPID"
DRVPID=""
l=$(cat "$W/c200.out")
if [ "$(kv "$l" errors)" = 0 ] && [ "$(kv "$l" messages)" = 400 ]; then
	pass "200 sessions at once: 400 messages in $(($(date +%s) - T0)) s, 0 errors, slowest $(kv "$l" msg_p99_ms) ms (p99)"
else
	fail "200 sessions at once: messages $(kv "$l" messages) errors $(kv "$l" errors): $(head -c 300 "$W/c200.out.err")"
fi

# ---------------------------------------------------------------- 3. aborts
for a in abort:3 rst:4; do
	drive "$W/abort.out" -c 16 -n 300 -A "$a" -d "$MIX"
	l=$(cat "$W/abort.out")
	if [ "$(kv "$l" errors)" = 0 ] && [ "$(kv "$l" messages)" = 300 ]; then
		pass "MTA gives up (-A $a): 300 messages, $(kv "$l" aborted) aborted, the rest answered, 0 errors"
	else
		fail "MTA gives up (-A $a): messages $(kv "$l" messages) errors $(kv "$l" errors): $(head -c 300 "$W/abort.out.err")"
	fi
done

# every reload sent so far must have been taken (or refused, for broken)
i=0
while [ $i -lt 50 ]; do
	nok=$(grep -c 'configuration reloaded' "$W/mc.log")
	nbad=$(grep -c 'reload failed, keeping the running configuration' "$W/mc.log")
	[ "$nok" -ge $nreload ] && [ "$nbad" -ge $nbroken ] && break
	sleep 0.1
	i=$((i + 1))
done
if [ "$nok" = $nreload ] && [ "$nbad" = $nbroken ]; then
	pass "reloads under load: $nok of $nreload taken, $nbad of $nbroken broken ones refused"
else
	fail "reloads under load: $nok logged for $nreload sent, $nbad refusals for $nbroken broken"
fi

# ---------------------------------------------------------------- 4. SIGTERM
"$DRV" -j -q -s "unix:$W/mc.sock" -T 30 -c 16 -n 200 -d "$MIX" > "$W/term.out" 2>"$W/term.out.err" &
DRVPID=$!
n0=$(decisions "$W/mc.log")
i=0
while [ $(($(decisions "$W/mc.log") - n0)) -lt 20 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
# The bound of mailcorral(8) STOPPING: stop_timeout (the default 30 s
# here) + 20 s; 15 s of slack for TSan on two loaded cores.
T0=$(date +%s)
kill -TERM "$MCPID"
if ! wait_gone "$MCPID" $((30 + 20 + 15)); then
	rc="still running after $(($(date +%s) - T0)) s"
	collect_evidence "$MCPID" "$W" stop
	stop_pid "$MCPID" 1
else
	wait "$MCPID"
	rc=$?
fi
MCPID=""
wait "$DRVPID"
DRVPID=""
l=$(cat "$W/term.out")
if [ "$rc" = 0 ] && grep -q 'mailcorral stopping' "$W/mc.log"; then
	pass "SIGTERM with sessions in flight: exit status 0 after $(($(date +%s) - T0)) s (driver: $(kv "$l" messages) messages, $(kv "$l" errors) cut off or refused)"
else
	fail "SIGTERM with sessions in flight: exit status $rc (66: TSan reports), log: $(tail -n 2 "$W/mc.log")"
	ls "$W"/stop.*.stacks >/dev/null 2>&1 && echo "  evidence: $(ls "$W"/stop.*)"
fi

# ---------------------------------------------------------------- 5. alone
# The SIGTERM scenarios on fresh daemons (testsuite/tsan/sigterm.sh: under
# load, and with every session stuck on a silent scanner).
MILTERDRV=$DRV sh "$HERE/sigterm.sh" "$MC" $((PORT + 10)) "$W/sigterm" > "$W/sigterm.out" 2>&1
while IFS= read -r line; do
	case $line in
	"PASS "*) pass "sigterm.sh: ${line#PASS }" ;;
	"FAIL "*) fail "sigterm.sh: ${line#FAIL }" ;;
	"  "*|"INFO "*) echo "$line" ;;
	esac
done < "$W/sigterm.out"
grep -q ' 0 failed$' "$W/sigterm.out" ||
    grep -q '^FAIL' "$W/sigterm.out" || fail "sigterm.sh ended without a result: $(tail -n 3 "$W/sigterm.out")"

# ---------------------------------------------------------------- TSan log
stop_pid "$SCPID" 5
SCPID=""
nrep=$(cat "$W"/tsan.* 2>/dev/null | grep -c 'WARNING: ThreadSanitizer')
supp=$(cat "$W"/tsan.* 2>/dev/null | sed -n 's/^ThreadSanitizer: Matched \([0-9]*\) suppressions.*/\1/p' | head -n1)
used=$(cat "$W"/tsan.* 2>/dev/null | sed -n 's/^[[:space:]]*\([0-9]* [a-z_]*:[^ ]*\)$/\1/p' | tr '\n' ',' | sed 's/,$//')
if grep -q -E 'FATAL: ThreadSanitizer|ERROR: ThreadSanitizer' "$W"/tsan.* 2>/dev/null; then
	fail "TSan runtime error: $(grep -h -E 'FATAL|ERROR' "$W"/tsan.* | head -n 3)"
elif [ "$nrep" = 0 ]; then
	pass "no ThreadSanitizer report (${supp:-0} suppressed by tsan.supp${used:+: $used})"
else
	fail "$nrep ThreadSanitizer report(s) in $W/tsan.*:"
	cat "$W"/tsan.* | sed 's/ (BuildId: [0-9a-f]*)//' | grep -v '^$' | head -n 120
fi
finish
