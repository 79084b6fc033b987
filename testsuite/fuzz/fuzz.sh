#!/bin/sh
# fuzz.sh -- build and run the libFuzzer targets of MailCorral.
#
#   sh testsuite/fuzz/fuzz.sh [build|run|regress|all] [TARGET...]
#
#   build    compile every target (or the named ones) into testsuite/fuzz/build/
#   run      build, fuzz each target FUZZ_SECONDS (default 10), then run its
#            regression inputs (regress/<target>/*) once
#   regress  build, then only run the regression inputs
#   (no verb) same as run
#
# Environment: FUZZ_SECONDS (10), FUZZ_CC (clang-14), FUZZ_SHM (/dev/shm:
# where the scratch directory goes).  One fuzzer process at a time,
# -jobs=1, to keep CPU use moderate.  FUZZ_MIME_KNOWN_BUGS=1 relaxes two
# checks of fuzz_mime_stream (see that file) to fuzz past known bugs.
# New corpus entries go to build/corpus/<target>/ (not committed); seeds are
# read from seeds/<target>/ (committed, hand-written) and, for the MIME
# target, from build/seeds/fuzz_mime_stream/ made at run time out of the
# project's own corpora (testsuite/corpus/*.eml, testsuite/noxxi, CRLF).
# Crash inputs are written to build/crashes/<target>/; minimise one with
#   build/<target> -minimize_crash=1 -runs=100000 <crash-file>
# and save it as regress/<target>/<name> (it must pass after the fix).
#
# Exit status: 0 when every target passed, 1 otherwise.  Each target ends
# with a line "PASS <target>" or "FAIL <target>" (testsuite/lib/result.sh),
# the last line is "N passed, N failed".
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bdir=$here/build
. "$top/testsuite/lib/result.sh"
CC=${FUZZ_CC:-clang-14}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

ALL_TARGETS="fuzz_mime_stream fuzz_mime_words fuzz_html fuzz_names
fuzz_archive fuzz_conf fuzz_sa fuzz_spamstats fuzz_bypass fuzz_corral_name
fuzz_spamd_reply fuzz_clamd_reply fuzz_robot_reply fuzz_perl_reply fuzz_journal
fuzz_net_addr fuzz_prefs"

verb=run
case "${1:-}" in
build|run|regress|all) verb=$1; shift ;;
-h|--help|help)
	sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
	exit 0 ;;
esac
[ "$verb" = all ] && verb=run
targets=${*:-$ALL_TARGETS}
for t in $targets; do
	[ -f "$here/$t.c" ] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
done

# The library sources: LIBSRC from the top Makefile (continuation lines
# joined), so a new module is picked up without editing this script.
libsrc=$(sed -n '/^LIBSRC[[:space:]]*=/,/[^\\]$/p' "$top/Makefile" |
    tr '\\\n' '  ' | sed 's/^LIBSRC[[:space:]]*=//')
[ -n "$libsrc" ] || { echo "fuzz.sh: no LIBSRC in Makefile" >&2; exit 2; }

DEFS="-D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED"
PKGS="libarchive libcrypto libmariadb"
FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=all -std=gnu11 -pthread $DEFS"
LIBS="-lmilter $(pkg-config --libs $PKGS 2>/dev/null || echo -larchive -lcrypto -lmariadb) -pthread"
CFLAGS_PKG=$(pkg-config --cflags $PKGS 2>/dev/null)

# The library is compiled once (objects with -fsanitize=fuzzer-no-link),
# each target links it with its harness.  Compiles and links run JOBS at a
# time (the machine's processors).
JOBS=$(nproc 2>/dev/null || echo 2)

# in_parallel FUNC ARG...: FUNC ARG for every ARG, JOBS at a time, each
# one's output in order after its batch; 1 if any failed.
in_parallel() {
	_ip_f=$1
	shift
	_ip_rc=0
	while [ $# -gt 0 ]; do
		_ip_pids=
		_ip_i=0
		while [ $# -gt 0 ] && [ $_ip_i -lt "$JOBS" ]; do
			"$_ip_f" "$1" > "$bdir/logs/build.$_ip_i" 2>&1 &
			_ip_pids="$_ip_pids $!"
			_ip_i=$((_ip_i + 1))
			shift
		done
		_ip_i=0
		for _ip_p in $_ip_pids; do
			wait "$_ip_p" || _ip_rc=1
			cat "$bdir/logs/build.$_ip_i"
			_ip_i=$((_ip_i + 1))
		done
	done
	return $_ip_rc
}

compile_one() {
	$CC $(echo "$FLAGS" | sed 's/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,/') \
	    $CFLAGS_PKG -I"$top" -c -o "$bdir/obj/${1%.c}.o" "$top/$1"
}

build_lib() {
	mkdir -p "$bdir/obj" "$bdir/logs" || return 1
	stamp=$bdir/obj/.flags
	want="$CC $FLAGS $libsrc"
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] || rm -f "$bdir"/obj/*.o
	objs=
	stale=
	for s in $libsrc; do
		o=$bdir/obj/${s%.c}.o
		objs="$objs $o"
		if [ ! -f "$o" ] || [ "$top/$s" -nt "$o" ] ||
		    [ -n "$(find "$top" -maxdepth 1 -name '*.h' -newer "$o")" ]; then
			stale="$stale $s"
		fi
	done
	# shellcheck disable=SC2086
	in_parallel compile_one $stale || return 1
	echo "$want" > "$stamp"
	LIBOBJS=$objs
}

build_target() {
	t=$1
	out=$bdir/$t
	extra=	# sources outside LIBSRC that a target needs
	[ "$t" = fuzz_robot_reply ] && extra="$top/spamcorral/spamcorral.c $top/spamcorral/reply.c"
	if [ -f "$out" ] && [ ! "$here/$t.c" -nt "$out" ] &&
	    [ ! "$here/fuzz_common.h" -nt "$out" ] && [ -z "$(
	    for o in $LIBOBJS $extra; do [ "$o" -nt "$out" ] && echo x; done)" ]; then
		return 0
	fi
	echo "build $t"
	$CC $FLAGS $CFLAGS_PKG -I"$top" -o "$out" "$here/$t.c" $extra $LIBOBJS $LIBS
}

# Seeds for the MIME parser from the project's corpora, made at run time.
mime_seeds() {
	d=$bdir/seeds/fuzz_mime_stream
	[ -d "$d" ] && [ -n "$(ls "$d" 2>/dev/null)" ] && return 0
	mkdir -p "$d"
	# 3 schedule bytes (kind, seed, limits) precede the message.
	i=0
	for f in $(ls "$top"/testsuite/corpus/*.eml 2>/dev/null | head -30); do
		i=$((i + 1))
		{ printf '\001\001\000'; cat "$f"; } | head -c 65536 > "$d/corpus-$i"
	done
	i=0
	for f in $(find "$top/testsuite/noxxi" -type f -path '*/new/*' \
	    2>/dev/null | sort | awk 'NR % 18 == 1' | head -30); do
		i=$((i + 1))
		{ printf '\007\042\000'; sed 's/\r*$/\r/' "$f"; } |
		    head -c 65536 > "$d/noxxi-$i"
	done
}

max_len_for() {
	case $1 in
	fuzz_mime_stream|fuzz_archive) echo 65536 ;;
	fuzz_html|fuzz_spamstats|fuzz_sa|fuzz_conf) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

run_target() {
	t=$1
	ok=1
	exe=$bdir/$t
	mkdir -p "$bdir/corpus/$t" "$bdir/crashes/$t" "$bdir/logs"
	if [ "$verb" = run ]; then
		dirs="$bdir/corpus/$t"
		[ -d "$here/seeds/$t" ] && dirs="$dirs $here/seeds/$t"
		if [ "$t" = fuzz_mime_stream ]; then
			mime_seeds
			dirs="$dirs $bdir/seeds/$t"
		fi
		log=$bdir/logs/$t.log
		# -timeout per input; -max_total_time the run; the crash (if any)
		# goes to build/crashes/<t>/.
		# Run in the private work dir: -jobs writes fuzz-0.log in the
		# current directory, and the targets make their temp files
		# under $FUZZ_TMP.
		(cd "$work" && FUZZ_TMP=$work "$exe" -jobs=1 -workers=1 \
		    -max_total_time="$FUZZ_SECONDS" \
		    -max_len="$(max_len_for "$t")" -rss_limit_mb=1024 \
		    -timeout=10 -print_final_stats=1 \
		    -artifact_prefix="$bdir/crashes/$t/" $dirs) > "$log" 2>&1
		rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
		secs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -1)
		if [ $rc -ne 0 ]; then
			ok=0
			echo "$t: CRASH (exit $rc) after ${execs:-?} executions; log $log"
			grep -E '^(==[0-9]+==ERROR|SUMMARY|FUZZ PROPERTY|.*runtime error)' \
			    "$log" | head -5 | sed 's/^/    /'
			ls -t "$bdir/crashes/$t" 2>/dev/null | head -1 |
			    sed "s|^|    input: $bdir/crashes/$t/|"
		else
			echo "$t: ${execs:-?} executions in ${FUZZ_SECONDS} s" \
			    "(${secs:-?} exec/s)"
		fi
	fi
	nreg=0
	nbad=0
	if [ -d "$here/regress/$t" ]; then
		for f in "$here/regress/$t"/*; do
			[ -f "$f" ] || continue
			nreg=$((nreg + 1))
			if ! (cd "$work" && FUZZ_TMP=$work "$exe" -runs=1 \
			    -timeout=10 -rss_limit_mb=1024 "$f") \
			    > "$bdir/logs/$t.regress.log" 2>&1; then
				nbad=$((nbad + 1))
				echo "$t: regression input FAILS: $f"
				grep -E '^(==[0-9]+==ERROR|SUMMARY|FUZZ PROPERTY|.*runtime error)' \
				    "$bdir/logs/$t.regress.log" | head -3 | sed 's/^/    /'
			fi
		done
	fi
	if [ $nreg -gt 0 ] || [ "$verb" = regress ]; then
		echo "$t: $nreg regression inputs, $nbad failed"
	fi
	[ $nbad -eq 0 ] || ok=0
	if [ $ok -eq 1 ]; then
		pass "$t"
	else
		fail "$t"
	fi
}

command -v "$CC" >/dev/null 2>&1 || {
	echo "fuzz.sh: $CC not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 2
}
build_lib || { echo "fuzz.sh: library build failed" >&2; exit 2; }
# shellcheck disable=SC2086
in_parallel build_target $targets || { echo "fuzz.sh: a target's build failed" >&2; exit 2; }
[ "$verb" = build ] && { echo "built: $(echo $targets)"; exit 0; }

# Private scratch directory (temp files of fuzz_conf / fuzz_sa, fuzz-0.log).
work=$(mktemp -d "${FUZZ_SHM:-/dev/shm}/mc-fuzz.XXXXXX" 2>/dev/null ||
    mktemp -d) || { echo "fuzz.sh: mktemp failed" >&2; exit 2; }
trap 'rm -rf "$work"' EXIT
trap 'rm -rf "$work"; exit 130' INT TERM

for t in $targets; do
	run_target "$t"
done
result_line
result_ok
