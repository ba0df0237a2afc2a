#!/usr/bin/env bash
# Run a command as on a machine without the outside programs make conformance
# installs (xmllint, stunnel, sshd, marclint, chromium): PATH becomes a directory of links to every
# other program on the current PATH. .ci/run runs make test this way, so that
# a test that needs one of them without saying so fails in CI, not in a fresh
# clone on someone's laptop.
# Usage: scripts/without-outside-tools.sh COMMAND [ARG...]
set -euo pipefail
bin=$(mktemp -d "${TMPDIR:-/tmp}/circa-path.XXXXXX")
trap 'rm -rf "$bin"' EXIT
IFS=: read -ra dirs <<<"$PATH"
# Last directory first, each link replacing the one before: the first
# directory on PATH wins, as it does for the shell.
for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
	progs=()
	for p in "${dirs[i]}"/*; do
		case ${p##*/} in
		xmllint | stunnel | stunnel4 | sshd | marclint | chromium) continue ;;
		esac
		if [ -x "$p" ] && [ ! -d "$p" ]; then
			progs+=("$p")
		fi
	done
	if [ ${#progs[@]} -gt 0 ]; then
		ln -sf -t "$bin" "${progs[@]}"
	fi
done
PATH=$bin "$@"
