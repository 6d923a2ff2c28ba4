#!/bin/bash
# Runs every test of Signet: the unit tests (meson test) of the normal build
# and of the AddressSanitizer + UndefinedBehaviorSanitizer build, then the
# pytest integration suite and the browser suite (tests/browser) against
# each build, and the integration tests that use the token once more
# through p11-kit's remoting (normal build). Ends with one line
# "N passed, N failed" summing all of them; exits non-zero if anything failed.
set -uo pipefail

repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo" || exit 1
out=$repo/tests/out
mkdir -p "$out"
py=/usr/bin/python3

passed=0
failed=0
skipped=0

note() { printf '\n=== test.sh: %s\n' "$*"; }

# fail_step WHAT: a step that is not a test runner failed; it counts as one
# failed test so the total can never hide it.
fail_step() {
	printf 'test.sh: FAILED: %s\n' "$*" >&2
	failed=$((failed + 1))
}

finish() {
	if [ "$skipped" -gt 0 ]; then
		printf 'test.sh: %d skipped\n' "$skipped"
	fi
	printf '%d passed, %d failed\n' "$passed" "$failed"
	[ "$failed" -eq 0 ]
	exit
}

# add "P F S": adds a counter triple printed by the parsers below.
add() {
	local p f s
	read -r p f s <<< "$1"
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

note "dependencies"
if ! scripts/deps.sh; then
	fail_step "scripts/deps.sh"
	finish
fi

# build DIR [meson options...]
build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" || return 1
	fi
	ninja -C "$dir"
}

builds=()
note "build (debugoptimized)"
if build build; then builds+=(build); else fail_step "build of build/"; fi
note "build-asan (address,undefined)"
if build build-asan -Db_sanitize=address,undefined; then
	builds+=(build-asan)
else
	fail_step "build of build-asan/"
fi

# Counts results of a meson testlog.json: one JSON object per line.
count_meson() {
	"$py" - "$1" <<-'EOF'
	import json, sys
	p = f = s = 0
	try:
	    lines = open(sys.argv[1]).read().splitlines()
	except FileNotFoundError:
	    lines = []
	for line in lines:
	    line = line.strip()
	    if not line:
	        continue
	    r = json.loads(line).get("result", "")
	    if r in ("OK", "EXPECTEDFAIL"):
	        p += 1
	    elif r == "SKIP":
	        s += 1
	    else:
	        f += 1
	print(p, f, s)
	EOF
}

# Counts results of a pytest JUnit XML file; a test with an error in its
# setup or teardown counts as failed.
count_junit() {
	"$py" - "$1" <<-'EOF'
	import sys
	import xml.etree.ElementTree as ET
	p = f = s = 0
	try:
	    root = ET.parse(sys.argv[1]).getroot()
	except (FileNotFoundError, ET.ParseError):
	    print(0, 0, 0)
	    sys.exit()
	for tc in root.iter("testcase"):
	    tags = {c.tag for c in tc}
	    if tags & {"failure", "error"}:
	        f += 1
	    elif "skipped" in tags:
	        s += 1
	    else:
	        p += 1
	print(p, f, s)
	EOF
}

for b in "${builds[@]}"; do
	note "unit tests ($b)"
	rm -f "$b/meson-logs/testlog.json"
	meson test -C "$b" --print-errorlogs
	rc=$?
	counts=$(count_meson "$b/meson-logs/testlog.json")
	add "$counts"
	read -r _ f _ <<< "$counts"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail_step "meson test -C $b exited $rc"
	fi
done

# integration WHAT XML LIMIT [VAR=VALUE...] -- PYTEST-ARGS...: one pytest
# run of the integration suite, at most LIMIT seconds, counted from XML.
integration() {
	local what=$1 xml=$2 limit=$3 env=() rc counts p f
	shift 3
	while [ "$1" != -- ]; do
		env+=("$1")
		shift
	done
	shift
	rm -f "$xml"
	env "${env[@]}" timeout -k 10 "$limit" "$py" -m pytest "$@" \
		-p no:cacheprovider -q -rfE --junitxml="$xml"
	rc=$?
	counts=$(count_junit "$xml")
	add "$counts"
	read -r p f _ <<< "$counts"
	# 1 means tests failed (counted above); anything else with nothing
	# counted as failed is a broken run: interrupted, timed out, usage
	# error or no tests collected.
	if [ "$rc" -ne 0 ] && { [ "$rc" -ne 1 ] || [ "$f" -eq 0 ]; }; then
		fail_step "pytest $what exited $rc"
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		fail_step "pytest $what ran no test"
	fi
}

for b in "${builds[@]}"; do
	note "integration tests ($b)"
	env=(SIGNET_BUILD="$repo/$b" PYTHONDONTWRITEBYTECODE=1)
	if [ "$b" = build-asan ]; then
		env+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:disable_coredump=1)
		env+=(UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0)
		if [ -f "$repo/tests/lsan.supp" ]; then
			env+=("LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp:print_suppressions=0")
		fi
	fi
	integration "against $b" "$out/integration-$b.xml" 2400 "${env[@]}" -- \
		tests/integration
done

# The tests that use the token once more with p11-kit's remoting between
# the keyholder and SoftHSM2, as a network HSM is reached
# (tests/integration/README.md, "Through p11-kit"), against the plain
# build: about 3 minutes.
p11kit_tests=(test_signing.py test_authenticode.py test_privsep.py
	test_keyholder_socket.py test_journal.py test_console.py
	test_token_wait.py test_tsa.py test_apply.py test_admin.py
	test_faults.py::test_keyholder_killed_with_requests_queued
	test_faults.py::test_keyholder_killed_under_load)
if [[ " ${builds[*]} " == *" build "* ]]; then
	note "integration tests through p11-kit (build)"
	integration "through p11-kit against build" "$out/integration-p11kit-build.xml" \
		900 SIGNET_BUILD="$repo/build" SIGNET_P11KIT=1 PYTHONDONTWRITEBYTECODE=1 -- \
		-o junit_suite_name=integration-p11kit "${p11kit_tests[@]/#/tests/integration/}"
fi

# Counts a node --test TAP report by its closing summary ("# pass N",
# "# fail N", "# cancelled N", "# skipped N", "# todo N"); cancelled
# tests (a failed before hook) count as failed.
count_tap() {
	"$py" - "$1" <<-'EOF'
	import re, sys
	n = {}
	try:
	    text = open(sys.argv[1]).read()
	except FileNotFoundError:
	    text = ""
	for k, v in re.findall(r"^# (pass|fail|cancelled|skipped|todo) (\d+)$", text, re.M):
	    n[k] = int(v)
	print(n.get("pass", 0), n.get("fail", 0) + n.get("cancelled", 0),
	      n.get("skipped", 0) + n.get("todo", 0))
	EOF
}

# The web interface in headless Debian Chromium, driven by playwright-core
# (pinned in tests/browser/package-lock.json), against each build.
note "browser tests: npm ci"
if (cd tests/browser && npm ci --no-audit --no-fund); then
	for b in "${builds[@]}"; do
		note "browser tests ($b)"
		tap=$out/browser-$b.tap
		rm -f "$tap"
		env=(SIGNET_BUILD="$repo/$b")
		if [ "$b" = build-asan ]; then
			env+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:disable_coredump=1)
			env+=(UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0)
			if [ -f "$repo/tests/lsan.supp" ]; then
				env+=("LSAN_OPTIONS=suppressions=$repo/tests/lsan.supp:print_suppressions=0")
			fi
		fi
		(cd tests/browser && env "${env[@]}" timeout -k 10 900 node --test \
			--test-concurrency=1 --test-reporter=spec \
			--test-reporter-destination=stdout --test-reporter=tap \
			--test-reporter-destination="$tap" tests/)
		rc=$?
		counts=$(count_tap "$tap")
		add "$counts"
		read -r p f _ <<< "$counts"
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			fail_step "browser tests against $b exited $rc"
		elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
			fail_step "browser tests against $b ran no test"
		fi
	done
else
	fail_step "npm ci in tests/browser"
fi

# The appliance image (image/test.sh): built from this tree, booted in
# qemu, provisioned and tested from outside; its own lines "PASS name" /
# "FAIL name" (tests/out/image/results.txt) count one test each.
# SIGNET_SKIP_IMAGE=1 leaves it out.
if [ "${SIGNET_SKIP_IMAGE:-0}" = 1 ]; then
	note "appliance image: skipped (SIGNET_SKIP_IMAGE=1)"
	skipped=$((skipped + 1))
elif ! scripts/deps.sh --image; then
	fail_step "scripts/deps.sh --image"
else
	note "appliance image (image/test.sh)"
	res=$out/image/results.txt
	rm -f "$res"
	timeout -k 30 1800 image/test.sh "$out/image"
	rc=$?
	p=0
	f=0
	if [ -f "$res" ]; then
		p=$(grep -c '^PASS ' "$res")
		f=$(grep -c '^FAIL ' "$res")
	fi
	add "$p $f 0"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		fail_step "image/test.sh exited $rc"
	elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		fail_step "image/test.sh ran no test"
	fi
fi

finish
