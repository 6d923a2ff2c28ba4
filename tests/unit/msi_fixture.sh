#!/bin/sh
# Builds the Windows Installer packages test_cfb and test_ac_msi read,
# with wixl (msitools), and a throwaway signing certificate:
#   msi_fixture.sh DIR [PAYLOAD_BYTES]
# writes DIR/a.msi (one component, one file of PAYLOAD_BYTES random bytes,
# default 20000: its cabinet is a stream of whole sectors), DIR/k.pem and
# DIR/c.pem (a self-signed RSA key and certificate) and DIR/extra.pem
# (five more certificates, to make a signature longer than 4096 bytes).
# Fails when a tool is missing.
set -eu
dir=$1
bytes=${2:-20000}
mkdir -p "$dir"
cd "$dir"
head -c "$bytes" /dev/urandom > payload.bin
cat > a.wxs <<'WXS'
<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="Signet Test" Language="1033" Version="1.0.0"
      Manufacturer="Signet" UpgradeCode="6b1e9c52-3a0d-4f7e-9b43-0c5f2d8e7a11">
    <Package InstallerVersion="200" Compressed="yes" />
    <Media Id="1" Cabinet="a.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="SignetTest">
          <Component Id="Payload" Guid="0f3c7a2e-58d1-4b6a-a9e4-7d2c1b0e6f35">
            <File Id="PayloadFile" Source="payload.bin" />
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Payload" /></Feature>
  </Product>
</Wix>
WXS
wixl -o a.msi a.wxs
if [ ! -f c.pem ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem \
	    -subj "/CN=Signet MSI test" -days 2 2> /dev/null
	: > extra.pem
	for i in 1 2 3 4 5; do
		openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null \
		    -subj "/CN=Signet extra $i" -days 2 2> /dev/null >> extra.pem
	done
fi
