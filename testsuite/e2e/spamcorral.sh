#!/bin/sh
# SpamCorral end to end: corral -> digest (spamcorral-notify) -> reply ->
# release (spamcorral-robot run by the private sendmail through an
# :include: alias) -> delivery tagged [SPAM]; plus private corrals under
# STACK_DIR for SC-R12/SC-C8 (no SMTP); last, with a private spamd
# (testsuite/stack/spamd.sh, started in the background at once), releases
# that teach spamd ham (issue 18 item 4).  Uses only SMTP_PORT (2555),
# SPAMD_PORT (2557), STACK_DIR (/tmp/mc-e2e-sc) and SPAMD_DIR
# ($STACK_DIR.spamd), all taken from the environment when set, so runs on
# one machine can keep apart.  Must run as root (private sendmail).
# Last line: "N passed, N failed"; exit 1 on any failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-sc}
SMTP_PORT=${SMTP_PORT:-2555}
SPAMD_PORT=${SPAMD_PORT:-2557}
SPAMD_DIR=${SPAMD_DIR:-$STACK_DIR.spamd}
RUN_AS=${SC_RUN_AS:-mail}	# owner of the corral, filter and robot uid
export STACK_DIR SMTP_PORT SPAMD_PORT SPAMD_DIR
D=$STACK_DIR
T0=$(date +%s)
. "$TOP/testsuite/lib/result.sh"
. "$TOP/testsuite/lib/suite.sh"

spamd_bg=""
spamd_cleanup() {
	[ -n "$spamd_bg" ] || return 0
	wait "$spamd_bg" 2>/dev/null
	spamd_bg=""
	sh "$TOP/testsuite/stack/spamd.sh" stop >/dev/null 2>&1
}

finish() {
	driver_stop
	spamd_cleanup
	stack_cleanup spamcorral.sh
	if [ -f "$D.summary" ]; then
		result_add_file "$D.summary" || fail "e2e.py: no counts in $D.summary"
		rm -f "$D.summary"
	elif [ -n "$driver_ran" ]; then
		fail "e2e.py gave no result"
	fi
	echo "# spamcorral.sh: $(( $(date +%s) - T0 )) s (logs: $D/mailcorral.log, $D/sc/robot.log)"
	result_line
}
driver_ran=""
trap 'finish; trap - EXIT; result_ok && exit 0; exit 1' EXIT
trap 'fail "interrupted"; exit 1' INT TERM HUP

bail() { fail "$*"; exit 1; }

# build
cd "$TOP" || bail "cd $TOP"
make -s libmc.a mailcorral >/dev/null || bail "make libmc.a mailcorral"
CFLAGS_SC="-O2 -g -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wno-unused-parameter -Werror=deprecated-declarations -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -pthread -std=gnu11"
for p in notify robot; do
	b=spamcorral/spamcorral-$p
	if [ ! -x "$b" ] || [ -n "$(find spamcorral libmc.a -newer "$b" \( -name '*.[ch]' -o -name libmc.a \) 2>/dev/null)" ]; then
		# shellcheck disable=SC2086
		cc $CFLAGS_SC -I. -o "$b" "$b.c" spamcorral/spamcorral.c \
			spamcorral/reply.c spamcorral/state.c \
			spamcorral/digest.c libmc.a \
			-lmilter -larchive -lcrypto -pthread || bail "build $b"
	fi
done
pass "built"

# the private spamd for the last checks, started now: it takes seconds
if [ -f "$SPAMD_DIR/spamd.pid" ] && kill -0 "$(cat "$SPAMD_DIR/spamd.pid")" 2>/dev/null; then
	bail "a spamd is still running in $SPAMD_DIR"
fi
rm -rf "$SPAMD_DIR"
mkdir -p "$SPAMD_DIR"
sh "$TOP/testsuite/stack/spamd.sh" start >"$SPAMD_DIR/start.out" 2>&1 &
spamd_bg=$!

# a clean stack directory; the corral, the spool and the key belong to
# $RUN_AS (the filter drops to it: "user = $RUN_AS")
rm -f "$D.summary"
stack_fresh || bail "mkdir $D"
mkdir -p "$D/corral" "$D/spool" "$D/sc" || bail "mkdir $D"
chmod 755 "$D/sc"
chown "$RUN_AS:" "$D/corral" "$D/spool" && chmod 700 "$D/corral" "$D/spool"
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$D/spamkey"
chown "$RUN_AS:" "$D/spamkey" && chmod 600 "$D/spamkey"
# the MSP stand-in (see spamcorral/sendmail.py) and the robot's :include:
cat > "$D/sc/sendmail" <<EOF2
#!/bin/sh
exec python3 "$HERE/spamcorral/sendmail.py" --port $SMTP_PORT "\$@"
EOF2
chmod 755 "$D/sc/sendmail"
install -o "$RUN_AS" -m 600 /dev/null "$D/sc/robot.log"
printf '"|%s -c %s -L %s"\n' "$TOP/spamcorral/spamcorral-robot" \
	"$D/mailcorral.conf" "$D/sc/robot.log" > "$D/sc/robot.alias"
chown "$RUN_AS:" "$D/sc/robot.alias" && chmod 644 "$D/sc/robot.alias"
cat > "$D/sc/mailcorral.conf" <<EOF2
user               = $RUN_AS
attachment_action  = delete
spam_arbitron      = builtin
spam_disposition   = corral
corral_dir         = @STACK_DIR@/corral
bypass_key_file    = @STACK_DIR@/spamkey
spool_dir          = @STACK_DIR@/spool
spamcorral_address = spamcorral@mx.mailcorral.test
sendmail_path      = @STACK_DIR@/sc/sendmail
spam_user_prefs    = @STACK_DIR@/sc/prefs
EOF2
# issue 18 item 3: three users with their own dispositions (e2e.py per_user)
cat > "$D/sc/prefs" <<EOF2
user11@mx.mailcorral.test disposition=tag
user12@mx.mailcorral.test disposition=corral
user13@mx.mailcorral.test disposition=deliver
EOF2
chmod 644 "$D/sc/prefs"

STACK_ALIASES="spamcorral: :include:$D/sc/robot.alias" stack_start "$D/sc/mailcorral.conf" ||
	bail "stack start: $(tail -n 3 "$D/stack-start.out")"
pass "stack started on $SMTP_PORT"

driver_ran=1
E2E_SUMMARY_FILE="$D.summary" run_driver python3 "$HERE/spamcorral/e2e.py" "$TOP" "$D" "$SMTP_PORT" "$RUN_AS"
