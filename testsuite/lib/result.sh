# result.sh -- sourced by the shell test scripts: one result counter and
# the helpers every suite had its own copy of.  The python suites count
# with testsuite/lib/mctest.py (Results), which writes what
# result_add_file reads.
#
#   . "$TOP/testsuite/lib/result.sh"
#   pass TEXT / fail TEXT     print PASS/FAIL TEXT and count it
#   skip TEXT                 print SKIP TEXT and count it (nskip)
#   kv LINE KEY               the value of KEY in a "k=v k=v" line
#   result_line               "N passed, N failed" (the closing line)
#   result_ok                 0 when nothing failed
#   result_add P F [S]        add a driver's passed, failed (and skipped)
#   result_add_file FILE      add the "PASSED FAILED SKIPPED" that a
#                             python driver saved (mctest Results.save);
#                             1, and nothing added, when FILE has none
#   result_abort TEXT         fail TEXT, print the closing line, exit 1
#                             (a suite that cannot even start)
npass=0
nfail=0
nskip=0

pass() { npass=$((npass + 1)); echo "PASS $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL $*"; }
skip() { nskip=$((nskip + 1)); echo "SKIP $*"; }
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
result_line() { echo "$npass passed, $nfail failed"; }
result_ok() { [ "$nfail" = 0 ]; }
result_add() { npass=$((npass + $1)); nfail=$((nfail + $2)); nskip=$((nskip + ${3:-0})); }
result_add_file() {
	_ra_p="" _ra_f="" _ra_s=""
	[ -f "$1" ] && read -r _ra_p _ra_f _ra_s _ra_rest < "$1"
	case "$_ra_p$_ra_f" in
	''|*[!0-9]*) return 1 ;;
	esac
	case "$_ra_s" in
	''|*[!0-9]*) _ra_s=0 ;;
	esac
	result_add "$_ra_p" "$_ra_f" "$_ra_s"
}
result_abort() { fail "$*"; result_line; exit 1; }
