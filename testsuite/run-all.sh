#!/bin/sh
# The body of `make check` after the build:
#   1. unit tests (testsuite/unit/test_* programs)
#   2. the private sendmail + ./mailcorral stack (testsuite/stack/stack.sh)
#   3. the validation suite (testsuite/corpus, attachment_action = delete)
#   4. the mangle set (testsuite/corpus/mangle, attachment_action = mangle)
#   5. the noxxi "MIME is broken" corpus (548 mails): nothing lost, no crash
#   5b. the differential MIME oracle (testsuite/oracle, doc/oracle.md):
#      the delivered copies of 3 and 5 and 300 mutations of a fixed seed
#      read by five other MIME parsers; a file MailCorral's rules forbid
#      found by any of them is a failure
#   6. stop the stack (always, also on failure or interrupt)
#   7. end-to-end scripts, testsuite/e2e/*.sh: each starts its own stack
#      (and spamd, clamd) on its own ports, ends with "N passed, N failed"
#   8. libFuzzer targets for FUZZ_SECONDS (3) each, and their regressions
#   9. the TSan load run (testsuite/tsan/tsan.sh: a -fsanitize=thread build
#      under c=16 and 200-session load, reloads, SIGTERM in flight)
# The last line totals every suite's "N passed, N failed".
# Exit status: non-zero if any unit test, validation message or noxxi
# invariant failed.  MC_ASAN=1: sanitizer options for the daemon.
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mailcorral-stack-$$}
SMTP_PORT=${SMTP_PORT:-2525}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT PYTHONDONTWRITEBYTECODE
if [ "${MC_ASAN:-0}" = 1 ]; then
	# A small quarantine: the default 256 MiB of freed memory kept for
	# use-after-free checks would swamp the suites' RSS bounds.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=8:malloc_context_size=10}
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export ASAN_OPTIONS UBSAN_OPTIONS MC_ASAN
fi
STACK="sh $TOP/testsuite/stack/stack.sh"
SUITE="python3 $TOP/testsuite/stack/suite.py"
rc=0
started=""
T_ALL=$(date +%s)

now() { date +%s.%N | cut -c1-14; }
stage() { STAGE=$1; T0=$(now); echo; echo "=== $1"; }
done_stage() { echo "=== $STAGE: $(echo "$(now) - $T0" | awk '{ split($0, a, " - "); printf "%.1f s", a[1] - a[2] }')${1:+ ($1)}"; }
fail() { echo "FAIL: $*"; rc=1; }

cleanup() {
	if [ -n "$started" ]; then
		started=""
		$STACK stop || rc=1
	fi
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM

filter_alive() {
	pid=$(cat "$STACK_DIR/mailcorral.bgpid" 2>/dev/null)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

log_clean() {
	if grep -n -E 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' \
		"$STACK_DIR/mailcorral.log" >/dev/null 2>&1; then
		echo "--- sanitizer/crash report in $STACK_DIR/mailcorral.log:"
		grep -n -E -A20 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$STACK_DIR/mailcorral.log" | head -60
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- 1. unit
stage "unit tests"
units=""
for t in testsuite/unit/test_*; do
	case "$t" in *.c|*.h|*.o|*.d) continue ;; esac
	[ -f "$t" ] && [ -x "$t" ] && units="$units $t"
done
if [ -n "$units" ]; then
	# shellcheck disable=SC2086
	sh testsuite/run-unit.sh $units || fail "unit tests"
else
	echo "(no unit test programs built)"
fi
done_stage

# ---------------------------------------------------------------- 2. stack
stage "start stack ($STACK_DIR)"
[ -x "${MAILCORRAL:-./mailcorral}" ] || { fail "${MAILCORRAL:-./mailcorral} not built"; exit 1; }
rm -rf "$STACK_DIR/mail"
MC_CONF=$TOP/testsuite/stack/mailcorral-test.conf $STACK start || { fail "stack start"; tail -n 30 "$STACK_DIR/mailcorral.log" 2>/dev/null; exit 1; }
started=1
done_stage

# ---------------------------------------------------------------- 3. corpus
stage "validation suite (attachment_action = delete)"
out=$STACK_DIR/suite.out
$SUITE corpus testsuite/corpus > "$out" || fail "validation suite"
cat "$out"
filter_alive || fail "mailcorral died during the validation suite"
# the oracle (5b) reads these copies; the mangle set's come later
ls "$STACK_DIR"/mail/t[0-9]* > "$STACK_DIR/oracle-delivered.list" 2>/dev/null
done_stage "$(tail -n1 "$out")"

# ---------------------------------------------------------------- 4. mangle
stage "mangle set (attachment_action = mangle)"
mconf=$STACK_DIR/mangle.conf
{ cat testsuite/stack/mailcorral-test.conf; echo "attachment_action = mangle"; } > "$mconf"
$STACK restart-filter "$mconf" || fail "restart-filter (mangle)"
$SUITE corpus testsuite/corpus/mangle > "$STACK_DIR/mangle.out" || fail "mangle set"
cat "$STACK_DIR/mangle.out"
filter_alive || fail "mailcorral died during the mangle set"
done_stage "$(tail -n1 "$STACK_DIR/mangle.out")"

# ---------------------------------------------------------------- 5. noxxi
stage "noxxi corpus (548 third-party mails)"
state=$STACK_DIR/noxxi.json
rm -f "$state"
$STACK restart-filter "$TOP/testsuite/stack/mailcorral-test.conf" || fail "restart-filter (default)"
$SUITE noxxi content testsuite/noxxi/hide-content.d/new "$state" || fail "noxxi hide-content"
filter_alive || fail "mailcorral died during noxxi hide-content"
zconf=$STACK_DIR/zip.conf
{ cat testsuite/stack/mailcorral-test.conf; echo "bad_extensions = +zip"; } > "$zconf"
$STACK restart-filter "$zconf" || fail "restart-filter (+zip)"
$SUITE noxxi filename testsuite/noxxi/hide-filename.d/cur "$state" || fail "noxxi hide-filename"
filter_alive || fail "mailcorral died during noxxi hide-filename"
$SUITE noxxi-summary "$state" || fail "noxxi"
done_stage

# ---------------------------------------------------------------- 5b. oracle
stage "MIME oracle (delivered copies + ${ORACLE_CHECK_COUNT:=300} mutations, seed ${ORACLE_CHECK_SEED:=20261207})"
ls "$STACK_DIR"/mail/n[cf][0-9]* >> "$STACK_DIR/oracle-delivered.list" 2>/dev/null
$STACK restart-filter "$TOP/testsuite/stack/mailcorral-test.conf" || fail "restart-filter (oracle)"
oout=$STACK_DIR/oracle.out
/usr/bin/python3 testsuite/oracle/oracle.py run \
	--delivered "$STACK_DIR/oracle-delivered.list" \
	--seed "$ORACLE_CHECK_SEED" --count "$ORACLE_CHECK_COUNT" \
	--regress testsuite/oracle/regress \
	--judge-conf "$STACK_DIR/mailcorral.conf" \
	--escapes "$STACK_DIR/oracle-escapes" > "$oout" 2>&1 || fail "MIME oracle (escapes: $STACK_DIR/oracle-escapes)"
grep -E '^(ESCAPE|oracle)' "$oout" | cut -c1-400 | head -60
filter_alive || fail "mailcorral died during the MIME oracle"
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$oout" | tail -n1)
[ -n "$last" ] || { fail "the MIME oracle printed no summary"; tail -n 20 "$oout"; }
done_stage "$last"

# ---------------------------------------------------------------- 6. stop
stage "stop stack"
started=""
$STACK stop || fail "stack stop"
# after the stop: LeakSanitizer reports at exit
log_clean || fail "sanitizer or runtime error reported in mailcorral.log"
done_stage

# ---------------------------------------------------------------- 7. e2e
summaries="$(tail -n1 "$out")
$(tail -n1 "$STACK_DIR/mangle.out")
$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$STACK_DIR/oracle.out" 2>/dev/null | tail -n1)"
E2E_OUT=$STACK_DIR.e2e
mkdir -p "$E2E_OUT"
for e in testsuite/e2e/*.sh; do
	[ -f "$e" ] || continue
	stage "end to end: $e"
	eout=$E2E_OUT/$(basename "$e" .sh).out
	# each script picks its own stack directory and ports
	env -u STACK_DIR -u SMTP_PORT sh "$e" > "$eout" 2>&1 || fail "$e"
	grep -E '^(PASS|FAIL|SKIP)' "$eout" | grep -v '^PASS' | head -40
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$eout" | tail -n1)
	[ -n "$last" ] || { fail "$e printed no summary"; tail -n 20 "$eout"; }
	summaries="$summaries
$last"
	done_stage "$last"
done

# ---------------------------------------------------------------- 8. fuzz
stage "fuzz targets (FUZZ_SECONDS=${FUZZ_SECONDS:=3} each, then regressions)"
fout=$E2E_OUT/fuzz.out
FUZZ_SECONDS=$FUZZ_SECONDS sh testsuite/fuzz/fuzz.sh run > "$fout" 2>&1 || fail "fuzz"
grep -E '^(FAIL|[a-z_]+: [0-9]+ exec)' "$fout" | head -20
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$fout" | tail -n1)
[ -n "$last" ] || { fail "fuzz printed no summary"; tail -n 20 "$fout"; }
summaries="$summaries
$last"
done_stage "$last"

# ---------------------------------------------------------------- 9. tsan
stage "TSan load run (testsuite/tsan/tsan.sh)"
tout=$E2E_OUT/tsan.out
sh testsuite/tsan/tsan.sh > "$tout" 2>&1 || fail "tsan"
grep -E '^(FAIL|SKIP)' "$tout" | head -20
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tout" | tail -n1)
[ -n "$last" ] || { fail "tsan printed no summary"; tail -n 20 "$tout"; }
grep -q '^FAIL' "$tout" && sed -n '/ThreadSanitizer report/,$p' "$tout" | head -60
summaries="$summaries
$last"
done_stage "$last"

echo
echo "=== validation: $(tail -n1 "$out"); mangle: $(tail -n1 "$STACK_DIR/mangle.out")"
echo "=== total $(( $(date +%s) - T_ALL )) s; $( [ $rc = 0 ] && echo 'ALL OK' || echo 'FAILURES (see FAIL lines above)')"
echo "$summaries" | awk '/passed,/ { p += $1; f += $3 }
	END { printf "%d passed, %d failed\n", p, f }'
[ $rc = 0 ] && rm -rf "$STACK_DIR" "$E2E_OUT"
exit $rc
