#!/usr/bin/env bash
# The Debian package against Debian's own tools, as a systems librarian
# would meet it: lintian (no errors), dpkg -i, systemd-analyze verify on the
# installed unit, the installed binary run as the circa user with the unit's
# command line (up to /healthz answering) and admin commands reaching it with
# the installed configuration file, then dpkg --purge and a check that
# it left nothing behind. Runs as root on a machine without circa installed
# and without a running systemd (as CI does). DEB_PACKAGE names the .deb
# (make deb builds it; make conformance passes it).
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${DEB_PACKAGE:-}
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
	echo "deb-conformance: DEB_PACKAGE must name the package (make deb builds it)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deb-conformance: needs root, for dpkg -i and --purge" >&2
	exit 1
fi
if dpkg-query -W -f '${Status}' circa 2>/dev/null | grep -q 'installed'; then
	echo "deb-conformance: circa is already installed here; this check installs and purges its own" >&2
	exit 1
fi
started=$(date +%s)
step() { echo "deb-conformance: $* ($(($(date +%s) - started)) s)"; }
fail() {
	echo "deb-conformance: FAIL: $*" >&2
	exit 1
}

need=()
command -v lintian >/dev/null || need+=(lintian)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v curl >/dev/null || need+=(curl)
command -v man >/dev/null || need+=(man-db)
command -v logrotate >/dev/null || need+=(logrotate)
if [ ${#need[@]} -gt 0 ]; then
	step "installing ${need[*]}"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "lintian $deb"
# Warnings are shown; the package's overrides (packaging/lintian-overrides)
# say why each silenced tag does not apply.
lintian --fail-on error "$deb" ||
	fail "lintian reports errors"

server=
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
	dpkg --purge circa >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "dpkg -i"
dpkg -i "$deb"
getent passwd circa >/dev/null || fail "no circa user"
[ "$(stat -c %U:%a /var/lib/circa)" = circa:750 ] || fail "/var/lib/circa is $(stat -c %U:%a /var/lib/circa)"
[ -s /var/lib/circa/tls/server.pem ] || fail "no first TLS certificate in /var/lib/circa/tls"
[ "$(stat -c %U /var/lib/circa/tls/server-key.pem)" = circa ] || fail "server key not the circa user's"
man -w circa-serve >/dev/null || fail "no man page for circa serve"
grep -q '_circa()\|__circa' /usr/share/bash-completion/completions/circa || fail "no bash completion"
rotate=$(logrotate --debug /etc/logrotate.d/circa 2>&1) || fail "logrotate: $rotate"
grep -q '/var/log/circa/\*.log' <<<"$rotate" || fail "logrotate does not read its snippet: $rotate"
if grep -q '^error' <<<"$rotate"; then fail "logrotate: $rotate"; fi

unit=/lib/systemd/system/circa.service
step "systemd-analyze verify $unit"
# Without a running systemd it still checks every directive, the binary
# named by ExecStart and the man page named by Documentation.
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
if [ -n "$out" ]; then fail "systemd-analyze verify: $out"; fi
for want in Type=notify WatchdogSec= NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
	PrivateDevices=yes StateDirectory=circa CapabilityBoundingSet= RestrictAddressFamilies= \
	SystemCallFilter=@system-service User=circa; do
	grep -q "^$want" "$unit" || fail "the unit lacks $want"
done

step "circa config check, then circa serve as the circa user with the unit's command line"
conf=/etc/circa/circa.yaml
grep -q "^ExecStart=/usr/bin/circa serve --config $conf\$" "$unit" || fail "the unit does not serve $conf"
dpkg-query -W -f '${Conffiles}' circa | grep -q " $conf " || fail "$conf is not a conffile"
runuser -u circa -- circa config check "$conf" || fail "the installed $conf does not check"
# As a librarian would: edit the installed file. Every address on a free
# loopback port (this machine may be serving on the default ones), and the
# log to a file in /var/log/circa, which the unit lets circa write.
sed -i -e 's/^\(  addr: \)"[^"]\+"/\1"127.0.0.1:0"/' -e 's/^\(  tls_addr: \).*/\1"127.0.0.1:0"/' \
	-e 's|^\(  file: \)""|\1/var/log/circa/circa.log|' -e 's/^\(  name: \)circa catalogue/\1Conformance Library/' "$conf"
runuser -u circa -- circa config check "$conf" || fail "the edited $conf does not check"
read -r -a cmd <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
out=$(mktemp)
setpriv --reuid circa --regid circa --init-groups --no-new-privs "${cmd[@]}" >"$out" 2>"$out.err" &
server=$!
http=
for _ in $(seq 300); do
	http=$(sed -n 's/^  http *\(http:\/\/[^ ]*\).*/\1/p' "$out")
	if [ -n "$http" ]; then break; fi
	kill -0 "$server" 2>/dev/null || fail "circa serve exited: $(cat "$out.err")"
	sleep 0.1
done
[ -n "$http" ] || fail "circa serve printed no address: $(cat "$out" "$out.err")"
health=$(curl -fsS "$http/healthz") || fail "/healthz: $health"
grep -q '"status":"ok"' <<<"$health" || fail "/healthz: $health"
curl -fsS "$http/oai?verb=Identify" | grep -q '<repositoryName>Conformance Library</repositoryName>' ||
	fail "the server did not take oai.name from $conf"
[ "$(stat -c %U /var/lib/circa/circa.db)" = circa ] || fail "circa.db is not the circa user's"
logs=/var/log/circa/circa.log
grep -q '"message":"serving"' "$logs" || fail "no JSON log in $logs (log.file)"
# Admin commands as docs/systemd.md runs them: no --data-dir, the installed
# file names the data directory, the running server's admin socket answers,
# from a directory the circa user cannot write, where ./data would fail.
admin=$(cd / && runuser -u circa -- circa library add CONF --name "Conformance Library" --timezone Europe/Berlin --currency EUR 2>&1) ||
	fail "circa library add as circa without --data-dir: $admin"
admin=$(cd / && runuser -u circa -- circa library list 2>&1) || fail "circa library list as circa without --data-dir: $admin"
grep -q '^CONF  *Conformance Library' <<<"$admin" || fail "circa library list did not show the library just added: $admin"
grep -q '"message":"admin command"' "$logs" || fail "the admin commands did not reach the server's admin socket"
[ "$(stat -c %U:%a "$logs")" = circa:640 ] || fail "$logs is $(stat -c %U:%a "$logs")"
# What logrotate does: rename, then SIGHUP (systemctl reload); the TLS
# reload that follows the reopen logs to the new file.
mv "$logs" "$logs.1"
kill -HUP "$server"
for _ in $(seq 100); do
	if grep -qs '"message":"TLS certificate reloaded"' "$logs"; then break; fi
	sleep 0.1
done
grep -qs '"message":"TLS certificate reloaded"' "$logs" || fail "no new $logs after SIGHUP"
kill -TERM "$server"
wait "$server" || fail "circa serve did not stop cleanly: $(tail -5 "$logs")"
server=
grep -q '"message":"stopped"' "$logs" || fail "no last line in $logs"
rm -f "$out" "$out.err"

step "dpkg --purge"
dpkg --purge circa
for gone in /usr/bin/circa "$unit" /var/lib/circa /var/log/circa /etc/logrotate.d/circa /etc/circa \
	/etc/systemd/system/multi-user.target.wants/circa.service; do
	if [ -e "$gone" ]; then fail "$gone is left after purge"; fi
done
step "done: lintian, install, unit, serve as circa, admin commands, purge"
