#!/bin/sh
# MailCorral benchmark: builds the driver and the reference filter, generates
# the corpus, runs each filter under load over a unix socket and prints one
# table, then the size-linearity, RSS-flatness and end-to-end (sendmail) checks.
#
#   sh testsuite/bench/bench.sh          (from the repository top; make first)
#
# Environment (all optional):
#   BENCH_QUICK=1        tenth of the messages (smoke test, about a minute)
#   BENCH_REPS           runs per row, median reported (default 3; the spamd
#                        rows, bound by spamd's own speed, run once)
#   BENCH_FLAT_MSGS      messages for the RSS flatness run (default 100000)
#   BENCH_FLAT_SECS      time bound for that run (default 180)
#   BENCH_PROFILE=1      also record a perf profile of MailCorral at c=8
#   BENCH_SMTP_PORT      sendmail port for the end-to-end part (default 25825)
#   BENCH_SPAM_CONF, BENCH_VIRUS_CONF
#                        config lines for the spamd / clamd rows (defaults:
#                        the private spamd.sh on BENCH_SMTP_PORT+2, the
#                        private clamd.sh on its unix socket),
#                        run only when the daemon knows spam_arbitron /
#                        virus_arbitron
# Every process started here is stopped by its pid at the end.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
MC=${MAILCORRAL:-$TOP/mailcorral}
DRV=$HERE/milterdrv
REF=$HERE/reffilter
CORPUS=$HERE/corpus
CFLAGS="-O2 -Wall -Wextra -Werror"
QUICK=${BENCH_QUICK:-0}
REPS=${BENCH_REPS:-3}
FLAT_MSGS=${BENCH_FLAT_MSGS:-100000}
FLAT_SECS=${BENCH_FLAT_SECS:-180}
SMTP_PORT=${BENCH_SMTP_PORT:-25825}
W=$(mktemp -d /tmp/mc-bench.XXXXXX) || exit 1
chmod 755 "$W"
FPID=""
STACK_UP=""

die() { echo "bench.sh: $*" >&2; cleanup; exit 1; }

stop_pid() {
	# stop_pid PID: TERM, wait up to 10 s, then KILL (libmilter is slow).
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "bench.sh: pid $1 still running after 10 s: SIGKILL" >&2
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
}

cleanup() {
	stop_pid "$FPID"
	FPID=""
	if [ -n "$STACK_UP" ]; then
		STACK_DIR=$STACK_UP sh "$TOP/testsuite/stack/stack.sh" stop >/dev/null 2>&1
		STACK_UP=""
	fi
	rm -rf "$W"
}
trap 'cleanup; exit 130' INT TERM

# ---- build ----
[ -x "$MC" ] || (cd "$TOP" && make) >/dev/null || die "cannot build $MC"
cc $CFLAGS -pthread -o "$DRV" "$HERE/milterdrv.c" || die "cannot build milterdrv"
cc $CFLAGS -pthread -o "$REF" "$HERE/reffilter.c" -lmilter || die "cannot build reffilter"
python3 "$HERE/gencorpus.py" "$CORPUS" || die "gencorpus.py failed"

printf 'allow_root = yes\nattachment_action = delete\nspool_dir = %s\n' "$W" > "$W/builtin.conf"

# start_filter ref|builtin|FILE: start a fresh filter on $W/f.sock, FPID.
start_filter() {
	rm -f "$W/f.sock"
	case "$1" in
	ref)	"$REF" -p "unix:$W/f.sock" >>"$W/filter.log" 2>&1 & ;;
	builtin) "$MC" -f -c "$W/builtin.conf" -p "unix:$W/f.sock" \
		    >>"$W/filter.log" 2>&1 & ;;
	*)	"$MC" -f -c "$1" -p "unix:$W/f.sock" >>"$W/filter.log" 2>&1 & ;;
	esac
	FPID=$!
	i=0
	while [ ! -S "$W/f.sock" ]; do
		kill -0 "$FPID" 2>/dev/null || die "filter $1 exited: $(tail -n 5 "$W/filter.log")"
		i=$((i + 1))
		[ $i -gt 200 ] && die "filter $1: no socket after 10 s"
		sleep 0.05
	done
}

# run CONF CONC N [driver args...]: one fresh filter, a warm-up of N/5
# messages (at most 200; $WARM when set) that is not measured, then one
# measured driver run; prints the driver's key=value line.  The warm-up
# keeps thread creation, first page faults and the allocator's first arenas
# out of the figures: both filters are measured in their steady state.
run() {
	conf=$1 conc=$2 n=$3
	shift 3
	start_filter "$conf"
	warm=$((n / 5))
	[ $warm -gt 200 ] && warm=200
	[ -n "${WARM:-}" ] && warm=$WARM
	[ $warm -gt 0 ] &&
	    "$DRV" -q -s "unix:$W/f.sock" -c "$conc" -n "$warm" -t 60 "$@" >/dev/null 2>&1
	"$DRV" -j -s "unix:$W/f.sock" -c "$conc" -n "$n" -t 60 -p "$FPID" "$@"
	stop_pid "$FPID"
	FPID=""
}

# runs NAME CONF CONC N [driver args...]: run, REPS times; each line also
# goes to $W/NAME.runs, and the median line (median.py) is printed.  Callers
# interleave the configurations they compare, so a slow spell of this
# shared machine hits all of them.
runs_add() {
	name=$1
	shift
	(run "$@") >> "$W/$name.runs"
}
median() { python3 "$HERE/median.py" < "$W/$1.runs"; }

# kv LINE KEY
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

scale() { [ "$QUICK" = 1 ] && echo $(($1 / 10)) || echo "$1"; }

echo "MailCorral benchmark, $(date '+%F %T %Z'), $(nproc) CPUs, $(uname -srm)"
echo "filter under test: $MC ($("$MC" -V 2>&1 | head -n1))"
echo "mixed corpus: $(ls "$CORPUS/mix" | tr '\n' ' ')"
echo

# ---- 1. throughput table ----
N1=$(scale 1000); N8=$(scale 4000); N32=$(scale 4000)
fmt='%-22s %4s %9s %8s %8s %8s %8s %9s %8s %8s %6s\n'
printf "$fmt" config conc "msgs/s" "p50 ms" "p99 ms" "msg p50" "CPU ms" "RSS MiB" "x msg/s" "x CPU" errors
for c in 1 8 32; do
	case $c in 1) n=$N1 ;; 8) n=$N8 ;; *) n=$N32 ;; esac
	rep=0
	while [ $rep -lt "$REPS" ]; do
		runs_add ref$c ref $c $n -d "$CORPUS/mix"
		runs_add builtin$c builtin $c $n -d "$CORPUS/mix"
		rep=$((rep + 1))
	done
	r=$(median ref$c)
	b=$(median builtin$c)
	for which in ref builtin; do
		if [ $which = ref ]; then l=$r; name="reference (libmilter)"
		else l=$b; name="mailcorral built-in"; fi
		mps=$(kv "$l" msgs_per_s); cpu=$(kv "$l" cpu_ms_per_msg)
		if [ $which = builtin ]; then
			xm=$(awk -v a="$mps" -v b="$(kv "$r" msgs_per_s)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
			xc=$(awk -v a="$cpu" -v b="$(kv "$r" cpu_ms_per_msg)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		else
			xm=1.00; xc=1.00
		fi
		printf "$fmt" "$name" $c "$mps" "$(kv "$l" p50_ms)" "$(kv "$l" p99_ms)" \
		    "$(kv "$l" msg_p50_ms)" "$cpu" "$(awk -v k="$(kv "$l" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
		    "$xm" "$xc" "$(kv "$l" errors)"
		echo "$which c=$c $l" >> "$W/raw.txt"
	done
	[ $c = 1 ] && B1=$b
	[ $c = 8 ] && { R8=$r; B8=$b; }
	[ $c = 32 ] && B32=$b
done

# paced_row LINE CONC: built-in alone, started at the rate LINE's run
# reached (milterdrv -r) for about 25 s.  A filter that gets a message
# every 140 ms works on cold caches and wakes a thread per message; this
# row is what that costs without the arbitron, and NNr is LINE's CPU per
# message over it.
paced_row() {
	rate=$(kv "$1" msgs_per_s)
	np=$(awk -v r="$rate" 'BEGIN { n = int(r * 25); print (n < 40 ? 40 : n) }')
	p=$(WARM=16 run builtin "$2" "$(scale "$np")" -r "$rate" -d "$CORPUS/mix")
	xr=$(awk -v a="$(kv "$1" cpu_ms_per_msg)" -v b="$(kv "$p" cpu_ms_per_msg)" \
	    'BEGIN { printf "%.2fr", (b > 0 ? a / b : 0) }')
	printf "$fmt" "  built-in, same rate" "$2" "$(kv "$p" msgs_per_s)" "$(kv "$p" p50_ms)" \
	    "$(kv "$p" p99_ms)" "$(kv "$p" msg_p50_ms)" "$(kv "$p" cpu_ms_per_msg)" \
	    "$(awk -v k="$(kv "$p" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    - "$xr" "$(kv "$p" errors)"
	echo "paced builtin c=$2 $p" >> "$W/raw.txt"
}

# Rows for spamd / clamd configurations.
HELP=$("$MC" -h 2>&1)
for kw in spam_arbitron virus_arbitron; do
	case $kw in spam_arbitron) what="mailcorral + spamd"; conf=${BENCH_SPAM_CONF:-}; script=spamd.sh ;;
	*) what="mailcorral + clamd"; conf=${BENCH_VIRUS_CONF:-}; script=clamd.sh ;; esac
	if ! echo "$HELP" | grep -q "$kw"; then
		printf '%-22s %s\n' "$what" "not available: this build has no $kw keyword"
		continue
	fi
	if [ ! -f "$TOP/testsuite/stack/$script" ]; then
		printf '%-22s %s\n' "$what" "not run: no testsuite/stack/$script"
		continue
	fi
	if [ $kw = spam_arbitron ]; then
		auxenv="SPAMD_PORT=$((SMTP_PORT + 2)) SPAMD_DIR=$W/spamd"
		[ -n "$conf" ] || conf=$(printf 'spam_arbitron = spamd\nspamd_servers = 127.0.0.1:%s' $((SMTP_PORT + 2)))
	else
		auxenv="CLAMD_PORT=$((SMTP_PORT + 3)) CLAMD_DIR=$W/clamd"
		# clamd's local socket, as Debian's clamav-daemon sets it up
		[ -n "$conf" ] || conf=$(printf 'virus_arbitron = clamd\nclamd_servers = unix:%s' "$W/clamd/clamd.sock")
	fi
	if ! env $auxenv sh "$TOP/testsuite/stack/$script" start > "$W/aux.log" 2>&1; then
		printf '%-22s %s\n' "$what" "not run: $script start failed: $(tail -n 1 "$W/aux.log")"
		env $auxenv sh "$TOP/testsuite/stack/$script" stop >/dev/null 2>&1
		continue
	fi
	printf 'allow_root = yes\nattachment_action = delete\nspool_dir = %s\n%s\n' "$W" "$conf" > "$W/aux.conf"
	# With spamd, also a row whose senders (milterdrv's senderN@example.org)
	# are on the whitelist: spamd is never asked.
	printf 'whitelist = *@example.org\n' | cat "$W/aux.conf" - > "$W/aux-listed.conf"
	rows="$W/aux.conf"
	[ $kw = spam_arbitron ] && rows="$W/aux.conf $W/aux-listed.conf"
	for rc in $rows; do
		[ "$rc" = "$W/aux-listed.conf" ] && what="  sender whitelisted"
		for c in 1 8; do
			n=$(scale 600)
			reps=$REPS
			[ "$rc" = "$W/aux-listed.conf" ] && n=$(scale 2000)
			# spamd answers a few messages a second: one run,
			# bound to 40 s, after a warm-up of 16 messages
			slow=""
			if [ "$rc" = "$W/aux.conf" ] && [ $kw = spam_arbitron ]; then
				n=$(scale 300); reps=1; slow=1; WARM=16
			fi
			rep=0
			rm -f "$W/aux.runs"
			while [ $rep -lt "$reps" ]; do
				runs_add aux "$rc" $c "$n" -d "$CORPUS/mix" -t 40
				rep=$((rep + 1))
			done
			l=$(median aux)
			[ $c = 1 ] && bl=$B1 || bl=$B8
			xc=$(awk -v a="$(kv "$l" cpu_ms_per_msg)" -v b="$(kv "$bl" cpu_ms_per_msg)" \
			    'BEGIN { printf "%.2fb", (b > 0 ? a / b : 0) }')
			printf "$fmt" "$what" $c "$(kv "$l" msgs_per_s)" "$(kv "$l" p50_ms)" "$(kv "$l" p99_ms)" \
			    "$(kv "$l" msg_p50_ms)" "$(kv "$l" cpu_ms_per_msg)" \
			    "$(awk -v k="$(kv "$l" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
			    - "$xc" "$(kv "$l" errors)"
			echo "$kw $(basename "$rc" .conf) c=$c $l" >> "$W/raw.txt"
			[ -n "$slow" ] && paced_row "$l" $c
			WARM=""
		done
	done
	env $auxenv sh "$TOP/testsuite/stack/$script" stop >/dev/null 2>&1
done
# Rows for the two optional stages, at c=8, against built-in (NNb):
# the archive writes and fsyncs one file per message (archive_dir only,
# no index); the Perl shim runs doc/filter.pl.example (it reads every
# part's name and adds a header field) in 8 workers.  The CPU ms of the
# Perl row is the daemon's own: the workers are other processes.
printf 'archive_dir = %s/archive\narchive_create_dir = yes\n' "$W" |
    cat "$W/builtin.conf" - > "$W/opt-archive.conf"
printf 'perl_filter = %s\nperl_shim = %s\nperl_workers = 8\n' \
    "$TOP/doc/filter.pl.example" "$TOP/perlshim.pl" |
    cat "$W/builtin.conf" - > "$W/opt-perl.conf"
for opt in archive perl; do
	case $opt in
	archive) what="mailcorral + archive" ;;
	*) what="mailcorral + Perl shim" ;;
	esac
	rm -f "$W/opt.runs"
	rep=0
	while [ $rep -lt "$REPS" ]; do
		runs_add opt "$W/opt-$opt.conf" 8 "$(scale 2000)" -d "$CORPUS/mix"
		rep=$((rep + 1))
	done
	l=$(median opt)
	xc=$(awk -v a="$(kv "$l" cpu_ms_per_msg)" -v b="$(kv "$B8" cpu_ms_per_msg)" \
	    'BEGIN { printf "%.2fb", (b > 0 ? a / b : 0) }')
	printf "$fmt" "$what" 8 "$(kv "$l" msgs_per_s)" "$(kv "$l" p50_ms)" "$(kv "$l" p99_ms)" \
	    "$(kv "$l" msg_p50_ms)" "$(kv "$l" cpu_ms_per_msg)" \
	    "$(awk -v k="$(kv "$l" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    - "$xc" "$(kv "$l" errors)"
	echo "optional $opt c=8 $l" >> "$W/raw.txt"
done
echo
echo "Each row: the median of $REPS runs (spamd: 1), fresh filter per run, after an unmeasured"
echo "warm-up; the raw output below gives each row's min and max."
echo "msgs/s: messages per second over the run; p50/p99: ms from EOB sent to the"
echo "final reply; msg p50: ms from MAIL sent to the final reply; CPU ms: filter utime+stime per message; RSS MiB: filter VmHWM"
echo "(fresh filter per row); x msg/s, x CPU: mailcorral / reference, same concurrency;"
echo "NNb in x CPU: that row's CPU / mailcorral built-in's, same concurrency (target <= 1.5b);"
echo "NNr: the spamd row's CPU / built-in's started at the spamd row's message rate."

# ---- 2. size linearity ----
echo
echo "Size linearity (c=1, fresh filter per row):"
printf '%-22s %10s %10s %12s %12s %10s\n' config "1MB CPU ms" "10MB CPU ms" "CPU ratio" "RSS 1MB MiB" "RSS 10MB"
for conf in ref builtin; do
	s1=$(run $conf 1 "$(scale 100)" "$CORPUS/size/att-1m.eml")
	s10=$(run $conf 1 "$(scale 20)" "$CORPUS/size/att-10m.eml")
	[ $conf = ref ] && name="reference (libmilter)" || name="mailcorral built-in"
	c1=$(kv "$s1" cpu_ms_per_msg); c10=$(kv "$s10" cpu_ms_per_msg)
	printf '%-22s %10s %10s %12s %12s %10s\n' "$name" "$c1" "$c10" \
	    "$(awk -v a="$c10" -v b="$c1" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')" \
	    "$(awk -v k="$(kv "$s1" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    "$(awk -v k="$(kv "$s10" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')"
	echo "size $conf 1m $s1" >> "$W/raw.txt"
	echo "size $conf 10m $s10" >> "$W/raw.txt"
done

# ---- 3. RSS flatness ----
echo
fm=$(scale "$FLAT_MSGS")
echo "RSS flatness: mailcorral built-in, c=8, $fm messages of the mix (time bound ${FLAT_SECS} s):"
start_filter builtin
: > "$W/filter.log"
l=$("$DRV" -j -s "unix:$W/f.sock" -c 8 -n "$fm" -t "$FLAT_SECS" -p "$FPID" -d "$CORPUS/mix")
stop_pid "$FPID"
FPID=""
echo "flat $l" >> "$W/raw.txt"
done_n=$(kv "$l" messages)
[ "$done_n" -lt "$fm" ] && echo "  NOTE: stopped by the ${FLAT_SECS} s bound after $done_n messages"
echo "  messages $done_n, $(kv "$l" msgs_per_s) msgs/s, errors $(kv "$l" errors)"
echo "  VmRSS KiB: first sample $(kv "$l" rss_first_kib), at 10% $(kv "$l" rss_10_kib)," \
    "50% $(kv "$l" rss_50_kib), 90% $(kv "$l" rss_90_kib), end $(kv "$l" rss_end_kib);" \
    "VmHWM $(kv "$l" peak_rss_kib)"
echo "  (10%/50%/90%: first 100 ms sample after that share of the messages answered)"

# ---- 4. optional profile ----
if [ "${BENCH_PROFILE:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
	echo
	echo "perf profile of mailcorral, c=8:"
	start_filter builtin
	perf record -q -g -o "$W/perf.data" -p "$FPID" >/dev/null 2>&1 &
	PP=$!
	sleep 0.5
	"$DRV" -q -s "unix:$W/f.sock" -c 8 -n "$(scale 2000)" -t 60 -d "$CORPUS/mix"
	kill -INT "$PP" 2>/dev/null
	wait "$PP" 2>/dev/null
	stop_pid "$FPID"
	FPID=""
	perf report -i "$W/perf.data" --no-children --stdio --sort symbol 2>/dev/null |
	    grep -E '^ +[0-9]' | head -n 20
fi

# ---- 5. end-to-end through sendmail ----
echo
echo "End to end through a private sendmail (50 messages of 2 KB, one SMTP session):"
STACK=$TOP/testsuite/stack/stack.sh
if [ ! -f "$STACK" ] || { [ ! -x /usr/sbin/sendmail-mta ] && [ ! -x /usr/sbin/sendmail ]; }; then
	echo "  skipped: no testsuite/stack/stack.sh or no sendmail installed"
else
	# inet-quickack: the stack in a private network namespace whose
	# loopback routes carry "quickack 1", what an administrator can do
	# about sendmail's Nagle stall (doc/performance.md).
	for spec in unix inet inet-quickack; do
		STACK_UP=$W/stack-$spec
		if [ $spec != inet-quickack ]; then
			W=$W SMTP_PORT=$SMTP_PORT MC=$MC CONF=$W/builtin.conf \
			    FILE=$CORPUS/mix/01-text-2k.eml sh "$HERE/e2e.sh" $spec
		elif [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
		    command -v ip >/dev/null; then
			W=$W SMTP_PORT=$SMTP_PORT MC=$MC CONF=$W/builtin.conf \
			    FILE=$CORPUS/mix/01-text-2k.eml unshare -n sh "$HERE/e2e.sh" $spec ||
			    echo "  $spec: skipped, no private network namespace"
		else
			echo "  $spec: skipped (needs root, unshare and ip)"
		fi
		STACK_UP=""
	done
fi

echo
echo "raw driver output:"
sed 's/^/  /' "$W/raw.txt"
cleanup
