#!/bin/sh
# Installs the Debian 12 packages Signet builds, runs and tests with.
# Idempotent: does nothing when everything is present.
#   scripts/deps.sh          what builds, runs and tests signet
#   scripts/deps.sh --image  also what builds and boots the appliance image
#                            (image/build.sh, image/test.sh)
set -eu

PKGS="meson ninja-build gcc pkg-config dpkg-dev libssl-dev openssl libp11-dev
libp11-kit-dev softhsm2 opensc liblmdb-dev lmdb-utils libjansson-dev
libinih-dev libcmocka-dev libargon2-dev libcurl4-openssl-dev libncurses-dev
libjose-dev python3 python3-pytest python3-requests python3-cryptography curl
tmux chromium"
# What the signature tests build their inputs with and verify with: PE
# files (MinGW-w64), vendor-signed EFI binaries, MSI, cabinets; the
# PKCS#11 module's clients; p11-kit's server and client module, which put
# a network between the keyholder and the token (SIGNET_P11KIT=1); leak
# checks and the metrics parser.
# osslsigncode itself is handled below (it must be 2.9).
PKGS="$PKGS gcc-mingw-w64-x86-64 gcc-mingw-w64-i686 sbsigntool shim-signed
grub-efi-amd64-signed wixl msitools gcab python3-pefile
libengine-pkcs11-openssl p11-kit p11-kit-modules openjdk-17-jdk-headless valgrind
python3-prometheus-client python3-lmdb"

# Only for the appliance image: debootstrap, erofs and dm-verity, the UEFI
# boot loader and its FAT file system, qemu with OVMF, and dnsmasq's DHCP
# for the test's second network interface, swtpm for the emulated TPM2 the
# state partition is sealed to.
IMAGE_PKGS="debootstrap erofs-utils cryptsetup-bin systemd-boot-efi fdisk
dosfstools mtools qemu-system-x86 ovmf dnsmasq-base swtpm swtpm-tools"
if [ "${1:-}" = --image ]; then
	PKGS="$PKGS $IMAGE_PKGS"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

# Node.js and npm run the browser tests (tests/browser, playwright-core from
# the npm registry). A machine that has them (from any source) keeps them;
# otherwise Debian's.
if ! command -v node > /dev/null 2>&1 || ! command -v npm > /dev/null 2>&1; then
	missing="$missing nodejs npm"
fi

# The Authenticode tests verify with osslsigncode 2.9, which Debian 12 has
# only in bookworm-backports (bookworm's 2.5 cannot verify every format).
need_bpo=0
ossl_version=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' osslsigncode \
	2>/dev/null | sed -n 's/^ii *//p')
if [ -z "$ossl_version" ] ||
	! dpkg --compare-versions "$ossl_version" ge 2.9; then
	need_bpo=1
fi

# CivetWeb is built from Debian's source package: apt needs deb-src entries.
need_src=0
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
	need_src=1
fi

if [ -z "$missing" ] && [ "$need_src" = 0 ] && [ "$need_bpo" = 0 ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing; run as root to install them" >&2
	exit 1
fi

if [ "$need_src" = 1 ]; then
	src=/etc/apt/sources.list.d/signet-deb-src.sources
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed -n 's/^Types:.*deb.*/Types: deb-src/;p' \
			/etc/apt/sources.list.d/debian.sources > "$src"
	else
		grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
			> /etc/apt/sources.list.d/signet-deb-src.list
	fi
fi

if [ "$need_bpo" = 1 ] && ! grep -rqs "bookworm-backports" \
	/etc/apt/sources.list /etc/apt/sources.list.d/; then
	echo "deb http://deb.debian.org/debian bookworm-backports main" \
		> /etc/apt/sources.list.d/signet-backports.list
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -q --no-install-recommends $missing
if [ "$need_bpo" = 1 ]; then
	apt-get install -y -q --no-install-recommends \
		osslsigncode/bookworm-backports
fi
