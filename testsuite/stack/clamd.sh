#!/bin/sh
# clamd.sh start|stop|status -- a private clamd for the tests (REALSTACK.md 3).
# No network: the signature DB is built here with sigtool from EICAR and the
# clamav-testfiles samples.  Listens on 127.0.0.1:${CLAMD_PORT:-2528} and on
# $D/clamd.sock.  $D is $CLAMD_DIR, default /tmp/mailcorral-clamd-$$ (so pass
# the same CLAMD_DIR to "stop").  Nothing outside $D is changed.  Threads and
# queue as Debian's clamav-daemon sets them (MaxThreads 12,
# MaxConnectionQueueLength 15), or $CLAMD_MAX_THREADS, $CLAMD_QUEUE_LENGTH.
# CLAMD_LOG_CLEAN=yes logs clean scans too (make scale counts each clamd's
# share of the scans in its log).
set -eu

D=${CLAMD_DIR:-/tmp/mailcorral-clamd-$$}
PORT=${CLAMD_PORT:-2528}
TESTFILES=${CLAMAV_TESTFILES:-/usr/share/clamav-testfiles}
WAIT=${CLAMD_WAIT:-30}		# seconds to wait for PONG
THREADS=${CLAMD_MAX_THREADS:-12}
QUEUE=${CLAMD_QUEUE_LENGTH:-15}

die() { echo "clamd.sh: $*" >&2; exit 1; }

ms() { date +%s%3N; }

ping_clamd() {
	python3 - "$PORT" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.settimeout(1)
    s.sendall(b"zPING\0")
    r = s.recv(64)
    sys.exit(0 if r.rstrip(b"\0\n") == b"PONG" else 1)
except Exception:
    sys.exit(1)
EOF
}

start() {
	command -v clamd >/dev/null || die "clamd not installed (apt-get install clamav-daemon)"
	command -v sigtool >/dev/null || die "sigtool not installed (apt-get install clamav)"
	[ -d "$TESTFILES" ] || die "$TESTFILES missing (apt-get install clamav-testfiles)"
	t0=$(ms)
	if [ -f "$D/clamd.pid" ] && kill -0 "$(cat "$D/clamd.pid")" 2>/dev/null; then
		die "already running in $D (pid $(cat "$D/clamd.pid"))"
	fi
	mkdir -p "$D/db" "$D/tmp"
	# The EICAR test string, 68 bytes, no newline.
	printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' \
	    >"$D/eicar.com"
	: >"$D/db/lab.hdb"
	for f in "$TESTFILES"/*; do
		[ -f "$f" ] || continue
		sigtool --md5 "$f" >>"$D/db/lab.hdb"
	done
	sigtool --md5 "$D/eicar.com" | sed 's/:[^:]*$/:Lab.EICAR-Hash/' \
	    >>"$D/db/lab.hdb"
	hex=$(od -An -v -tx1 "$D/eicar.com" | tr -d ' \n')
	[ ${#hex} -eq 136 ] || die "EICAR string is not 68 bytes"
	echo "Lab.EICAR:0:*:$hex" >"$D/db/lab.ndb"
	[ -s "$D/db/lab.hdb" ] || die "empty signature DB"
	cat >"$D/clamd.conf" <<EOF
TCPSocket $PORT
TCPAddr 127.0.0.1
LocalSocket $D/clamd.sock
LocalSocketMode 660
DatabaseDirectory $D/db
PidFile $D/clamd.pid
LogFile $D/clamd.log
LogClean ${CLAMD_LOG_CLEAN:-no}
TemporaryDirectory $D/tmp
Foreground no
SelfCheck 0
Bytecode no
StreamMaxLength 25M
MaxThreads $THREADS
MaxConnectionQueueLength $QUEUE
User clamav
EOF
	# clamd drops to clamav: it must read the DB and write pid, log, tmp.
	chmod 755 "$D" "$D/db"
	chmod 644 "$D"/db/* "$D/clamd.conf"
	if id clamav >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
		chown clamav "$D" "$D/tmp"
		chmod 700 "$D/tmp"
	else
		sed -i '/^User /d' "$D/clamd.conf"
	fi
	rm -f "$D/clamd.pid" "$D/clamd.sock"
	clamd -c "$D/clamd.conf" || die "clamd failed to start; see $D/clamd.log"
	n=0
	until ping_clamd; do
		n=$((n + 1))
		if [ $n -gt $((WAIT * 10)) ]; then
			tail -5 "$D/clamd.log" >&2 2>/dev/null || true
			die "clamd on 127.0.0.1:$PORT did not answer PING within ${WAIT}s"
		fi
		sleep 0.1
	done
	echo "clamd: started in $(( $(ms) - t0 )) ms: dir $D port $PORT socket $D/clamd.sock pid $(cat "$D/clamd.pid") sigs $(wc -l <"$D/db/lab.hdb")+1 threads $THREADS queue $QUEUE"
}

stop() {
	[ -f "$D/clamd.pid" ] || die "no pid file $D/clamd.pid (set CLAMD_DIR)"
	pid=$(cat "$D/clamd.pid")
	t0=$(ms)
	kill "$pid" 2>/dev/null || true
	n=0
	while kill -0 "$pid" 2>/dev/null; do
		n=$((n + 1))
		[ $n -gt 100 ] && die "clamd pid $pid still running after 10 s"
		sleep 0.1
	done
	echo "clamd: stopped pid $pid in $(( $(ms) - t0 )) ms"
	rm -rf "$D"
}

case "${1:-}" in
start)	start ;;
stop)	stop ;;
status)	ping_clamd && echo "clamd: up on 127.0.0.1:$PORT" || { echo "clamd: down"; exit 1; } ;;
*)	echo "usage: CLAMD_DIR=dir CLAMD_PORT=port $0 start|stop|status" >&2; exit 2 ;;
esac
