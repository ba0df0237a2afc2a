#!/usr/bin/env bash
# Checks the example alert rules (docs/circa-alerts.yaml) with Prometheus's
# own promtool: the rules must parse, and their unit tests
# (docs/circa-alerts.test.yaml: input series and the alerts they must and
# must not raise) must pass. Installs Debian's prometheus package, which
# provides promtool, when it is missing. That every metric the rules name is
# one circa exports is checked by a Go test scraping a running server
# (TestMetricsOfARunningServer).
set -euo pipefail
cd "$(dirname "$0")/../docs"

if ! command -v promtool >/dev/null; then
	echo "alert rules: installing prometheus (for promtool)"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
echo "alert rules: promtool check rules and test rules"
promtool check rules circa-alerts.yaml
promtool test rules circa-alerts.test.yaml
