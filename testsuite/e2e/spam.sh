#!/bin/sh
# End-to-end tests of the spam features through a real private sendmail
# (testsuite/stack/stack.sh) and a real private spamd
# (testsuite/stack/spamd.sh): tag / trash / corral, ham, SpamAssassin's
# welcome and block lists, multi-recipient corral files, the bypass of
# remailed corral files (single use, Date/body/remote checks), the built-in
# checker, own white/black lists, spamd down (accept and tempfail), and the
# security scenarios SC-B4 (expiry, filter under libfaketime), SC-B5 (only
# for a recipient with a corral entry), SC-B6, SC-B8 (key hygiene, key
# rotation with SIGUSR1 reloads), SC-B10, SC-B11, SC-C4 and SC-C7 (corral
# quotas) of RELIABILITY.md (c); doc/reliability.md maps each id to its
# checks.
#
#   sh testsuite/e2e/spam.sh
#
# Environment: SMTP_PORT (2535), SPAMD_PORT (2537), STACK_DIR
# (/tmp/mc-e2e-spam), SPAMD_DIR ($STACK_DIR/spamd), MC_E2E_FLIP=1 flips one
# expectation (the run must then fail).
# Prints PASS/FAIL per check and, last, "N passed, N failed"; exits non-zero
# on any failure.  Always stops the spamd and the stack it started.
set -u
cd "$(dirname "$0")/../.." || exit 2
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-spam}
SMTP_PORT=${SMTP_PORT:-2535}
SPAMD_PORT=${SPAMD_PORT:-2537}
SPAMD_DIR=${SPAMD_DIR:-$STACK_DIR/spamd}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT SPAMD_PORT SPAMD_DIR PYTHONDONTWRITEBYTECODE
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"
SPAMD="sh $TOP/testsuite/stack/spamd.sh"
T0=$(date +%s)
spamd_up=""

# spamd first: its command line names $STACK_DIR, which stack.sh stop
# would report as a process left running.
cleanup() {
	if [ -n "$spamd_up" ]; then
		spamd_up=""
		$SPAMD stop >/dev/null 2>&1
	fi
	if [ -n "$stack_up" ]; then
		stack_up=""
		$STACK stop >"$STACK_DIR/stop.out" 2>&1 || fail "stack stop: $(cat "$STACK_DIR/stop.out")"
	fi
}
trap 'cleanup' EXIT
trap 'cleanup; fail "interrupted"; result_line; trap - EXIT; exit 130' INT TERM

finish() {
	cleanup
	trap - EXIT
	echo "spam e2e: $(( $(date +%s) - T0 )) s"
	result_line
	result_ok
	exit $?
}

[ -x "$TOP/mailcorral" ] || { fail "no ./mailcorral (run make)"; finish; }

# A fresh private directory every run: old copies, corral files and logs
# would confuse the checks.  Refuse to wipe a directory a stack still uses.
if [ -f "$STACK_DIR/sendmail.pid" ] && kill -0 "$(head -n1 "$STACK_DIR/sendmail.pid")" 2>/dev/null; then
	fail "a stack is still running in $STACK_DIR"; finish
fi
if [ -f "$SPAMD_DIR/spamd.pid" ] && kill -0 "$(cat "$SPAMD_DIR/spamd.pid")" 2>/dev/null; then
	fail "a spamd is still running in $SPAMD_DIR"; finish
fi
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR"

# The first config (the tests restart the filter with their own ones).
cat > "$STACK_DIR/start.conf" <<EOF
spool_dir = @STACK_DIR@/spool
bypass_key_file = @STACK_DIR@/spamkey
corral_dir = @STACK_DIR@/corral
attachment_action = delete
spam_arbitron = builtin
EOF

spamd_up=1
if ! $SPAMD start >"$STACK_DIR/spamd-start.out" 2>&1; then
	fail "spamd start: $(tail -n 5 "$STACK_DIR/spamd-start.out")"
	finish
fi
pass "spamd started on 127.0.0.1:$SPAMD_PORT"
if ! stack_start "$STACK_DIR/start.conf"; then
	fail "stack start: $(tail -n 5 "$STACK_DIR/stack-start.out")"
	finish
fi
pass "stack started on 127.0.0.1:$SMTP_PORT"

. "$STACK_DIR/env.sh"
python3 "$TOP/testsuite/e2e/spam/e2e_spam.py" "$TOP" "$STACK_DIR/result"
result_add_file "$STACK_DIR/result" || fail "the test program gave no result"
# The daemon must have survived everything.
if kill -0 "$(cat "$STACK_DIR/mailcorral.bgpid" 2>/dev/null)" 2>/dev/null; then
	pass "mailcorral still running"
else
	fail "mailcorral died (log: $MC_LOG)"
fi
finish
