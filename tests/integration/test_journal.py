"""The keyholder's signing journal and `signet audit reconcile`
(docs/audit.md, pkcs11/PROTOCOL.md "Journal").

Requests signed through signetd reconcile clean. A signature made by
speaking to a keyholder directly, outside any request, is named, and so
are a signature for a request that was never released for signing, one
more signature than a request was processed for, and a journal line
edited or removed in the middle. An attempt the token refused (a
sign-failed line after it) is not a signature."""
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import uuid

import pytest

from conftest import BUILD, run

MSG_STATUS, MSG_LIST_KEYS, MSG_SIGN = 0x01, 0x02, 0x04
PURPOSE_REQUEST = 1
MECH_RSA_PKCS1, HASH_SHA256 = 1, 1


def journal_path(instance):
    return instance.state / "keyholder" / "journal" / "journal.jsonl"


def reconcile(instance):
    p = run([str(BUILD / "signet"), "-c", str(instance.conf), "audit",
             "reconcile"], check=False, timeout=120)
    findings = [l for l in p.stdout.splitlines() if l.startswith("finding: ")]
    return p, findings


def conf_value(instance, key):
    m = re.search(rf"^{key} = (.*)$", instance.conf.read_text(), re.M)
    assert m, key
    return m.group(1).strip()


class DirectKeyholder:
    """A keyholder started by the test itself on the appliance's token and
    journal, spoken to over its socket: what a compromised signetd could
    do with its own keyholder."""

    def __init__(self, instance):
        self.sock, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items()
               if k.endswith("SAN_OPTIONS")}
        env.update(instance.keyholder_env())
        fd = theirs.fileno()
        self.proc = subprocess.Popen(
            [str(BUILD / "pkcs11" / "signet-keyholder"), "--fd", str(fd),
             "--module", conf_value(instance, "module"),
             "--token", conf_value(instance, "label"),
             "--pin-file", str(instance.dir / "token.pin"),
             "--journal", str(journal_path(instance).parent)],
            pass_fds=[fd], env=env, stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        theirs.close()

    def call(self, typ, body=b""):
        """One request and its reply: u32 length, u8 type, u32 request id,
        body (pkcs11/PROTOCOL.md); the reply names the request's id."""
        self.next_id = getattr(self, "next_id", 0) + 1
        self.sock.sendall(struct.pack(">IBI", len(body) + 5, typ,
                                      self.next_id) + body)
        hdr = self._read(4)
        (n,) = struct.unpack(">I", hdr)
        rep = self._read(n)
        (rid,) = struct.unpack(">I", rep[1:5])
        assert rid == self.next_id, f"reply to request {rid}, not {self.next_id}"
        return rep[0], rep[5:]

    def _read(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            assert c, "the keyholder closed the connection"
            b += c
        return b

    def keys(self):
        t, body = self.call(MSG_LIST_KEYS, struct.pack(">I", 0))
        assert t == MSG_LIST_KEYS | 0x80, (t, body)
        total, count = struct.unpack(">II", body[:8])
        off, keys = 8, {}
        for _ in range(count):
            (n,) = struct.unpack(">I", body[off:off + 4])
            kid = body[off + 4:off + 4 + n].decode()
            off += 4 + n
            (n,) = struct.unpack(">I", body[off:off + 4])
            label = body[off + 4:off + 4 + n].decode()
            off += 4 + n + 1 + 4
            keys[label] = kid
        return keys

    def sign(self, kid, digest, ref):
        def s(b):
            return struct.pack(">I", len(b)) + b
        body = (s(kid.encode()) + bytes([MECH_RSA_PKCS1, HASH_SHA256])
                + s(digest) + bytes([PURPOSE_REQUEST]) + s(ref.encode()))
        t, rep = self.call(MSG_SIGN, body)
        assert t == MSG_SIGN | 0x80, (t, rep)
        return rep

    def close(self):
        self.sock.close()
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()


@pytest.fixture(scope="module")
def signed(instance):
    ids = []
    for i in range(3):
        r = instance.submit(f"journaled artifact {i}\n".encode())
        ids.append(r.json()["id"])
    for rid in ids:
        assert instance.wait_final(rid)["status"] == "Completed"
    return ids


def test_journal_is_the_keyholders_own(instance, signed):
    d = journal_path(instance).parent
    assert (d.stat().st_mode & 0o777) == 0o700
    assert (journal_path(instance).stat().st_mode & 0o777) == 0o600
    lines = [json.loads(l) for l in journal_path(instance).read_text().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["prev"] == "0" * 64
    mine = [e for e in lines if e["op"] == "sign" and e["ref"] in signed]
    assert len(mine) == 3, lines
    for e in mine:
        assert e["purpose"] == "request"
        assert e["mechanism"] == "rsa-pkcs1" and e["hash"] == "sha256"
        assert re.fullmatch(r"[0-9a-f]{64}", e["digest"])
    # provisioning's key generation and certificate work are there too
    assert any(e["op"] == "generate" and e["ok"] for e in lines)
    assert any(e["op"] == "sign" and e["purpose"] == "certificate" for e in lines)
    assert any(e["op"] == "login" and e["ok"] for e in lines)


def test_reconcile_clean(instance, signed):
    p, findings = reconcile(instance)
    assert p.returncode == 0, p.stdout + p.stderr
    assert findings == []
    assert "every signature is accounted for" in p.stdout
    assert "0 finding(s)" in p.stdout


def test_direct_signature_is_named(instance, signed):
    waiting = instance.submit(b"needs an officer", policy="release-signing",
                              fields=instance.origin())
    waiting = waiting.json()["id"]
    assert instance.get_request(waiting)["workflowStatus"] == "WaitingForApproval"
    made_up = str(uuid.uuid4())
    kh = DirectKeyholder(instance)
    try:
        keys = kh.keys()
        test_key, release_key = keys["test-signing"], keys["release-signing"]
        digest = os.urandom(32)
        assert len(kh.sign(test_key, digest, made_up)) > 0
        # a request that is done gets one signature more than it needed
        kh.sign(test_key, os.urandom(32), signed[0])
        # a request with the wrong key
        kh.sign(release_key, os.urandom(32), signed[1])
        # a request nobody has approved
        kh.sign(release_key, os.urandom(32), waiting)
    finally:
        kh.close()
    # the journal has them, whatever signetd would say
    tail = [json.loads(l) for l in journal_path(instance).read_text().splitlines()]
    assert any(e.get("ref") == made_up and e.get("digest") == digest.hex()
               for e in tail)

    p, findings = reconcile(instance)
    assert p.returncode == 1, p.stdout + p.stderr
    text = "\n".join(findings)
    assert re.search(rf"for request {made_up}, which does not exist", text), text
    assert re.search(rf"request {signed[0]}: 2 signatures in the journal, but "
                     r"it was processed 1 time", text), text
    assert re.search(rf"request {signed[1]} was signed with key {release_key}, "
                     rf"but its policy demo-app/test-signing signs with key "
                     rf"{test_key}", text), text
    assert re.search(rf"request {waiting}, which is WaitingForApproval", text), text
    # the wrong-key signature is one too many for its request as well
    assert re.search(rf"request {signed[1]}: 2 signatures in the journal", text), text
    assert len(findings) == 5, text
    # the chain itself is intact
    assert "chain broken" not in text


def test_edited_or_removed_line_breaks_the_chain(instance, signed):
    path = journal_path(instance)
    original = path.read_bytes()
    lines = original.split(b"\n")[:-1]
    assert len(lines) > 6
    mid = len(lines) // 2
    try:
        # one character of one line in the middle, same length
        edited = bytearray(lines[mid])
        i = edited.index(b'"time":"') + len(b'"time":"')
        edited[i] = ord("1") if edited[i] != ord("1") else ord("2")
        path.write_bytes(b"\n".join(lines[:mid] + [bytes(edited)] + lines[mid + 1:]) + b"\n")
        p, findings = reconcile(instance)
        assert p.returncode == 1, p.stdout + p.stderr
        broken = [f for f in findings if "chain broken" in f]
        assert broken == [f"finding: journal line {mid + 2}: chain broken: prev "
                          "does not match the line before (a line was edited)"], findings

        # the digest of a request's signature changed: the chain breaks,
        # and the signed artifact is no longer what the journal holds
        at = next(i for i, l in enumerate(lines)
                  if f'"ref":"{signed[2]}"'.encode() in l)
        edited = bytearray(lines[at])
        i = edited.index(b'"digest":"') + len(b'"digest":"')
        edited[i] = ord("a") if edited[i] != ord("a") else ord("b")
        path.write_bytes(b"\n".join(lines[:at] + [bytes(edited)] + lines[at + 1:]) + b"\n")
        p, findings = reconcile(instance)
        assert p.returncode == 1
        assert f"finding: journal line {at + 2}: chain broken: prev does not " \
            "match the line before (a line was edited)" in findings, findings
        assert [f for f in findings if f.startswith(
            f"finding: request {signed[2]}: no journaled signature covers "
            "its signed artifact")], findings

        # a line removed
        path.write_bytes(b"\n".join(lines[:mid] + lines[mid + 1:]) + b"\n")
        p, findings = reconcile(instance)
        assert p.returncode == 1
        broken = [f for f in findings if "chain broken" in f]
        assert broken == [f"finding: journal line {mid + 1}: chain broken: "
                          "sequence number out of order (a line was removed "
                          "or inserted)"], findings
    finally:
        path.write_bytes(original)
    p, findings = reconcile(instance)
    assert not [f for f in findings if "chain broken" in f], findings


def test_attempt_the_token_refused_is_no_signature(instance, signed):
    """A SIGN's line is written before the token signs (its fsync runs
    while the token works). When the token then refuses, a sign-failed
    line names it, and reconcile does not count it as a signature; an
    attempt without that line is one."""
    import hashlib

    path = journal_path(instance)
    original = path.read_bytes()

    def chained(lines, *fields):
        out = list(lines)
        for f in fields:
            last = json.loads(out[-1])
            prev = hashlib.sha256(out[-1]).hexdigest()
            out.append(("{" + f'"seq":{last["seq"] + 1},"prev":"{prev}",'
                        f'"time":"2026-12-03T07:00:00Z",{f}' + "}").encode())
        return out

    made_up = str(uuid.uuid4())
    lines = original.split(b"\n")[:-1]
    seq = json.loads(lines[-1])["seq"] + 1
    sign = (f'"op":"sign","keyId":"00ff","mechanism":"rsa-pkcs1",'
            f'"hash":"sha256","digest":"{"ab" * 32}","purpose":"request",'
            f'"ref":"{made_up}"')
    # what earlier tests here left in the journal is found as before
    _, before = reconcile(instance)
    try:
        path.write_bytes(b"\n".join(chained(
            lines, sign, f'"op":"sign-failed","signSeq":{seq},'
            '"result":"token"')) + b"\n")
        p, findings = reconcile(instance)
        assert p.returncode in (0, 1), p.stdout + p.stderr
        assert findings == before, findings
        assert "1 signing attempt(s) the token refused" in p.stdout

        # the same attempt with no word from the token: a signature
        path.write_bytes(b"\n".join(chained(lines, sign)) + b"\n")
        p, findings = reconcile(instance)
        assert p.returncode == 1, p.stdout + p.stderr
        assert [f for f in findings
                if f"for request {made_up}, which does not exist" in f], findings
        assert "token refused" not in p.stdout
    finally:
        path.write_bytes(original)
