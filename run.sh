#!/bin/bash
# Builds Signet, provisions a development instance in .dev (or
# $SIGNET_DEV_DIR) and runs signetd in the foreground until Ctrl-C.
set -euo pipefail

repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"

scripts/deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build
fi
ninja -C build

dev=${SIGNET_DEV_DIR:-.dev}
SIGNET_BUILD=$repo/build scripts/provision.sh "$dev"
dev=$(cd "$dev" && pwd)

rm -f "$dev/env"

# Started before env.partial is read: signetd gets no client settings.
build/signetd -c "$dev/signetd.conf" &
pid=$!

# shellcheck source=/dev/null
. "$dev/env.partial"

stop() {
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
}
trap stop INT TERM
trap 'stop; rm -f "$dev/env"' EXIT

ready=0
for _ in $(seq 1 300); do
	if ! kill -0 "$pid" 2>/dev/null; then
		break
	fi
	if curl -sf --max-time 2 --cacert "$SIGNET_CACERT" \
		"$SIGNET_URL/api/v1/health" > /dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.2
done

if [ "$ready" != 1 ]; then
	echo "run: signetd did not answer $SIGNET_URL/api/v1/health" >&2
	stop
	wait "$pid" 2>/dev/null || true
	exit 1
fi

umask 077
# env.partial has the URL, the CA, the CI client certificate and the
# development users' passwords
cp "$dev/env.partial" "$dev/env.new"
mv "$dev/env.new" "$dev/env"

cat <<EOF

Signet is running at $SIGNET_URL (signetd pid $pid). Try it from another shell:

  . $dev/env
  echo hello > hello.txt
  curl --cacert "\$SIGNET_CACERT" --cert "\$SIGNET_CLIENT_CERT" --key "\$SIGNET_CLIENT_KEY" \\
       -F projectSlug=demo-app -F signingPolicySlug=test-signing -F artifact=@hello.txt \\
       "\$SIGNET_URL/api/v1/signing-requests"
  curl --cacert "\$SIGNET_CACERT" --cert "\$SIGNET_CLIENT_CERT" --key "\$SIGNET_CLIENT_KEY" \\
       -o hello.txt.p7s "\$SIGNET_URL/api/v1/signing-requests/<id>/signed-artifact"
  openssl cms -verify -binary -inform DER -in hello.txt.p7s -content hello.txt \\
       -CAfile $dev/pki/test-signing.pem -out /dev/null

  build/signet -c $dev/signetd.conf key list

Users admin, officer and dev: their passwords are in $dev/env.

Ctrl-C stops signetd.
EOF

# wait returns early when a trapped signal arrives; keep waiting until
# signetd itself has exited and pass on its status.
while :; do
	status=0
	wait "$pid" || status=$?
	kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
