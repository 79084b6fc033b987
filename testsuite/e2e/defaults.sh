#!/bin/sh
# defaults.sh -- the defaults work out of the box (issue 17): with no
# spamcorral_address domain and no local_domains, spam corralled for
# user@localhost (one of the MTA's own names) gets its digest, delivered
# through the private sendmail (testsuite/stack/stack.sh); a recipient
# outside the MTA's names is skipped, and the notifier says so on stderr,
# not only in syslog.  The configuration names only the stack's own paths.
#
# Environment: SMTP_PORT (2635), STACK_DIR (/tmp/mc-e2e-defaults).
# Output: PASS/FAIL lines, last "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
. "$TOP/testsuite/lib/result.sh"
SMTP_PORT=${SMTP_PORT:-2635}
STACK_DIR=${STACK_DIR:-/tmp/mc-e2e-defaults}
PYTHONDONTWRITEBYTECODE=1
export SMTP_PORT STACK_DIR PYTHONDONTWRITEBYTECODE
STACK="sh $TOP/testsuite/stack/stack.sh"
D=$STACK_DIR
W=$D.work
stack_up=""

cleanup() {
	if [ -n "$stack_up" ]; then
		stack_up=""
		$STACK stop >/dev/null 2>&1 || echo "defaults.sh: stack stop failed" >&2
	fi
	rm -rf "$W"
	result_ok && rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$W" "$D"
mkdir -p "$W"
# only what puts every file inside the stack; SpamCorral left at its
# defaults: spamcorral_address "spamcorral" (no domain), local_domains ""
cat > "$W/mailcorral.conf" <<'EOF'
spam_disposition = corral
blacklist        = spammer@example.net
corral_dir       = @STACK_DIR@/corral
bypass_key_file  = @STACK_DIR@/spamkey
spool_dir        = @STACK_DIR@/spool
sendmail_path    = @STACK_DIR@/bin/sendmail
EOF
if ! MC_CONF=$W/mailcorral.conf $STACK start > "$W/stack.out" 2>&1; then
	fail "stack start: $(tail -n 5 "$W/stack.out" | tr '\n' ' ')"
	result_line
	exit 1
fi
stack_up=1

# user@localhost: local by default; the stack's own host name is not one
# of the notifier's (it runs outside the stack's UTS namespace)
cat > "$W/spam.eml" <<EOF
From: <spammer@example.net>
To: user@localhost, other@mx.mailcorral.test
Subject: cheap pills
Message-ID: <defaults.$$@example.net>
Date: $(date -R)

Buy now.
EOF
python3 - "$SMTP_PORT" "$W/spam.eml" > "$W/send.out" 2>&1 <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=60)
print(s.sendmail("spammer@example.net", ["user@localhost", "other@mx.mailcorral.test"],
                 open(sys.argv[2]).read()))
s.quit()
EOF
n=0
while [ "$(ls "$D/corral" 2>/dev/null | grep -c '@')" -lt 2 ] && [ $n -lt 100 ]; do
	sleep 0.1; n=$((n + 1))
done
ents=$(ls "$D/corral" | grep '@' | tr '\n' ' ')
case "$ents" in
*user@localhost*other@mx.mailcorral.test*|*other@mx.mailcorral.test*user@localhost*)
	pass "spam for user@localhost and other@mx.mailcorral.test corralled" ;;
*)	fail "corral holds: '$ents' ($(cat "$W/send.out"))" ;;
esac

./spamcorral/spamcorral-notify -c "$D/mailcorral.conf" \
	> "$W/notify.out" 2> "$W/notify.err"
rc=$?
if [ $rc = 0 ]; then
	pass "spamcorral-notify with the default local_domains exits 0"
else
	fail "spamcorral-notify exit $rc: $(tail -n 3 "$W/notify.err")"
fi
n=0
while ! grep -l '^Subject: Spam held for you' "$D"/mail/user.* >/dev/null 2>&1 &&
    [ $n -lt 150 ]; do
	sleep 0.1; n=$((n + 1))
done
dig=$(grep -l '^Subject: Spam held for you' "$D"/mail/user.* 2>/dev/null | head -n1)
if [ -n "$dig" ] && grep -q 'cheap pills' "$dig"; then
	pass "the digest reached user@localhost with the default configuration"
else
	fail "no digest delivered for user@localhost ($(ls "$D/mail" | tr '\n' ' '); $(tail -n 3 "$W/notify.err"))"
fi
if grep -q '^spamcorral-notify: no digest for other@mx.mailcorral.test (1 entries): not in local_domains$' "$W/notify.err"; then
	pass "the skipped recipient is named on stderr"
else
	fail "stderr does not name the skipped recipient: $(cat "$W/notify.err")"
fi
if ls "$D"/mail/other.* >/dev/null 2>&1; then
	fail "a digest went to other@mx.mailcorral.test"
else
	pass "no digest for other@mx.mailcorral.test"
fi

result_line
result_ok
