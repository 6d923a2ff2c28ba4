#!/bin/sh
# The walls between Signet's parts (docs/architecture.md), checked on the
# source tree and on how the build links the programs:
#  - web/ includes neither libp11 nor the keyholder's internals;
#  - web/ opens no store transaction and calls no keyholder function: it
#    parses, calls the core (appliance/core/, appliance/sign/keys.c) and
#    renders;
#  - only appliance/store/ includes lmdb.h or names the database's files;
#  - signet-keyholder links nothing of Signet but appliance/lib;
#  - signet-console links neither the store nor libcurl, libjose, Argon2.
# Usage: walls.sh SOURCE_DIR BUILD_DIR. Prints every breach; exit 1 if any.
set -u
src=${1:?source directory}
build=${2:?build directory}
fail=0

breach() {
	printf 'wall: %s\n' "$*"
	fail=1
}

sources() {
	find "$@" -path "$src/web/.civetweb" -prune -o -type f \
		\( -name '*.c' -o -name '*.h' \) -print
}

n=$(sources "$src/appliance" "$src/web" "$src/pkcs11" | grep -c .)
[ "$n" -ge 10 ] || breach "found only $n source files under $src"

# web/: the network-facing layer never reaches into the token's side.
for f in $(sources "$src/web"); do
	grep -nE '#include[[:space:]]*[<"](libp11|p11-kit/|pkcs11|khproto|token)[a-z0-9_-]*\.h[>"]' "$f" |
		while IFS= read -r l; do
			echo "wall: ${f#"$src"/}:$l: web/ includes a keyholder or PKCS#11 header"
		done
done | grep . && fail=1

# web/: transactions and the token are the core's; a handler asks a
# function of appliance/core/ or appliance/sign/keys.c (comments and
# strings are not calls, but a name followed by '(' is taken for one).
for f in $(sources "$src/web"); do
	grep -nE '(^|[^A-Za-z0-9_])(store_txn_(begin|commit)|kh_[a-z0-9_]+)[[:space:]]*\(' "$f" |
		while IFS= read -r l; do
			echo "wall: ${f#"$src"/}:$l: web/ opens a store transaction or calls the keyholder; call a core function instead"
		done
done | grep . && fail=1

# LMDB and the database's files belong to the store.
for f in $(sources "$src/appliance" "$src/web" "$src/pkcs11"); do
	case "$f" in "$src"/appliance/store/*) continue ;; esac
	grep -nE '#include[[:space:]]*<lmdb\.h>|"data\.mdb"|"lock\.mdb"|"%s/db"|"/db"' "$f" |
		while IFS= read -r l; do
			echo "wall: ${f#"$src"/}:$l: LMDB or its files outside appliance/store/"
		done
done | grep . && fail=1

# link_line TARGET: the command that links TARGET in the build.
link_line() {
	ninja -C "$build" -t commands "$1" 2>/dev/null | tail -n 1
}

kh=$(link_line pkcs11/signet-keyholder)
if [ -z "$kh" ]; then
	breach "no link command for pkcs11/signet-keyholder in $build"
else
	for a in $(printf '%s\n' "$kh" | tr ' ' '\n' | grep -E '\.a$'); do
		case "$a" in
		appliance/lib/*) ;;
		*) breach "signet-keyholder links $a (only appliance/lib may be linked)" ;;
		esac
	done
	for o in $(printf '%s\n' "$kh" | tr ' ' '\n' | grep -E '\.o$'); do
		case "$o" in
		pkcs11/signet-keyholder.p/*) ;;
		*) breach "signet-keyholder is built from $o, outside pkcs11/" ;;
		esac
	done
fi

con=$(link_line signet-console)
if [ -z "$con" ]; then
	breach "no link command for signet-console in $build"
else
	for a in $(printf '%s\n' "$con" | tr ' ' '\n' | grep -E '\.a$'); do
		case "$a" in
		appliance/lib/* | appliance/console/*) ;;
		*) breach "signet-console links $a (only appliance/lib and the console protocol)" ;;
		esac
	done
	for l in lmdb curl jose argon2; do
		if printf '%s\n' "$con" | tr ' ' '\n' | grep -qE "(^-l$l$|/lib$l[.-])"; then
			breach "signet-console links lib$l"
		fi
	done
fi
if [ -f "$build/signet-console" ] && command -v readelf > /dev/null; then
	for l in liblmdb libcurl libjose libargon2; do
		if readelf -d "$build/signet-console" | grep NEEDED | grep -q "$l"; then
			breach "signet-console needs $l at run time"
		fi
	done
fi

[ "$fail" = 0 ] && echo "walls hold: web/ (headers, transactions, keyholder calls), the store, the keyholder, the console"
exit "$fail"
