#!/bin/bash
# Hash signing through the PKCS#11 module on a fresh temporary instance,
# beside the raw token rate of the same run:
#   (a) raw RSA-3072 sign rate (bench_sign: libp11 and the keyholder)
#   (b) signatures/s through build/pkcs11/libsignet-pkcs11.so, 8 threads
#       with a session each, on demo-app/test-signing (no approval), and
#       C_Sign latency p50/p95 (p11_sign: each signature is a hash signing
#       request followed to Completed, and is verified)
# The figures are informational (tests/bench/README.md); the exit status
# is 0 unless something broke. Not part of the test suite.
#
# Usage: tests/bench/bench_pkcs11.sh [--build DIR] [--threads N]
#   [--per-thread N] [--keep]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$repo/build
keep=0
SIGN_SECONDS=5
THREADS=8
PER_THREAD=50

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--threads) THREADS=${2:?--threads needs a number}; shift 2 ;;
	--per-thread) PER_THREAD=${2:?--per-thread needs a number}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "bench_pkcs11: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$(cd "$build" && pwd)
for b in signetd signet pkcs11/signet-keyholder pkcs11/libsignet-pkcs11.so \
    tests/bench/bench_sign tests/bench/p11_sign; do
	[ -e "$build/$b" ] || { echo "bench_pkcs11: $build/$b is missing (ninja -C $build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/signet-bench-pkcs11.XXXXXX)
dir=$work/instance
pid=
cleanup() {
	local rc=$?
	if [ -n "$pid" ]; then
		kill "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	fi
	if [ "$keep" = 1 ]; then echo "bench_pkcs11: kept $work"; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '\n== %s\n' "$*"; }
die() { echo "bench_pkcs11: $*" >&2; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=https://127.0.0.1:$port
log "provisioning a fresh instance in $dir (port $port, build $build)"
SIGNET_BUILD=$build SIGNET_PORT=$port "$repo/scripts/provision.sh" "$dir" \
	> "$work/provision.log" 2>&1 ||
	{ tail -n 20 "$work/provision.log" >&2; die "provisioning failed"; }
pki=$dir/pki
"$build/signetd" -c "$dir/signetd.conf" > "$work/signetd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null 2>&1 && break
	kill -0 "$pid" 2> /dev/null || { cat "$work/signetd.log" >&2; die "signetd exited"; }
	sleep 0.2
done
curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null ||
	die "signetd did not answer on $url"
echo "signetd workers $(sed -n 's/^workers = //p' "$dir/signetd.conf")"

log "(a) raw RSA-3072 sign rate, ${SIGN_SECONDS} s per run"
"$build/tests/bench/bench_sign" "$SIGN_SECONDS" > "$work/a.txt" 2> "$work/a.err" ||
	{ cat "$work/a.err" >&2; die "bench_sign failed"; }
grep -E 'sig/s' "$work/a.txt"
rate_of() { awk -v w="$1" 'index($0, w) == 1 { for (i = 1; i < NF; i++) if ($(i + 1) == "sig/s") print $i }' "$work/a.txt"; }
a_kh=$(rate_of "keyholder kh_sign PKCS#1")
[ -n "$a_kh" ] || die "cannot read bench_sign's figures"

log "(b) the PKCS#11 module, $THREADS threads x $PER_THREAD signatures, demo-app/test-signing"
SIGNET_URL=$url SIGNET_CACERT=$pki/tls-ca.pem SIGNET_CLIENT_CERT=$pki/ci-runner.pem \
SIGNET_CLIENT_KEY=$pki/ci-runner.key SIGNET_PKCS11_CONF=/dev/null \
SIGNET_PKCS11_POLICY=test-signing SIGNET_PKCS11_LOG=$work/module.log \
	"$build/tests/bench/p11_sign" "$build/pkcs11/libsignet-pkcs11.so" \
	"$THREADS" "$PER_THREAD" > "$work/b.txt" ||
	{ tail -n 5 "$work/module.log" >&2; die "p11_sign failed"; }
cat "$work/b.txt"
b_rate=$(awk '{ for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1) }' "$work/b.txt" | tr -d '/s')
b_p50=$(awk '{ for (i = 1; i < NF; i++) if ($i == "p50") print $(i + 1) }' "$work/b.txt")
b_p95=$(awk '{ for (i = 1; i < NF; i++) if ($i == "p95") print $(i + 1) }' "$work/b.txt")

log "figures"
printf '| figure | measured |\n|---|---|\n'
printf '| raw RSA-3072 signatures through the keyholder (journaled) | %s /s |\n' "$a_kh"
printf '| hash signatures through the PKCS#11 module, %s threads | %s /s (%s of raw) |\n' \
	"$THREADS" "$b_rate" "$(python3 -c "print(round($b_rate / $a_kh, 3))")"
printf '| C_Sign latency p50 / p95 | %s / %s ms |\n' "$b_p50" "$b_p95"
