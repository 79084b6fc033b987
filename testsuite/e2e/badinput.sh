#!/bin/sh
# Bad-input tests BI-01..BI-38 (RELIABILITY.md section (a)) at milter level.
#
#   sh testsuite/e2e/badinput.sh        (from anywhere; python3 and cc needed)
#
# Builds milterdrv (testsuite/bench/milterdrv.c) in a temp dir, generates the
# inputs there with badinput/gen_bad.py (nothing large is kept), starts
# private MailCorral daemons (and a private clamd, BADINPUT_CLAMD_PORT, when
# testsuite/stack/clamd.sh can start one) and runs badinput/check.py.
# Prints PASS/FAIL/SKIP lines with the BI id, then "N skipped" and, last,
# "N passed, N failed"; exits 1 on any failure.
#
# Environment:
#   MAILCORRAL=path      filter binary (default: the repository's, built if missing)
#   BADINPUT_ASAN=1      also build an ASan/UBSan copy of the daemon (clang-14)
#                        in the temp dir and run the whole set against it
#   BADINPUT_ONLY=regex  only the cases whose id matches (e.g. 'BI-2[59]')
#   BADINPUT_NOCLAMD=1   do not try to start clamd (BI-21/22 are skipped)
#   BADINPUT_CLAMD_PORT  port of that private clamd (default 2568)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
MC=${MAILCORRAL:-$TOP/mailcorral}
W=$(mktemp -d /tmp/mc-badinput.XXXXXX) || exit 1
chmod 755 "$W"		# clamd (user clamav) must reach $W/clamd
PYPID=""
CLAMD_UP=""
CLAMD_PORT_BI=${BADINPUT_CLAMD_PORT:-2568}
T0=$(date +%s)

cleanup() {
	if [ -n "$PYPID" ] && kill -0 "$PYPID" 2>/dev/null; then
		kill -TERM "$PYPID" 2>/dev/null
		wait "$PYPID" 2>/dev/null
	fi
	PYPID=""
	if [ -n "$CLAMD_UP" ]; then
		CLAMD_DIR=$W/clamd CLAMD_PORT=$CLAMD_PORT_BI sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1
		CLAMD_UP=""
	fi
	if [ -n "${BADINPUT_KEEP:-}" ]; then
		echo "# badinput.sh: kept $W"
	else
		rm -rf "$W"
	fi
}
trap 'cleanup' EXIT
trap 'echo "badinput.sh: interrupted"; exit 130' INT TERM HUP

. "$TOP/testsuite/lib/result.sh"
bail() { result_abort "BUILD - $*"; }

# ---- build ----
if [ ! -x "$MC" ]; then
	make -C "$TOP" mailcorral >"$W/make.log" 2>&1 || bail "make mailcorral (see output above)"
fi
cc -O2 -Wall -o "$W/milterdrv" "$TOP/testsuite/bench/milterdrv.c" -lpthread \
	|| bail "cannot build milterdrv"

# ---- clamd for BI-21/22 ----
CLAMD_ARG=""
if [ -z "${BADINPUT_NOCLAMD:-}" ] && command -v clamd >/dev/null 2>&1 &&
    command -v sigtool >/dev/null 2>&1 && [ -d /usr/share/clamav-testfiles ]; then
	if CLAMD_DIR=$W/clamd CLAMD_PORT=$CLAMD_PORT_BI sh "$TOP/testsuite/stack/clamd.sh" start \
	    >"$W/clamd.start" 2>&1; then
		CLAMD_UP=1
		CLAMD_ARG="--clamd $CLAMD_PORT_BI"
		echo "# $(cat "$W/clamd.start")"
	else
		echo "# clamd could not start: $(tail -1 "$W/clamd.start")"
	fi
fi

rc=0
run_set() {
	# run_set BINARY WORKDIR OUTFILE [--asan]: check.py in the background
	# (its pid kept here for the trap), its output shown as it comes, its
	# counts added to this script's
	mkdir -p "$2"
	# shellcheck disable=SC2086
	python3 "$HERE/badinput/check.py" --mc "$1" --drv "$W/milterdrv" --work "$2" \
		--result "$3.result" $CLAMD_ARG ${BADINPUT_ONLY:+--only "$BADINPUT_ONLY"} ${4:-} >"$3" 2>&1 &
	PYPID=$!
	tail -n +1 -f --pid="$PYPID" "$3" | sed -u "s/^\(PASS\|FAIL\|SKIP\) /\1 ${4:+[asan] }/"
	wait "$PYPID"
	[ $? -eq 0 ] || rc=1
	PYPID=""
	result_add_file "$3.result" || fail "check.py${4:+ $4} gave no result (see $3)"
}

# make asan (MC_ASAN=1) runs this stage with an ASan build: its memory is
# ASan's quarantine, not the daemon's, so the RSS bounds are off (--asan)
# shellcheck disable=SC2046
run_set "$MC" "$W/plain" "$W/plain.out" $([ "${MC_ASAN:-0}" = 1 ] && echo --asan)

if [ "${BADINPUT_ASAN:-0}" = 1 ]; then
	echo "# ASan/UBSan stage: building a private copy with clang-14"
	mkdir -p "$W/src"
	(cd "$TOP" && tar cf - --exclude=./testsuite --exclude='*.o' --exclude='*.a' \
		--exclude=./mailcorral .) | (cd "$W/src" && tar xf -)
	if make -C "$W/src" CC=clang-14 HARDEN= LDHARD= \
	    OPT="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    mailcorral >"$W/asan-build.log" 2>&1; then
		run_set "$W/src/mailcorral" "$W/asan" "$W/asan.out" --asan
	else
		tail -5 "$W/asan-build.log"
		fail "BUILD - ASan build failed"
	fi
fi

# ---- summary: one final line over all stages ----
echo "# badinput.sh: $(( $(date +%s) - T0 )) s; $nskip skipped (all stages)"
result_line
result_ok && [ $rc -eq 0 ] && exit 0
exit 1
