#!/bin/sh
# A private MariaDB server for the archive tests: own datadir, TCP on
# 127.0.0.1:$DB_PORT, unix socket in $DB_DIR; nothing of the system's
# MariaDB is used (no /etc/mysql: --no-defaults everywhere).
#
#   mariadb.sh init     mariadb-install-db into $DB_DIR/data, start, create
#                       database mailcorral and user mailcorral (password in
#                       $DB_DIR/password) for 127.0.0.1 and localhost
#   mariadb.sh start    start on the existing datadir (after stop or kill)
#   mariadb.sh stop     SIGTERM the recorded pid and wait
#   mariadb.sh kill     SIGKILL it (FS-07)
#   mariadb.sh pid      print its pid
#   mariadb.sh sql SQL  run SQL as root over the socket (batch, tab-separated)
#   mariadb.sh destroy  stop and remove $DB_DIR
#
# Environment: DB_DIR (default /tmp/mc-mariadb), DB_PORT (default 2609).
# As root the server runs as user mysql, so DB_DIR is chowned to it.
set -u
D=${DB_DIR:-/tmp/mc-mariadb}
PORT=${DB_PORT:-2609}
SOCK=$D/mysqld.sock

die() { echo "mariadb.sh: $*" >&2; exit 1; }

run_user() { [ "$(id -u)" = 0 ] && echo mysql || id -un; }

alive() {
	[ -f "$D/mariadbd.bgpid" ] || return 1
	p=$(cat "$D/mariadbd.bgpid")
	# (right after start the pid may still be the shell about to exec)
	kill -0 "$p" 2>/dev/null && grep -Eq 'mariadbd|setsid|sh' "/proc/$p/cmdline" 2>/dev/null
}

start() {
	alive && die "already running (pid $(cat "$D/mariadbd.bgpid"))"
	mkdir -p "$D/tmp"
	[ "$(id -u)" = 0 ] && chown -R mysql:mysql "$D"
	setsid mariadbd --no-defaults --datadir="$D/data" --socket="$SOCK" \
		--port="$PORT" --bind-address=127.0.0.1 --pid-file="$D/mariadbd.pid" \
		--log-error="$D/error.log" --tmpdir="$D/tmp" --user="$(run_user)" \
		--skip-name-resolve --innodb-buffer-pool-size=32M \
		--innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
		</dev/null >/dev/null 2>&1 &
	echo $! > "$D/mariadbd.bgpid"
	i=0
	until mariadb-admin --no-defaults -S "$SOCK" -u root ping >/dev/null 2>&1; do
		alive || { tail -n 5 "$D/error.log" >&2; die "mariadbd exited"; }
		i=$((i + 1))
		[ $i -gt 300 ] && die "no answer after 30 s"
		sleep 0.1
	done
}

stop() {
	alive || { rm -f "$D/mariadbd.bgpid"; return 0; }
	p=$(cat "$D/mariadbd.bgpid")
	kill -CONT "$p" 2>/dev/null
	kill -TERM "$p"
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$p" 2>/dev/null && { kill -KILL "$p"; sleep 0.2; }
	rm -f "$D/mariadbd.bgpid"
}

sql() { mariadb --no-defaults -S "$SOCK" -u root -N -B -e "$1"; }

case "${1:-}" in
init)
	alive && stop
	rm -rf "$D"
	mkdir -p "$D/data" "$D/tmp"
	chmod 755 "$D"
	[ "$(id -u)" = 0 ] && chown -R mysql:mysql "$D"
	mariadb-install-db --no-defaults --datadir="$D/data" --user="$(run_user)" \
		--skip-test-db --auth-root-authentication-method=socket \
		--innodb-log-file-size=16M >"$D/install.log" 2>&1 ||
		die "mariadb-install-db failed: $(tail -n 3 "$D/install.log")"
	start
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$pw" > "$D/password"
	chmod 644 "$D/password"
	sql "CREATE DATABASE mailcorral;
CREATE USER 'mailcorral'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 'mailcorral'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON mailcorral.* TO 'mailcorral'@'127.0.0.1';
GRANT ALL ON mailcorral.* TO 'mailcorral'@'localhost';" || die "cannot create the user"
	;;
start) start ;;
stop) stop ;;
kill)
	alive && kill -KILL "$(cat "$D/mariadbd.bgpid")"
	sleep 0.3
	rm -f "$D/mariadbd.bgpid"
	;;
pid) alive && cat "$D/mariadbd.bgpid" ;;
sql) shift; sql "$*" ;;
destroy) stop; rm -rf "$D" ;;
*) echo "usage: mariadb.sh init|start|stop|kill|pid|sql SQL|destroy" >&2; exit 2 ;;
esac
