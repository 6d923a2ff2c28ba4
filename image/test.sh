#!/bin/bash
# Builds the appliance image (image/build.sh), boots it in qemu (KVM when
# it works here, otherwise TCG), provisions it through system credentials
# (SMBIOS type 11) and tests it from outside: HTTPS on the one forwarded
# port (user-mode networking, 127.0.0.1 only), a port scan of every TCP
# port through a second NIC in a network namespace of its own, the console
# on tty1 (a screendump), the verified read-only root (offline and as
# booted), and a reboot that keeps the requests.
#
# Usage: image/test.sh [OUTDIR]        (default: tests/out/image)
# Ends with "N passed, N failed"; exits non-zero if anything failed.
# Every wait has a timeout; qemu is always killed, nothing stays mounted,
# the namespace and the loop devices are removed.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$repo/tests/out/image}
img_out=$repo/build-image/image
img=$img_out/signet.img

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "${out:?}"/*
py=/usr/bin/python3
remote=$repo/image/remote.py
passed=0
failed=0
t0=$(date +%s)

log() { printf 'image-test: %s\n' "$*"; }
pass() { passed=$((passed + 1)); log "PASS $1"; echo "PASS $1" >> "$out/results.txt"; }
fail() { failed=$((failed + 1)); log "FAIL $1${2:+: $2}"; echo "FAIL $1" >> "$out/results.txt"; }
# check NAME CMD...: one counted test
# (in the background, so that a signal ends the test at once)
cpid=""
check() {
	local name=$1 rc
	shift
	"$@" >> "$out/$name.log" 2>&1 &
	cpid=$!
	wait "$cpid"
	rc=$?
	cpid=""
	if [ "$rc" = 0 ]; then
		pass "$name"
	else
		fail "$name" "$(tail -n 5 "$out/$name.log" | tr '\n' ' ')"
		return 1
	fi
}
# vcheck NAME CMD...: a check that needs the VM; fails at once without it
vm_up=0
vcheck() {
	if [ "$vm_up" = 0 ] || [ -z "$qpid" ] || ! kill -0 "$qpid" 2> /dev/null; then
		fail "$1" "the VM is not up (see serial-*.txt)"
		return
	fi
	check "$@"
}
finish() {
	printf 'image-test: %ds in all\n' $(($(date +%s) - t0))
	printf '%d passed, %d failed\n' "$passed" "$failed"
	[ "$failed" -eq 0 ]
	exit
}

ns=signet-img-$$
tap=sgtap$$
qpid=""
tpm_pid=""
mnt=""
dnsmasq_pid=""
cleanup() {
	[ -z "$cpid" ] || kill "$cpid" 2> /dev/null
	stop_vm
	[ -z "$dnsmasq_pid" ] || kill "$dnsmasq_pid" 2> /dev/null
	[ -z "$mnt" ] || { umount "$mnt" 2> /dev/null || umount -l "$mnt" 2> /dev/null; rmdir "$mnt" 2> /dev/null; }
	detach_loops
	ip netns del "$ns" 2> /dev/null
	ip link del "$tap" 2> /dev/null
	true
}
# the loop devices on the image (made in subshells, so found by file)
detach_loops() {
	local l
	for l in $(losetup -j "$img" 2> /dev/null | cut -d: -f1); do
		losetup -d "$l" 2> /dev/null
	done
}
stop_tpm() {
	if [ -n "$tpm_pid" ] && kill -0 "$tpm_pid" 2> /dev/null; then
		kill "$tpm_pid" 2> /dev/null
		for _ in $(seq 30); do kill -0 "$tpm_pid" 2> /dev/null || break; sleep 0.1; done
		kill -9 "$tpm_pid" 2> /dev/null
	fi
	[ -z "$tpm_pid" ] || wait "$tpm_pid" 2> /dev/null
	tpm_pid=""
}
stop_vm() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2> /dev/null; then
		kill "$qpid" 2> /dev/null
		for _ in $(seq 50); do kill -0 "$qpid" 2> /dev/null || break; sleep 0.1; done
		kill -9 "$qpid" 2> /dev/null
	fi
	[ -z "$qpid" ] || wait "$qpid" 2> /dev/null
	qpid=""
	stop_tpm
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ build
b0=$(date +%s)
if ! nice "$repo/image/build.sh" "$img_out" > "$out/build.log" 2>&1; then
	fail image-build "$(grep -m1 FAILED "$out/build.log" || tail -n 3 "$out/build.log")"
	finish
fi
pass image-build
build_s=$(($(date +%s) - b0))
cp "$img_out/timings.txt" "$img_out/packages.txt" "$out/"
log "built in ${build_s}s"
roothash=$(cat "$img_out/signet.roothash")
# an update image from this build (a hash tree and root hash of its own);
# the appliance signs its manifest below, update.sh writes it at the end
update_hash=$(nice "$repo/image/mkupdate.sh" "$img_out" "$out/update" update-test 2> "$out/mkupdate.log") ||
	update_hash=""


# ------------------------------------------------------------ offline
# partition N's offset and size in bytes, from sfdisk's JSON
part() {
	sfdisk -J "$img" | "$py" -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]; p = t["partitions"][int(sys.argv[1]) - 1]
print(p["start"] * 512, p["size"] * 512, p.get("name", ""), p.get("uuid", "").lower())' "$1"
}
loop() { # loop N: a read-only loop device on partition N
	local off size dev
	read -r off size _ _ <<< "$(part "$1")"
	dev=$(losetup -r -f --show -o "$off" --sizelimit "$size" "$img") || return 1
	echo "$dev"
}
offline_verity() {
	local d h uuid_d uuid_h
	read -r _ _ name_d uuid_d <<< "$(part 2)"
	read -r _ _ name_h uuid_h <<< "$(part 3)"
	[ "$name_d" = root-a ] && [ "$name_h" = root-a-verity ] || { echo "partitions 2/3 are $name_d/$name_h"; return 1; }
	[ "${uuid_d//-/}" = "${roothash:0:32}" ] || { echo "root-a's UUID $uuid_d is not from $roothash"; return 1; }
	[ "${uuid_h//-/}" = "${roothash:32:32}" ] || { echo "root-a-verity's UUID $uuid_h is not from $roothash"; return 1; }
	d=$(loop 2) && h=$(loop 3) || return 1
	veritysetup verify "$d" "$h" "$roothash" || return 1
	# the same check must fail for another hash
	! veritysetup verify "$d" "$h" "$(printf '%064d' 0)" 2> /dev/null
}
check verity-offline offline_verity

uki_cmdline() {
	local esp
	esp=$(loop 1) || return 1
	MTOOLS_SKIP_CHECK=1 mcopy -n -i "$esp" ::/EFI/Linux/signet-a.efi "$out/signet-a.efi" || return 1
	objcopy -O binary --only-section=.cmdline "$out/signet-a.efi" "$out/uki-cmdline.txt" || return 1
	cat "$out/uki-cmdline.txt"
	grep -q "roothash=$roothash" "$out/uki-cmdline.txt" &&
		MTOOLS_SKIP_CHECK=1 mtype -i "$esp" ::/loader/loader.conf | grep '^editor no' > /dev/null
}
check uki-roothash uki_cmdline

# Slot B: the same root with a hash tree of its own, its partitions named
# by that root hash, and its own kernel image (beside the image: it goes
# to the ESP with an update) whose roothash= is slot B's.
slot_b() {
	local d h rb
	rb=$(cat "$img_out/signet-b.roothash")
	[ "${#rb}" = 64 ] && [ "$rb" != "$roothash" ] || { echo "slot B's root hash '$rb' is not its own"; return 1; }
	read -r _ _ name_d uuid_d <<< "$(part 4)"
	read -r _ _ name_h uuid_h <<< "$(part 5)"
	[ "$name_d" = root-b ] && [ "$name_h" = root-b-verity ] || { echo "partitions 4/5 are $name_d/$name_h"; return 1; }
	[ "${uuid_d//-/}" = "${rb:0:32}" ] && [ "${uuid_h//-/}" = "${rb:32:32}" ] ||
		{ echo "slot B's UUIDs $uuid_d $uuid_h are not from $rb"; return 1; }
	d=$(loop 4) && h=$(loop 5) || return 1
	veritysetup verify "$d" "$h" "$rb" || return 1
	! veritysetup verify "$d" "$h" "$roothash" 2> /dev/null || { echo "slot B verifies with slot A's hash"; return 1; }
	objcopy -O binary --only-section=.cmdline "$img_out/signet-b.efi" "$out/uki-b-cmdline.txt" || return 1
	grep "roothash=$rb " "$out/uki-b-cmdline.txt"
}
check slot-b-offline slot_b

mnt=$(mktemp -d)
if ! mount -t erofs -o ro "$(loop 2)" "$mnt"; then
	fail root-contents "cannot mount root-a"
	rmdir "$mnt"
	mnt=""
fi
root_contents() {
	local bad=0 f u
	for f in usr/sbin/sshd usr/bin/ssh usr/bin/gcc usr/bin/cc usr/bin/cpp usr/bin/c99 \
		usr/bin/make usr/bin/apt usr/bin/apt-get usr/bin/ld usr/bin/as; do
		if [ -e "$mnt/$f" ]; then echo "/$f is in the image"; bad=1; fi
	done
	if ls "$mnt"/usr/lib/gcc/x86_64-linux-gnu/*/cc1 > /dev/null 2>&1; then echo "cc1 is in the image"; bad=1; fi
	if [ -n "$(find "$mnt/var/cache" "$mnt/var/lib/apt" -mindepth 1 2> /dev/null)" ]; then
		echo "package manager caches: $(find "$mnt/var/cache" "$mnt/var/lib/apt" -mindepth 1 | head)"; bad=1
	fi
	for u in signet signet-keyholder root; do
		sh=$(awk -F: -v u="$u" '$1 == u {print $7}' "$mnt/etc/passwd")
		case $sh in /usr/sbin/nologin | /sbin/nologin | /bin/false) ;;
		*) echo "user $u has shell '$sh'"; bad=1 ;; esac
	done
	awk -F: '$1 == "root" && $2 !~ /^[!*]/ {exit 1}' "$mnt/etc/shadow" || { echo "root has a password"; bad=1; }
	for u in getty@.service serial-getty@.service autovt@.service emergency.service rescue.service debug-shell.service; do
		[ "$(readlink "$mnt/etc/systemd/system/$u")" = /dev/null ] || { echo "$u is not masked"; bad=1; }
	done
	[ -L "$mnt/etc/systemd/system/getty.target.wants/signet-console@tty1.service" ] ||
		{ echo "signet-console@tty1 is not enabled"; bad=1; }
	for f in "$mnt"/var/lib/signet/* "$mnt"/etc/signet/*.pin "$mnt"/etc/signet/*.key; do
		[ ! -e "$f" ] || { echo "state or secret baked in: $f"; bad=1; }
	done
	[ -s "$mnt/usr/sbin/signetd" ] && [ -s "$mnt/usr/libexec/signet/signet-keyholder" ] ||
		{ echo "signet is not installed"; bad=1; }
	return $bad
}
if [ -n "$mnt" ]; then
	check root-contents root_contents
	security() {
		local u e lim sd="" kh=""
		for u in signetd.service:2.0 signet-console@tty1.service:2.0 signet-keyholder.service:2.0; do
			lim=${u#*:}
			u=${u%%:*}
			systemd-analyze security --offline=true --root="$mnt" --no-pager "$u" > "$out/security-$u.txt" 2>&1
			e=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$out/security-$u.txt")
			echo "$u: exposure $e (limit $lim)"
			[ -n "$e" ] && awk -v e="$e" -v l="$lim" 'BEGIN {exit !(e <= l)}' || return 1
			case $u in signetd.service) sd=$e ;; signet-keyholder.service) kh=$e ;; esac
		done
		# the keyholder, a unit of its own, rates below the network daemon
		awk -v k="$kh" -v s="$sd" 'BEGIN {exit !(k < s)}' ||
			{ echo "signet-keyholder.service ($kh) is not below signetd.service ($sd)"; return 1; }
	}
	# The PIN is readable by the keyholder alone: its unit runs as its
	# user and reads token/pin, signetd's cannot see token/ at all, the
	# first boot makes token/ 0700 and the PIN 0400 for that user; the
	# appliance's signetd connects instead of starting the keyholder.
	keyholder_unit() {
		local u=$mnt/usr/lib/systemd/system/signet-keyholder.service
		local d=$mnt/usr/lib/systemd/system/signetd.service.d/keyholder.conf
		local fb=$mnt/usr/libexec/signet/signet-firstboot
		grep -x 'User=signet-keyholder' "$u" && grep -x 'PrivateNetwork=yes' "$u" &&
			grep -x 'RestrictAddressFamilies=AF_UNIX' "$u" && grep -x 'CapabilityBoundingSet=' "$u" ||
			{ echo "signet-keyholder.service: not its user / network / families / capabilities"; return 1; }
		grep -e '--listen-fd 3 --peer-user signet' "$u" && grep -e '--pin-file /var/lib/signet/token/pin' "$u" ||
			{ echo "signet-keyholder.service: not the peer check or the PIN file"; return 1; }
		grep -x 'InaccessiblePaths=/var/lib/signet/token' "$d" ||
			{ echo "signetd.service can reach the token directory"; return 1; }
		[ -L "$mnt/etc/systemd/system/sockets.target.wants/signet-keyholder.socket" ] ||
			{ echo "signet-keyholder.socket is not enabled"; return 1; }
		grep -x 'install -d -m 0700 -o "$kh_user" -g "$kh_user" "$base/token" "$base/token/tokens"' "$fb" &&
			grep -x '	chmod 0400 "$base/token/$f"' "$fb" && grep -x 'socket = /run/signet/keyholder.sock' "$fb" ||
			{ echo "the first boot does not make the PIN the keyholder's alone, or signetd does not connect"; return 1; }
	}
	check unit-exposure security
	check keyholder-unit keyholder_unit
	umount "$mnt" && rmdir "$mnt" && mnt=""
fi
detach_loops

# ------------------------------------------------------------ boot
disk=$out/disk.img
cp --sparse=always "$img" "$disk"
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$out/vars.fd"

# KVM if it works here (a quick boot to the kernel's first lines), else TCG
accel=tcg
if [ -w /dev/kvm ]; then
	# (a shell of its own reports qemu's abort where KVM fails, not this one)
	sh -c 'timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults \
		-nographic -no-reboot -serial "file:$1" -kernel "$2" \
		-append "console=ttyS0 panic=-1 root=/dev/null"' sh "$out/kvm-probe.txt" \
		"$img_out/vmlinuz" > /dev/null 2>&1
	if grep -q "Linux version" "$out/kvm-probe.txt" 2> /dev/null; then
		accel=kvm
	fi
fi
log "accelerator: $accel"
if [ $accel = kvm ]; then cpu=(-accel kvm -cpu host); else cpu=(-accel tcg,thread=multi -cpu qemu64); fi

# The platform's credentials: the CI client CA is made here, the admin
# password is random.
pki=$out/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ci-ca.key" \
	-out "$pki/ci-ca.pem" -days 30 -subj "/O=Customer/CN=Customer CI CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2> /dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ci.key" \
	-out "$pki/ci.csr" -subj "/O=Customer/CN=ci-runner" 2> /dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' > "$pki/ci.ext"
openssl x509 -req -in "$pki/ci.csr" -CA "$pki/ci-ca.pem" -CAkey "$pki/ci-ca.key" -CAcreateserial \
	-days 30 -extfile "$pki/ci.ext" -out "$pki/ci.pem" 2> /dev/null
admin_pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$admin_pw" > "$pki/admin-password"
b64() { base64 -w0 < "$1"; }
# the time-stamping port: let through by the firewall, nothing listens
tsa_port=3180
smbios=(
	-smbios "type=11,value=io.systemd.credential.binary:signet.admin-password=$(printf '%s' "$admin_pw" | base64 -w0)"
	-smbios "type=11,value=io.systemd.credential.binary:signet.ci-ca=$(b64 "$pki/ci-ca.pem")"
	-smbios "type=11,value=io.systemd.credential:signet.tls-names=localhost 127.0.0.1"
	-smbios "type=11,value=io.systemd.credential:signet.ntp=10.0.2.2"
	-smbios "type=11,value=io.systemd.credential:signet.tsa-port=$tsa_port"
)

# The second NIC: a tap in a network namespace of this test, with a DHCP
# server, from which every port of the guest can be reached.
have_tap=0
mac2=52:54:00:5a:16:02
if ip tuntap add dev "$tap" mode tap 2> /dev/null && ip netns add "$ns"; then
	have_tap=1
fi
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=https://127.0.0.1:$port
mon=$out/monitor.sock

# The machine's TPM2: swtpm, its state kept in tpm/ across the reboot
# (the state partition is sealed to it). One swtpm per boot: it ends when
# qemu closes its control channel.
tpm_dir=$out/tpm
tpm_sock=$out/swtpm.sock
mkdir -p "$tpm_dir"
start_tpm() {
	stop_tpm
	rm -f "$tpm_sock"
	command -v swtpm > /dev/null || { echo "swtpm is missing (scripts/deps.sh --image)" >> "$out/qemu-$1.log"; return 1; }
	swtpm socket --tpm2 --tpmstate "dir=$tpm_dir" --ctrl "type=unixio,path=$tpm_sock" \
		--terminate --log "file=$out/swtpm-$1.log,level=2" > /dev/null 2>&1 &
	tpm_pid=$!
	for _ in $(seq 50); do [ -S "$tpm_sock" ] && return 0; sleep 0.1; done
	echo "swtpm did not make its socket" >> "$out/qemu-$1.log"
	return 1
}

# boot N: starts the VM (serial log serial-N.txt)
boot() {
	local n=$1 net2=()
	start_tpm "$n"
	# fixed PCI addresses: the firmware's boot entry for the disk stays
	# valid when the second NIC is not there (the second boot)
	[ $have_tap = 0 ] || [ "$n" != 1 ] ||
		net2=(-netdev "tap,id=n2,ifname=$tap,script=no,downscript=no"
			-device "virtio-net-pci,netdev=n2,mac=$mac2,addr=0x6,romfile=")
	rm -f "$mon"
	qemu-system-x86_64 "${cpu[@]}" -machine q35,smm=off -m 1536 -smp 2 \
		-drive "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd" \
		-drive "if=pflash,format=raw,unit=1,file=$out/vars.fd" \
		-drive "if=none,id=d0,format=raw,file=$disk,cache=unsafe" \
		-device "virtio-blk-pci,drive=d0,addr=0x4,bootindex=0" \
		-netdev "user,id=n1,restrict=off,hostfwd=tcp:127.0.0.1:$port-:443" \
		-device "virtio-net-pci,netdev=n1,mac=52:54:00:5a:16:01,addr=0x5,romfile=" "${net2[@]}" \
		-device virtio-rng-pci,addr=0x7 "${smbios[@]}" \
		-chardev "socket,id=chrtpm,path=$tpm_sock" -tpmdev emulator,id=tpm0,chardev=chrtpm \
		-device tpm-tis,tpmdev=tpm0 \
		-vga std -display none -serial "file:$out/serial-$n.txt" \
		-monitor "unix:$mon,server=on,wait=off" -no-reboot \
		> "$out/qemu-$n.log" 2>&1 &
	qpid=$!
}
monitor() { # monitor CMD: one human monitor command
	"$py" - "$mon" "$1" <<-'PY'
	import socket, sys, time
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1]); s.settimeout(30)
	def upto():
	    b = b""
	    while not b.endswith(b"(qemu) "):
	        c = s.recv(4096)
	        if not c: break
	        b += c
	    return b
	upto(); s.sendall(sys.argv[2].encode() + b"\n")
	# the monitor echoes the command with line editing: keep what follows
	print(upto().decode(errors="replace").split("\r\n", 1)[-1])
	PY
}
# serial N: the serial console's text without terminal escapes (read it
# with grep without -q: under pipefail an early exit fails the pipe)
serial() { sed 's/\x1b\[[0-9;?=]*[A-Za-z]//g; s/\r//g' "$out/serial-$1.txt" 2> /dev/null; }
# wait_serial N PATTERN SECONDS
wait_serial() {
	local end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$end" ]; do
		serial "$1" | grep -a "$2" > /dev/null && return 0
		kill -0 "$qpid" 2> /dev/null || { echo "qemu exited"; return 1; }
		sleep 1
	done
	echo "no '$2' on the serial console within $3s"
	return 1
}

boot 1
if [ $have_tap = 1 ]; then
	sleep 1
	ip link set "$tap" netns "$ns" &&
		ip -n "$ns" addr add 10.77.0.1/24 dev "$tap" &&
		ip -n "$ns" link set "$tap" up && ip -n "$ns" link set lo up || have_tap=0
	if [ $have_tap = 1 ] && command -v dnsmasq > /dev/null; then
		ip netns exec "$ns" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
			--port=0 --interface="$tap" --bind-interfaces \
			--dhcp-range=10.77.0.50,10.77.0.50,255.255.255.0,1h \
			--dhcp-leasefile="$out/dnsmasq.leases" --pid-file= \
			> "$out/dnsmasq.log" 2>&1 &
		dnsmasq_pid=$!
	else
		have_tap=0
	fi
fi
b1=$(date +%s)
check boot-provisioned wait_serial 1 "signet-firstboot: provisioned" 900 && vm_up=1
boot_s=$(($(date +%s) - b1))
log "first boot provisioned in ${boot_s}s"
# the TLS CA printed by the first boot: what the customer pins
serial 1 | sed -n 's/.*signet-firstboot: TLS CA certificate (PEM, base64): \([A-Za-z0-9+/=]*\).*/\1/p' |
	head -n 1 | base64 -d > "$out/tls-ca.pem" 2> /dev/null
ca=$out/tls-ca.pem
vcheck verity-booted wait_serial 1 "signet: verified root $roothash" 5
vcheck health "$py" "$remote" health "$url" "$ca"
vcheck admin-setup "$py" "$remote" setup "$url" "$ca" "$admin_pw" "$pki/ci.pem" "$repo/build-image/meson/signet"
head -c 100000 /dev/urandom > "$out/artifact.bin"
submit() { "$py" "$remote" submit "$url" "$ca" "$pki/ci.pem" "$pki/ci.key" "$out/artifact.bin" "$out" > "$out/request-id"; }
vcheck ci-submit-verify submit
vcheck no-client-cert-refused "$py" "$remote" nocert "$url" "$ca"
# the signature above came from the keyholder's own unit, started by its
# socket when signetd connected
keyholder_started() {
	serial 1 | grep -a "Started signet-keyholder.service" ||
		{ echo "signet-keyholder.service did not start"; return 1; }
	serial 1 | grep -a "Listening on signet-keyholder.socket"
}
vcheck keyholder-socket-activated keyholder_started
portscan() {
	[ $have_tap = 1 ] || { echo "no tap device / dnsmasq: cannot reach every port"; return 1; }
	local end=$(($(date +%s) + 120))
	until ip netns exec "$ns" "$py" -c 'import socket; socket.create_connection(("10.77.0.50", 443), 3)' 2> /dev/null; do
		[ "$(date +%s)" -lt "$end" ] || { echo "the guest's second NIC never answered on 443"; cat "$out/dnsmasq.log"; return 1; }
		sleep 3
	done
	ip netns exec "$ns" "$py" "$remote" scan 10.77.0.50 443 "$tsa_port"
}
vcheck port-scan portscan
console_shot() {
	monitor "screendump $out/tty1.ppm" || return 1
	sleep 1
	"$py" - "$out/tty1.ppm" "$out/tty1.png" <<-'PY'
	import struct, sys, zlib
	data = open(sys.argv[1], "rb").read()
	parts = data.split(b"\n", 3)
	assert parts[0] == b"P6", "not a PPM"
	w, h = map(int, parts[1].split()); px = parts[3]
	raw = b"".join(b"\0" + px[y * w * 3:(y + 1) * w * 3] for y in range(h))
	def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
	open(sys.argv[2], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
	    + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
	colours = {px[i:i + 3] for i in range(0, len(px), 3 * 7)}
	lit = sum(1 for i in range(0, len(px), 3 * 7) if px[i:i + 3] != px[0:3])
	print(f"{w}x{h}, {len(colours)} colours, {lit} sampled pixels not background")
	# a getty prompt is one line of grey on black; the console draws a screen
	assert lit > 500, "the screen is (nearly) empty"
	# signet-console's title bar: the top text row in reverse video (a
	# getty's screen is light text on black from the first line)
	rows = 14
	light = sum(1 for i in range(0, w * 3 * rows, 3) if px[i] > 128)
	print(f"top {rows} rows: {light * 100 // (w * rows)}% light")
	assert light > w * rows // 2, "no title bar: not the Signet console's screen"
	PY
	serial 1 | grep -a "Started signet-console@tty1.service" > /dev/null || { echo "signet-console@tty1 did not start"; return 1; }
	! serial 1 | grep -a "Started getty@tty1\|login:" > /dev/null || { echo "a getty / login prompt appeared"; return 1; }
}
vcheck console-tty1 console_shot

# ------------------------------------------------------------ reboot
# power off through ACPI (the appliance shuts down cleanly) and start again
powercycle() {
	monitor system_powerdown > /dev/null || return 1
	local end=$(($(date +%s) + 180))
	while kill -0 "$qpid" 2> /dev/null; do
		if [ "$(date +%s)" -ge "$end" ]; then
			echo "no power-off within 180s" >> "$out/reboot.log"
			break
		fi
		sleep 1
	done
	stop_vm
	boot 2
}
after_reboot() {
	wait_serial 2 "Started signetd.service" 600 &&
		"$py" "$remote" health "$url" "$ca" &&
		! serial 2 | grep -a "signet-firstboot: provisioned" > /dev/null
}
state_unlocked() {
	serial 2 | grep -a -E "(Finished|Started) systemd-cryptsetup@state.service" ||
		{ echo "systemd-cryptsetup@state did not open the state partition"; return 1; }
	serial 2 | grep -a "signet-state:" || true
	! serial 2 | grep -a "NO TPM2 FOUND" > /dev/null
}
if [ "$vm_up" = 1 ]; then
	powercycle
fi
vcheck reboot after_reboot || vm_up=0
vcheck state-unlocked-tpm2 state_unlocked
# the release: the update's manifest signed through the appliance's own
# policy (CI submission, openssl cms -verify against the policy's root)
sign_update() {
	[ -s "$out/update/manifest" ] || { echo "no update image (mkupdate.log)"; cat "$out/mkupdate.log"; return 1; }
	mkdir -p "$out/release"
	"$py" "$remote" submit "$url" "$ca" "$pki/ci.pem" "$pki/ci.key" "$out/update/manifest" "$out/release" > "$out/release/id" &&
		cp "$out/release/$(cat "$out/release/id").p7s" "$out/release/manifest.p7s" &&
		cp "$out/release/chain.pem" "$out/release/policy-root.pem"
}
vcheck update-signed sign_update
vcheck requests-kept-after-reboot "$py" "$remote" again "$url" "$ca" "$pki/ci.pem" "$pki/ci.key" "$(cat "$out/request-id" 2> /dev/null)" "$out/artifact.bin" "$out"
stop_vm

# The state partition on the disk the VM used, offline: LUKS2 whose only
# key slot is the one the systemd-tpm2 token (sealed to the TPM2) refers
# to: no key file, no passphrase slot.
state_luks() {
	local l
	l=$(sfdisk -J "$disk" | "$py" -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == "signet-state": print(p["start"] * 512, p["size"] * 512)') || return 1
	[ -n "$l" ] || { echo "no signet-state partition on the disk"; return 1; }
	l=$(losetup -r -f --show -o "${l% *}" --sizelimit "${l#* }" "$disk") || return 1
	cryptsetup isLuks --type luks2 "$l" || { echo "signet-state is not LUKS2: $(blkid -p "$l")"; losetup -d "$l"; return 1; }
	cryptsetup luksDump "$l" || true
	cryptsetup luksDump --dump-json-metadata "$l" > "$out/state-luks2.json"
	losetup -d "$l"
	"$py" - "$out/state-luks2.json" <<-'PY'
	import json, sys
	m = json.load(open(sys.argv[1]))
	slots = sorted(m["keyslots"])
	tpm = [t for t in m["tokens"].values() if t["type"] == "systemd-tpm2"]
	named = sorted({k for t in m["tokens"].values() for k in t["keyslots"]})
	print(f"key slots {slots}; systemd-tpm2 tokens {len(tpm)}, naming slots {named}")
	assert tpm, "no systemd-tpm2 token"
	# every key slot belongs to a TPM2 token: no key file, no passphrase
	assert slots and all(k in {s for t in tpm for s in t["keyslots"]} for k in slots), \
	    "a key slot that is not sealed to the TPM2"
	pcrs = sorted({p for t in tpm for p in t.get("tpm2-pcrs", [])})
	print(f"sealed to PCRs {pcrs}")
	assert pcrs == [7], "not sealed to PCR 7 alone"
	PY
}
if [ -s "$disk" ]; then
	check state-luks2-tpm2 state_luks
else
	fail state-luks2-tpm2 "no disk"
fi
# Updates, offline on the disk the VM used (slot A ran): refused without a
# good signature, slot B untouched; with it, slot B holds the update.
slot_state() { # the bytes, UUIDs and labels of slot B and the ESP's signet-b.efi
	local n off size
	for n in 4 5; do
		read -r off size name uuid <<< "$(sfdisk -J "$disk" | "$py" -c 'import json,sys
p = json.load(sys.stdin)["partitiontable"]["partitions"][int(sys.argv[1]) - 1]
print(p["start"] * 512, p["size"] * 512, p.get("name", ""), p.get("uuid", "").lower())' "$n")"
		echo "$n $name $uuid $(dd if="$disk" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" status=none | sha256sum | cut -c1-64)"
	done
	off=$(sfdisk -J "$disk" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"] * 512)')
	echo "ESP: $(MTOOLS_SKIP_CHECK=1 mdir -b -i "$disk@@$off" ::/EFI/Linux | sort | tr '\n' ' ')"
}
update_refused() {
	local before after rc=0
	[ -s "$out/release/manifest.p7s" ] || { echo "no signed manifest (update-signed)"; return 1; }
	before=$(slot_state)
	# a manifest changed after signing
	cp -a "$out/update" "$out/update-bad"
	echo "file extra 0 0" >> "$out/update-bad/manifest"
	if "$repo/image/update.sh" --disk "$disk" --ca "$out/release/policy-root.pem" --active a \
		"$out/update-bad" "$out/release/manifest.p7s"; then echo "a changed manifest was taken"; rc=1; fi
	# a signature by a key that is not the policy's
	openssl cms -sign -binary -in "$out/update/manifest" -signer "$pki/ci.pem" -inkey "$pki/ci.key" \
		-outform DER -out "$out/update-bad/other.p7s" || rc=1
	if "$repo/image/update.sh" --disk "$disk" --ca "$out/release/policy-root.pem" --active a \
		"$out/update" "$out/update-bad/other.p7s"; then echo "another key's signature was taken"; rc=1; fi
	# the policy's signature, but a file that is not the manifest's
	cp "$out/update/manifest" "$out/update-bad/manifest"
	printf 'x' >> "$out/update-bad/root.verity"
	if "$repo/image/update.sh" --disk "$disk" --ca "$out/release/policy-root.pem" --active a \
		"$out/update-bad" "$out/release/manifest.p7s"; then echo "a changed hash tree was taken"; rc=1; fi
	rm -rf "$out/update-bad"
	after=$(slot_state)
	echo "slot B before: $before"
	[ "$before" = "$after" ] || { echo "slot B changed: $after"; rc=1; }
	return $rc
}
update_written() {
	local d h off size esp
	[ -n "$update_hash" ] || { echo "no update image"; return 1; }
	"$repo/image/update.sh" --disk "$disk" --ca "$out/release/policy-root.pem" \
		--active a "$out/update" "$out/release/manifest.p7s" || return 1
	slot_state
	read -r _ name_d uuid_d _ <<< "$(slot_state | sed -n 1p)"
	read -r _ name_h uuid_h _ <<< "$(slot_state | sed -n 2p)"
	[ "$name_d" = root-b ] && [ "$name_h" = root-b-verity ] || { echo "slot B is labelled $name_d/$name_h"; return 1; }
	[ "${uuid_d//-/}" = "${update_hash:0:32}" ] && [ "${uuid_h//-/}" = "${update_hash:32:32}" ] ||
		{ echo "slot B's UUIDs are not the update's root hash"; return 1; }
	# its verity, checked here, not by the tool
	read -r off size <<< "$(sfdisk -J "$disk" | "$py" -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]["partitions"]
print(t[3]["start"] * 512, t[3]["size"] * 512, t[4]["start"] * 512, t[4]["size"] * 512)' | cut -d' ' -f1,2)"
	d=$(losetup -r -f --show -o "$off" --sizelimit "$size" "$disk") || return 1
	read -r off size <<< "$(sfdisk -J "$disk" | "$py" -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]["partitions"]
print(t[4]["start"] * 512, t[4]["size"] * 512)')"
	h=$(losetup -r -f --show -o "$off" --sizelimit "$size" "$disk") || { losetup -d "$d"; return 1; }
	veritysetup verify "$d" "$h" "$update_hash" || { losetup -d "$d" "$h"; echo "slot B does not verify"; return 1; }
	losetup -d "$d" "$h"
	esp=$(sfdisk -J "$disk" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"] * 512)')
	MTOOLS_SKIP_CHECK=1 mcopy -n -i "$disk@@$esp" ::/EFI/Linux/signet-b.efi "$out/esp-signet-b.efi" || return 1
	objcopy -O binary --only-section=.cmdline "$out/esp-signet-b.efi" "$out/esp-b-cmdline.txt" || return 1
	grep "roothash=$update_hash " "$out/esp-b-cmdline.txt" || { echo "the ESP's signet-b.efi is not the update's"; return 1; }
	rm -f "$out/esp-signet-b.efi"
	# slot A, the running one, is as it was
	read -r off size <<< "$(sfdisk -J "$disk" | "$py" -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]["partitions"]
print(t[1]["start"] * 512, t[1]["size"] * 512)')"
	d=$(losetup -r -f --show -o "$off" --sizelimit "$size" "$disk") || return 1
	read -r off size <<< "$(sfdisk -J "$disk" | "$py" -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]["partitions"]
print(t[2]["start"] * 512, t[2]["size"] * 512)')"
	h=$(losetup -r -f --show -o "$off" --sizelimit "$size" "$disk") || { losetup -d "$d"; return 1; }
	veritysetup verify "$d" "$h" "$roothash" || { losetup -d "$d" "$h"; echo "slot A changed"; return 1; }
	losetup -d "$d" "$h"
}
if [ -s "$disk" ]; then
	check update-bad-signature-refused update_refused
	check update-written update_written
else
	fail update-bad-signature-refused "no disk"
	fail update-written "no disk"
fi
# ------------------------------------------------------------ console
# First boot without signet.admin-password: signet-firstboot asks on tty1;
# the password is typed there through the monitor's sendkey, twice, the
# rest comes as credentials. A fresh disk, TPM2 and firmware variables.
console_pw=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
type_line() { # type_line TEXT: hex digits and letters, then Enter
	local i c
	for ((i = 0; i < ${#1}; i++)); do
		c=${1:i:1}
		monitor "sendkey $c" > /dev/null || return 1
		sleep 0.05
	done
	monitor "sendkey ret" > /dev/null
}
console_first_boot() {
	wait_serial 3 "signet-firstboot: no credential signet.admin-password: asking on /dev/tty1" 900 || return 1
	# the prompt is drawn after the line above; keys typed early wait in
	# the terminal's input anyway
	sleep 3
	# a mismatch first: asked again
	type_line "${console_pw}" && type_line "${console_pw}0" || return 1
	wait_serial 3 "the two passwords differ or are too short; asking again" 60 || return 1
	type_line "$console_pw" && type_line "$console_pw" || return 1
	# the one question no credential answered: the extra port (none)
	sleep 2
	monitor "sendkey ret" > /dev/null || return 1
	wait_serial 3 "signet-firstboot: provisioned" 600 || return 1
	serial 3 | sed -n 's/.*signet-firstboot: TLS CA certificate (PEM, base64): \([A-Za-z0-9+/=]*\).*/\1/p' |
		head -n 1 | base64 -d > "$out/tls-ca-3.pem"
	"$py" "$remote" health "$url" "$out/tls-ca-3.pem"
}
console_login() {
	"$py" - "$url" "$out/tls-ca-3.pem" "$console_pw" <<-'PY'
	import sys, requests
	url, ca, pw = sys.argv[1:4]
	r = requests.post(url + "/api/v1/sessions", verify=ca, timeout=30,
	                  json={"username": "admin", "password": pw + "x"})
	print("a wrong password:", r.status_code)
	assert r.status_code in (401, 403), "a wrong password was taken"
	r = requests.post(url + "/api/v1/sessions", verify=ca, timeout=30,
	                  json={"username": "admin", "password": pw})
	print("the password typed on tty1:", r.status_code)
	assert r.status_code == 201, r.text[:300]
	PY
}
console_s=0
if [ -s "$img" ]; then
	disk=$out/disk-console.img
	cp --sparse=always "$img" "$disk"
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$out/vars.fd"
	tpm_dir=$out/tpm-console
	mkdir -p "$tpm_dir"
	smbios=(
		-smbios "type=11,value=io.systemd.credential.binary:signet.ci-ca=$(b64 "$pki/ci-ca.pem")"
		-smbios "type=11,value=io.systemd.credential:signet.tls-names=localhost 127.0.0.1"
		-smbios "type=11,value=io.systemd.credential:signet.ntp=10.0.2.2"
	)
	have_tap=0
	b3=$(date +%s)
	boot 3
	vm_up=1
	vcheck console-provisioning console_first_boot || vm_up=0
	console_s=$(($(date +%s) - b3))
	log "console first boot to provisioned ${console_s}s"
	vcheck console-password-login console_login
	stop_vm
	rm -f "$disk"
fi
log "build ${build_s}s, first boot to provisioned ${boot_s}s, from the console ${console_s}s ($accel)"
printf 'build %ds, first boot to provisioned %ds, from the console %ds (%s)\n' "$build_s" "$boot_s" "$console_s" "$accel" >> "$out/timings.txt"
rm -f "$out/disk.img" "$out/vars.fd" "$out/signet-a.efi" "$out/tty1.ppm"
finish
