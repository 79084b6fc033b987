#!/bin/sh
# Set-up of the oracle's packages that are not Debian's: postal-mime from
# npm, at the version package-lock.json pins (npm ci).  Quiet and quick
# when node_modules already matches the lock file.
set -e
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || {
	echo "oracle setup: node/npm missing: run scripts/install-deps.sh" >&2
	exit 1
}
if [ ! -f node_modules/.package-lock.json ] ||
    ! cmp -s package-lock.json .lock-installed 2>/dev/null; then
	npm ci --no-audit --no-fund --loglevel=error
	cp package-lock.json .lock-installed
fi
