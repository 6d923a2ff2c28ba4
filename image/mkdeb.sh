#!/bin/bash
# Builds signet_VERSION_amd64.deb from this tree: a meson build with prefix
# /usr, `meson install --destdir` into a staging tree, the systemd units,
# sysusers and tmpfiles entries, the first-boot script and the config
# example beside it, then dpkg-deb. The package's dependencies come from
# dpkg-shlibdeps, so they follow what the binaries link.
#
# Usage: image/mkdeb.sh OUTDIR [BUILDDIR]
#   BUILDDIR defaults to build-image/ in the tree (kept between runs, so a
#   rebuild of an unchanged tree only relinks nothing).
# Prints the path of the .deb on stdout.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [BUILDDIR]" >&2
	exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
build=${2:-$repo/build-image}

log() { printf 'mkdeb: %s\n' "$*" >&2; }

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$repo" --prefix=/usr --sysconfdir=/etc \
		--localstatedir=/var --buildtype=release -Db_pie=true -Dtests=false >&2
fi
ninja -C "$build" >&2

version=$(meson introspect --projectinfo "$build" |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage meson install -C "$build" --no-rebuild --quiet >&2

# Everything the tree has for a system install besides what meson installs.
install -D -m 0644 "$repo/config/systemd/signetd.service" \
	"$stage/usr/lib/systemd/system/signetd.service"
install -D -m 0644 "$repo/config/systemd/signet-console@.service" \
	"$stage/usr/lib/systemd/system/signet-console@.service"
install -D -m 0644 "$repo/config/systemd/signet-firstboot.service" \
	"$stage/usr/lib/systemd/system/signet-firstboot.service"
install -D -m 0644 "$repo/config/systemd/signet-keyholder.socket" \
	"$stage/usr/lib/systemd/system/signet-keyholder.socket"
install -D -m 0644 "$repo/config/systemd/signet-keyholder.service" \
	"$stage/usr/lib/systemd/system/signet-keyholder.service"
install -D -m 0644 "$repo/config/signet.sysusers" "$stage/usr/lib/sysusers.d/signet.conf"
install -D -m 0644 "$repo/config/signet.tmpfiles" "$stage/usr/lib/tmpfiles.d/signet.conf"
install -D -m 0755 "$repo/image/signet-firstboot" "$stage/usr/libexec/signet/signet-firstboot"
install -D -m 0644 "$repo/config/signetd.conf.example" \
	"$stage/usr/share/doc/signet/examples/signetd.conf.example"
install -D -m 0644 "$repo/README.md" "$stage/usr/share/doc/signet/README.md"
install -D -m 0644 "$repo/image/README.md" "$stage/usr/share/doc/signet/image.md"
for d in "$repo"/docs/*.md; do
	install -D -m 0644 "$d" "$stage/usr/share/doc/signet/$(basename "$d")"
done

# signetd's root directory (signetd.service RootDirectory=): mount points
# for what the unit binds in, links for merged /usr
sk=$stage/usr/lib/signet/root
for d in usr etc proc sys dev run run/signet tmp var/tmp var/lib/signet var/lib/softhsm; do
	install -d -m 0755 "$sk/$d"
done
for l in bin sbin lib lib64; do
	ln -s "usr/$l" "$sk/$l"
done

# dpkg-shlibdeps wants a debian/control beside it.
shl=$(mktemp -d)
mkdir "$shl/debian"
printf 'Source: signet\n\nPackage: signet\nArchitecture: any\n' > "$shl/debian/control"
bins=()
while IFS= read -r -d '' f; do
	if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		bins+=("$f")
	fi
done < <(find "$stage/usr" -type f -perm -0100 -print0)
shlibs=$(cd "$shl" && dpkg-shlibdeps -O "${bins[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
rm -rf "$shl"
if [ -z "$shlibs" ]; then
	log "dpkg-shlibdeps found no dependencies"
	exit 1
fi

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CTL
Package: signet
Version: $version
Architecture: amd64
Maintainer: Signet <signet@localhost>
Installed-Size: $size
Depends: $shlibs, softhsm2, opensc-pkcs11, openssl, systemd
Recommends: opensc
Section: admin
Priority: optional
Description: on-premises code-signing appliance
 signetd (HTTPS API and web interface), its PKCS#11 keyholder, the signet
 command-line tool and the officer console, with systemd units.
CTL
cat > "$stage/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
	systemd-sysusers /usr/lib/sysusers.d/signet.conf || true
	if [ -d /run/systemd/system ]; then
		systemd-tmpfiles --create /usr/lib/tmpfiles.d/signet.conf || true
		systemctl daemon-reload || true
	fi
fi
SH
chmod 0755 "$stage/DEBIAN/postinst"
# Same tree, same bytes: fixed timestamps and owners.
epoch=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)
find "$stage" -exec touch -h -d "@$epoch" {} +
deb=$out/signet_${version}_amd64.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
log "built $deb"
printf '%s\n' "$deb"
