#!/bin/bash
# End-to-end benchmarks of the signing path on a fresh temporary instance:
#   (a) raw sign rate through PKCS#11 (bench_sign), RSA-3072 and P-256:
#       libp11 in one process and in as many processes as there are CPUs,
#       and through the keyholder
#   (b) signed requests per second, 4 KiB artifacts, 8 keep-alive mTLS
#       clients following each request to Completed (loadgen --wait), on an
#       RSA-3072 policy and on an EC P-256 one
#   (c) (a)'s libp11 rates and (b) again with p11-kit's remoting between
#       the keyholder and the token (p11-kit server exporting the SoftHSM2
#       token, the keyholder loading p11-kit-client.so), the way a network
#       HSM is reached
#   (d) submit -> Completed latency p50/p95 at half of (b)'s rate
#       (loadgen --rate), for both policies
#   (e) one 1 GiB artifact: signetd's peak RSS and MiB/s beside sha256sum,
#       and the detached CMS signature verified against the file
# Each figure is printed with its ratio to its reference, and PASS/MISS
# against the issue's targets where it names one. The figures are
# informational: the exit status is 0 unless something broke (a request
# failed, the signature does not verify, a tool did not run).
#
# Usage: tests/bench/bench_e2e.sh [--build DIR] [--keep] [--cold]
#            [--sign-seconds N] [--load-seconds N] [--mib N]
#   --build DIR         build directory (default: build-lead, else build)
#   --keep              keep the instance directory (signetd is stopped anyway)
#   --cold              skip the page-cache warm-up before (e) (see README.md)
#   --sign-seconds N    length of each (a) and (c) raw run (default 5)
#   --load-seconds N    length of each (b), (c) and (d) loadgen run (default 15)
#   --mib N             size of (e)'s artifact in MiB (default 1024)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build=
keep=0
cold=0
# Run lengths: with the defaults the whole script takes about 4 minutes on
# 2 cores.
SIGN_SECONDS=5
LOAD_SECONDS=15
LOAD_CLIENTS=8
LOAD_SIZE=4096
BIG_MIB=1024
RSS_TARGET_MIB=64
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
TOKEN=signet-dev
EC_POLICY=bench-p256

# positive_int NAME VALUE: VALUE, or a clear error
positive_int() {
	case $2 in
	'' | *[!0-9]* | 0) echo "bench_e2e: $1 needs a positive whole number, not '$2'" >&2; exit 2 ;;
	esac
	echo "$2"
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a directory}; shift 2 ;;
	--keep) keep=1; shift ;;
	--cold) cold=1; shift ;;
	--sign-seconds) SIGN_SECONDS=$(positive_int "$1" "${2:-}"); shift 2 ;;
	--load-seconds) LOAD_SECONDS=$(positive_int "$1" "${2:-}"); shift 2 ;;
	--mib) BIG_MIB=$(positive_int "$1" "${2:-}"); shift 2 ;;
	-h | --help) sed -n '2,28p' "$0"; exit 0 ;;
	*) echo "bench_e2e: unknown option $1" >&2; exit 2 ;;
	esac
done
if [ -z "$build" ]; then
	build=$repo/build-lead
	[ -x "$build/signetd" ] || build=$repo/build
fi
build=$(cd "$build" && pwd)
for b in signetd signet pkcs11/signet-keyholder tests/bench/bench_sign \
    tests/bench/loadgen; do
	if [ ! -x "$build/$b" ]; then
		echo "bench_e2e: $build/$b is missing (ninja -C $build)" >&2
		exit 1
	fi
done
for t in curl openssl python3 sha256sum p11-kit pkg-config nproc; do
	command -v "$t" > /dev/null || { echo "bench_e2e: $t is needed (scripts/deps.sh)" >&2; exit 1; }
done
p11kit_client=$(pkg-config --variable=p11_module_path p11-kit-1)/p11-kit-client.so
[ -f "$p11kit_client" ] ||
	{ echo "bench_e2e: $p11kit_client is missing (package p11-kit-modules)" >&2; exit 1; }
ncpu=$(nproc)

work=$(mktemp -d /tmp/signet-bench-e2e.XXXXXX)
dir=$work/instance
pid=
server=
sampler=
broke=0

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
	if [ -n "$server" ]; then
		kill "$server" 2> /dev/null || true
		wait "$server" 2> /dev/null || true
	fi
	# the 1 GiB files go in any case; --keep is for the instance
	rm -f "$work/big.bin" "$work/scratch.bin"
	if [ "$keep" = 1 ]; then
		echo "bench_e2e: kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n== %s\n' "$*"; }
die() { echo "bench_e2e: $*" >&2; exit 1; }
now() { date +%s.%N; }
# calc EXPR: floating point arithmetic (bash has none)
calc() { python3 -c "print($1)"; }
# ratio A B: A / B to 2 places, "-" when either is missing or B is 0
ratio() {
	python3 - "$1" "$2" <<-'EOF'
	import sys
	try:
	    a, b = float(sys.argv[1]), float(sys.argv[2])
	    print(f"{a / b:.2f}" if b else "-")
	except ValueError:
	    print("-")
	EOF
}
# verdict EXPR: PASS when the Python expression holds, MISS otherwise
# (also when a figure in it is missing)
verdict() {
	if python3 -c "import sys; sys.exit(0 if ($1) else 1)" 2> /dev/null; then
		echo PASS
	else
		echo MISS
	fi
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- instance
port=$(free_port)
tsa_port=$(free_port)
url=https://127.0.0.1:$port
log "provisioning a fresh instance in $dir (port $port, build $build)"
SIGNET_BUILD=$build SIGNET_PORT=$port SIGNET_TSA_PORT=$tsa_port SIGNET_MAX_ARTIFACT_SIZE=2G \
	"$repo/scripts/provision.sh" "$dir" > "$work/provision.log" 2>&1 ||
	{ tail -n 20 "$work/provision.log" >&2; die "provisioning failed"; }
pki=$dir/pki
conf=$dir/signetd.conf
tls=(--cacert "$pki/tls-ca.pem" --cert "$pki/ci-runner.pem" --key "$pki/ci-runner.key")
signet() { "$build/signet" -c "$conf" "$@"; }

# The EC policy: demo-app/bench-p256 on a P-256 token key with a
# self-signed certificate, detached CMS, no approval, like test-signing.
if ! { signet key generate --label "$EC_POLICY" --type p256 &&
	signet key self-signed --key "$EC_POLICY" --subject "CN=Signet Bench P-256,O=Signet Dev" \
		--days 30 --out "$pki/$EC_POLICY.pem"; } > "$work/ec.log" 2>&1; then
	cat "$work/ec.log" >&2
	die "cannot make the P-256 key and certificate"
fi
python3 - "$dir" "$EC_POLICY" > "$work/doc.json" <<'PY'
import json, os, sys
d, name = sys.argv[1:3]
doc = json.load(open(os.path.join(d, "appliance.json")))
for c in doc["certificates"]:
    c["chainFile"] = os.path.join(d, c["chainFile"])
doc["certificates"].append({"name": name, "key": name, "purpose": "test",
                            "chainFile": os.path.join(d, "pki", name + ".pem")})
project = [p for p in doc["projects"] if p["slug"] == "demo-app"][0]
project["signingPolicies"].append(
    {"slug": name, "name": "Bench P-256", "certificate": name,
     "requiredApprovals": 0, "submitters": ["ci-runner"], "approvers": [],
     "artifactConfigurations": ["detached-cms"]})
json.dump(doc, sys.stdout)
PY
signet apply "$work/doc.json" > "$work/apply.log" 2>&1 ||
	{ cat "$work/apply.log" >&2; die "signet apply of the P-256 policy failed"; }

start_signetd() {
	"$build/signetd" -c "$conf" >> "$work/signetd.log" 2>&1 &
	pid=$!
	for _ in $(seq 150); do
		if curl -fsS --cacert "$pki/tls-ca.pem" "$url/api/v1/health" > /dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2> /dev/null || { tail -n 20 "$work/signetd.log" >&2; die "signetd exited"; }
		sleep 0.2
	done
	die "signetd did not answer on $url"
}
stop_signetd() {
	kill "$pid"
	wait "$pid" || true
	pid=
}

start_signetd
echo "signetd pid $pid; workers $(sed -n 's/^workers = //p' "$conf"), CivetWeb threads $(sed -n 's/^threads = //p' "$conf"); $ncpu CPUs"

# ---------------------------------------------------------------- (a)
procs=()
if [ "$ncpu" -gt 1 ]; then
	procs=(--procs "$ncpu")
fi
# sign NAME KEYTYPE [--p11kit]: bench_sign's lines into $work/NAME.txt
sign() {
	local name=$1 type=$2
	shift 2
	"$build/tests/bench/bench_sign" "$SIGN_SECONDS" "$build/pkcs11/signet-keyholder" \
		"$type" "${procs[@]}" "$@" > "$work/$name.txt" 2> "$work/$name.err" ||
		{ cat "$work/$name.err" >&2; die "bench_sign $type $* failed"; }
	grep -E 'sig/s| key ' "$work/$name.txt"
}
# rate_of NAME WHAT: the sig/s figure of bench_sign's line starting WHAT
# ("<what>  N signatures in S s  R sig/s  U us/sig": the field before sig/s)
rate_of() {
	awk -v w="$2" 'index($0, w) == 1 { for (i = 1; i < NF; i++) if ($(i + 1) == "sig/s") print $i }' \
		"$work/$1.txt"
}

log "(a) raw sign rate through PKCS#11 (SoftHSM2), ${SIGN_SECONDS} s per run, 1 and $ncpu processes"
sign a-rsa rsa3072
sign a-ec p256
a_rsa_1=$(rate_of a-rsa "libp11 in-process")
a_rsa_n=$(rate_of a-rsa "libp11, $ncpu processes")
a_rsa_kh=$(rate_of a-rsa "keyholder kh_sign PKCS#1")
a_ec_1=$(rate_of a-ec "libp11 in-process")
a_ec_n=$(rate_of a-ec "libp11, $ncpu processes")
a_ec_kh=$(rate_of a-ec "keyholder kh_sign ECDSA")
for v in "$a_rsa_1" "$a_rsa_kh" "$a_ec_1" "$a_ec_kh"; do
	[ -n "$v" ] || die "cannot read bench_sign's figures"
done

# ---------------------------------------------------------------- loadgen
# load NAME POLICY [loadgen options...]: LOAD_CLIENTS keep-alive clients on
# demo-app/POLICY for LOAD_SECONDS, each request followed to Completed;
# the report in $work/NAME.txt
# CPU time over each run, in clock ticks: signetd, its keyholder (the
# token's work, unless it goes through p11-kit), loadgen (its own report)
# and the machine as a whole (/proc/stat), so that what each costs per
# request and what is left idle are in $work/NAME.cpu.
clk_tck=$(getconf CLK_TCK)
# proc_ticks PID...: user + system ticks of these processes (all threads)
proc_ticks() {
	local t=0 p v
	for p in "$@"; do
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2> /dev/null | awk '{ print $12 + $13 }') || v=
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
# machine_ticks: "busy idle" ticks of all CPUs together
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }
load() {
	local name=$1 policy=$2 rc=0 kh s0 s1 k0 k1 busy0 idle0 busy1 idle1
	shift 2
	kh=$(pgrep -P "$pid" | tr '\n' ' ')
	# shellcheck disable=SC2086 # a list of pids
	k0=$(proc_ticks $kh)
	s0=$(proc_ticks "$pid")
	read -r busy0 idle0 < <(machine_ticks)
	"$build/tests/bench/loadgen" --url "$url" "${tls[@]}" --clients "$LOAD_CLIENTS" \
		--seconds "$LOAD_SECONDS" --size "$LOAD_SIZE" --wait --policy "$policy" "$@" \
		> "$work/$name.txt" 2> "$work/$name.err" || rc=$?
	read -r busy1 idle1 < <(machine_ticks)
	s1=$(proc_ticks "$pid")
	# shellcheck disable=SC2086
	k1=$(proc_ticks $kh)
	cat "$work/$name.txt"
	python3 - "$work/$name.txt" "$clk_tck" "$ncpu" $((s1 - s0)) $((k1 - k0)) \
		$((busy1 - busy0)) $((idle1 - idle0)) > "$work/$name.cpu" <<-'EOF' || true
	import sys
	txt, hz, ncpu = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
	sd, kh, busy, idle = (int(v) / hz for v in sys.argv[4:8])
	f = {l.split()[0]: l.split() for l in open(txt) if l.strip()}
	n = int(f["completed"][1])
	lg = float(f["cpu"][1])
	ms = lambda s: 1000 * s / n if n else 0
	rest = max(0.0, busy - sd - kh - lg)
	free = ms(kh) + ms(lg)
	print(f"signetd={ms(sd):.2f} keyholder={ms(kh):.2f} loadgen={ms(lg):.2f} "
	      f"rest={ms(rest):.2f} idle={100 * idle / (busy + idle):.0f} "
	      f"ceiling={ncpu * 1000 / free if free else 0:.0f}")
	EOF
	if [ -s "$work/$name.cpu" ]; then
		echo "CPU per request (ms): $(cat "$work/$name.cpu")"
	fi
	if [ "$rc" != 0 ]; then
		head -n 5 "$work/$name.err" >&2
		grep -q '^completed ' "$work/$name.txt" || die "loadgen ($name) failed"
		echo "bench_e2e: loadgen ($name) reported failed requests (see above)" >&2
		broke=1
	fi
}
# lg NAME KEY FIELD: field FIELD of loadgen's line KEY ("-" when absent)
lg() {
	local v
	v=$(awk -v k="$2" -v f="$3" '$1 == k { print $f }' "$work/$1.txt")
	echo "${v:--}"
}
# p50 NAME, p95 NAME: submit->Completed latency of a loadgen run in ms
# ("submit->done   p50 X ms   p95 Y ms   max Z ms")
# cpu NAME KEY: KEY of load's CPU figures ("-" when absent)
cpu() {
	local v
	v=$(tr ' ' '\n' < "$work/$1.cpu" 2> /dev/null | sed -n "s/^$2=//p")
	echo "${v:--}"
}
# cpu_row NAME LABEL: a summary row of the CPU each part took per request
cpu_row() {
	row "$2" "$(cpu "$1" signetd) / $(cpu "$1" keyholder) / $(cpu "$1" loadgen) / $(cpu "$1" rest) ms" \
		"signetd / keyholder / loadgen / rest" "-" "-" "idle $(cpu "$1" idle) %"
	row "$2: signetd free" "$(cpu "$1" ceiling) req/s" "$ncpu CPUs / (keyholder + loadgen)" "-" "-" "-"
}
p50() { lg "$1" 'submit->done' 3; }
p95() { lg "$1" 'submit->done' 6; }

log "(b) ${LOAD_CLIENTS} keep-alive mTLS clients, ${LOAD_SIZE}-byte artifacts, ${LOAD_SECONDS} s, each followed to Completed"
echo "-- RSA-3072 (demo-app/test-signing)"
load b-rsa test-signing
echo "-- P-256 (demo-app/$EC_POLICY)"
load b-ec "$EC_POLICY"
b_rsa=$(lg b-rsa completed/s 2)
b_ec=$(lg b-ec completed/s 2)

# ---------------------------------------------------------------- (d)
# half of (b)'s rate, at least one request a second
half() { python3 -c "import sys; print(max(1.0, round(float(sys.argv[1]) / 2, 1)))" "$1" 2> /dev/null || echo 1; }
d_rsa_rate=$(half "$b_rsa")
d_ec_rate=$(half "$b_ec")
log "(d) the same clients at half of (b)'s rate: ${d_rsa_rate}/s RSA-3072, ${d_ec_rate}/s P-256"
echo "-- RSA-3072 at ${d_rsa_rate} requests/s"
load d-rsa test-signing --rate "$d_rsa_rate"
echo "-- P-256 at ${d_ec_rate} requests/s"
load d-ec "$EC_POLICY" --rate "$d_ec_rate"

# ---------------------------------------------------------------- (e)
log "(e) one ${BIG_MIB} MiB artifact"
big=$work/big.bin
# AES-CTR of zeros: incompressible, distinct per run (random password),
# and far quicker than /dev/urandom. fallocate would give holes.
t0=$(now)
head -c $((BIG_MIB * 1024 * 1024)) /dev/zero |
	openssl enc -aes-128-ctr -pbkdf2 -nosalt -pass "pass:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
	-out "$big"
echo "created $big in $(calc "round($(now) - $t0, 2)") s"
bytes=$(stat -c %s "$big")
mib=$(calc "$bytes / 1048576")

t0=$(now)
want=$(sha256sum "$big" | cut -d' ' -f1)
sha_s=$(calc "round($(now) - $t0, 3)")
sha_rate=$(calc "round($mib / $sha_s, 1)")
echo "sha256sum: $sha_s s, $sha_rate MiB/s"

if [ "$cold" = 0 ]; then
	# On a VM whose RAM the host backs lazily, the first write into
	# never-used page-cache pages costs ~3 s of system time per GiB
	# (README.md); a freed scratch file gives the upload recycled
	# pages, as on an appliance that has been up for a while.
	dd if=/dev/zero of="$work/scratch.bin" bs=1M count=$((BIG_MIB + 256)) status=none
	rm -f "$work/scratch.bin"
fi

status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
# Peak RSS is measured for this upload alone: 5 resets VmHWM to the
# current RSS (proc(5), /proc/PID/clear_refs).
echo 5 > "/proc/$pid/clear_refs" || die "cannot reset VmHWM of $pid"
rss_before=$(status_kib VmRSS)
hwm_before=$(status_kib VmHWM)
( peak=0
  while :; do
	r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2> /dev/null) || break
	[ -n "$r" ] || break
	[ "$r" -gt "$peak" ] && { peak=$r; echo "$peak" > "$work/rss.peak"; }
	sleep 0.1
  done ) &
sampler=$!

t0=$(now)
code=$(curl -sS "${tls[@]}" -H 'Expect:' -o "$work/e.json" -w '%{http_code}' \
	-F projectSlug=demo-app -F signingPolicySlug=test-signing \
	-F "artifact=@$big;filename=big.bin" "$url/api/v1/signing-requests") ||
	die "the upload failed"
t1=$(now)
[ "$code" = 201 ] || { cat "$work/e.json" >&2; die "the upload answered HTTP $code"; }
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/e.json")
# Polled without a python3 start per round so the loop adds little to
# the time until Completed; the reply is compact JSON (http.c).
for _ in $(seq 6000); do
	curl -fsS "${tls[@]}" -o "$work/e-final.json" "$url/api/v1/signing-requests/$id"
	grep -q '"isFinalStatus":true' "$work/e-final.json" && break
	sleep 0.05
done
t2=$(now)
state=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["status"] if d["isFinalStatus"] else "not final after 300 s")' "$work/e-final.json")
hwm_after=$(status_kib VmHWM)
# LMDB's map is a file mapping: the database pages read count in RSS as
# file pages, which the kernel can drop; the heap and stacks are anonymous
anon_after=$(status_kib RssAnon)
file_after=$(status_kib RssFile)
kill "$sampler" 2> /dev/null || true
wait "$sampler" 2> /dev/null || true
sampler=
rss_peak_sampled=$(cat "$work/rss.peak" 2> /dev/null || echo 0)
[ "$state" = Completed ] || die "$id ended $state"

submit_s=$(calc "round($t1 - $t0, 3)")
total_s=$(calc "round($t2 - $t0, 3)")
submit_rate=$(calc "round($mib / $submit_s, 1)")
total_rate=$(calc "round($mib / $total_s, 1)")
sign_ms=$(python3 -c 'import json, sys, datetime
h = json.load(open(sys.argv[1]))["history"]
t = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((t(h[-1]["at"]) - t(h[0]["at"])).total_seconds() * 1000))' "$work/e-final.json")
got=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["unsignedArtifact"]["sha256"])' "$work/e-final.json")
[ "$got" = "$want" ] || die "signetd's sha256 $got differs from sha256sum's $want"
echo "RSS before the upload: $((rss_before / 1024)) MiB (VmHWM reset to $((hwm_before / 1024)) MiB)"
echo "peak RSS (VmHWM) during upload and signing: $((hwm_after / 1024)) MiB (sampled VmRSS peak $((rss_peak_sampled / 1024)) MiB)"
echo "submit (upload until 201): $submit_s s, $submit_rate MiB/s"
echo "submit + sign (until Completed): $total_s s, $total_rate MiB/s (queued->Completed $sign_ms ms)"

curl -fsS "${tls[@]}" -o "$work/big.p7s" "$url/api/v1/signing-requests/$id/signed-artifact"
if openssl cms -verify -binary -inform DER -in "$work/big.p7s" -content "$big" \
    -CAfile "$pki/test-signing.pem" -out /dev/null 2> "$work/verify.err"; then
	verify=OK
else
	verify=FAILED
	cat "$work/verify.err" >&2
fi
echo "openssl cms -verify of the detached signature: $verify"
rm -f "$big"

# ---------------------------------------------------------------- (c)
log "(c) through p11-kit's remoting: raw, ${SIGN_SECONDS} s per run, then (b) again"
sign c-rsa rsa3072 --p11kit
sign c-ec p256 --p11kit
c_rsa_1=$(rate_of c-rsa "p11-kit-client (")
c_rsa_n=$(rate_of c-rsa "p11-kit-client, $ncpu processes")
c_ec_1=$(rate_of c-ec "p11-kit-client (")
c_ec_n=$(rate_of c-ec "p11-kit-client, $ncpu processes")

# signetd again on the same state, its keyholder loading p11-kit-client.so
# and given the server's address instead of SOFTHSM2_CONF
stop_signetd
SOFTHSM2_CONF=$dir/softhsm2.conf p11-kit server --foreground --provider "$SOFTHSM" \
	--name "$dir/p11-kit.sock" "pkcs11:token=$TOKEN" > "$work/p11-kit.out" 2> "$work/p11-kit.err" &
server=$!
address=
for _ in $(seq 100); do
	address=$(sed -n 's/^P11_KIT_SERVER_ADDRESS=\([^;]*\);.*/\1/p' "$work/p11-kit.out")
	[ -n "$address" ] && break
	kill -0 "$server" 2> /dev/null || break
	sleep 0.1
done
[ -n "$address" ] || { cat "$work/p11-kit.err" >&2; die "p11-kit server printed no address"; }
echo "p11-kit server pid $server at $address"
[ "$(grep -c '^module = \|^env = SOFTHSM2_CONF=' "$conf")" = 2 ] ||
	die "$conf has not the one [token] module and SOFTHSM2_CONF lines provision.sh writes"
sed -i -e "s|^module = .*|module = $p11kit_client|" \
	-e "s|^env = SOFTHSM2_CONF=.*|env = P11_KIT_SERVER_ADDRESS=$address|" "$conf"
start_signetd
echo "-- RSA-3072 (demo-app/test-signing) through p11-kit"
load c-b-rsa test-signing
echo "-- P-256 (demo-app/$EC_POLICY) through p11-kit"
load c-b-ec "$EC_POLICY"
stop_signetd
kill "$server"
wait "$server" 2> /dev/null || true
server=
c_b_rsa=$(lg c-b-rsa completed/s 2)
c_b_ec=$(lg c-b-ec completed/s 2)

# ---------------------------------------------------------------- summary
hwm_mib=$(calc "round($hwm_after / 1024, 1)")
failed_all=$(python3 -c 'import sys; print(sum(int(x) for x in sys.argv[1:] if x.isdigit()))' \
	"$(lg b-rsa failed 2)" "$(lg b-ec failed 2)" "$(lg d-rsa failed 2)" "$(lg d-ec failed 2)" \
	"$(lg c-b-rsa failed 2)" "$(lg c-b-ec failed 2)")
log "summary (ratio: measured / reference; targets are informational)"
row() { printf '%-46s %17s  %-30s %6s  %-9s %s\n' "$@"; }
row "figure" "measured" "reference" "ratio" "target" "verdict"
row "(a) RSA-3072 libp11, 1 process" "$a_rsa_1 sig/s" "-" "-" "-" "-"
row "(a) RSA-3072 libp11, $ncpu processes" "${a_rsa_n:--} sig/s" "(a) 1 process" \
	"$(ratio "$a_rsa_n" "$a_rsa_1")" "-" "-"
row "(a) RSA-3072 through the keyholder" "$a_rsa_kh sig/s" "(a) 1 process" \
	"$(ratio "$a_rsa_kh" "$a_rsa_1")" ">= 0.9" "$(verdict "$a_rsa_kh >= $a_rsa_1 * 0.9")"
row "(a) P-256 libp11, 1 process" "$a_ec_1 sig/s" "-" "-" "-" "-"
row "(a) P-256 libp11, $ncpu processes" "${a_ec_n:--} sig/s" "(a) 1 process" \
	"$(ratio "$a_ec_n" "$a_ec_1")" "-" "-"
row "(a) P-256 through the keyholder" "$a_ec_kh sig/s" "(a) 1 process" \
	"$(ratio "$a_ec_kh" "$a_ec_1")" "-" "-"
row "(b) RSA-3072 4 KiB requests to Completed" "$b_rsa req/s" "(a) libp11, $ncpu processes" \
	"$(ratio "$b_rsa" "$a_rsa_n")" ">= 0.6" "$(verdict "$b_rsa >= $a_rsa_n * 0.6")"
row "(b) RSA-3072 submit->Completed p50 / p95" "$(p50 b-rsa) / $(p95 b-rsa) ms" \
	"-" "-" "-" "-"
row "(b) P-256 4 KiB requests to Completed" "$b_ec req/s" "(a) P-256 keyholder" \
	"$(ratio "$b_ec" "$a_ec_kh")" ">= 2500/s" "$(verdict "$b_ec >= 2500")"
row "(b) P-256 submit->Completed p50 / p95" "$(p50 b-ec) / $(p95 b-ec) ms" \
	"-" "-" "-" "-"
cpu_row b-rsa "(b) RSA-3072 CPU per request"
cpu_row b-ec "(b) P-256 CPU per request"
row "(c) RSA-3072 p11-kit-client, 1 process" "${c_rsa_1:--} sig/s" "(a) libp11, 1 process" \
	"$(ratio "$c_rsa_1" "$a_rsa_1")" "-" "-"
row "(c) RSA-3072 p11-kit-client, $ncpu processes" "${c_rsa_n:--} sig/s" "(a) libp11, $ncpu processes" \
	"$(ratio "$c_rsa_n" "$a_rsa_n")" "-" "-"
row "(c) P-256 p11-kit-client, 1 process" "${c_ec_1:--} sig/s" "(a) libp11, 1 process" \
	"$(ratio "$c_ec_1" "$a_ec_1")" "-" "-"
row "(c) P-256 p11-kit-client, $ncpu processes" "${c_ec_n:--} sig/s" "(a) libp11, $ncpu processes" \
	"$(ratio "$c_ec_n" "$a_ec_n")" "-" "-"
row "(c) RSA-3072 requests through p11-kit" "$c_b_rsa req/s" "(b) RSA-3072" \
	"$(ratio "$c_b_rsa" "$b_rsa")" "-" "-"
row "(c) P-256 requests through p11-kit" "$c_b_ec req/s" "(b) P-256" \
	"$(ratio "$c_b_ec" "$b_ec")" "-" "-"
row "(d) RSA-3072 at ${d_rsa_rate}/s: completed" "$(lg d-rsa completed/s 2) req/s" "the rate asked" \
	"$(ratio "$(lg d-rsa completed/s 2)" "$d_rsa_rate")" "-" "-"
row "(d) RSA-3072 at ${d_rsa_rate}/s: p50 latency" "$(p50 d-rsa) ms" "(b) RSA-3072 p50" \
	"$(ratio "$(p50 d-rsa)" "$(p50 b-rsa)")" "-" "-"
row "(d) RSA-3072 at ${d_rsa_rate}/s: p95 latency" "$(p95 d-rsa) ms" "(b) RSA-3072 p95" \
	"$(ratio "$(p95 d-rsa)" "$(p95 b-rsa)")" "-" "-"
row "(d) P-256 at ${d_ec_rate}/s: completed" "$(lg d-ec completed/s 2) req/s" "the rate asked" \
	"$(ratio "$(lg d-ec completed/s 2)" "$d_ec_rate")" "-" "-"
row "(d) P-256 at ${d_ec_rate}/s: p50 latency" "$(p50 d-ec) ms" "(b) P-256 p50" \
	"$(ratio "$(p50 d-ec)" "$(p50 b-ec)")" "-" "-"
row "(d) P-256 at ${d_ec_rate}/s: p95 latency" "$(p95 d-ec) ms" "(b) P-256 p95" \
	"$(ratio "$(p95 d-ec)" "$(p95 b-ec)")" "-" "-"
row "(b), (c), (d) failed requests" "$failed_all" "-" "-" "0" "$(verdict "$failed_all == 0")"
row "(e) sha256sum of ${BIG_MIB} MiB" "$sha_rate MiB/s" "-" "-" "-" "-"
row "(e) signetd RSS before the upload" "$((rss_before / 1024)) MiB" "-" "-" "-" "-"
row "(e) signetd peak RSS (VmHWM)" "$hwm_mib MiB" "-" "-" "< $RSS_TARGET_MIB MiB" \
	"$(verdict "$hwm_after < $RSS_TARGET_MIB * 1024")"
row "(e) of RSS after: anonymous / file pages" "$((anon_after / 1024)) / $((file_after / 1024)) MiB" \
	"-" "-" "-" "-"
row "(e) submit (upload until 201)" "$submit_rate MiB/s" "(e) sha256sum" \
	"$(ratio "$submit_rate" "$sha_rate")" ">= 0.8" "$(verdict "$submit_rate >= $sha_rate * 0.8")"
row "(e) submit + sign (until Completed)" "$total_rate MiB/s" "(e) sha256sum" \
	"$(ratio "$total_rate" "$sha_rate")" ">= 0.8" "$(verdict "$total_rate >= $sha_rate * 0.8")"
row "(e) detached CMS signature verifies" "$verify" "-" "-" "OK" \
	"$([ "$verify" = OK ] && echo PASS || echo MISS)"
if [ "$cold" = 1 ]; then
	echo "(e) ran --cold: no page-cache warm-up"
fi
[ "$verify" = OK ] || exit 1
[ "$broke" = 0 ] || die "requests failed (the loadgen lines above say which)"
exit 0
