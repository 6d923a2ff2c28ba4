#!/bin/sh
# Fetches CivetWeb 1.15 from Debian's source package into $1 (default
# web/.civetweb). Its source is never part of Signet's tree: it is fetched
# at build time and compiled into signetd (see web/meson.build).
set -eu
dest=${1:-"$(dirname "$0")/../web/.civetweb"}
case "$dest" in /*) ;; *) dest="$(pwd)/$dest" ;; esac
if [ -f "$dest/src/civetweb.c" ] && [ -f "$dest/include/civetweb.h" ]; then
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get source -q civetweb >apt-source.log 2>&1; then
	cat apt-source.log >&2
	echo "fetch-civetweb: 'apt-get source civetweb' failed; scripts/deps.sh enables deb-src and installs dpkg-dev" >&2
	exit 1
fi
dir=$(find . -maxdepth 1 -type d -name 'civetweb-1.15*' | head -n1)
if [ -z "$dir" ]; then
	echo "fetch-civetweb: Debian's source package is not CivetWeb 1.15" >&2
	exit 1
fi
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new"
mv "$dir" "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
