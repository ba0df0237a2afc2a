#!/bin/sh
# Prints the package's upstream version from git, so that every build of a
# commit is named alike and later commits sort later: a tag vX.Y.Z gives
# X.Y.Z, N commits after it X.Y.Z+gitN.HASH; before the first tag
# 0.0.0+gitN.HASH, N counting all commits. Uncommitted changes add ".dirty".
set -eu
if desc=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
	base=${desc%-*-g*}
	base=${base#v}
	rest=${desc#"v$base"-}
	count=${rest%%-*}
	hash=${rest#*-g}
	if [ "$count" = 0 ]; then
		version=$base
	else
		version=$base+git$count.$hash
	fi
else
	version=0.0.0+git$(git rev-list --count HEAD).$(git rev-parse --short HEAD)
fi
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	version=$version.dirty
fi
echo "$version"
