#!/bin/sh
# End-to-end tests of MailCorral's Perl shim (perlshim.pl + perlpool.c)
# through a real private sendmail (testsuite/stack/stack.sh), the daemon
# dropping root to an unprivileged user as in production: every action of
# the site filter API, FS-11 (worker crash / bad output), FS-12 (worker
# hang / runaway memory), SC-P1 (filter abused by content), SC-P2 (output
# cut short), a SIGUSR1 reload to another filter and a clean stop.  The
# tests are in perl/perl_e2e.py; the filters in perl/filter*.pl.
#
# The test configuration shortens the time constants: perl_timeout = 3s,
# perl_kill_grace = 1s (defaults 120s and 10s), perl_workers = 2.
#
# Environment (defaults are this suite's own port and directory):
#   SMTP_PORT=2615  STACK_DIR=/tmp/mc-e2e-perl  PERL_RUN_AS=mail
# Output: PASS/FAIL lines, last line "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-perl}
SMTP_PORT=${SMTP_PORT:-2615}
RUN_AS=${PERL_RUN_AS:-mail}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT PYTHONDONTWRITEBYTECODE TOP RUN_AS

STACK="sh $TOP/testsuite/stack/stack.sh"
stack_up=""
driver=""

cleanup() {
	if [ -n "$driver" ]; then
		kill "$driver" 2>/dev/null
		wait "$driver" 2>/dev/null
		driver=""
	fi
	if [ -n "$stack_up" ]; then
		stack_up=""
		$STACK stop >/dev/null 2>&1 || echo "perl.sh: stack stop failed" >&2
	fi
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

early_fail() {
	echo "FAIL setup: $*"
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$TOP/mailcorral" ] || early_fail "no ./mailcorral (run make)"
[ -x /usr/bin/perl ] || early_fail "no /usr/bin/perl"
[ "$(id -u)" = 0 ] || early_fail "needs root (the daemon drops to $RUN_AS)"
id "$RUN_AS" >/dev/null 2>&1 || early_fail "no user $RUN_AS"
if [ -f "$STACK_DIR/sendmail.pid" ] || [ -f "$STACK_DIR/mailcorral.bgpid" ]; then
	$STACK stop >/dev/null 2>&1
fi
rm -rf "$STACK_DIR"
mkdir -p "$STACK_DIR/spool" "$STACK_DIR/corral" || early_fail "mkdir $STACK_DIR"
chmod 755 "$STACK_DIR"
chown "$RUN_AS:" "$STACK_DIR/spool" "$STACK_DIR/corral" && chmod 700 "$STACK_DIR/spool" "$STACK_DIR/corral"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$STACK_DIR/spamkey"
chown "$RUN_AS:" "$STACK_DIR/spamkey" && chmod 600 "$STACK_DIR/spamkey"
CONF="$STACK_DIR/perl-base.conf"
python3 "$TOP/testsuite/e2e/perl/perl_e2e.py" --write-conf "$CONF" base ||
	early_fail "cannot write the config"

stack_up=1
MC_CONF=$CONF $STACK start >"$STACK_DIR/stack-start.out" 2>&1 ||
	early_fail "stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

# in the background, so that a signal runs the trap at once
python3 "$TOP/testsuite/e2e/perl/perl_e2e.py" &
driver=$!
wait "$driver"
rc=$?
driver=""
exit $rc
