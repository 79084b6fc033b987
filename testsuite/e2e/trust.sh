#!/bin/sh
# Trust boundaries (issue 16) end to end, through a real private sendmail
# (testsuite/stack/stack.sh): what the filter lets pass on a header's word
# must be proven by that header.  The checks are in trust/trust_e2e.py;
# this script builds, starts the stack, counts the checks' PASS/FAIL lines
# with testsuite/lib/result.sh and always stops what it started.
#
# Environment: SMTP_PORT (3100), STACK_DIR (/tmp/mc-tr-e2e), CLAMD_PORT
# (3102: a private clamd, testsuite/stack/clamd.sh, in CLAMD_DIR),
# CLAMD_DEAD_PORT (3149: nothing may listen there), RELEASE_PORT (3101:
# sendmail's second listener, Name=MC-release),
# MAILCORRAL (the daemon, default ./mailcorral) and SC_BIN (the directory
# of spamcorral-notify and -robot, default ./spamcorral): point them at
# another build to see the checks fail there.  Needs root (private sendmail; the
# filter runs as "mail").  Last line "N passed, N failed"; exit 1 on a
# failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-tr-e2e}
SMTP_PORT=${SMTP_PORT:-3100}
RELEASE_PORT=${RELEASE_PORT:-3101}	# sendmail's listener Name=MC-release
CLAMD_PORT=${CLAMD_PORT:-3102}		# testsuite/stack/clamd.sh
CLAMD_DEAD_PORT=${CLAMD_DEAD_PORT:-3149}	# nothing listens: clamd failing
CLAMD_DIR=${CLAMD_DIR:-$STACK_DIR-clamd}
RUN_AS=mail
SC_BIN=${SC_BIN:-$TOP/spamcorral}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT PYTHONDONTWRITEBYTECODE SC_BIN CLAMD_PORT CLAMD_DEAD_PORT CLAMD_DIR RELEASE_PORT
D=$STACK_DIR
clamd_up=""
. "$TOP/testsuite/lib/result.sh"
stack_up=""

finish() {
	if [ -n "$clamd_up" ]; then
		clamd_up=""
		sh "$TOP/testsuite/stack/clamd.sh" stop >/dev/null 2>&1 ||
			fail "clamd stop"
	fi
	if [ -n "$stack_up" ]; then
		stack_up=""
		sh "$TOP/testsuite/stack/stack.sh" stop >"$D.stop.log" 2>&1 ||
			{ cat "$D.stop.log" >&2; fail "stack stop"; }
	fi
	result_line
}
trap 'finish; trap - EXIT; result_ok && exit 0; exit 1' EXIT
trap 'exit 130' INT TERM HUP

bail() { fail "setup: $*"; exit 1; }

[ "$(id -u)" = 0 ] || bail "must run as root (private sendmail)"
id "$RUN_AS" >/dev/null 2>&1 || bail "no user $RUN_AS"
cd "$TOP" || bail "cd $TOP"
make -s mailcorral spamcorral/spamcorral-notify spamcorral/spamcorral-robot \
	>/dev/null || bail "make"

sh "$TOP/testsuite/stack/stack.sh" stop >/dev/null 2>&1
rm -rf "$D"
mkdir -p "$D/corral" "$D/spool" "$D/sc" || bail "mkdir $D"
chmod 755 "$D" "$D/sc"
chown "$RUN_AS:" "$D/corral" "$D/spool" && chmod 700 "$D/corral" "$D/spool"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$D/spamkey"
chown "$RUN_AS:" "$D/spamkey" && chmod 600 "$D/spamkey"
python3 "$HERE/trust/trust_e2e.py" --write-conf "$D/sc/base.conf" base ||
	bail "cannot write the config"
# the reply robot, run by the private sendmail through an :include: alias
# as the corral's owner, sending with the MSP stand-in (as spamcorral.sh)
cat > "$D/sc/sendmail" <<EOF2
#!/bin/sh
exec python3 "$HERE/spamcorral/sendmail.py" --port $SMTP_PORT "\$@"
EOF2
chmod 755 "$D/sc/sendmail"
# the same, submitting to the release listener (bypass_daemon_name)
sed "s/--port $SMTP_PORT/--port $RELEASE_PORT/" "$D/sc/sendmail" > "$D/sc/sendmail-release"
chmod 755 "$D/sc/sendmail-release"
install -o "$RUN_AS" -m 600 /dev/null "$D/sc/robot.log"
printf '"|%s -c %s -L %s"\n' "$SC_BIN/spamcorral-robot" \
	"$D/mailcorral.conf" "$D/sc/robot.log" > "$D/sc/robot.alias"
chown "$RUN_AS:" "$D/sc/robot.alias" && chmod 644 "$D/sc/robot.alias"

clamd_up=1
sh "$TOP/testsuite/stack/clamd.sh" start >"$D.clamd.log" 2>&1 ||
	bail "clamd.sh start: $(tail -n 3 "$D.clamd.log")"
stack_up=1
STACK_RELEASE_PORT=$RELEASE_PORT \
STACK_ALIASES="spamcorral: :include:$D/sc/robot.alias" \
MC_CONF="$D/sc/base.conf" sh "$TOP/testsuite/stack/stack.sh" start \
	>"$D.start.log" 2>&1 || bail "stack start: $(tail -n 3 "$D.start.log")"
pass "stack started on $SMTP_PORT"

python3 "$HERE/trust/trust_e2e.py" run > "$D.out" 2>&1
cat "$D.out"
while IFS= read -r line; do
	case "$line" in
	"PASS "*) npass=$((npass + 1)) ;;
	"FAIL "*) nfail=$((nfail + 1)) ;;
	esac
done < "$D.out"
grep -q '^DONE' "$D.out" || fail "trust_e2e.py did not finish"
