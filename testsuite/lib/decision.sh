# decision.sh -- sourced by the shell test scripts that read the daemon's
# log: its decision line, one per message, as verdict.c verdict_log()
# writes it through log.c ("... mailcorral[PID]: QID: action=A changes=...
# from=<S> nrcpt=N size=N").  The python suites read it with
# testsuite/lib/mctest.py (parse_decision, decision_lines): change both
# together.
#
#   . "$TOP/testsuite/lib/decision.sh"
#   decisions LOG [QID]       how many decision lines LOG holds (of QID)
#   decision_lines LOG [QID]  those lines
decision_lines() {
	grep -E "\]: ${2:-[^ ]+}: action=[^ ]+ " "$1" 2>/dev/null
}
decisions() {
	decision_lines "$@" | wc -l
}
