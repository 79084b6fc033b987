# suite.sh -- sourced by the e2e suite scripts (testsuite/e2e/*.sh) that run
# a python driver against the private stack of testsuite/stack/stack.sh:
# the stack's directory, its start and stop, and the driver run in the
# background so that a signal reaches the trap at once.  Needs TOP and
# STACK_DIR (and whatever stack.sh reads: SMTP_PORT, ...).
#
#   . "$TOP/testsuite/lib/suite.sh"
#   stack_fresh               stop a stack left in $STACK_DIR, then an
#                             empty $STACK_DIR (mode 755)
#   stack_start CONF          stack.sh start with MC_CONF=CONF, output in
#                             $STACK_DIR/stack-start.out; its status
#   stack_cleanup NAME        stack.sh stop when stack_start ran; says
#                             "NAME: stack stop failed" on stderr; its status
#   run_driver CMD...         CMD in the background, waited for; its status
#   driver_stop               SIGTERM to a driver still running, waited for
#   spamcorral_wiring D PORT USER  the MSP stand-in, robot log and alias
#                             in D/sc (below)
#   milterdrv_ready LABEL     testsuite/bench/milterdrv built (-Werror) and
#                             the bench corpus (corpus/mix) made; on failure
#                             result_abort "LABEL: ..." (needs result.sh)
STACK="sh $TOP/testsuite/stack/stack.sh"
stack_up=""
driver=""

stack_fresh() {
	if [ -f "$STACK_DIR/sendmail.pid" ] || [ -f "$STACK_DIR/mailcorral.bgpid" ]; then
		$STACK stop >/dev/null 2>&1
	fi
	rm -rf "$STACK_DIR"
	mkdir -p "$STACK_DIR" && chmod 755 "$STACK_DIR"
}

stack_start() {
	stack_up=1
	MC_CONF=$1 $STACK start >"$STACK_DIR/stack-start.out" 2>&1
}

stack_cleanup() {
	[ -n "$stack_up" ] || return 0
	stack_up=""
	$STACK stop >/dev/null 2>&1 && return 0
	echo "$1: stack stop failed" >&2
	return 1
}

run_driver() {
	"$@" &
	driver=$!
	wait "$driver"
	_rd_rc=$?
	driver=""
	return $_rd_rc
}

driver_stop() {
	[ -n "$driver" ] || return 0
	kill "$driver" 2>/dev/null
	wait "$driver" 2>/dev/null
	driver=""
}

milterdrv_ready() {
	cc -O2 -Wall -Wextra -Werror -pthread -o "$TOP/testsuite/bench/milterdrv.tmp.$$" \
	    "$TOP/testsuite/bench/milterdrv.c" || result_abort "$1: cannot build milterdrv"
	mv -f "$TOP/testsuite/bench/milterdrv.tmp.$$" "$TOP/testsuite/bench/milterdrv"
	[ -d "$TOP/testsuite/bench/corpus/mix" ] && return 0
	python3 "$TOP/testsuite/bench/gencorpus.py" "$TOP/testsuite/bench/corpus" >/dev/null ||
	    result_abort "$1: gencorpus.py"
}

# spamcorral_wiring DIR PORT USER: SpamCorral's plumbing in DIR/sc for a
# stack whose config is DIR/mailcorral.conf: the MSP stand-in DIR/sc/sendmail
# (testsuite/e2e/spamcorral/sendmail.py, submitting to 127.0.0.1:PORT; for
# sendmail_path), the robot's log DIR/sc/robot.log and the :include: file
# DIR/sc/robot.alias running spamcorral-robot, owned by USER.  Its status.
spamcorral_wiring() {
	mkdir -p "$1/sc" && chmod 755 "$1/sc" || return 1
	cat > "$1/sc/sendmail" <<EOF2
#!/bin/sh
exec python3 "$TOP/testsuite/e2e/spamcorral/sendmail.py" --port $2 "\$@"
EOF2
	chmod 755 "$1/sc/sendmail" &&
	install -o "$3" -m 600 /dev/null "$1/sc/robot.log" &&
	printf '"|%s -c %s -L %s"\n' "$TOP/spamcorral/spamcorral-robot" \
		"$1/mailcorral.conf" "$1/sc/robot.log" > "$1/sc/robot.alias" &&
	chown "$3:" "$1/sc/robot.alias" && chmod 644 "$1/sc/robot.alias"
}
