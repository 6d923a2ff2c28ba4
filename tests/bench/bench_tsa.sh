#!/bin/bash
# Time-stamps per second through POST /api/v1/timestamp on a fresh
# temporary instance, with the TSA on a token P-256 key (the development
# TSA's) and then on a token RSA-3072 key, each beside the raw sign rate of
# that key type in the same token implementation in the same run
# (bench_sign: libp11 in one process, and through the keyholder). Clients:
# THREADS keep-alive mTLS connections on the main listener, each query
# checked to be a granted reply. Figures are printed, not asserted.
#
# Usage: tests/bench/bench_tsa.sh [--build DIR] [--seconds N] [--threads N]
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$repo/build
secs=10
threads=8

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--seconds) secs=${2:?--seconds needs a number}; shift 2 ;;
	--threads) threads=${2:?--threads needs a number}; shift 2 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "bench_tsa: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$(cd "$build" && pwd)
for b in signetd signet pkcs11/signet-keyholder tests/bench/bench_sign; do
	[ -x "$build/$b" ] || { echo "bench_tsa: $build/$b is missing (ninja -C $build)" >&2; exit 1; }
done

work=$(mktemp -d /var/tmp/signet-bench-tsa.XXXXXX)
dir=$work/instance
pid=
cleanup() {
	local rc=$?
	if [ -n "$pid" ]; then
		kill "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench_tsa: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port=$(free_port)
url=https://127.0.0.1:$port
echo "== provisioning a fresh instance in $dir"
SIGNET_BUILD=$build SIGNET_PORT=$port SIGNET_TSA_PORT=$(free_port) \
	"$repo/scripts/provision.sh" "$dir" > "$work/provision.log" 2>&1 ||
	{ tail -n 20 "$work/provision.log" >&2; die "provisioning failed"; }
pki=$dir/pki
signet() { "$build/signet" -c "$dir/signetd.conf" "$@"; }

# an RSA-3072 TSA key and certificate beside the development P-256 one,
# issued the way provision.sh issues the TSA's
signet key generate --label tsa-rsa --type rsa3072 > /dev/null
signet key csr --key tsa-rsa --subject "CN=Signet Bench TSA RSA" \
	--out "$work/tsa-rsa.csr" > /dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=critical,timeStamping" > "$work/tsa-rsa.ext"
openssl x509 -req -in "$work/tsa-rsa.csr" -CA "$pki/release-ca.pem" \
	-CAkey "$pki/release-ca.key" -set_serial 0x"$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
	-days 2 -sha256 -extfile "$work/tsa-rsa.ext" -out "$work/tsa-rsa.pem" 2> /dev/null
cat "$work/tsa-rsa.pem" "$pki/release-ca.pem" > "$work/tsa-rsa-chain.pem"
python3 - "$dir" "$work/tsa-rsa-chain.pem" > "$work/doc.json" <<'PY'
import json, os, sys
d, chain = sys.argv[1:3]
doc = json.load(open(os.path.join(d, "appliance.json")))
for c in doc["certificates"]:
    c["chainFile"] = os.path.join(d, c["chainFile"])
doc["certificates"].append({"name": "tsa-rsa", "key": "tsa-rsa",
                            "purpose": "timestamping", "chainFile": chain})
json.dump(doc, sys.stdout)
PY
signet apply "$work/doc.json" > "$work/apply.log" 2>&1 ||
	{ cat "$work/apply.log" >&2; die "signet apply failed"; }

start() {
	"$build/signetd" -c "$dir/signetd.conf" >> "$work/signetd.log" 2>&1 &
	pid=$!
	for _ in $(seq 150); do
		curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null 2>&1 && return
		kill -0 "$pid" 2> /dev/null || { tail -n 20 "$work/signetd.log" >&2; die "signetd exited"; }
		sleep 0.2
	done
	die "signetd did not answer on $url"
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }

# THREADS clients, each a keep-alive session posting one query again and
# again for SECONDS; prints "N tokens/s"
load() {
	/usr/bin/python3 - "$url" "$pki" "$secs" "$threads" <<'PY'
import subprocess, sys, threading, time
import requests
url, pki, secs, threads = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
q = subprocess.run(["openssl", "ts", "-query", "-digest", "11" * 32, "-sha256",
                    "-cert"], capture_output=True, check=True).stdout
counts, errors = [0] * threads, []
def run(i):
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify
    s.verify = f"{pki}/tls-ca.pem"
    s.cert = (f"{pki}/ci-runner.pem", f"{pki}/ci-runner.key")
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r = s.post(url + "/api/v1/timestamp", data=q, timeout=30,
                   headers={"Content-Type": "application/timestamp-query"})
        # a granted reply begins with the PKIStatusInfo status 0
        if r.status_code != 200 or b"\x02\x01\x00" not in r.content[:16]:
            errors.append(r.status_code)
            return
        counts[i] += 1
t0 = time.monotonic()
ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
el = time.monotonic() - t0
if errors:
    sys.exit(f"bench_tsa: {len(errors)} queries failed, e.g. HTTP {errors[0]}")
print(f"{sum(counts)} tokens in {el:.1f} s: {sum(counts) / el:.0f} tokens/s")
PY
}

echo
echo "== P-256: the raw rate of the key type, then the TSA"
"$build/tests/bench/bench_sign" "$secs" "$build/pkcs11/signet-keyholder" p256 2> /dev/null
start
printf 'TSA on P-256, %d clients: ' "$threads"
load
stop

echo
echo "== RSA-3072: the raw rate of the key type, then the TSA"
"$build/tests/bench/bench_sign" "$secs" "$build/pkcs11/signet-keyholder" rsa3072 2> /dev/null
printf '\n[tsa]\ncertificate = tsa-rsa\n' >> "$dir/signetd.conf"
start
printf 'TSA on RSA-3072, %d clients: ' "$threads"
load
stop
