#!/bin/sh
# Functions Signet's code does not call (style.md, after curl's list):
# unbounded copies and formatting, and conversions that cannot report
# errors. Prints each use and fails if there is one.
set -u
src=${1:-$(dirname "$0")/../..}
banned='sprintf|vsprintf|strcpy|stpcpy|strcat|strncat|strncpy|strtok|gets|atoi|atol|atoll|atof|alloca|mktemp|tmpnam|rand|srand'
hits=$(grep -nE "(^|[^_a-zA-Z0-9.>])($banned)[[:space:]]*\(" \
	"$src"/appliance/*.c "$src"/appliance/*.h "$src"/pkcs11/*.c \
	"$src"/pkcs11/*.h "$src"/web/*.c "$src"/web/*.h 2>/dev/null |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)')
if [ -n "$hits" ]; then
	echo "banned functions in use (use snprintf, bounded buffers, strtol with checks, RAND_bytes):"
	echo "$hits"
	exit 1
fi
echo "no banned function in appliance/, pkcs11/, web/"
