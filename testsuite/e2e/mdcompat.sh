#!/bin/sh
# MIMEDefang compatibility (issue 20 item 1, perl_filter_api = mimedefang):
# Debian's own /etc/mail/mimedefang-filter, with one line added on both
# sides ($Features{"SpamAssassin"} = 0; after detect_and_load_perl_modules)
# and no virus scanner on either side, runs under
#   - MailCorral's Perl shim (./mailcorral, virus_arbitron = none,
#     spam_arbitron = none, perl_filter_api = mimedefang), and
#   - real MIMEDefang (Debian's mimedefang + mimedefang-multiplexor, as
#     testsuite/bench/bench.sh starts it: user defang, private spool),
# each driven over the milter protocol by testsuite/bench/milterdrv with
# every message of the validation suite (testsuite/corpus/*.eml).  Each
# message's decision (accept, drop-part = body rewritten, bounce,
# discard, tempfail) must be the same on both sides, except the messages
# in mdcompat/expected-differences.txt, where MailCorral must be stricter
# (accept < drop-part < bounce, discard, tempfail) and decide exactly as
# listed.  A listed message that now agrees fails too (the list is stale).
# Also: each action of the API through a second daemon running
# mdcompat/actions-filter (actions.py writes its messages and checks the
# answers), and a filter calling a function the API lacks refused at
# start-up with its name, by the shim and through a third daemon.
#
# Environment: STACK_DIR (default /tmp/mc-e2e-mdcompat), MD_KEEP=1 keeps it.
# Output: PASS/FAIL lines, the agreement table, "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
W=${STACK_DIR:-/tmp/mc-e2e-mdcompat}
EXPECTED=$TOP/testsuite/e2e/mdcompat/expected-differences.txt
. "$TOP/testsuite/lib/result.sh"

PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	[ "${MD_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT TERM HUP

T0=$(date +%s)
[ -x "$TOP/mailcorral" ] || result_abort "setup: no ./mailcorral (run make)"
[ "$(id -u)" = 0 ] || result_abort "setup: needs root (MIMEDefang runs as defang)"
for c in mimedefang mimedefang-multiplexor; do
	command -v $c >/dev/null || result_abort "setup: no $c (scripts/install-deps.sh)"
done
[ -r /etc/mail/mimedefang-filter ] || result_abort "setup: no /etc/mail/mimedefang-filter"
id defang >/dev/null 2>&1 || result_abort "setup: no user defang"
rm -rf "$W"
mkdir -p "$W/md" "$W/spool" "$W/out.mc" "$W/out.md" || result_abort "setup: mkdir $W"
cc -O2 -pthread -o "$W/milterdrv" "$TOP/testsuite/bench/milterdrv.c" ||
	result_abort "setup: cannot build milterdrv"

# The filter, the same file for both, read from Debian's package.
sed 's/^detect_and_load_perl_modules();$/&\n$Features{"SpamAssassin"} = 0;/' \
    /etc/mail/mimedefang-filter > "$W/md/mimedefang-filter"
grep -q '^\$Features{"SpamAssassin"} = 0;$' "$W/md/mimedefang-filter" ||
	result_abort "setup: detect_and_load_perl_modules(); not in Debian's filter"
chmod 644 "$W/md/mimedefang-filter"
chown defang:defang "$W/md"

# wait_sock SOCKET PID NAME
wait_sock() {
	i=0
	while [ ! -S "$1" ]; do
		kill -0 "$2" 2>/dev/null || result_abort "setup: $3 exited: $(tail -n 5 "$W/$3.log")"
		i=$((i + 1))
		[ $i -gt 300 ] && result_abort "setup: $3: no socket after 15 s"
		sleep 0.05
	done
}

cat > "$W/mc.conf" <<EOF
allow_root = yes
attachment_action = delete
spool_dir = $W/spool
virus_arbitron = none
spam_arbitron = none
perl_filter = $W/md/mimedefang-filter
perl_filter_api = mimedefang
perl_shim = $TOP/perlshim.pl
perl_workers = 2
EOF
"$TOP/mailcorral" -f -c "$W/mc.conf" -p "unix:$W/mc.sock" >"$W/mailcorral.log" 2>&1 &
PIDS="$!"
wait_sock "$W/mc.sock" "$!" mailcorral
# a second daemon with the actions' filter (mdcompat/actions-filter)
# (the built-in spam checker on, for spam_assassin_check)
sed -e "s|^perl_filter = .*|perl_filter = $TOP/testsuite/e2e/mdcompat/actions-filter|" \
    -e "s|^spam_arbitron = none|spam_arbitron = builtin|" \
    "$W/mc.conf" > "$W/actions.conf"
"$TOP/mailcorral" -f -c "$W/actions.conf" -p "unix:$W/actions.sock" >"$W/actions.log" 2>&1 &
PIDS="$! $PIDS"
wait_sock "$W/actions.sock" "$!" actions

mimedefang-multiplexor -D -U defang -z "$W/md" -F "$W/md/mimedefang-filter" \
    -m 2 -x 4 -b 600 -l -s "$W/md/mx.sock" >"$W/multiplexor.log" 2>&1 &
PIDS="$! $PIDS"
wait_sock "$W/md/mx.sock" "$!" multiplexor
mimedefang -D -U defang -z "$W/md" -m "$W/md/mx.sock" -R -1 -p "unix:$W/md/md.sock" \
    >"$W/mimedefang.log" 2>&1 &
PIDS="$! $PIDS"
wait_sock "$W/md/md.sock" "$!" mimedefang

# drive NAME SOCKET FILE...: every message once over two connections;
# the seconds it took in $W/secs.NAME
drive() {
	d_name=$1 d_sock=$2
	shift 2
	d_t=$(date +%s.%N)
	"$W/milterdrv" -q -s "$d_sock" -c 2 -n "$#" -D "$W/out.$d_name" -T 300 "$@" \
	    > "$W/drv.$d_name" 2>&1 ||
		echo "milterdrv to $d_name: errors, counted below" >> "$W/drv.$d_name"
	echo "$(date +%s.%N) $d_t" | awk '{ printf "%.1f", $1 - $2 }' > "$W/secs.$d_name"
}

set -- "$TOP"/testsuite/corpus/*.eml
N=$#
# both at once: MIMEDefang's slow messages (127: make_multipart of 5000
# fields) overlap MailCorral's
drive mc "unix:$W/mc.sock" "$@" &
DRV=$!
drive md "unix:$W/md/md.sock" "$@"
wait $DRV || fail "driving MailCorral"
cat "$W/drv.mc" "$W/drv.md" 2>/dev/null | grep "^milterdrv to"
python3 "$TOP/testsuite/e2e/mdcompat/compare.py" "$N" "$W/out.mc" "$W/out.md" "$EXPECTED" \
    > "$W/compare.out" 2>&1
rc=$?
cat "$W/compare.out"
p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$W/compare.out")
f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$W/compare.out")
if [ -n "$p" ] && [ -n "$f" ]; then
	result_add "$p" "$f"
	[ $rc = 0 ] || [ "$f" -gt 0 ] || fail "compare.py exited $rc"
else
	fail "compare.py: no result line (exit $rc)"
fi

# Each action of the API, one message each, through the second daemon.
mkdir -p "$W/act" "$W/out.act"
python3 "$TOP/testsuite/e2e/mdcompat/actions.py" write "$W/act"
"$W/milterdrv" -q -s "unix:$W/actions.sock" -n 8 -D "$W/out.act" -T 300 "$W"/act/*.eml \
    > "$W/drv.act" 2>&1
python3 "$TOP/testsuite/e2e/mdcompat/actions.py" check "$W/out.act" > "$W/actions.out" 2>&1
cat "$W/actions.out"
p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$W/actions.out")
f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$W/actions.out")
if [ -n "$p" ] && [ -n "$f" ]; then
	result_add "$p" "$f"
else
	fail "actions.py: no result line"
fi

# A filter calling what the API lacks is refused at start-up, by name:
# by the shim itself, and through the daemon, whose workers do not start
# (the message is tempfailed and the log names the function).
printf 'sub filter { action_frobnicate("x"); return action_accept(); }\n1;\n' > "$W/bad-filter"
out=$(perl -T "$TOP/perlshim.pl" --api=mimedefang "$W/bad-filter" </dev/null 2>&1)
if [ $? != 0 ] && echo "$out" | grep -q 'calls action_frobnicate(), not in MailCorral'; then
	pass "a filter calling action_frobnicate() is refused by the shim, by name"
else
	fail "unsupported function not refused by the shim: $out"
fi
sed "s|^perl_filter = .*|perl_filter = $W/bad-filter|" "$W/mc.conf" > "$W/bad.conf"
"$TOP/mailcorral" -f -c "$W/bad.conf" -p "unix:$W/bad.sock" >"$W/bad.log" 2>&1 &
PIDS="$! $PIDS"
wait_sock "$W/bad.sock" "$!" bad
mkdir -p "$W/out.bad"
"$W/milterdrv" -q -s "unix:$W/bad.sock" -n 1 -D "$W/out.bad" -T 60 "$W/act/01-accept.eml" \
    > "$W/drv.bad" 2>&1
if grep -q '^verdict: tempfail' "$W/out.bad/0.out" 2>/dev/null &&
    grep -q "perlshim: .*bad-filter: calls action_frobnicate(), not in MailCorral" "$W/bad.log"; then
	pass "the daemon with that filter: its workers refuse it by name, the message tempfails"
else
	fail "the daemon with that filter: $(cat "$W/out.bad/0.out" 2>/dev/null | tail -n 1); $(grep perlshim "$W/bad.log" | head -n 1)"
fi
# Debian's own filter was not refused
grep -q "perlshim: .*calls" "$W/mailcorral.log" &&
	fail "Debian's filter was refused: $(grep 'perlshim' "$W/mailcorral.log" | head -n 2)"

echo "mdcompat: $N messages each side; MailCorral $(cat "$W/secs.mc") s, MIMEDefang $(cat "$W/secs.md") s; $(( $(date +%s) - T0 )) s in all"
result_line
result_ok
