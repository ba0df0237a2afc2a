#!/usr/bin/env bash
# Run every native Go fuzz target of the repository for a while each.
# Usage: scripts/fuzz.sh [DURATION]   (default 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
found=0
while IFS=: read -r file target; do
	pkg="./$(dirname "${file#./}")"
	echo "fuzz ${pkg} ${target} (${fuzztime})"
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/circa-fuzz.log 2>&1 || {
		cat /tmp/circa-fuzz.log
		echo "fuzz: ${pkg} ${target} failed; the failing input is in ${pkg}/testdata/fuzz/${target}/" >&2
		exit 1
	}
	found=$((found + 1))
done < <(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . -H | sed -E 's/func //' | sort)
echo "fuzz: ${found} targets ran for ${fuzztime} each"
