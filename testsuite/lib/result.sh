# result.sh -- sourced by the shell test scripts: one result counter and
# the helpers every suite had its own copy of.
#
#   . "$TOP/testsuite/lib/result.sh"
#   pass TEXT / fail TEXT     print PASS/FAIL TEXT and count it
#   kv LINE KEY               the value of KEY in a "k=v k=v" line
#   result_line               "N passed, N failed" (the closing line)
#   result_ok                 0 when nothing failed
npass=0
nfail=0

pass() { npass=$((npass + 1)); echo "PASS $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL $*"; }
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
result_line() { echo "$npass passed, $nfail failed"; }
result_ok() { [ "$nfail" = 0 ]; }
