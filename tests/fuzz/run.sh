#!/bin/sh
# Runs the libFuzzer targets of a -Dfuzz=true build one after another,
# each for SECONDS (default 150) in two processes (libFuzzer's fork mode:
# a crash is saved and fuzzing goes on). New inputs go to a
# scratch corpus (tests/fuzz/corpus/NAME/ is only read: it stays small);
# a crash lands in OUT/NAME/ with libFuzzer's name for it (crash-…,
# leak-…, timeout-…), to be minimised with -minimize_crash=1 and kept
# under tests/fuzz/crashes/NAME/ until it is fixed.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS [OUT [NAME...]]]
set -eu

build=$(cd "$1" && pwd)
secs=${2:-150}
out=${3:-/tmp/signet-fuzz}
shift $(($# < 3 ? $# : 3))
here=$(cd "$(dirname "$0")" && pwd)
# every target has a seed corpus: the corpus folders name them all
names=${*:-$(cd "$here/corpus" && ls)}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
for name in $names; do
	bin=$build/tests/fuzz/fuzz-$name
	if [ ! -x "$bin" ]; then
		echo "run.sh: $bin missing: configure with -Dfuzz=true" >&2
		exit 2
	fi
	mkdir -p "$out/$name/work"
	# a frame of the keyholder protocol is up to 16388 bytes
	max_len=8192
	[ "$name" = khproto ] && max_len=17000
	# the compound file seeds are up to 36 KiB (4096-byte sectors)
	[ "$name" = msi ] && max_len=40000
	echo "== $name: $secs s, log $out/$name/log"
	if ! (cd "$out/$name" && "$bin" -max_total_time="$secs" \
	    -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" -fork=2 \
	    -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -artifact_prefix="$out/$name/" \
	    "$out/$name/work" "$here/corpus/$name" > "$out/$name/log" 2>&1); then
		status=1
	fi
	ls "$out/$name" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' || true
done
exit $status
