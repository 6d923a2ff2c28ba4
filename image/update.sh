#!/bin/bash
# Writes an update image (image/mkupdate.sh) into the inactive A/B slot of
# an appliance disk, but only once its manifest's detached CMS signature
# verifies against the release policy's root certificate (a Signet
# signing policy: the appliance's own workflow, approvals included) and
# every file matches the manifest:
#   1. openssl cms -verify of SIGNATURE over UPDATE_DIR/manifest, -CAfile CA
#   2. the manifest's form; each file's size and SHA-256; the kernel
#      image's roothash= is the manifest's; veritysetup verify of the files
#   3. only then: the inactive slot's root and hash partitions are
#      written, given the UUIDs the root hash names and the labels
#      root-X / root-X-verity, the kernel image goes to the ESP as
#      EFI/Linux/signet-X.efi, and the written partitions are verified
#      against the root hash again.
# Nothing is written when any check of 1 or 2 fails. Making the new slot
# the one that boots (bootctl set-oneshot signet-X.efi, then set-default
# once it came up) is the running system's step, not this tool's.
#
# Usage: image/update.sh --disk DISK --ca CA.pem [--active a|b] UPDATE_DIR SIGNATURE
#   DISK      the appliance's disk: a block device or an image file
#   --active  the slot that runs (default: the one whose partition UUIDs
#             the running kernel's roothash= names, from /proc/cmdline)
# SIGNATURE is DER (what Signet's signed-artifact endpoint returns).
set -euo pipefail

log() { printf 'update: %s\n' "$*" >&2; }
die() { log "REFUSED: $*"; exit 1; }
disk="" ca="" active=""
while [ $# -gt 2 ]; do
	case $1 in
	--disk) disk=$2; shift 2 ;;
	--ca) ca=$2; shift 2 ;;
	--active) active=$2; shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
[ $# = 2 ] && [ -n "$disk" ] && [ -n "$ca" ] ||
	die "usage: image/update.sh --disk DISK --ca CA.pem [--active a|b] UPDATE_DIR SIGNATURE"
dir=$1 sig=$2
for t in openssl veritysetup sfdisk losetup objcopy mcopy sha256sum; do
	command -v "$t" > /dev/null || die "$t is missing"
done

# ------------------------------------------------------------ 1. signature
[ -f "$dir/manifest" ] || die "$dir/manifest is missing"
openssl cms -verify -binary -inform DER -in "$sig" -content "$dir/manifest" \
	-CAfile "$ca" -purpose any -out /dev/null 2> "$dir/.cms-verify.txt" ||
	die "the manifest's signature does not verify against $ca: $(tr '\n' ' ' < "$dir/.cms-verify.txt")"
rm -f "$dir/.cms-verify.txt"
log "manifest signature verified against $ca"

# ------------------------------------------------------------ 2. contents
roothash=""
n=0
while IFS=' ' read -r kind a b c rest; do
	n=$((n + 1))
	case $n:$kind in
	1:signet-update) [ "$a" = 1 ] && [ -z "$b" ] || die "manifest: not version 1" ;;
	2:roothash)
		case $a in *[!0-9a-f]* | '') die "manifest: root hash is not hex" ;; esac
		[ "${#a}" = 64 ] && [ -z "$b" ] || die "manifest: root hash is not 64 hex digits"
		roothash=$a ;;
	3:file | 4:file | 5:file)
		want=$(sed -n "$((n - 2))p" <<< $'root.erofs\nroot.verity\nsignet.efi')
		[ "$a" = "$want" ] && [ -z "$rest" ] || die "manifest: line $n is not $want"
		[ -f "$dir/$a" ] || die "$a is missing"
		[ "$(stat -c %s "$dir/$a")" = "$c" ] || die "$a: size is not the manifest's"
		[ "$(sha256sum < "$dir/$a" | cut -c1-64)" = "$b" ] || die "$a: SHA-256 is not the manifest's" ;;
	*) die "manifest: line $n is unexpected" ;;
	esac
done < "$dir/manifest"
[ "$n" = 5 ] || die "manifest: $n lines, not 5"
objcopy -O binary --only-section=.cmdline "$dir/signet.efi" "$dir/.cmdline" ||
	die "signet.efi has no command line"
grep -q "roothash=$roothash " "$dir/.cmdline" ||
	die "signet.efi's roothash= is not the manifest's"
rm -f "$dir/.cmdline"
veritysetup verify "$dir/root.erofs" "$dir/root.verity" "$roothash" ||
	die "root.erofs does not match its hash tree and root hash"
log "update files match the manifest; root hash $roothash"

# ------------------------------------------------------------ the slots
# partition N of the disk: start and size in bytes, name, UUID (lower case)
part() {
	sfdisk -J "$disk" | /usr/bin/python3 -c 'import json,sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][int(sys.argv[1]) - 1]
print(p["start"] * 512, p["size"] * 512, p.get("name", "-"), p.get("uuid", "").lower(), p.get("type", "").upper())' "$1"
}
uuid() { echo "$1" | sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\)$/\1-\2-\3-\4-\5/'; }
root_type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
verity_type=2C7357ED-EBD2-46D9-AEC9-0D37AC9A3B07
# the layout image/build.sh makes: slot a = 2, 3; slot b = 4, 5
for p in 2 4; do
	read -r _ _ _ _ t <<< "$(part $p)"
	[ "$t" = "$root_type" ] || die "partition $p is not a root partition: not a Signet disk"
	read -r _ _ _ _ t <<< "$(part $((p + 1)))"
	[ "$t" = "$verity_type" ] || die "partition $((p + 1)) is not a verity partition: not a Signet disk"
done
if [ -z "$active" ]; then
	running=$(sed -n 's/.*roothash=\([0-9a-f]*\).*/\1/p' /proc/cmdline)
	[ -n "$running" ] || die "no roothash= on this kernel's command line: say --active"
	for p in 2 4; do
		read -r _ _ _ u _ <<< "$(part $p)"
		[ "${u//-/}" != "${running:0:32}" ] || active=$([ $p = 2 ] && echo a || echo b)
	done
	[ -n "$active" ] || die "the running root hash names neither slot: say --active"
fi
case $active in
a) slot=b data=4 ;;
b) slot=a data=2 ;;
*) die "--active must be a or b" ;;
esac
read -r d_off d_size _ _ _ <<< "$(part $data)"
read -r h_off h_size _ _ _ <<< "$(part $((data + 1)))"
[ "$(stat -c %s "$dir/root.erofs")" -le "$d_size" ] || die "root.erofs is bigger than slot $slot"
[ "$(stat -c %s "$dir/root.verity")" -le "$h_size" ] || die "root.verity is bigger than slot $slot's hash partition"
read -r _ _ _ u _ <<< "$(part 2)"; ua=${u//-/}
read -r _ _ _ u _ <<< "$(part 4)"; ub=${u//-/}
[ "$ua" != "${roothash:0:32}" ] && [ "$ub" != "${roothash:0:32}" ] ||
	die "a slot already holds root hash $roothash"

# ------------------------------------------------------------ 3. write
log "writing slot $slot (partitions $data, $((data + 1))); slot $active runs"
# the slot loses its old identity first: a cut-short write boots nothing
sfdisk --quiet --no-reread --no-tell-kernel --part-label "$disk" "$data" "_updating" > /dev/null
dd if="$dir/root.erofs" of="$disk" bs=1M seek="$d_off" oflag=seek_bytes conv=notrunc,fsync status=none
dd if="$dir/root.verity" of="$disk" bs=1M seek="$h_off" oflag=seek_bytes conv=notrunc,fsync status=none
d=$(losetup -r -f --show -o "$d_off" --sizelimit "$d_size" "$disk")
h=$(losetup -r -f --show -o "$h_off" --sizelimit "$h_size" "$disk")
if ! veritysetup verify "$d" "$h" "$roothash"; then
	losetup -d "$d" "$h"
	die "slot $slot as written does not verify (the disk?)"
fi
losetup -d "$d" "$h"
sfdisk --quiet --no-reread --no-tell-kernel --part-uuid "$disk" "$data" "$(uuid "${roothash:0:32}")"
sfdisk --quiet --no-reread --no-tell-kernel --part-uuid "$disk" "$((data + 1))" "$(uuid "${roothash:32:32}")"
sfdisk --quiet --no-reread --no-tell-kernel --part-label "$disk" "$data" "root-$slot"
sfdisk --quiet --no-reread --no-tell-kernel --part-label "$disk" "$((data + 1))" "root-$slot-verity"
read -r e_off _ _ _ _ <<< "$(part 1)"
MTOOLS_SKIP_CHECK=1 mcopy -o -i "$disk@@$e_off" "$dir/signet.efi" "::/EFI/Linux/signet-$slot.efi"
sync
log "slot $slot holds root hash $roothash; EFI/Linux/signet-$slot.efi boots it"
