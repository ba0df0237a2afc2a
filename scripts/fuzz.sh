#!/usr/bin/env bash
# Run every native Go fuzz target of the repository for a while each.
# Usage: scripts/fuzz.sh [DURATION]   (default 30s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
found=0

# fuzz_once runs one target; its output goes to /tmp/circa-fuzz.log.
fuzz_once() {
	go test -run='^$' -fuzz="^${2}\$" -fuzztime="$fuzztime" "$1" >/tmp/circa-fuzz.log 2>&1
}

# boundary_race recognises Go's fuzz coordinator failing a target with a bare
# "context deadline exceeded" when -fuzztime ends while a worker is busy
# (go.dev/issue/75804, fixed in Go 1.27): nothing failed and no input was
# written. Anything else is a finding.
boundary_race() {
	grep -q 'context deadline exceeded' /tmp/circa-fuzz.log &&
		! grep -qE 'Failing input written|panic:|fuzz_test\.go:[0-9]+:|_test\.go:[0-9]+:' /tmp/circa-fuzz.log
}

while IFS=: read -r file target; do
	pkg="./$(dirname "${file#./}")"
	echo "fuzz ${pkg} ${target} (${fuzztime})"
	if ! fuzz_once "$pkg" "$target"; then
		if boundary_race; then
			echo "fuzz: ${pkg} ${target} hit the fuzz coordinator's deadline race; running it again"
			fuzz_once "$pkg" "$target" || {
				cat /tmp/circa-fuzz.log
				echo "fuzz: ${pkg} ${target} failed; the failing input is in ${pkg}/testdata/fuzz/${target}/" >&2
				exit 1
			}
		else
			cat /tmp/circa-fuzz.log
			echo "fuzz: ${pkg} ${target} failed; the failing input is in ${pkg}/testdata/fuzz/${target}/" >&2
			exit 1
		fi
	fi
	found=$((found + 1))
done < <(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' . -H | sed -E 's/func //' | sort)
echo "fuzz: ${found} targets ran for ${fuzztime} each"
