#!/bin/sh
# walls.sh must fail when web/ opens a store transaction or calls the
# keyholder: a copy of the sources with one such call planted in a
# handler file, each kind in turn. Usage: walls_fail.sh SOURCE_DIR BUILD_DIR.
set -u
src=${1:?source directory}
build=${2:?build directory}
walls=$(dirname "$0")/walls.sh
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
rc=0
for call in 'store_txn_begin(a->app->store, 0, &t)' 'store_txn_commit(&t)' \
    'kh_status (a->app->kh, &st)' 'kh_list_keys(a->app->kh, &k, &n)'; do
	rm -rf "$tmp/tree"
	mkdir -p "$tmp/tree/web"
	cp -R "$src/appliance" "$src/pkcs11" "$tmp/tree/" &&
		cp "$src"/web/*.c "$src"/web/*.h "$tmp/tree/web/" || exit 1
	printf 'static void planted(struct api *a) { (void)%s; }\n' "$call" \
		>> "$tmp/tree/web/api_audit.c"
	out=$(sh "$walls" "$tmp/tree" "$build")
	if [ $? -eq 0 ] || ! printf '%s\n' "$out" | grep -q 'web/api_audit.c:.*calls the keyholder'; then
		echo "walls.sh let web/ call: $call"
		rc=1
	fi
done
# and the real tree passes
sh "$walls" "$src" "$build" > /dev/null || { echo "walls.sh fails on $src"; rc=1; }
[ "$rc" = 0 ] && echo "walls.sh refuses transactions and keyholder calls in web/"
exit "$rc"
