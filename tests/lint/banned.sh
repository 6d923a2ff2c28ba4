#!/bin/sh
# Functions Signet's code does not call (docs/style.md, after curl's list):
# unbounded copies and formatting, and conversions that cannot report
# errors. Prints each use and fails if there is one. Every .c and .h file
# under appliance/, pkcs11/ and web/ is checked, in every subfolder
# (CivetWeb's fetched source in web/.civetweb is not Signet's code).
set -u
src=${1:-$(dirname "$0")/../..}
banned='sprintf|vsprintf|strcpy|stpcpy|strcat|strncat|strncpy|strtok|gets|atoi|atol|atoll|atof|alloca|mktemp|tmpnam|rand|srand'
files=$(find "$src/appliance" "$src/pkcs11" "$src/web" -path "$src/web/.civetweb" \
	-prune -o -type f \( -name '*.c' -o -name '*.h' \) -print | sort)
n=$(printf '%s\n' "$files" | grep -c .)
if [ "$n" -lt 10 ]; then
	echo "banned.sh: found only $n source files under $src: wrong directory?"
	exit 1
fi
# shellcheck disable=SC2086
hits=$(grep -nE "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" $files |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
	echo "banned functions in use (use snprintf, bounded buffers, strtol with checks, RAND_bytes):"
	echo "$hits"
	exit 1
fi
# Numbers from text go through num_parse_long (appliance/lib/num.c), the
# one place strtol's corner cases are handled.
conv=$(grep -nE "(^|[^_a-zA-Z0-9.>])(strto(l|ll|ul|ull|imax|umax))[[:space:]]*\(" $files |
	grep -v "^$src/appliance/lib/num.c:" |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$conv" ]; then
	echo "strtol and friends outside appliance/lib/num.c (use num_parse_long):"
	echo "$conv"
	exit 1
fi
echo "no banned function in the $n source files of appliance/, pkcs11/, web/"
