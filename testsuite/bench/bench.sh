#!/bin/sh
# MailCorral benchmark: builds the driver and the reference filter, generates
# the corpus, runs each filter under load over a unix socket and prints one
# table, then the size-linearity, RSS-flatness and end-to-end (sendmail) checks.
# The table also has MailCorral and the reference on inet: loopback, and the
# peers from Debian's packages (clamav-milter and spamass-milter on the same
# private clamd and spamd as MailCorral's rows, MIMEDefang with Debian's
# default filter), each started and stopped here like the reference, from
# private configuration files on private sockets (scripts/install-bench-deps.sh
# installs them with their services kept stopped).
#
#   sh testsuite/bench/bench.sh          (from the repository top; make first)
#
# Environment (all optional):
#   BENCH_QUICK=1        tenth of the messages (smoke test, a few minutes)
#   BENCH_REPS           runs per row, median reported (default 3; the spamd
#                        rows, bound by spamd's own speed, run once)
#   BENCH_FLAT_MSGS      messages for the RSS flatness run (default 100000)
#   BENCH_FLAT_SECS      time bound for that run (default 180)
#   BENCH_PROFILE=1      also record a perf profile of MailCorral at c=8
#   BENCH_ONLY=clamd-pool
#                        only the clamd pool rows (one clamd, then two:
#                        see clamd_pool_rows) at c=8 and 32, then stop
#   BENCH_SMTP_PORT      sendmail port for the end-to-end part (default 25825);
#                        the private spamd listens on +2, clamd on +3, the
#                        inet rows' filters on +4 and the second clamd on +5
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
INET_PORT=$((SMTP_PORT + 4))
SPAMD_PORT=$((SMTP_PORT + 2))
W=$(mktemp -d /tmp/mc-bench.XXXXXX) || exit 1
chmod 755 "$W"
FPIDS=""
STACK_UP=""
# The socket the next start_filter gives the filter; FSOCK is where it listens.
SOCK=unix:$W/f.sock
FSOCK=$SOCK

# In run() (always in a subshell: "(run ...)", "$(run ...)") die stops only
# that run's filter: the bench goes on and its work directory stays.
IN_RUN=""
die() {
	echo "bench.sh: $*" >&2
	if [ -n "$IN_RUN" ]; then
		stop_filter
	else
		cleanup
	fi
	exit 1
}

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

stop_filter() {
	for p in $FPIDS; do
		stop_pid "$p"
	done
	FPIDS=""
}

cleanup() {
	stop_filter
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

# listening: true when $FSOCK takes connections (a unix socket file, or a
# listener on the inet port in /proc/net/tcp).
listening() {
	case $FSOCK in
	unix:*)	[ -S "${FSOCK#unix:}" ] ;;
	*)	port=${FSOCK#inet:}
		grep -q ":$(printf %04X "${port%%@*}") 00000000:0000 0A" /proc/net/tcp ;;
	esac
}

# wait_listening NAME: until $FSOCK takes connections; dies when a process
# of FPIDS has exited or after 10 s.
wait_listening() {
	i=0
	while ! listening; do
		for p in $FPIDS; do
			kill -0 "$p" 2>/dev/null ||
			    die "$1 exited: $(tail -n 5 "$W/filter.log")"
		done
		i=$((i + 1))
		[ $i -gt 200 ] && die "$1: no socket after 10 s"
		sleep 0.05
	done
}

# The peers, each from a private configuration on a private socket, as the
# user the bench runs as (MIMEDefang refuses root: it runs as Debian's
# "defang", its spool in $W/md).  clamav-milter: the configuration Debian's
# package wrote (/etc/clamav/clamav-milter.conf) with the socket, pid file,
# log and user replaced, on the private clamd.  spamass-milter: Debian's
# OPTIONS (/etc/default/spamass-milter) without "-i 127.0.0.1", which would
# pass the driver's messages unscanned, on the private spamd.  MIMEDefang:
# Debian's default filter (/etc/mail/mimedefang-filter, copied) under the
# multiplexor with the init script's defaults (2 to 10 workers, -b 600, -l).
peer_available() {
	case $1 in
	clamav-milter)	command -v clamav-milter >/dev/null &&
			    [ -r /etc/clamav/clamav-milter.conf ] ;;
	spamass-milter)	command -v spamass-milter >/dev/null ;;
	mimedefang)	command -v mimedefang >/dev/null &&
			    command -v mimedefang-multiplexor >/dev/null &&
			    [ -r /etc/mail/mimedefang-filter ] && id defang >/dev/null 2>&1 ;;
	*)		false ;;
	esac
}

start_peer() {
	case $1 in
	clamav-milter)
		sed -e '/^\(MilterSocket\|PidFile\|ClamdSocket\|Foreground\|User\|LogFile\|LogSyslog\|TemporaryDirectory\|MilterSocketGroup\|FixStaleSocket\|LogRotate\|LogFileUnlock\|LogFileMaxSize\) /d' \
		    /etc/clamav/clamav-milter.conf > "$W/clamav-milter.conf"
		cat >> "$W/clamav-milter.conf" <<EOF
MilterSocket $SOCK
PidFile $W/clamav-milter.pid
ClamdSocket unix:$W/clamd/clamd.sock
Foreground true
LogFile $W/clamav-milter.log
LogSyslog false
TemporaryDirectory $W
EOF
		clamav-milter -c "$W/clamav-milter.conf" >>"$W/filter.log" 2>&1 &
		FPIDS=$! ;;
	spamass-milter)
		spamass-milter -p "${SOCK#unix:}" -u spamass-milter -- \
		    -d 127.0.0.1 -p "$SPAMD_PORT" >>"$W/filter.log" 2>&1 &
		FPIDS=$! ;;
	mimedefang)
		rm -rf "$W/md"
		mkdir "$W/md"
		cp /etc/mail/mimedefang-filter "$W/md/"
		chown defang:defang "$W/md"
		FSOCK=unix:$W/md/mx.sock
		mimedefang-multiplexor -D -U defang -z "$W/md" -F "$W/md/mimedefang-filter" \
		    -m 2 -x 10 -b 600 -l -s "$W/md/mx.sock" >>"$W/filter.log" 2>&1 &
		FPIDS=$!
		wait_listening mimedefang-multiplexor
		FSOCK=unix:$W/md/md.sock
		mimedefang -D -U defang -z "$W/md" -m "$W/md/mx.sock" -R -1 -p "$FSOCK" \
		    >>"$W/filter.log" 2>&1 &
		FPIDS="$! $FPIDS" ;;
	esac
}

# start_filter ref|builtin|PEER|FILE: start a fresh filter on $SOCK (the
# peers: see start_peer), FPIDS its processes, FSOCK its socket.
start_filter() {
	FSOCK=$SOCK
	case $SOCK in unix:*) rm -f "${SOCK#unix:}" ;; esac
	case "$1" in
	ref)	"$REF" -p "$SOCK" >>"$W/filter.log" 2>&1 &
		FPIDS=$! ;;
	builtin) "$MC" -f -c "$W/builtin.conf" -p "$SOCK" \
		    >>"$W/filter.log" 2>&1 &
		FPIDS=$! ;;
	clamav-milter|spamass-milter|mimedefang)
		start_peer "$1" ;;
	*)	"$MC" -f -c "$1" -p "$SOCK" >>"$W/filter.log" 2>&1 &
		FPIDS=$! ;;
	esac
	wait_listening "filter $1"
}

# run CONF CONC N [driver args...]: one fresh filter, a warm-up of N/5
# messages (at most 200; $WARM when set) that is not measured, then one
# measured driver run; prints the driver's key=value line.  The warm-up
# keeps thread creation, first page faults and the allocator's first arenas
# out of the figures: both filters are measured in their steady state.
# CPU and memory are those of the filter's processes and their children.
run() {
	IN_RUN=1
	conf=$1 conc=$2 n=$3
	shift 3
	start_filter "$conf"
	warm=$((n / 5))
	[ $warm -gt 200 ] && warm=200
	[ -n "${WARM:-}" ] && warm=$WARM
	[ $warm -gt 0 ] &&
	    "$DRV" -q -s "$FSOCK" -c "$conc" -n "$warm" -t 60 "$@" >/dev/null 2>&1
	"$DRV" -j -s "$FSOCK" -c "$conc" -n "$n" -t 60 -p "$(echo $FPIDS | tr ' ' ,)" "$@"
	stop_filter
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
fmt='%-24s %4s %9s %8s %8s %8s %8s %9s %8s %8s %6s %6s\n'
printf "$fmt" config conc "msgs/s" "p50 ms" "p99 ms" "msg p50" "CPU ms" "RSS MiB" "x msg/s" "x CPU" tempf errors

# ratio A B [SUFFIX]: A / B with two decimals (three below 0.1) and SUFFIX;
# 0 when B is 0.
ratio() {
	awk -v a="$1" -v b="$2" -v s="${3:-}" 'BEGIN { r = (b > 0 ? a / b : 0)
	    printf (r > 0 && r < 0.1 ? "%.3f%s" : "%.2f%s"), r, s }'
}

# row NAME CONC LINE XMSG XCPU: one table row from a driver line.
row() {
	printf "$fmt" "$1" "$2" "$(kv "$3" msgs_per_s)" "$(kv "$3" p50_ms)" "$(kv "$3" p99_ms)" \
	    "$(kv "$3" msg_p50_ms)" "$(kv "$3" cpu_ms_per_msg)" \
	    "$(awk -v k="$(kv "$3" peak_rss_kib)" 'BEGIN { printf "%.1f", k / 1024 }')" \
	    "$4" "$5" "$(kv "$3" tempfail)" "$(kv "$3" errors)"
}

# peer_row NAME CONC LINE MCLINE: a peer's row; its x columns are the
# MailCorral row it is compared with (MCLINE) over the peer's ("NNp").
peer_row() {
	row "$1" "$2" "$3" "$(ratio "$(kv "$4" msgs_per_s)" "$(kv "$3" msgs_per_s)" p)" \
	    "$(ratio "$(kv "$4" cpu_ms_per_msg)" "$(kv "$3" cpu_ms_per_msg)" p)"
}

# pair_rows SPEC C N: the reference and built-in, interleaved REPS times on
# the socket SPEC (unix or inet) at concurrency C; sets r and b to the
# medians and prints both rows (x: built-in over the reference).
pair_rows() {
	spec=$1 c=$2 n=$3
	rname="reference (libmilter)" bname="mailcorral built-in"
	if [ "$spec" = inet ]; then
		SOCK=inet:$INET_PORT@127.0.0.1
		rname="reference, inet" bname="mailcorral, inet"
	fi
	rep=0
	while [ $rep -lt "$REPS" ]; do
		runs_add ref$spec$c ref "$c" "$n" -d "$CORPUS/mix"
		runs_add builtin$spec$c builtin "$c" "$n" -d "$CORPUS/mix"
		rep=$((rep + 1))
	done
	SOCK=unix:$W/f.sock
	r=$(median ref$spec$c)
	b=$(median builtin$spec$c)
	row "$rname" "$c" "$r" 1.00 1.00
	row "$bname" "$c" "$b" \
	    "$(ratio "$(kv "$b" msgs_per_s)" "$(kv "$r" msgs_per_s)")" \
	    "$(ratio "$(kv "$b" cpu_ms_per_msg)" "$(kv "$r" cpu_ms_per_msg)")"
	echo "ref $spec c=$c $r" >> "$W/raw.txt"
	echo "builtin $spec c=$c $b" >> "$W/raw.txt"
}

# clamd_pool_rows C...: the scanner pool (pool.c), with the private clamd
# of the clamd rows running: a second private clamd (clamd.sh, Debian's
# MaxThreads 12 too, on BENCH_SMTP_PORT+5), then at each concurrency
# MailCorral on the first clamd alone and on both (clamd_servers naming
# the two unix sockets, scanner_balance = spread, clamd_max_connections
# 24: the bound is in total, the sum of their MaxThreads), interleaved
# REPS times.  The two-clamd row's x columns are over the one-clamd row
# ("NNc"); under it, how many messages each clamd scanned parts of (the
# decision lines' clamd-server=, the filter's stderr; warm-ups included).
clamd_pool_rows() {
	c2env="CLAMD_PORT=$((SMTP_PORT + 5)) CLAMD_DIR=$W/clamd2"
	if ! env $c2env sh "$TOP/testsuite/stack/clamd.sh" start > "$W/aux2.log" 2>&1; then
		printf '%-24s %s\n' "  two clamd (spread)" "not run: clamd.sh start failed: $(tail -n 1 "$W/aux2.log")"
		env $c2env sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1
		return
	fi
	printf 'allow_root = yes\nattachment_action = delete\nspool_dir = %s\nvirus_arbitron = clamd\n' \
	    "$W" > "$W/pool-base.conf"
	printf 'clamd_servers = unix:%s/clamd/clamd.sock\n' "$W" |
	    cat "$W/pool-base.conf" - > "$W/pool-one.conf"
	printf 'clamd_servers = unix:%s/clamd/clamd.sock unix:%s/clamd2/clamd.sock\nclamd_max_connections = 24\nscanner_balance = spread\n' \
	    "$W" "$W" | cat "$W/pool-base.conf" - > "$W/pool-two.conf"
	for c in "$@"; do
		rm -f "$W/one.runs" "$W/two.runs"
		: > "$W/two.log"
		rep=0
		while [ $rep -lt "$REPS" ]; do
			runs_add one "$W/pool-one.conf" "$c" "$(scale 600)" -d "$CORPUS/mix" -t 40
			off=$(wc -c < "$W/filter.log")
			runs_add two "$W/pool-two.conf" "$c" "$(scale 600)" -d "$CORPUS/mix" -t 40
			tail -c +$((off + 1)) "$W/filter.log" >> "$W/two.log"
			rep=$((rep + 1))
		done
		l1=$(median one)
		l2=$(median two)
		row "mailcorral, one clamd" "$c" "$l1" - -
		row "  two clamd (spread)" "$c" "$l2" \
		    "$(ratio "$(kv "$l2" msgs_per_s)" "$(kv "$l1" msgs_per_s)" c)" \
		    "$(ratio "$(kv "$l2" cpu_ms_per_msg)" "$(kv "$l1" cpu_ms_per_msg)" c)"
		grep -o 'clamd-server=[^ ]*' "$W/two.log" | sed 's/^clamd-server=//' |
		    tr ',' '\n' > "$W/two.servers"
		s1=$(grep -c "/clamd/clamd.sock\$" "$W/two.servers")
		s2=$(grep -c "/clamd2/clamd.sock\$" "$W/two.servers")
		printf '%-24s %4s   messages scanned: first clamd %s, second %s (%s)\n' \
		    "    spread" "$c" "$s1" "$s2" \
		    "$(ratio "$s2" "$((s1 + s2))" "")"
		echo "clamd-pool one c=$c $l1" >> "$W/raw.txt"
		echo "clamd-pool two c=$c $l2 first=$s1 second=$s2" >> "$W/raw.txt"
	done
	env $c2env sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1
}

if [ "${BENCH_ONLY:-}" = clamd-pool ]; then
	CLENV="CLAMD_PORT=$((SMTP_PORT + 3)) CLAMD_DIR=$W/clamd"
	if env $CLENV sh "$TOP/testsuite/stack/clamd.sh" start > "$W/aux.log" 2>&1; then
		clamd_pool_rows 8 32
	else
		echo "clamd pool rows not run: clamd.sh start failed: $(tail -n 1 "$W/aux.log")"
	fi
	env $CLENV sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1
	echo
	echo "raw driver output:"
	sed 's/^/  /' "$W/raw.txt"
	cleanup
	exit 0
fi

for c in 1 8 32; do
	case $c in 1) n=$N1 ;; 8) n=$N8 ;; *) n=$N32 ;; esac
	pair_rows unix $c $n
	[ $c = 1 ] && B1=$b
	[ $c = 8 ] && B8=$b
	[ $c = 32 ] && B32=$b
done
# The same two on inet: loopback (the MTA and the filter on one host, as
# with sendmail's InputMailFilters=...inet:PORT@127.0.0.1).
for c in 1 8; do
	case $c in 1) n=$N1 ;; *) n=$N8 ;; esac
	pair_rows inet $c $n
done

# bline CONC: the built-in row's line at that concurrency.
bline() { case $1 in 1) echo "$B1" ;; 8) echo "$B8" ;; *) echo "$B32" ;; esac; }

# MIMEDefang with Debian's default filter (MIME parse, file name rules,
# SpamAssassin in each Perl worker for messages under 512 KB; Debian's
# build has no virus scanner configured), against the built-in rows.  Its
# workers compile SpamAssassin's rules when they start: a warm-up of 40
# messages, then one run bound to 40 s (BENCH_QUICK: 4 and 10 s).
if peer_available mimedefang; then
	mdsecs=40
	[ "$QUICK" = 1 ] && mdsecs=10
	for c in 1 8; do
		l=$(WARM=$(scale 40) run mimedefang $c "$(scale 600)" -d "$CORPUS/mix" -t $mdsecs)
		peer_row "  MIMEDefang (Debian)" $c "$l" "$(bline $c)"
		echo "mimedefang c=$c $l" >> "$W/raw.txt"
	done
else
	printf '%-24s %s\n' "  MIMEDefang (Debian)" "not run: mimedefang not installed (scripts/install-bench-deps.sh)"
fi

# paced_row LINE CONC: built-in alone, started at the rate LINE's run
# reached (milterdrv -r) for about 25 s.  A filter that gets a message
# every 140 ms works on cold caches and wakes a thread per message; this
# row is what that costs without the arbitron, and NNr is LINE's CPU per
# message over it.
paced_row() {
	rate=$(kv "$1" msgs_per_s)
	np=$(awk -v r="$rate" 'BEGIN { n = int(r * 25); print (n < 40 ? 40 : n) }')
	p=$(WARM=16 run builtin "$2" "$(scale "$np")" -r "$rate" -d "$CORPUS/mix")
	row "  built-in, same rate" "$2" "$p" - \
	    "$(ratio "$(kv "$1" cpu_ms_per_msg)" "$(kv "$p" cpu_ms_per_msg)" r)"
	echo "paced builtin c=$2 $p" >> "$W/raw.txt"
}

# Rows for spamd / clamd configurations, each with its peer on the same
# daemon (spamass-milter at c=8; clamav-milter at every concurrency),
# interleaved with MailCorral's runs.
HELP=$("$MC" -h 2>&1)
for kw in spam_arbitron virus_arbitron; do
	case $kw in spam_arbitron) what="mailcorral + spamd"; conf=${BENCH_SPAM_CONF:-}; script=spamd.sh ;;
	*) what="mailcorral + clamd"; conf=${BENCH_VIRUS_CONF:-}; script=clamd.sh ;; esac
	if ! echo "$HELP" | grep -q "$kw"; then
		printf '%-24s %s\n' "$what" "not available: this build has no $kw keyword"
		continue
	fi
	if [ ! -f "$TOP/testsuite/stack/$script" ]; then
		printf '%-24s %s\n' "$what" "not run: no testsuite/stack/$script"
		continue
	fi
	if [ $kw = spam_arbitron ]; then
		auxenv="SPAMD_PORT=$SPAMD_PORT SPAMD_DIR=$W/spamd"
		[ -n "$conf" ] || conf=$(printf 'spam_arbitron = spamd\nspamd_servers = 127.0.0.1:%s' "$SPAMD_PORT")
		peer=spamass-milter; peerc=" 8 "; concs="1 8"
	else
		auxenv="CLAMD_PORT=$((SMTP_PORT + 3)) CLAMD_DIR=$W/clamd"
		# clamd's local socket, as Debian's clamav-daemon sets it up
		[ -n "$conf" ] || conf=$(printf 'virus_arbitron = clamd\nclamd_servers = unix:%s' "$W/clamd/clamd.sock")
		peer=clamav-milter; peerc=" 1 8 32 "; concs="1 8 32"
	fi
	peer_available $peer || peerc=""
	if ! env $auxenv sh "$TOP/testsuite/stack/$script" start > "$W/aux.log" 2>&1; then
		printf '%-24s %s\n' "$what" "not run: $script start failed: $(tail -n 1 "$W/aux.log")"
		env $auxenv sh "$TOP/testsuite/stack/$script" stop >/dev/null 2>&1
		continue
	fi
	printf 'allow_root = yes\nattachment_action = delete\nspool_dir = %s\n%s\n' "$W" "$conf" > "$W/aux.conf"
	# With spamd, also a row whose senders (milterdrv's senderN@example.org)
	# are on the whitelist: spamd is never asked.
	printf 'whitelist = *@example.org\n' | cat "$W/aux.conf" - > "$W/aux-listed.conf"
	# And one with the spamd cache on (off in the row above, whose corpus
	# repeats its nine bodies): a campaign's copies share one verdict.
	printf 'spamd_cache_size = 1000\n' | cat "$W/aux.conf" - > "$W/aux-cached.conf"
	rows="$W/aux.conf"
	[ $kw = spam_arbitron ] && rows="$W/aux.conf $W/aux-listed.conf $W/aux-cached.conf"
	for rc in $rows; do
		[ "$rc" = "$W/aux-listed.conf" ] && { what="  sender whitelisted"; concs="1 8"; }
		[ "$rc" = "$W/aux-cached.conf" ] && { what="  spamd cache on"; concs="8"; }
		for c in $concs; do
			n=$(scale 600)
			reps=$REPS
			[ "$rc" != "$W/aux.conf" ] && n=$(scale 2000)
			# spamd answers a few messages a second: one run,
			# bound to 40 s, after a warm-up of 16 messages
			slow=""
			if [ "$rc" = "$W/aux.conf" ] && [ $kw = spam_arbitron ]; then
				n=$(scale 300); reps=1; slow=1; WARM=16
			fi
			withpeer=""
			if [ "$rc" = "$W/aux.conf" ]; then
				case "$peerc" in *" $c "*) withpeer=1 ;; esac
			fi
			rep=0
			rm -f "$W/aux.runs" "$W/peer.runs"
			while [ $rep -lt "$reps" ]; do
				runs_add aux "$rc" $c "$n" -d "$CORPUS/mix" -t 40
				[ -n "$withpeer" ] &&
				    runs_add peer $peer $c "$n" -d "$CORPUS/mix" -t 40
				rep=$((rep + 1))
			done
			l=$(median aux)
			row "$what" $c "$l" - "$(ratio "$(kv "$l" cpu_ms_per_msg)" "$(kv "$(bline $c)" cpu_ms_per_msg)" b)"
			echo "$kw $(basename "$rc" .conf) c=$c $l" >> "$W/raw.txt"
			[ -n "$slow" ] && paced_row "$l" $c
			if [ -n "$withpeer" ]; then
				p=$(median peer)
				peer_row "  $peer" $c "$p" "$l"
				echo "$peer c=$c $p" >> "$W/raw.txt"
			fi
			WARM=""
		done
	done
	[ -z "$peerc" ] && printf '%-24s %s\n' "  $peer" "not run: not installed (scripts/install-bench-deps.sh)"
	[ $kw = virus_arbitron ] && echo "$HELP" | grep -q scanner_balance &&
	    clamd_pool_rows 8 32
	env $auxenv sh "$TOP/testsuite/stack/$script" stop >/dev/null 2>&1
done
# Rows for the two optional stages, at c=8, against built-in (NNb):
# the archive writes and fsyncs one file per message (archive_dir only,
# no index); the Perl shim runs doc/filter.pl.example (it reads every
# part's name and adds a header field) in 8 workers.  The CPU ms of the
# Perl row counts the daemon and its workers (its children).
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
	row "$what" 8 "$l" - "$(ratio "$(kv "$l" cpu_ms_per_msg)" "$(kv "$B8" cpu_ms_per_msg)" b)"
	echo "optional $opt c=8 $l" >> "$W/raw.txt"
done
echo
echo "Each row: the median of $REPS runs (spamd, spamass-milter, MIMEDefang: 1), fresh filter per"
echo "run, after an unmeasured warm-up; the raw output below gives each row's min and max."
echo "msgs/s: messages per second over the run; p50/p99: ms from EOB sent to the"
echo "final reply; msg p50: ms from MAIL sent to the final reply; CPU ms: utime+stime per message"
echo "of the filter's processes and their children; RSS MiB: their VmHWM (fresh filter per row);"
echo "x msg/s, x CPU: mailcorral / reference, same concurrency and socket; tempf: tempfail answers;"
echo "NNb in x CPU: that row's CPU / mailcorral built-in's, same concurrency (target <= 1.5b);"
echo "NNr: the spamd row's CPU / built-in's started at the spamd row's message rate;"
echo "NNp (peer rows, indented): the MailCorral row it is compared with / the peer's, same"
echo "concurrency and daemon (MIMEDefang: built-in; spamass-milter: + spamd; clamav-milter: + clamd)."
echo "NNc (two clamd): that row / MailCorral on one clamd, same concurrency; 'spread' counts the"
echo "messages each clamd scanned parts of (decision lines' clamd-server=) and the second's share."

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
l=$("$DRV" -j -s "$FSOCK" -c 8 -n "$fm" -t "$FLAT_SECS" -p "$FPIDS" -d "$CORPUS/mix")
stop_filter
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
	perf record -q -g -o "$W/perf.data" -p "$FPIDS" >/dev/null 2>&1 &
	PP=$!
	sleep 0.5
	"$DRV" -q -s "$FSOCK" -c 8 -n "$(scale 2000)" -t 60 -d "$CORPUS/mix"
	kill -INT "$PP" 2>/dev/null
	wait "$PP" 2>/dev/null
	stop_filter
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
