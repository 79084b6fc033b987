#!/bin/sh
# galera.sh -- a private three-node MariaDB Galera Cluster on loopback ports
# for `make scale` (testsuite/scale/scale.sh).  Debian's mariadb-server and
# galera-4; nothing of the system's MariaDB (/etc/mysql) is used:
# --no-defaults everywhere.  Node N (1..3) has its own datadir, socket and
# ports, all from GALERA_PORT (default 3750):
#   SQL              GALERA_PORT + N        (3751..3753)
#   group (gcomm)    GALERA_PORT + 10 + N   (3761..3763)
#   IST              GALERA_PORT + 20 + N   (3771..3773)
#   SST (rsync)      GALERA_PORT + 30 + N   (3781..3783)
#
#   galera.sh init        node 1 bootstraps (--wsrep-new-cluster), creates
#                         database and user mailcorral (password in
#                         $GALERA_DIR/password); nodes 2 and 3 join by SST
#   galera.sh start N     start node N again (it rejoins by IST or SST)
#   galera.sh stop N|all  SIGTERM and wait
#   galera.sh kill N      SIGKILL (the failure make scale injects)
#   galera.sh sql N SQL   SQL as root over node N's socket (batch, tabs)
#   galera.sh size N      wsrep_cluster_size seen by node N
#   galera.sh destroy     stop all, remove $GALERA_DIR
#
# Environment: GALERA_DIR (default /tmp/mc-galera), GALERA_PORT.  As root
# the servers run as user mysql.
set -u
D=${GALERA_DIR:-/tmp/mc-galera}
BASE=${GALERA_PORT:-3750}
PROVIDER=${GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}

die() { echo "galera.sh: $*" >&2; exit 1; }
run_user() { [ "$(id -u)" = 0 ] && echo mysql || id -un; }
nd() { echo "$D/node$1"; }
sock() { echo "$D/node$1/mysqld.sock"; }

alive() {
	[ -f "$(nd "$1")/bgpid" ] || return 1
	p=$(cat "$(nd "$1")/bgpid")
	kill -0 "$p" 2>/dev/null && grep -Eq 'mariadbd|setsid|sh' "/proc/$p/cmdline" 2>/dev/null
}

peers() {
	echo "gcomm://127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12)),127.0.0.1:$((BASE + 13))"
}

sql() { mariadb --no-defaults -S "$(sock "$1")" -u root -N -B -e "$2"; }

# start N [extra args]: one node, waited for until it is synced
start() {
	n=$1; shift
	alive "$n" && die "node $n already running (pid $(cat "$(nd "$n")/bgpid"))"
	dir=$(nd "$n")
	mkdir -p "$dir/tmp"
	[ "$(id -u)" = 0 ] && chown -R mysql:mysql "$dir"
	setsid mariadbd --no-defaults --datadir="$dir/data" --socket="$(sock "$n")" \
		--port=$((BASE + n)) --bind-address=127.0.0.1 \
		--pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
		--tmpdir="$dir/tmp" --user="$(run_user)" --skip-name-resolve \
		--innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
		--binlog-format=ROW --default-storage-engine=InnoDB \
		--innodb-autoinc-lock-mode=2 --innodb-flush-log-at-trx-commit=2 \
		--wsrep-on=ON --wsrep-provider="$PROVIDER" \
		--wsrep-cluster-name=mcscale --wsrep-node-name="node$n" \
		--wsrep-cluster-address="$(peers)" \
		--wsrep-node-address="127.0.0.1:$((BASE + 10 + n))" \
		--wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$((BASE + 10 + n));ist.recv_addr=127.0.0.1:$((BASE + 20 + n));gcache.size=64M" \
		--wsrep-sst-method=rsync \
		--wsrep-sst-receive-address="127.0.0.1:$((BASE + 30 + n))" \
		"$@" </dev/null >/dev/null 2>&1 &
	echo $! > "$dir/bgpid"
	i=0
	until [ "$(sql "$n" "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)" = Synced ]; do
		alive "$n" || { tail -n 8 "$dir/error.log" >&2; die "node $n exited"; }
		i=$((i + 1))
		[ $i -gt 1200 ] && die "node $n not synced after 120 s"
		sleep 0.1
	done
}

stop() {
	alive "$1" || { rm -f "$(nd "$1")/bgpid"; return 0; }
	p=$(cat "$(nd "$1")/bgpid")
	kill -CONT "$p" 2>/dev/null
	kill -TERM "$p"
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$p" 2>/dev/null && { kill -KILL "$p"; sleep 0.2; }
	rm -f "$(nd "$1")/bgpid"
}

init_node() {
	dir=$(nd "$1")
	rm -rf "$dir"
	mkdir -p "$dir/data" "$dir/tmp"
	chmod 755 "$D" "$dir"
	[ "$(id -u)" = 0 ] && chown -R mysql:mysql "$dir"
	mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(run_user)" \
		--skip-test-db --auth-root-authentication-method=socket \
		--innodb-log-file-size=16M >"$dir/install.log" 2>&1 ||
		die "mariadb-install-db node $1: $(tail -n 3 "$dir/install.log")"
}

case "${1:-}" in
init)
	[ -x "$PROVIDER" ] || [ -f "$PROVIDER" ] || die "no $PROVIDER (apt-get install galera-4)"
	command -v rsync >/dev/null || die "no rsync (the SST method)"
	for n in 1 2 3; do alive "$n" && stop "$n"; done
	rm -rf "$D"
	mkdir -p "$D"
	for n in 1 2 3; do init_node "$n"; done
	start 1 --wsrep-new-cluster
	pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$pw" > "$D/password"
	chmod 644 "$D/password"
	sql 1 "CREATE DATABASE mailcorral;
CREATE USER 'mailcorral'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 'mailcorral'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL ON mailcorral.* TO 'mailcorral'@'127.0.0.1';
GRANT ALL ON mailcorral.* TO 'mailcorral'@'localhost';" || die "cannot create the user"
	start 2
	start 3
	;;
start) start "$2" ;;
stop)
	if [ "${2:-}" = all ]; then for n in 3 2 1; do stop "$n"; done; else stop "$2"; fi
	;;
kill)
	alive "$2" && kill -KILL "$(cat "$(nd "$2")/bgpid")"
	sleep 0.3
	rm -f "$(nd "$2")/bgpid"
	;;
sql) sql "$2" "$3" ;;
size) sql "$2" "SHOW STATUS LIKE 'wsrep_cluster_size'" | cut -f2 ;;
destroy) for n in 3 2 1; do stop "$n"; done; rm -rf "$D" ;;
*) echo "usage: galera.sh init|start N|stop N|all|kill N|sql N SQL|size N|destroy" >&2; exit 2 ;;
esac
