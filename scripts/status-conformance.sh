#!/usr/bin/env bash
# The status page in a real browser: installs Debian's chromium when it is
# missing, then runs TestStatusPageInChromium, which serves the demo library
# on free ports, connects two kiosks (plain SIP2 and SIP2 over TLS), signs a
# staff account in through the form in headless chromium, checks what the
# page shows and keeps a screenshot in ${CIRCA_ARTIFACTS:-artifacts}/status.png.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
	echo "status conformance: installing chromium"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

artifacts="${CIRCA_ARTIFACTS:-artifacts}"
mkdir -p "$artifacts"
export CIRCA_ARTIFACTS="$(cd "$artifacts" && pwd)"
export CIRCA_CONFORMANCE=1
echo "status conformance: the status page in $(chromium --version 2>/dev/null || echo chromium)"
start=$(date +%s)
go test -count=1 -run '^TestStatusPageInChromium$' -v ./cmd/circa | grep -E '^(---|ok|FAIL|PASS)|status_test'
echo "status conformance: done in $(($(date +%s) - start))s; screenshot $CIRCA_ARTIFACTS/status.png"
