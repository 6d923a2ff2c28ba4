#!/bin/sh
# Builds the inputs of test_ac_pe in DIR (never committed binaries):
# PE32+ and PE32 programs and a DLL from mingw-w64, one with data after
# its sections, one relabelled ARM64; a throwaway signing key and
# certificate; osslsigncode's signatures of each with SHA-256/384/512
# (signed file and extracted PKCS#7); Debian's signed shim and GRUB, with
# an osslsigncode signature of shim and an sbsign one of GRUB. Any tool
# that is missing fails it, and so the test.
#   tests/unit/ac_pe_fixture.sh DIR
set -eu
d=$1
cd "$d"

for t in x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc osslsigncode sbsign \
    sbverify openssl; do
	command -v "$t" > /dev/null || { echo "fixture: $t is missing" >&2; exit 1; }
done

cat > hello.c <<'C'
#include <stdio.h>
int main(void) { puts("signet"); return 0; }
C
cat > lib.c <<'C'
__declspec(dllexport) int signet_answer(void) { return 42; }
C
x86_64-w64-mingw32-gcc -O2 -s -o pe64.exe hello.c
i686-w64-mingw32-gcc -O2 -s -o pe32.exe hello.c
x86_64-w64-mingw32-gcc -O2 -s -shared -o dll64.dll lib.c
# an overlay of odd length, so that the 8-byte padding matters
cp pe64.exe overlay.exe
head -c 1001 /dev/urandom >> overlay.exe
# same structure, Machine (COFF header, e_lfanew + 4) IMAGE_FILE_MACHINE_ARM64
cp pe64.exe arm64.exe
lfanew=$(od -An -tu4 -j60 -N4 arm64.exe | tr -d ' ')
printf '\144\252' | dd of=arm64.exe bs=1 seek=$((lfanew + 4)) conv=notrunc 2> /dev/null

openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem \
    -days 2 -subj "/CN=Signet test code signing" \
    -addext "extendedKeyUsage=codeSigning" 2> /dev/null

for f in pe64.exe pe32.exe dll64.dll overlay.exe arm64.exe; do
	for h in sha256 sha384 sha512; do
		osslsigncode sign -certs cert.pem -key key.pem -h "$h" \
		    -in "$f" -out "$f.$h.signed" > /dev/null
		osslsigncode extract-signature -in "$f.$h.signed" \
		    -out "$f.$h.p7" > /dev/null
	done
done

cp /usr/lib/shim/shimx64.efi.signed shim.efi
cp /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed grub.efi
# osslsigncode replaces the vendor's signatures
osslsigncode sign -certs cert.pem -key key.pem -h sha256 -in shim.efi \
    -out shim.efi.sha256.signed > /dev/null
osslsigncode extract-signature -in shim.efi.sha256.signed \
    -out shim.efi.sha256.p7 > /dev/null
sbsign --key key.pem --cert cert.pem --detached --output grub.efi.sb.p7 \
    grub.efi 2> /dev/null
sbsign --key key.pem --cert cert.pem --detached --output shim.efi.sb.p7 \
    shim.efi 2> /dev/null
echo ok > done
