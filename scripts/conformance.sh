#!/usr/bin/env bash
# Checks against real outside parts: xmllint with the official NCIP and
# OAI-PMH schemas (schemas/, built into circa), Debian's OpenSSH sshd as an
# SFTP server on loopback, stunnel as a kiosk-side TLS client, curl as an
# NCIP partner's HTTPS client with a client certificate, nginx as the
# reverse proxy of docs/https.md, OpenLDAP's slapd with TLS as the campus
# directory of docs/ldap.md, marclint (MARC::Lint) on the published
# catalogue, Debian's chromium on the status page
# (scripts/status-conformance.sh) and promtool on the example alert rules
# (scripts/alert-rules.sh). Installs what is missing with apt-get. Then the
# Debian package: lintian, install, unit, purge.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmllint >/dev/null || need+=(libxml2-utils)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || need+=(stunnel4)
command -v marclint >/dev/null || need+=(libmarc-lint-perl)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
if [ ${#need[@]} -gt 0 ]; then
	echo "conformance: installing ${need[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The status page in headless chromium (installs it when missing), with
# its screenshot kept as an artefact.
scripts/status-conformance.sh

# The example alert rules and their unit tests with promtool (installs it
# when missing).
scripts/alert-rules.sh

# The whole suite again with the outside parts present: the tests that need
# them skip in `make test` when they are missing and run here, where a
# missing one fails the test (internal/conformance). The browser test ran
# just above.
export CIRCA_CONFORMANCE=1
echo "conformance: schema validation (xmllint), OpenSSH sshd, stunnel, curl, nginx, slapd, marclint"
go test -count=1 -timeout 30m -skip '^TestStatusPageInChromium$' ./...

# The Debian package that make deb built: lintian, dpkg -i, the unit, the
# installed binary as the circa user, dpkg --purge.
scripts/deb-conformance.sh
