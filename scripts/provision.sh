#!/bin/bash
# Provisions a development / test instance of Signet in DIR:
#   a SoftHSM2 token "signet-dev" with random PINs, a small PKI (TLS CA,
#   server certificate, client CA and the ci-runner client certificate, a
#   development release CA, a development OIDC issuer key for build system
#   "dev-ci"), the two signing keys and the time-stamping authority's key
#   (generated inside the token by the signet CLI, never by openssl),
#   their certificates, the
#   signetd configuration and the declarative appliance document, applied.
#
# Idempotent: data (token, PINs, PKI, keys, state) is only created when it
# is missing. The derived files (signetd.conf, appliance.json, env.partial)
# are written again on every run so they follow SIGNET_PORT & co.
#
# Usage: scripts/provision.sh DIR
# Env:   SIGNET_PORT (8443), SIGNET_TSA_PORT (the [tsa] listener, 8318),
#        SIGNET_BUILD (<repo>/build), SIGNET_MAX_ARTIFACT_SIZE (4G)
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
port=${SIGNET_PORT:-8443}
tsa_port=${SIGNET_TSA_PORT:-8318}
build=${SIGNET_BUILD:-$repo/build}
max_artifact=${SIGNET_MAX_ARTIFACT_SIZE:-4G}
module=/usr/lib/softhsm/libsofthsm2.so
token_label=signet-dev
org="Signet Dev"

case $port in
'' | *[!0-9]*) echo "provision: SIGNET_PORT must be a number" >&2; exit 2 ;;
esac
case $tsa_port in
'' | *[!0-9]*) echo "provision: SIGNET_TSA_PORT must be a number" >&2; exit 2 ;;
esac

mkdir -p "$1"
dir=$(cd "$1" && pwd)
build=$(cd "$build" && pwd)
signet_bin=$build/signet
keyholder_bin=$build/pkcs11/signet-keyholder
for b in "$signet_bin" "$keyholder_bin" "$build/signetd"; do
	if [ ! -x "$b" ]; then
		echo "provision: $b is missing; build first (ninja -C $build)" >&2
		exit 1
	fi
done

umask 077
pki=$dir/pki
mkdir -p "$dir/tokens" "$dir/state" "$pki"

log() { printf 'provision: %s\n' "$*"; }

# A random secret of 32 hex digits (128 bits) from the kernel.
random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------- token
# Not exported: the signet CLI must get it from [token] env like signetd.
softhsm_conf=$dir/softhsm2.conf
if [ ! -f "$softhsm_conf" ]; then
	cat > "$softhsm_conf" <<-EOF
	# SoftHSM2 configuration of this Signet instance (scripts/provision.sh)
	directories.tokendir = $dir/tokens
	objectstore.backend = file
	log.level = ERROR
	slots.removable = false
	EOF
	log "wrote softhsm2.conf"
fi

if SOFTHSM2_CONF=$softhsm_conf softhsm2-util --show-slots 2>/dev/null | grep -Eq "Label:[[:space:]]+${token_label}[[:space:]]*$"; then
	if [ ! -s "$dir/token.pin" ]; then
		echo "provision: token $token_label exists but $dir/token.pin is missing;" \
			"the PIN cannot be recovered: remove $dir to start over" >&2
		exit 1
	fi
else
	pin=$(random_hex)
	so_pin=$(random_hex)
	# Written before the token exists so a failure never leaves a token
	# nobody can log in to.
	printf '%s\n' "$pin" > "$dir/token.pin.new"
	printf '%s\n' "$so_pin" > "$dir/token.so-pin.new"
	chmod 0600 "$dir/token.pin.new" "$dir/token.so-pin.new"
	mv "$dir/token.pin.new" "$dir/token.pin"
	mv "$dir/token.so-pin.new" "$dir/token.so-pin"
	# softhsm2-util takes the PINs only as arguments or from a terminal;
	# this short-lived command line is the one place they appear.
	SOFTHSM2_CONF=$softhsm_conf softhsm2-util --init-token --free --label "$token_label" \
		--pin "$pin" --so-pin "$so_pin" > /dev/null
	unset pin so_pin
	log "initialised token $token_label"
fi
chmod 0600 "$dir/token.pin" "$dir/token.so-pin"

# ---------------------------------------------------------------- PKI
# new_key FILE: an EC P-256 key for the TLS and development CAs. These are
# not signing keys; those live in the token.
new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
	chmod 0600 "$1"
}

serial() { printf '0x%s' "$(random_hex)"; }

# new_ca NAME SUBJECT: a self-signed CA certificate pki/NAME.pem + key.
new_ca() {
	local name=$1 subj=$2
	if [ -s "$pki/$name.pem" ] && [ -s "$pki/$name.key" ]; then
		return 0
	fi
	new_key "$pki/$name.key"
	openssl req -new -x509 -key "$pki/$name.key" -subj "$subj" -days 3650 \
		-set_serial "$(serial)" -sha256 \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$pki/$name.pem"
	chmod 0644 "$pki/$name.pem"
	log "created $name"
}

# issue CA NAME SUBJECT EXTFILE-CONTENT: a key and a certificate signed by CA.
issue() {
	local ca=$1 name=$2 subj=$3 ext=$4
	if [ -s "$pki/$name.pem" ] && [ -s "$pki/$name.key" ]; then
		return 0
	fi
	new_key "$pki/$name.key"
	openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
	printf '%s\n' "$ext" > "$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/$ca.pem" \
		-CAkey "$pki/$ca.key" -set_serial "$(serial)" -days 825 -sha256 \
		-extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
	chmod 0644 "$pki/$name.pem"
	rm -f "$pki/$name.csr" "$pki/$name.ext"
	log "created $name (issued by $ca)"
}

# OpenSSL's -subj is written most significant first; RFC 2253 prints it
# reversed, so "/O=Signet Dev/CN=x" is "CN=x,O=Signet Dev" there.
new_ca tls-ca "/O=$org/CN=Signet Dev TLS CA"
new_ca client-ca "/O=$org/CN=Signet Dev Client CA"
new_ca release-ca "/O=$org/CN=Signet Dev Release CA"

issue tls-ca server-cert "/O=$org/CN=localhost" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

issue client-ca ci-runner "/O=$org/CN=ci-runner" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

# The development OIDC issuer: an RSA key that plays GitHub Actions' token
# service for build system "dev-ci" (scripts/dev-id-token.py mints with it;
# docs/origin.md). Only its public JWKS goes into the appliance.
if [ ! -s "$pki/oidc-issuer.key" ]; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$pki/oidc-issuer.key.new" 2>/dev/null
	chmod 0600 "$pki/oidc-issuer.key.new"
	mv "$pki/oidc-issuer.key.new" "$pki/oidc-issuer.key"
	log "created the development OIDC issuer key"
fi
/usr/bin/python3 "$repo/scripts/dev-id-token.py" --key "$pki/oidc-issuer.key" \
	--jwks > "$pki/oidc-issuer.jwks.new"
chmod 0644 "$pki/oidc-issuer.jwks.new"
mv "$pki/oidc-issuer.jwks.new" "$pki/oidc-issuer.jwks"

# signetd reads its certificate and key from one owner-only PEM file.
if [ ! -s "$pki/server.pem" ] || [ "$pki/server-cert.pem" -nt "$pki/server.pem" ]; then
	cat "$pki/server-cert.pem" "$pki/server-cert.key" > "$pki/server.pem.new"
	chmod 0600 "$pki/server.pem.new"
	mv "$pki/server.pem.new" "$pki/server.pem"
fi

# ---------------------------------------------------------------- config
conf=$dir/signetd.conf

# signetd gives the keyholder only the [token] env lines; in a sanitizer run
# (test.sh) the keyholder needs the sanitizer options too.
sanitizer_env() {
	local v
	for v in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
		if [ -n "${!v:-}" ]; then
			printf 'env = %s=%s\n' "$v" "${!v}"
		fi
	done
}

# The development TSA's policy (README "Time stamping").
tsa_policy_uuid=175525608424281754545896918286696805157
cat > "$conf.new" <<EOF
; signetd configuration of a development instance, written by
; scripts/provision.sh (regenerated on every run; data is kept).

[server]
listen = 127.0.0.1:$port
certificate = pki/server.pem
client_ca = pki/client-ca.pem
threads = 64

[store]
state_dir = state
max_artifact_size = $max_artifact
map_size = 1G

[token]
module = $module
label = $token_label
pin_file = token.pin
keyholder = $keyholder_bin
env = SOFTHSM2_CONF=$softhsm_conf
$(sanitizer_env)

[signing]
workers = auto

[outbound]
; the test suite's webhook receivers and JWKS servers listen on this
; machine; a production appliance lists no internal address here
allow_internal = 127.0.0.1, ::1

[tsa]
certificate = tsa
; a development policy OID under 2.25 (UUID-based, X.667: no registration)
policy = 2.25.$tsa_policy_uuid
accuracy_ms = 1000
listen = 127.0.0.1:$tsa_port
rate = 20
; a development machine or container may run without NTP: the TSA issues
; anyway here; a production appliance keeps the default (false) and
; refuses while the kernel says the clock is not synchronised
allow_unsynchronized = true
EOF
chmod 0600 "$conf.new"
mv "$conf.new" "$conf"

# The CLI's diagnostics go to provision.log and are shown when it fails.
signet() {
	local rc=0
	"$signet_bin" -c "$conf" "$@" 2>> "$dir/provision.log" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "provision: signet $1 $2 failed ($rc); from $dir/provision.log:" >&2
		tail -n 20 "$dir/provision.log" >&2
	fi
	return "$rc"
}

# has_key LABEL: is there a token key with this label? Reads the CLI's JSON
# without assuming more of its shape than "objects with a label".
has_key() {
	signet key list --json | /usr/bin/python3 -c '
import json, sys
want = sys.argv[1]
def walk(v):
    if isinstance(v, dict):
        if v.get("label") == want:
            return True
        return any(walk(x) for x in v.values())
    if isinstance(v, list):
        return any(walk(x) for x in v)
    return False
sys.exit(0 if walk(json.load(sys.stdin)) else 1)' "$1"
}

# ---------------------------------------------------------------- keys
for k in test-signing release-signing; do
	if has_key "$k"; then
		continue
	fi
	signet key generate --label "$k" --type rsa3072 > /dev/null
	# Certificates of an earlier key are no longer good.
	case $k in
	test-signing) rm -f "$pki/test-signing.pem" ;;
	release-signing) rm -f "$pki/release-signing.pem" "$pki/release-chain.pem" ;;
	esac
	log "generated token key $k (rsa3072)"
done

if [ ! -s "$pki/test-signing.pem" ]; then
	signet key self-signed --key test-signing \
		--subject "CN=Signet Dev Test Signing,O=$org" --days 825 \
		--out "$pki/test-signing.pem.new" > /dev/null
	chmod 0644 "$pki/test-signing.pem.new"
	mv "$pki/test-signing.pem.new" "$pki/test-signing.pem"
	log "created self-signed test-signing certificate"
fi

if [ ! -s "$pki/release-chain.pem" ]; then
	signet key csr --key release-signing \
		--subject "CN=Signet Dev Release Signing,O=$org" \
		--out "$pki/release-signing.csr" > /dev/null
	openssl req -in "$pki/release-signing.csr" -noout -verify 2>/dev/null
	# emailProtection besides codeSigning: a detached CMS signature is
	# S/MIME's format, and `openssl cms -verify` checks for that purpose.
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=codeSigning,emailProtection" \
		"subjectKeyIdentifier=hash" \
		"authorityKeyIdentifier=keyid" > "$pki/release-signing.ext"
	openssl x509 -req -in "$pki/release-signing.csr" -CA "$pki/release-ca.pem" \
		-CAkey "$pki/release-ca.key" -set_serial "$(serial)" -days 825 \
		-sha256 -extfile "$pki/release-signing.ext" \
		-out "$pki/release-signing.pem" 2>/dev/null
	cat "$pki/release-signing.pem" "$pki/release-ca.pem" > "$pki/release-chain.pem.new"
	chmod 0644 "$pki/release-signing.pem" "$pki/release-chain.pem.new"
	mv "$pki/release-chain.pem.new" "$pki/release-chain.pem"
	rm -f "$pki/release-signing.csr" "$pki/release-signing.ext"
	log "created release-signing certificate (issued by release-ca)"
fi

# The time-stamping authority's key and its certificate from the
# development release CA: extended key usage timeStamping, critical (RFC
# 3161 section 2.3; OpenSSL's verifier and signet apply refuse others).
if ! has_key tsa; then
	signet key generate --label tsa --type p256 > /dev/null
	rm -f "$pki/tsa-chain.pem"
	log "generated token key tsa (p256)"
fi
if [ ! -s "$pki/tsa-chain.pem" ]; then
	signet key csr --key tsa --subject "CN=Signet Dev TSA,O=$org" \
		--out "$pki/tsa.csr" > /dev/null
	openssl req -in "$pki/tsa.csr" -noout -verify 2>/dev/null
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=critical,timeStamping" \
		"subjectKeyIdentifier=hash" \
		"authorityKeyIdentifier=keyid" > "$pki/tsa.ext"
	openssl x509 -req -in "$pki/tsa.csr" -CA "$pki/release-ca.pem" \
		-CAkey "$pki/release-ca.key" -set_serial "$(serial)" -days 825 \
		-sha256 -extfile "$pki/tsa.ext" -out "$pki/tsa.pem" 2>/dev/null
	cat "$pki/tsa.pem" "$pki/release-ca.pem" > "$pki/tsa-chain.pem.new"
	chmod 0644 "$pki/tsa.pem" "$pki/tsa-chain.pem.new"
	mv "$pki/tsa-chain.pem.new" "$pki/tsa-chain.pem"
	rm -f "$pki/tsa.csr" "$pki/tsa.ext"
	log "created the TSA certificate (issued by release-ca)"
fi

# ---------------------------------------------------------------- apply
rfc2253() {
	openssl x509 -in "$1" -noout "-$2" -nameopt RFC2253 | sed "s/^$2=//"
}
ci_subject=$(rfc2253 "$pki/ci-runner.pem" subject)
ci_issuer=$(rfc2253 "$pki/ci-runner.pem" issuer)

/usr/bin/python3 - "$dir/appliance.json" "$ci_subject" "$ci_issuer" "$pki/oidc-issuer.jwks" <<'EOF'
import json, os, sys
path, subject, issuer, jwks_path = sys.argv[1:5]
with open(jwks_path) as f:
    jwks = json.load(f)
# the development policies sign every format the appliance has (the
# registry's slugs; "hash" is allowHashSigning's, not a configuration)
ALL_CONFIGURATIONS = ["detached-cms", "authenticode", "authenticode-pe",
                      "authenticode-msi", "authenticode-cab",
                      "authenticode-script"]
doc = {
    "certificates": [
        {"name": "test-signing", "key": "test-signing", "purpose": "test",
         "chainFile": "pki/test-signing.pem"},
        {"name": "release-signing", "key": "release-signing", "purpose": "release",
         "chainFile": "pki/release-chain.pem"},
        {"name": "tsa", "key": "tsa", "purpose": "timestamping",
         "chainFile": "pki/tsa-chain.pem"},
    ],
    "identities": [
        {"name": "ci-runner", "type": "client-certificate",
         "subject": subject, "issuer": issuer},
    ],
    "users": [
        {"name": "admin", "email": "admin@signet.test",
         "roles": ["administrator", "auditor"]},
        {"name": "officer", "email": "officer@signet.test",
         "roles": ["security-officer"]},
        {"name": "dev", "email": "dev@signet.test", "roles": []},
    ],
    # ci-runner's certificate stands for this build system, and its ID
    # tokens (scripts/dev-id-token.py) vouch for the origin data it sends
    "buildSystems": [
        {"name": "dev-ci", "identities": ["ci-runner"], "preset": "github",
         "issuer": "https://oidc.dev.signet.invalid", "audience": "signet",
         "jwks": jwks},
    ],
    "projects": [
        {"slug": "demo-app", "name": "Demo App", "repositoryUrls": [],
         "signingPolicies": [
             {"slug": "test-signing", "name": "Test signing",
              "certificate": "test-signing", "requiredApprovals": 0,
              "submitters": ["ci-runner", "dev"], "approvers": [],
              "artifactConfigurations": ALL_CONFIGURATIONS,
              # build machines may sign through the PKCS#11 module
              "allowHashSigning": True},
             {"slug": "release-signing", "name": "Release signing",
              "certificate": "release-signing", "requiredApprovals": 1,
              # release signatures must outlive their certificate
              "timestamp": "builtin",
              "submitters": ["ci-runner"], "approvers": ["officer"],
              "artifactConfigurations": ALL_CONFIGURATIONS,
              "requireVerifiedOrigin": True,
              "allowedBranches": ["main", "refs/tags/v*"]},
         ]},
    ],
}
with open(path + ".new", "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.chmod(path + ".new", 0o644)
os.replace(path + ".new", path)
EOF

signet apply "$dir/appliance.json"

# Passwords of the development users: made once, kept in owner-only files,
# handed to signet on stdin (never on a command line).
mkdir -p "$dir/passwords"
for user in admin officer dev; do
	if [ ! -s "$dir/passwords/$user" ]; then
		random_hex > "$dir/passwords/$user.new"
		signet user password "$user" < "$dir/passwords/$user.new" 2>/dev/null
		mv "$dir/passwords/$user.new" "$dir/passwords/$user"
		log "set the password of $user"
	fi
done

# ---------------------------------------------------------------- env
# What a client needs; run.sh turns it into DIR/env once signetd answers.
cat > "$dir/env.partial" <<EOF
export SIGNET_DIR=$dir
export SIGNET_CONFIG=$conf
export SIGNET_URL=https://127.0.0.1:$port
export SIGNET_TSA_URL=https://127.0.0.1:$tsa_port/api/v1/timestamp
export SIGNET_CACERT=$pki/tls-ca.pem
export SIGNET_CLIENT_CERT=$pki/ci-runner.pem
export SIGNET_CLIENT_KEY=$pki/ci-runner.key
export SIGNET_ADMIN_PASSWORD=$(cat "$dir/passwords/admin")
export SIGNET_OFFICER_PASSWORD=$(cat "$dir/passwords/officer")
export SIGNET_DEV_PASSWORD=$(cat "$dir/passwords/dev")
EOF
chmod 0600 "$dir/env.partial"
log "instance ready in $dir (signetd -c $conf)"
