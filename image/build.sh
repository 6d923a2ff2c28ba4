#!/bin/bash
# Builds the Signet appliance image: a raw GPT disk, bootable with UEFI
# (systemd-boot), whose root is a read-only erofs file system protected by
# dm-verity; its root hash is on the kernel command line inside the unified
# kernel image. Debian 12 packages only (image/packages, debootstrap) plus
# signet's own .deb built from this tree (image/mkdeb.sh).
#
#   ESP (systemd-boot, EFI/Linux/signet-a.efi)
#   root-a (erofs) + root-a-verity      slot A, this build
#   root-b + root-b-verity              slot B: the same root, a hash tree
#                                       of its own (image/mkupdate.sh)
#   (free space: the state partition, made at first boot)
#
# Usage: image/build.sh [OUTDIR]      (default: build-image/image)
# Env:   SIGNET_IMAGE_CACHE  downloads and base systems (/var/cache/signet-image)
#        SIGNET_IMAGE_MIRROR Debian mirror (http://deb.debian.org/debian)
#        SIGNET_IMAGE_SIZE   raw disk size (3G; the rest after the slots is state)
# Writes OUTDIR/signet.img, signet.roothash, signet-a.efi (the UKI), vmlinuz,
# initrd.img, cmdline, root.erofs, root.verity, packages.txt, timings.txt,
# and slot-b/ (slot B's update image: root.verity, signet.efi, manifest;
# signet-b.efi and signet-b.roothash beside the others).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/build-image/image}
cache=${SIGNET_IMAGE_CACHE:-/var/cache/signet-image}
mirror=${SIGNET_IMAGE_MIRROR:-http://deb.debian.org/debian}
size=${SIGNET_IMAGE_SIZE:-3G}
suite=bookworm
slot_size=$((1024 * 1024 * 1024))   # a root slot
vslot_size=$((64 * 1024 * 1024))    # its verity hash tree
esp_size=$((256 * 1024 * 1024))

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
step_start=$(date +%s)
step() {
	local now
	now=$(date +%s)
	[ -z "${step_name:-}" ] || printf '%-28s %4ds\n' "$step_name" $((now - step_start)) >> "$out/timings.txt"
	step_name=$1
	step_start=$now
	log "$1"
}

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
for t in debootstrap mkfs.erofs veritysetup objcopy sfdisk mkfs.vfat mcopy dpkg-deb meson; do
	command -v "$t" > /dev/null || die "$t is missing (scripts/deps.sh --image)"
done
stub=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
sdboot=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -f "$stub" ] && [ -f "$sdboot" ] || die "systemd-boot-efi is missing"

mkdir -p "$out" "$cache/debs"
out=$(cd "$out" && pwd)
: > "$out/timings.txt"
work=$(mktemp -d "$out/work.XXXXXX")
root=$work/root

# Nothing may stay mounted, whatever fails.
cleanup() {
	local m
	for m in $(awk -v r="$work" '$2 ~ "^"r {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2> /dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pkgs=$(sed 's/#.*//' "$repo/image/packages" | tr -s ' \n' '\n' | grep . | sort -u | paste -sd, -)
key=$(printf '%s\n' "$suite $mirror v1" "$pkgs" | sha256sum | cut -c1-16)
ikey=$( {
	echo "$key"
	cat "$repo/image/initramfs/hooks/"* "$repo/image/initramfs/scripts/local-top/"* \
		"$repo/image/initramfs/conf.d/"* "$repo/image/initramfs/modules"
} | sha256sum | cut -c1-16)
base=$cache/base-$key.tar

# ------------------------------------------------------------ base system
step "signet .deb"
deb=$("$repo/image/mkdeb.sh" "$out" "$repo/build-image/meson") || die "the .deb did not build"

if [ ! -s "$base" ]; then
	step "debootstrap (not cached: $key)"
	mkdir -p "$work/base"
	if ! debootstrap --variant=minbase --components=main --include="$pkgs" \
		--cache-dir="$cache/debs" "$suite" "$work/base" "$mirror" > "$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2
		[ ! -f "$work/base/debootstrap/debootstrap.log" ] || tail -n 30 "$work/base/debootstrap/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	for m in $(awk -v r="$work/base" '$2 ~ "^"r {print $2}' /proc/mounts | sort -r); do
		umount -l "$m"
	done
	rm -rf "$work/base/var/cache/apt/"* "$work/base/var/lib/apt/lists/"*
	tar -C "$work/base" --numeric-owner --xattrs -cf "$base.new" .
	mv "$base.new" "$base"
	rm -rf "$work/base"
	# only the newest few base systems are kept
	ls -t "$cache"/base-*.tar 2> /dev/null | tail -n +4 | xargs -r rm -f
fi
initrd=$cache/initrd-$ikey.img

step "root file system"
mkdir -p "$root"
tar -C "$root" --numeric-owner --xattrs -xf "$base"
cp "$deb" "$root/tmp/signet.deb"
chroot "$root" dpkg -i /tmp/signet.deb > "$work/dpkg.log" 2>&1 ||
	{ cat "$work/dpkg.log" >&2; die "dpkg -i signet.deb failed"; }
rm -f "$root/tmp/signet.deb"
cp -a --no-preserve=ownership "$repo/image/rootfs/." "$root/"
install -m 0755 "$repo/image/initramfs/hooks/signet-verity" "$root/etc/initramfs-tools/hooks/"
install -m 0755 "$repo/image/initramfs/scripts/local-top/signet-verity" \
	"$root/etc/initramfs-tools/scripts/local-top/"
install -m 0644 "$repo/image/initramfs/conf.d/signet.conf" "$root/etc/initramfs-tools/conf.d/"
install -m 0644 "$repo/image/initramfs/modules" "$root/etc/initramfs-tools/modules"
kver=$(ls "$root/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)
[ -n "$kver" ] || die "no kernel in the image"
if [ ! -s "$initrd" ]; then
	step "initramfs (verity; not cached: $ikey)"
	chroot "$root" mkinitramfs -o /tmp/initrd.img "$kver" > "$work/initramfs.log" 2>&1 ||
		{ tail -n 30 "$work/initramfs.log" >&2; die "mkinitramfs failed"; }
	mv "$root/tmp/initrd.img" "$initrd.new"
	mv "$initrd.new" "$initrd"
	ls -t "$cache"/initrd-*.img 2> /dev/null | tail -n +4 | xargs -r rm -f
	step "root file system (continued)"
fi
chmod 0755 "$root/usr/libexec/signet/signet-state"

# Units: the appliance's, and no way to a shell on any console.
chroot "$root" systemctl enable signetd.service signet-keyholder.socket signet-console@tty1.service \
	signet-firstboot.service signet-runtime.service systemd-networkd.service \
	nftables.service systemd-timesyncd.service > /dev/null 2>&1 ||
	die "systemctl enable failed"
chroot "$root" systemctl mask getty@.service serial-getty@.service autovt@.service \
	console-getty.service container-getty@.service debug-shell.service \
	emergency.service rescue.service systemd-networkd-wait-online.service \
	apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
	systemd-firstboot.service systemd-repart.service getty-static.service > /dev/null 2>&1 || die "systemctl mask failed"
chroot "$root" systemctl set-default multi-user.target > /dev/null 2>&1

# Users: the root account stays locked; the service users have no shell.
chroot "$root" systemd-sysusers > /dev/null
chroot "$root" usermod -s /usr/sbin/nologin root
chroot "$root" passwd -l root > /dev/null

echo signet > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 signet\n::1 localhost\n' > "$root/etc/hosts"
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
ln -sf /proc/self/mounts "$root/etc/mtab"

# No package manager, no caches, nothing for development.
chroot "$root" dpkg --purge --force-remove-essential --force-depends apt > /dev/null 2>&1 || true
rm -rf "$root/var/cache/"* "$root/var/lib/apt" "$root/var/log/"* \
	"$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian" \
	"$root/etc/apt" "$root/var/cache/debconf/"*-old "$root/tmp/"* \
	"$root/etc/ssh" "$root/root/".??* 2> /dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' ! -name locale.alias \
	-exec rm -rf {} + 2> /dev/null || true
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' | sort > "$out/packages.txt"
for bad in sshd gcc cc tcc clang; do
	[ ! -e "$root/usr/bin/$bad" ] && [ ! -e "$root/usr/sbin/$bad" ] || die "$bad is in the image"
done

cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$initrd" "$out/initrd.img"
# the kernel and initrd live in the UKI on the ESP, not in the root
rm -f "$root/boot/"* "$root/vmlinuz"* "$root/initrd.img"*

epoch=$(git -C "$repo" log -1 --format=%ct 2> /dev/null || echo 0)
step "erofs + dm-verity"
rm -f "$out/root.erofs" "$out/root.verity"
mkfs.erofs -zlz4hc -T"$epoch" -U 5a16e7e0-0000-4000-8000-000000000001 --quiet \
	"$out/root.erofs" "$root" || die "mkfs.erofs failed"
[ "$(stat -c %s "$out/root.erofs")" -le "$slot_size" ] || die "root.erofs is bigger than a slot"
salt=$(sha256sum "$out/root.erofs" | cut -c1-64)
veritysetup format --salt="$salt" --uuid=5a16e7e0-0000-4000-8000-000000000002 \
	"$out/root.erofs" "$out/root.verity" > "$work/verity.txt" || die "veritysetup format failed"
roothash=$(sed -n 's/^Root hash:[[:space:]]*//p' "$work/verity.txt")
[ "${#roothash}" = 64 ] || die "no root hash from veritysetup"
echo "$roothash" > "$out/signet.roothash"
[ "$(stat -c %s "$out/root.verity")" -le "$vslot_size" ] || die "root.verity is bigger than its slot"

step "unified kernel image"
cmdline="roothash=$roothash root=/dev/mapper/root rootfstype=erofs ro systemd.gpt_auto=0 console=tty1 console=ttyS0,115200 panic=10 loglevel=4 systemd.show_status=yes systemd.status_unit_format=name"
echo "$cmdline" > "$out/cmdline"
osrel=$root/usr/lib/os-release
objcopy \
	--add-section .osrel="$osrel" --change-section-vma .osrel=0x20000 \
	--add-section .cmdline="$out/cmdline" --change-section-vma .cmdline=0x30000 \
	--add-section .linux="$out/vmlinuz" --change-section-vma .linux=0x2000000 \
	--add-section .initrd="$out/initrd.img" --change-section-vma .initrd=0x3000000 \
	"$stub" "$out/signet-a.efi" || die "objcopy (UKI) failed"
[ "$(stat -c %s "$out/vmlinuz")" -lt $((0x1000000)) ] || die "the kernel is too big for the UKI layout"

step "slot B (hash tree, UKI)"
"$repo/image/mkupdate.sh" "$out" "$out/slot-b" slot-b > "$out/signet-b.roothash" ||
	die "slot B did not build"
roothash_b=$(cat "$out/signet-b.roothash")
[ "${#roothash_b}" = 64 ] && [ "$roothash_b" != "$roothash" ] || die "slot B's root hash is not its own"
cp "$out/slot-b/signet.efi" "$out/signet-b.efi"

step "disk image"
esp=$work/esp.img
rm -f "$esp"
mkfs.vfat -C -F 32 -n SIGNET-ESP -i 5a16e7e0 "$esp" $((esp_size / 1024)) > /dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/EFI/Linux ::/loader
mcopy -i "$esp" "$sdboot" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$sdboot" ::/EFI/systemd/systemd-bootx64.efi
mcopy -i "$esp" "$out/signet-a.efi" ::/EFI/Linux/signet-a.efi
printf 'timeout 0\ndefault signet-*\neditor no\nauto-entries no\nauto-firmware no\n' > "$work/loader.conf"
mcopy -i "$esp" "$work/loader.conf" ::/loader/loader.conf

uuid() { echo "$1" | sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\)$/\1-\2-\3-\4-\5/'; }
img=$out/signet.img
rm -f "$img"
truncate -s "$size" "$img"
mib=$((1024 * 1024))
sfdisk --quiet --no-reread --no-tell-kernel "$img" <<TABLE || die "sfdisk failed"
label: gpt
label-id: 5A16E7E0-0000-4000-8000-000000000000
first-lba: 2048
start=1MiB, size=$((esp_size / mib))MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=5A16E7E0-0000-4000-8000-0000000000E5, name="esp"
size=$((slot_size / mib))MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$(uuid "${roothash:0:32}"), name="root-a"
size=$((vslot_size / mib))MiB, type=2C7357ED-EBD2-46D9-AEC9-0D37AC9A3B07, uuid=$(uuid "${roothash:32:32}"), name="root-a-verity"
size=$((slot_size / mib))MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=$(uuid "${roothash_b:0:32}"), name="root-b"
size=$((vslot_size / mib))MiB, type=2C7357ED-EBD2-46D9-AEC9-0D37AC9A3B07, uuid=$(uuid "${roothash_b:32:32}"), name="root-b-verity"
TABLE
put() { # put FILE START_MIB
	dd if="$1" of="$img" bs=1M seek="$2" conv=notrunc,sparse status=none || die "dd $1 failed"
}
s=1
put "$esp" $s; s=$((s + esp_size / mib))
put "$out/root.erofs" $s; s=$((s + slot_size / mib))
put "$out/root.verity" $s; s=$((s + vslot_size / mib))
put "$out/slot-b/root.erofs" $s; s=$((s + slot_size / mib))
put "$out/slot-b/root.verity" $s
[ "$(stat -c %s "$out/slot-b/root.verity")" -le "$vslot_size" ] || die "slot B's hash tree is bigger than its slot"
step "done"
log "image $img ($(du -h "$img" | cut -f1) used of $size); root hash $roothash"
