#!/bin/sh
# Demo: start the private sendmail + ./mailcorral stack, send the validation
# suite through it and print a table (message, technique, what the filter
# did, PASS/FAIL).  Stops everything it started.
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mailcorral-demo-$$}
SMTP_PORT=${SMTP_PORT:-2525}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT PYTHONDONTWRITEBYTECODE
STACK="sh $TOP/testsuite/stack/stack.sh"
started=""
cleanup() { [ -n "$started" ] && { started=""; $STACK stop; }; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

[ -x "${MAILCORRAL:-./mailcorral}" ] || { echo "demo.sh: ${MAILCORRAL:-./mailcorral} not built (make)" >&2; exit 1; }
MC_CONF=$TOP/testsuite/stack/mailcorral-test.conf $STACK start || exit 1
started=1
python3 testsuite/stack/suite.py corpus testsuite/corpus --table > "$STACK_DIR/demo.out"
rc=$?
sed -n '/^msg /,$p' "$STACK_DIR/demo.out"
started=""
$STACK stop
[ -d "$STACK_DIR" ] && rm -rf "$STACK_DIR"
exit $rc
