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

. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"

cleanup() {
	driver_stop
	stack_cleanup perl.sh
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
[ -x /usr/bin/perl ] || result_abort "setup: no /usr/bin/perl"
[ "$(id -u)" = 0 ] || result_abort "setup: needs root (the daemon drops to $RUN_AS)"
id "$RUN_AS" >/dev/null 2>&1 || result_abort "setup: no user $RUN_AS"
stack_fresh || result_abort "setup: mkdir $STACK_DIR"
mkdir -p "$STACK_DIR/spool" "$STACK_DIR/corral" || result_abort "setup: mkdir $STACK_DIR"
chown "$RUN_AS:" "$STACK_DIR/spool" "$STACK_DIR/corral" && chmod 700 "$STACK_DIR/spool" "$STACK_DIR/corral"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$STACK_DIR/spamkey"
chown "$RUN_AS:" "$STACK_DIR/spamkey" && chmod 600 "$STACK_DIR/spamkey"
CONF="$STACK_DIR/perl-base.conf"
python3 "$TOP/testsuite/e2e/perl/perl_e2e.py" --write-conf "$CONF" base ||
	result_abort "setup: cannot write the config"

stack_start "$CONF" ||
	result_abort "setup: stack.sh start: $(tail -n 3 "$STACK_DIR/stack-start.out")"

run_driver python3 "$TOP/testsuite/e2e/perl/perl_e2e.py"
