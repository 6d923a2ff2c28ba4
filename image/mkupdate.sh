#!/bin/bash
# Makes an update image from a build (image/build.sh's output): the root
# file system as it is, a dm-verity hash tree of its own (its salt from
# TAG, so its root hash, and with it the partition UUIDs it is written
# under, differ from every other slot's), a unified kernel image whose
# command line carries that root hash, and the manifest that names the
# three with their SHA-256 and size. The manifest is what a Signet policy
# signs (detached CMS); image/update.sh checks that signature, then the
# files against the manifest, before it writes anything.
#
# Usage: image/mkupdate.sh BUILD_OUT DIR TAG
# Writes DIR/root.erofs, DIR/root.verity, DIR/signet.efi, DIR/manifest.
set -euo pipefail

log() { printf 'mkupdate: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
[ $# = 3 ] || die "usage: image/mkupdate.sh BUILD_OUT DIR TAG"
in=$1 dir=$2 tag=$3
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
for f in root.erofs vmlinuz initrd.img cmdline signet-a.efi; do
	[ -s "$in/$f" ] || die "$in/$f is missing (image/build.sh)"
done
[ -f "$stub" ] || die "systemd-boot-efi is missing"
mkdir -p "$dir"
rm -f "$dir/root.erofs" "$dir/root.verity" "$dir/signet.efi" "$dir/manifest"
ln "$in/root.erofs" "$dir/root.erofs" 2> /dev/null || cp "$in/root.erofs" "$dir/root.erofs"
salt=$( { printf '%s\n' "$tag"; cat "$dir/root.erofs"; } | sha256sum | cut -c1-64)
veritysetup format --salt="$salt" "$dir/root.erofs" "$dir/root.verity" > "$dir/verity.txt" ||
	die "veritysetup format failed"
roothash=$(sed -n 's/^Root hash:[[:space:]]*//p' "$dir/verity.txt")
rm -f "$dir/verity.txt"
[ "${#roothash}" = 64 ] || die "no root hash from veritysetup"
sed "s/roothash=[0-9a-f]*/roothash=$roothash/" "$in/cmdline" > "$dir/cmdline"
grep -q "roothash=$roothash " "$dir/cmdline" || die "the command line has no roothash="
# the same os-release as the build's kernel image
objcopy -O binary --only-section=.osrel "$in/signet-a.efi" "$dir/os-release" ||
	die "no .osrel in $in/signet-a.efi"
objcopy \
	--add-section .osrel="$dir/os-release" --change-section-vma .osrel=0x20000 \
	--add-section .cmdline="$dir/cmdline" --change-section-vma .cmdline=0x30000 \
	--add-section .linux="$in/vmlinuz" --change-section-vma .linux=0x2000000 \
	--add-section .initrd="$in/initrd.img" --change-section-vma .initrd=0x3000000 \
	"$stub" "$dir/signet.efi" || die "objcopy (UKI) failed"
rm -f "$dir/os-release" "$dir/cmdline"
{
	echo "signet-update 1"
	echo "roothash $roothash"
	for f in root.erofs root.verity signet.efi; do
		echo "file $f $(sha256sum < "$dir/$f" | cut -c1-64) $(stat -c %s "$dir/$f")"
	done
} > "$dir/manifest"
log "update $dir: root hash $roothash"
echo "$roothash"
