#!/bin/sh
# spamd.sh -- start/stop a private, offline spamd for the tests
# (REALSTACK.md section 2).  Never runs sa-update: an empty versioned rules
# dir would make SpamAssassin load no rules at all.
#
#   testsuite/stack/spamd.sh start|stop|status|magic
#   SPAMD_PORT (default 2527), SPAMD_DIR (default /tmp/mc-spamd-$SPAMD_PORT)
#   After start:  SPAMD_TEST_PORT=$SPAMD_PORT testsuite/unit/test_spamfilter
# spamd runs with --allow-tell and a Bayes store of its own in
# $SPAMD_DIR/bayes (empty at start, no auto-learning: with fewer than 200
# hams and spams learned Bayes adds no score, so verdicts are as without
# it); "magic" prints `sa-learn --dump magic` of that store (nham, nspam),
# the count spamcorral-robot's TELL must raise.
set -u
PORT=${SPAMD_PORT:-2527}
D=${SPAMD_DIR:-/tmp/mc-spamd-$PORT}
SPUSER=${SPAMD_USER:-debian-spamd}

ping_spamd() {
	python3 - "$PORT" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.settimeout(2)
    s.sendall(b"PING SPAMC/1.5\r\n\r\n")
    r = s.recv(256)
    sys.exit(0 if b" 0 PONG" in r else 1)
except Exception:
    sys.exit(1)
PY
}

stop() {
	if [ -f "$D/spamd.pid" ]; then
		pid=$(cat "$D/spamd.pid")
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
				sleep 0.1; i=$((i + 1))
			done
		fi
		rm -f "$D/spamd.pid"
	fi
}

start() {
	command -v spamd >/dev/null || { echo "spamd.sh: spamd not installed" >&2; exit 1; }
	if ping_spamd; then
		echo "spamd.sh: something already answers on 127.0.0.1:$PORT" >&2
		exit 1
	fi
	stop
	rm -rf "$D/bayes"
	mkdir -p "$D/etc" "$D/home" "$D/bayes"
	cp /etc/spamassassin/*.pre "$D/etc/"
	cat > "$D/etc/local.cf" <<CF
use_bayes 1
bayes_auto_learn 0
bayes_path $D/bayes/bayes
bayes_file_mode 0700
dns_available no
skip_rbl_checks 1
report_safe 0
welcomelist_from *@welcome.example
blocklist_from *@blocked.example
whitelist_from *@oldwelcome.example
blacklist_from *@oldblocked.example
CF
	chown -R "$SPUSER" "$D/home" "$D/bayes" 2>/dev/null ||
	    chmod 0777 "$D/home" "$D/bayes"
	: > "$D/spamd.log"
	chmod 0666 "$D/spamd.log"
	spamd -d -L -x -l -4 -i "127.0.0.1:$PORT" -A 127.0.0.1 -u "$SPUSER" \
	    -C /usr/share/spamassassin --siteconfigpath="$D/etc" \
	    -r "$D/spamd.pid" -s "$D/spamd.log" -H "$D/home" -m 2 \
	    --min-children=1 --min-spare=1 --max-spare=2 || {
		echo "spamd.sh: spamd failed to start, see $D/spamd.log" >&2
		exit 1
	}
	i=0
	while [ $i -lt 150 ]; do		# 15 s at most
		if ping_spamd; then
			echo "spamd.sh: spamd ready on 127.0.0.1:$PORT (pid $(cat "$D/spamd.pid"))"
			return 0
		fi
		sleep 0.1; i=$((i + 1))
	done
	echo "spamd.sh: spamd did not answer PING in 15 s, see $D/spamd.log" >&2
	stop
	exit 1
}

# sa-learn as spamd's user (so it creates nothing spamd cannot write), with
# no rules (-C an empty directory: 1 s instead of 4; the .pre files load
# the Bayes plugin).  Fails (exit 2) while nothing was learned: no store.
magic() {
	mkdir -p "$D/norules"
	HOME="$D/home" setpriv --reuid="$SPUSER" --regid="$SPUSER" \
	    --init-groups sa-learn -C "$D/norules" --siteconfigpath="$D/etc" \
	    --dump magic 2>/dev/null
}

case "${1:-}" in
start)	start ;;
magic)	magic ;;
stop)	stop ;;
status)	if ping_spamd; then echo up; else echo down; exit 1; fi ;;
*)	echo "usage: $0 start|stop|status|magic" >&2; exit 2 ;;
esac
