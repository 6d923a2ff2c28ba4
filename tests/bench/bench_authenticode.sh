#!/bin/bash
# Authenticode signing of one large PE on a fresh temporary instance:
# a small mingw-built executable with a ~1 GiB overlay appended, submitted
# with authenticode-pe to a policy on an RSA-3072 token key without
# approval and followed to Completed, side by side in the same run with
# `osslsigncode sign` of the same file with an RSA-3072 key and
# certificate from files, and `sha256sum` of it; signetd's peak RSS
# (VmHWM) over the request. Figures are printed, not asserted: PASS/MISS
# against the targets, exit status 0 unless something broke (a request
# fails, a signature does not verify).
#
# Usage: tests/bench/bench_authenticode.sh [--build DIR] [--keep] [--mib N]
#   --build DIR  build directory (default: build-lead, else build)
#   --keep       keep the instance directory (signetd is stopped anyway)
#   --mib N      overlay size in MiB (default 1024)
#   --cold       no page-cache warm-up before osslsigncode (see below)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=
keep=0
BIG_MIB=1024
cold=0
RSS_TARGET_MIB=64
PROJECT=bench-ac
POLICY=ac-rsa3072

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--keep) keep=1; shift ;;
	--mib) BIG_MIB=${2:?--mib needs a size}; shift 2 ;;
	--cold) cold=1; shift ;;
	-h | --help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "bench_authenticode: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$build" ]; then
	build=$repo/build-lead
	[ -x "$build/signetd" ] || build=$repo/build
fi
build=$(cd "$build" && pwd)
for b in signetd signet pkcs11/signet-keyholder; do
	[ -x "$build/$b" ] || { echo "bench_authenticode: $build/$b is missing (ninja -C $build)" >&2; exit 1; }
done
for t in curl openssl python3 sha256sum osslsigncode x86_64-w64-mingw32-gcc; do
	command -v "$t" > /dev/null || { echo "bench_authenticode: $t is needed" >&2; exit 1; }
done

# on disk, not tmpfs: the figures are of files an appliance would keep
work=$(mktemp -d /var/tmp/signet-bench-ac.XXXXXX)
dir=$work/instance
pid=
sampler=

cleanup() {
	local rc=$?
	if [ -n "$sampler" ]; then
		kill "$sampler" 2> /dev/null || true
		wait "$sampler" 2> /dev/null || true
	fi
	if [ -n "$pid" ]; then
		kill "$pid" 2> /dev/null || true
		wait "$pid" 2> /dev/null || true
	fi
	rm -f "$work"/*.exe
	if [ "$keep" = 1 ]; then
		echo "bench_authenticode: kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n== %s\n' "$*"; }
die() { echo "bench_authenticode: $*" >&2; exit 1; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

# ---------------------------------------------------------------- instance
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tsa_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=https://127.0.0.1:$port
log "provisioning a fresh instance in $dir (port $port, build $build)"
SIGNET_BUILD=$build SIGNET_PORT=$port SIGNET_TSA_PORT=$tsa_port SIGNET_MAX_ARTIFACT_SIZE=2G \
	"$repo/scripts/provision.sh" "$dir" > "$work/provision.log" 2>&1 ||
	{ tail -n 20 "$work/provision.log" >&2; die "provisioning failed"; }
pki=$dir/pki
tls=(--cacert "$pki/tls-ca.pem" --cert "$pki/ci-runner.pem" --key "$pki/ci-runner.key")

# A policy of the benchmark's own: Authenticode PE on the test-signing
# certificate (its token key is RSA-3072, provision.sh), no approval.
python3 - "$dir" "$PROJECT" "$POLICY" > "$work/doc.json" <<'PY'
import json, os, sys
d, project, policy = sys.argv[1:4]
doc = json.load(open(os.path.join(d, "appliance.json")))
for c in doc["certificates"]:
    c["chainFile"] = os.path.join(d, c["chainFile"])
doc["projects"].append({
    "slug": project, "name": "Bench AC", "repositoryUrls": [],
    "signingPolicies": [{
        "slug": policy, "name": policy, "certificate": "test-signing",
        "requiredApprovals": 0, "submitters": ["ci-runner"], "approvers": [],
        "artifactConfigurations": ["authenticode-pe"]}]})
json.dump(doc, sys.stdout)
PY
"$build/signet" -c "$dir/signetd.conf" apply "$work/doc.json" > "$work/apply.log" 2>&1 ||
	{ cat "$work/apply.log" >&2; die "signet apply failed"; }
openssl x509 -in "$pki/test-signing.pem" -noout -text | grep -q 'Public-Key: (3072 bit)' ||
	die "the test-signing certificate is not RSA-3072"

"$build/signetd" -c "$dir/signetd.conf" > "$work/signetd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	if curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null 2>&1; then
		break
	fi
	kill -0 "$pid" 2> /dev/null || { cat "$work/signetd.log" >&2; die "signetd exited"; }
	sleep 0.2
done
curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null ||
	die "signetd did not answer on $url"
echo "signetd pid $pid"

# ---------------------------------------------------------------- the file
log "a mingw PE with a ${BIG_MIB} MiB overlay"
printf '#include <stdio.h>\nint main(void) { puts("signet bench"); return 0; }\n' > "$work/hello.c"
x86_64-w64-mingw32-gcc -O1 -s -o "$work/hello.exe" "$work/hello.c"
big=$work/big.exe
cp "$work/hello.exe" "$big"
# AES-CTR of zeros: incompressible, distinct per run, quicker than urandom
head -c $((BIG_MIB * 1024 * 1024)) /dev/zero |
	openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >> "$big"
bytes=$(stat -c %s "$big")
mib=$(calc "round($bytes / 1048576, 1)")
echo "$big: $bytes bytes"
# read once so that every contender starts from the page cache
cat "$big" > /dev/null

t0=$(now)
sha256sum "$big" > /dev/null
sha_s=$(calc "round($(now) - $t0, 3)")
echo "sha256sum: $sha_s s ($(calc "round($mib / $sha_s, 1)") MiB/s)"

# ---------------------------------------------------------------- osslsigncode
log "osslsigncode sign, RSA-3072 key and certificate from files"
openssl req -x509 -newkey rsa:3072 -nodes -keyout "$work/os.key" -out "$work/os.pem" \
	-days 2 -subj "/O=Bench/CN=Bench Code Signing" -addext extendedKeyUsage=codeSigning \
	-addext keyUsage=critical,digitalSignature 2> /dev/null
if [ "$cold" = 0 ]; then
	# On a VM whose RAM the host backs lazily, the first write into
	# page-cache pages the guest never used costs about 3 s of system
	# time per GiB, which osslsigncode's buffered write pays and
	# Signet's O_DIRECT one does not: a freed scratch file gives both
	# recycled pages, as on a machine that has been up for a while.
	dd if=/dev/zero of="$work/scratch.bin" bs=1M count=$((BIG_MIB + 256)) status=none
	rm -f "$work/scratch.bin"
fi
# twice, the faster counts: the second writes into the pages the first
# one's output left
os_s=
for run in 1 2; do
	t0=$(now)
	osslsigncode sign -certs "$work/os.pem" -key "$work/os.key" -h sha256 \
		-in "$big" -out "$work/os-signed.exe" > "$work/os.log" 2>&1 ||
		{ cat "$work/os.log" >&2; die "osslsigncode sign failed"; }
	t=$(calc "round($(now) - $t0, 3)")
	echo "osslsigncode sign, run $run: $t s"
	rm -f "$work/os-signed.exe"
	if [ -z "$os_s" ] || [ "$(calc "$t < $os_s")" = True ]; then
		os_s=$t
	fi
done

# ---------------------------------------------------------------- Signet
log "Signet: submit with authenticode-pe to $PROJECT/$POLICY, until Completed"
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
echo 5 > "/proc/$pid/clear_refs" || die "cannot reset VmHWM of $pid"
rss_before=$(status_kib VmRSS)
( peak=0
  while :; do
	r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2> /dev/null) || break
	[ -n "$r" ] || break
	[ "$r" -gt "$peak" ] && { peak=$r; echo "$peak" > "$work/rss.peak"; }
	sleep 0.1
  done ) &
sampler=$!

t0=$(now)
code=$(curl -sS "${tls[@]}" -H 'Expect:' -o "$work/s.json" -w '%{http_code}' \
	-F projectSlug=$PROJECT -F signingPolicySlug=$POLICY \
	-F artifactConfigurationSlug=authenticode-pe \
	-F "artifact=@$big;filename=big.exe" "$url/api/v1/signing-requests") ||
	die "the upload failed"
t1=$(now)
[ "$code" = 201 ] || { cat "$work/s.json" >&2; die "the upload answered HTTP $code"; }
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/s.json")
for _ in $(seq 12000); do
	curl -fsS "${tls[@]}" -o "$work/s-final.json" "$url/api/v1/signing-requests/$id"
	grep -q '"isFinalStatus":true' "$work/s-final.json" && break
	sleep 0.05
done
t2=$(now)
hwm=$(status_kib VmHWM)
kill "$sampler" 2> /dev/null || true
wait "$sampler" 2> /dev/null || true
sampler=
rss_sampled=$(cat "$work/rss.peak" 2> /dev/null || echo 0)
state=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["status"] if d["isFinalStatus"] else "not final after 600 s")' "$work/s-final.json")
[ "$state" = Completed ] || { cat "$work/s-final.json" >&2; die "$id ended $state"; }
submit_s=$(calc "round($t1 - $t0, 3)")
total_s=$(calc "round($t2 - $t0, 3)")
sign_ms=$(python3 -c 'import json, sys, datetime
h = json.load(open(sys.argv[1]))["history"]
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((t(h[-1]["at"]) - t(h[0]["at"])).total_seconds() * 1000))' "$work/s-final.json")
echo "submit (upload until 201): $submit_s s"
echo "submit until Completed: $total_s s (queued->Completed $sign_ms ms)"
echo "signetd RSS before $((rss_before / 1024)) MiB, peak (VmHWM) $((hwm / 1024)) MiB (sampled VmRSS peak $((rss_sampled / 1024)) MiB)"

curl -fsS "${tls[@]}" -o "$work/signet-signed.exe" "$url/api/v1/signing-requests/$id/signed-artifact"
if osslsigncode verify -CAfile "$pki/test-signing.pem" -in "$work/signet-signed.exe" > "$work/verify.log" 2>&1; then
	verify=OK
else
	verify=FAILED
	tail -n 20 "$work/verify.log" >&2
fi
echo "osslsigncode verify of Signet's file: $verify"
rm -f "$work/signet-signed.exe"

# ---------------------------------------------------------------- summary
verdict() { if [ "$(calc "int($1)")" = 1 ]; then echo PASS; else echo MISS; fi; }
log "summary ($mib MiB PE; targets are informational)"
printf '%-46s %14s %18s %s\n' "figure" "measured" "target" "verdict"
printf '%-46s %14s %18s %s\n' "sha256sum of the file" "$sha_s s" "-" "-"
printf '%-46s %14s %18s %s\n' "osslsigncode sign (file RSA-3072 key)" "$os_s s" "-" "-"
printf '%-46s %14s %18s %s\n' "Signet submit (upload until 201)" "$submit_s s" "-" "-"
printf '%-46s %14s %18s %s\n' "Signet submit until Completed (token key)" "$total_s s" "<= $os_s s" \
	"$(verdict "$total_s <= $os_s")"
printf '%-46s %14s %18s %s\n' "signetd peak RSS (VmHWM)" "$(calc "round($hwm / 1024, 1)") MiB" \
	"< $RSS_TARGET_MIB MiB" "$(verdict "$hwm < $RSS_TARGET_MIB * 1024")"
printf '%-46s %14s %18s %s\n' "osslsigncode verify of Signet's signature" "$verify" "OK" \
	"$([ "$verify" = OK ] && echo PASS || echo MISS)"
[ "$verify" = OK ] || exit 1
exit 0
