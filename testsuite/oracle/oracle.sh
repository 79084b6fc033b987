#!/bin/sh
# make oracle: the differential MIME oracle on its own stack (doc/oracle.md).
#   ORACLE_COUNT (100000) mutated messages of ORACLE_SEED (time of day by
#   default; printed), through a private sendmail + ./mailcorral on
#   SMTP_PORT (2760), read back by the five oracles and judged by
#   ./mailcorral-judge.  Escapes go to ORACLE_ESCAPES
#   (testsuite/oracle/escapes.new) with a README line each.
#   ORACLE_SESSIONS (4) parallel SMTP sessions, ORACLE_JOBS (2) readers.
# Ends with "N passed, N failed"; exit 1 on any escape.
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
STACK_DIR=${STACK_DIR:-/tmp/mc-oracle-$$}
SMTP_PORT=${SMTP_PORT:-2760}
MILTER_SPEC=${MILTER_SPEC:-unix:$STACK_DIR/mailcorral.sock}
PYTHONDONTWRITEBYTECODE=1
export STACK_DIR SMTP_PORT MILTER_SPEC PYTHONDONTWRITEBYTECODE
COUNT=${ORACLE_COUNT:-100000}
SEED=${ORACLE_SEED:-$(date +%s)}
ESC=${ORACLE_ESCAPES:-$TOP/testsuite/oracle/escapes.new}

sh testsuite/oracle/setup.sh || exit 1
STACK="sh $TOP/testsuite/stack/stack.sh"
started=""
cleanup() { [ -n "$started" ] && $STACK stop; started=""; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
# copies of an earlier run would be read as this run's (same recipients)
rm -rf "$STACK_DIR/mail"
MC_CONF=$TOP/testsuite/stack/mailcorral-test.conf $STACK start || exit 1
started=1
echo "oracle: seed $SEED, $COUNT messages (ORACLE_SEED=$SEED to repeat)"
/usr/bin/python3 testsuite/oracle/oracle.py run --seed "$SEED" \
	--count "$COUNT" --regress testsuite/oracle/regress \
	--sessions "${ORACLE_SESSIONS:-4}" --jobs "${ORACLE_JOBS:-2}" \
	--judge-conf "$STACK_DIR/mailcorral.conf" --escapes "$ESC"
rc=$?
cleanup
[ $rc = 0 ] && rm -rf "$STACK_DIR"
exit $rc
