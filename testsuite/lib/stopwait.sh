# stopwait.sh -- sourced by the test scripts that stop a daemon and wait for
# it (issue 13): when a process does not end in time, the evidence of why is
# collected before it is killed, and kept with the test's logs.
#
#   . "$TOP/testsuite/lib/stopwait.sh"
#   wait_gone PID SECS                  0 if PID ended within SECS
#   wait_until SECS PID CMD...          0 once CMD succeeds; 1 if PID died
#                                       or SECS went by first
#   collect_evidence PID DIR [LABEL]    writes DIR/LABEL.stacks (every
#                                       thread's stack, gdb), .sockets (ss),
#                                       .proc (status, wchan per thread, fds)
#   stop_or_evidence PID SECS DIR [LABEL]
#                                       SIGTERM, wait SECS; if still alive,
#                                       collect_evidence, then SIGKILL;
#                                       0 if it ended alone, 1 if killed
#
# gdb and ss come from Debian (gdb, iproute2; scripts/install-deps.sh).  A
# missing tool is said in the evidence file, never silently skipped.  The
# helpers only read the process (gdb detaches when done): the decision to
# kill stays the caller's.

# wait_gone PID SECS
wait_gone() {
	_wg_i=0
	while kill -0 "$1" 2>/dev/null && [ "$_wg_i" -lt $(($2 * 10)) ]; do
		sleep 0.1
		_wg_i=$((_wg_i + 1))
	done
	! kill -0 "$1" 2>/dev/null
}

# wait_until SECS PID CMD...: for a process that is starting up
wait_until() {
	_wu_i=0
	_wu_max=$(($1 * 10))
	_wu_pid=$2
	shift 2
	until "$@"; do
		_wu_i=$((_wu_i + 1))
		[ "$_wu_i" -le "$_wu_max" ] && kill -0 "$_wu_pid" 2>/dev/null || return 1
		sleep 0.1
	done
}

# collect_evidence PID DIR [LABEL]
collect_evidence() {
	_ce_pid=$1
	_ce_dir=$2
	_ce_base=$_ce_dir/${3:-evidence}.$_ce_pid
	mkdir -p "$_ce_dir" || return 1
	kill -0 "$_ce_pid" 2>/dev/null || {
		echo "pid $_ce_pid already gone" > "$_ce_base.stacks"
		return 0
	}
	{
		echo "# $(date -u '+%Y-%m-%d %H:%M:%S') pid $_ce_pid: $(tr '\0' ' ' < /proc/"$_ce_pid"/cmdline 2>/dev/null)"
		if command -v gdb >/dev/null 2>&1; then
			timeout 120 gdb -batch -nx -p "$_ce_pid" \
			    -ex 'set pagination off' -ex 'set print thread-events off' \
			    -ex 'info threads' -ex 'thread apply all bt' 2>&1 |
			    grep -v -E '^\[New LWP|^warning: .*(libthread_db|separate debug)'
		else
			echo "gdb not installed (apt-get install gdb): no stacks"
		fi
	} > "$_ce_base.stacks"
	{
		if command -v ss >/dev/null 2>&1; then
			echo "# ss -xp (unix sockets of pid $_ce_pid)"
			ss -xpn 2>/dev/null | grep -E "^Netid|pid=$_ce_pid,"
			echo "# ss -tp (TCP sockets of pid $_ce_pid)"
			ss -tpn -a 2>/dev/null | grep -E "^State|pid=$_ce_pid,"
		else
			echo "ss not installed (apt-get install iproute2): no sockets"
		fi
	} > "$_ce_base.sockets"
	{
		cat /proc/"$_ce_pid"/status 2>/dev/null
		echo "# threads: tid state wchan"
		for _ce_t in /proc/"$_ce_pid"/task/*; do
			echo "${_ce_t##*/} $(cut -d' ' -f3 "$_ce_t/stat" 2>/dev/null) $(cat "$_ce_t/wchan" 2>/dev/null)"
		done
		echo "# descriptors"
		ls -l /proc/"$_ce_pid"/fd 2>/dev/null
	} > "$_ce_base.proc"
	echo "evidence of pid $_ce_pid in $_ce_base.{stacks,sockets,proc}"
}

# stop_or_evidence PID SECS DIR [LABEL]
stop_or_evidence() {
	kill -TERM "$1" 2>/dev/null || return 0
	wait_gone "$1" "$2" && return 0
	collect_evidence "$1" "$3" "${4:-}" >&2
	kill -KILL "$1" 2>/dev/null
	wait_gone "$1" 5
	return 1
}
