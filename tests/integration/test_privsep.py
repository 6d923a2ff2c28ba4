"""Privilege separation: the PKCS#11 module and the PIN live in the
keyholder only; signetd, which parses everything from the network, has
neither (docs/architecture.md, "Processes")."""

import os
import re
from pathlib import Path

import pytest

from conftest import BUILD, CANARY_ENV, P11KIT, keyholder_pids, run

P11_LIBS = re.compile(r"libsofthsm2|/libp11\.so|/libpkcs11|opensc-pkcs11|p11-kit-client")

# ASan reserves terabytes of shadow address space; it holds no data.
MAX_REGION = 4 << 30


def maps(pid):
    return Path(f"/proc/{pid}/maps").read_text()


def keyholder(instance):
    pid = instance.proc.pid
    kids = keyholder_pids(pid)
    exe = str((BUILD / "pkcs11" / "signet-keyholder").resolve())
    holders = []
    for k in kids:
        try:
            if os.readlink(f"/proc/{k}/exe") == exe:
                holders.append(k)
        except OSError:
            pass
    assert len(holders) == 1, f"signetd {pid} children {kids}, keyholders {holders}"
    return holders[0]


def memory_contains(pid, needles):
    """Which of needles occur in the readable memory of pid."""
    found = set()
    keep = max(len(n) for n in needles) - 1
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps(pid).splitlines():
            parts = line.split()
            start, end = (int(x, 16) for x in parts[0].split("-"))
            path = parts[5] if len(parts) > 5 else ""
            if "r" not in parts[1] or path in ("[vvar]", "[vsyscall]"):
                continue
            if end - start > MAX_REGION:
                continue
            pos, tail = start, b""
            while pos < end:
                n = min(4 << 20, end - pos)
                try:
                    mem.seek(pos)
                    block = mem.read(n)
                except OSError:
                    block = b""
                if not block:
                    tail = b""
                    pos += n
                    continue
                data = tail + block
                for needle in needles:
                    if needle in data:
                        found.add(needle)
                tail = data[-keep:] if keep else b""
                pos += len(block)
    return found


@pytest.fixture(scope="module")
def busy(instance):
    """signetd after it has signed something, so every code path that could
    touch a secret has run."""
    rid = instance.submit(b"privsep").json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"
    return instance


def test_keyholder_is_a_separate_child_process(busy):
    kh = keyholder(busy)
    assert kh != busy.proc.pid
    assert P11_LIBS.search(maps(kh)), "keyholder has no PKCS#11 module mapped"


def test_keyholder_maps_the_configured_module(busy):
    """The keyholder loads [token] module and not SoftHSM2 besides it:
    with SIGNET_P11KIT=1 that is p11-kit-client.so, and SoftHSM2 runs in
    p11-kit-remote, a process of the p11-kit server."""
    module = re.search(r"(?m)^module = (.*)$", busy.conf.read_text()).group(1)
    kh_maps = maps(keyholder(busy))
    assert os.path.realpath(module) in kh_maps, module
    if P11KIT:
        assert "libsofthsm2" not in kh_maps
        remotes = [k for k in busy.p11kit.children() if "libsofthsm2" in maps(k)]
        assert remotes, "no p11-kit-remote serves the keyholder"


def test_signetd_does_not_map_the_pkcs11_module(busy):
    found = sorted(set(P11_LIBS.findall(maps(busy.proc.pid))))
    assert not found, f"signetd maps {found}"


def test_pin_not_in_command_lines_or_environments(busy):
    pin = busy.pin.encode()
    assert len(pin) >= 16
    for pid in (busy.proc.pid, keyholder(busy)):
        for f in ("cmdline", "environ"):
            assert pin not in Path(f"/proc/{pid}/{f}").read_bytes(), f"PIN in /proc/{pid}/{f}"


def test_pin_not_in_signetd_memory(busy):
    pin = busy.pin.encode()
    # Control: the scan does find what signetd is known to hold.
    control = str(busy.conf).encode()
    found = memory_contains(busy.proc.pid, [pin, control])
    assert control in found, "memory scan is broken: config path not found"
    assert pin not in found, "the token PIN is in signetd's memory"


def test_signetd_holds_no_descriptor_on_token_or_pin(busy):
    pid = busy.proc.pid
    secret = (str(busy.dir / "tokens"), str(busy.dir / "token.pin"),
              str(busy.dir / "token.so-pin"))
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        assert not target.startswith(secret), f"signetd fd {fd} -> {target}"


def test_keyholder_environment_is_its_own(busy):
    signetd_env = Path(f"/proc/{busy.proc.pid}/environ").read_bytes().split(b"\0")
    assert f"{CANARY_ENV}={busy.canary}".encode() in signetd_env  # control
    kh_env = Path(f"/proc/{keyholder(busy)}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith(CANARY_ENV.encode()) for e in kh_env), kh_env
    # It gets what the configuration gives it: SOFTHSM2_CONF, or the
    # p11-kit server's address and nothing of SoftHSM2's (SIGNET_P11KIT=1).
    given = busy.keyholder_env()
    assert ("P11_KIT_SERVER_ADDRESS" if P11KIT else "SOFTHSM2_CONF") in given, given
    for k, v in given.items():
        assert f"{k}={v}".encode() in kh_env, kh_env
    if P11KIT:
        assert not any(e.startswith(b"SOFTHSM2_CONF=") for e in kh_env), kh_env


def test_keyholder_has_only_the_descriptors_it_needs(busy):
    """closefrom(): no listening socket, no LMDB, no artifact files; only
    its own signing journal, which it opens itself."""
    kh = keyholder(busy)
    journal = str(busy.state / "keyholder" / "journal" / "journal.jsonl")
    seen_journal = False
    for fd in os.listdir(f"/proc/{kh}/fd"):
        try:
            target = os.readlink(f"/proc/{kh}/fd/{fd}")
        except OSError:
            continue
        if target == journal:
            seen_journal = True
            continue
        assert str(busy.state) not in target, f"keyholder fd {fd} -> {target}"
    assert seen_journal, "the keyholder does not hold its journal open"
    listening = set()
    for line in Path(f"/proc/{busy.proc.pid}/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "0A" and int(f[1].split(":")[1], 16) == busy.port:
            listening.add(f[9])
    assert listening, "signetd's listening socket not found"  # control
    for fd in os.listdir(f"/proc/{kh}/fd"):
        try:
            target = os.readlink(f"/proc/{kh}/fd/{fd}")
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        assert not (m and m.group(1) in listening), "keyholder holds the listening socket"


def test_token_keys_never_leave_the_token(instance):
    """The signing keys were made inside the token: sensitive, never
    extractable, and good for signing only (pkcs11-tool, OpenSC, through
    the module and environment the keyholder is given)."""
    module = re.search(r"(?m)^module = (.*)$", instance.conf.read_text()).group(1)
    p = run(["pkcs11-tool", "--module", module,
             "--token-label", "signet-dev", "--login", "--pin", instance.pin,
             "--list-objects", "--type", "privkey"],
            env=dict(os.environ, **instance.keyholder_env()))
    keys = [b for b in p.stdout.split("Private Key Object")[1:]]
    assert len(keys) >= 2, p.stdout
    for k in keys:
        access = [l for l in k.splitlines() if "Access:" in l][0]
        usage = [l for l in k.splitlines() if "Usage:" in l][0]
        for want in ("sensitive", "always sensitive", "never extractable", "local"):
            assert want in access, k
        assert usage.split(":", 1)[1].strip() == "sign", k
