#!/bin/sh
# e2e.sh SPEC: for bench.sh -- one private stack (testsuite/stack/stack.sh)
# with MailCorral on a SPEC milter socket (unix, inet or inet-quickack),
# FILE sent 50 times in one SMTP session, one result line.
#   Environment: W (work dir), SMTP_PORT, MC (daemon), CONF (its config),
#   FILE (the message).
# inet-quickack: the caller runs this inside a network namespace and this
# script first gives the loopback routes "quickack 1".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
STACK=$HERE/../stack/stack.sh
spec=$1
SD=$W/stack-$spec
mkdir -p "$SD"
case $spec in
unix)	ms="unix:$SD/mailcorral.sock" ;;
*)	ms="inet:$((SMTP_PORT + 1))@127.0.0.1" ;;
esac
if [ "$spec" = inet-quickack ]; then
	ip link set lo up || exit 1
	ip route show table local | grep '^local 127\.' | while read -r r; do
		ip route replace $r table local quickack 1 || exit 1
	done || exit 1
fi
if ! STACK_DIR=$SD SMTP_PORT=$SMTP_PORT MILTER_SPEC=$ms MC_CONF=$CONF \
    MAILCORRAL=$MC sh "$STACK" start > "$SD.log" 2>&1; then
	echo "  $spec: skipped, stack.sh start failed: $(tail -n 2 "$SD.log")"
	STACK_DIR=$SD sh "$STACK" stop >/dev/null 2>&1
	exit 0
fi
set -- $(python3 "$HERE/e2e_send.py" "$SMTP_PORT" "$FILE" 50)
STACK_DIR=$SD sh "$STACK" stop >/dev/null 2>&1
echo "  milter socket $spec ($ms): ${1:-?} ms per message, ${2:-0}/${3:-50} accepted"
