"""The built-in time-stamping authority (RFC 3161, RFC 5816's ESSCertIDv2;
appliance/sign/tsa.c, README "Time stamping"): queries made and replies
read and verified by `openssl ts`, posted with curl on the main listener
(client certificate) and on the plain [tsa] listener; the rejections; the
serials across a restart; the clock discipline against the kernel's own
answer (adjtimex through ctypes); the listener's rate; timestamping
certificates at import; `signet audit reconcile` and the batched audit
entries."""

import ctypes
import json
import re
import time

import pytest

from conftest import BUILD, run

TSQ = "application/timestamp-query"
STA_UNSYNC = 0x0040
TIME_ERROR = 5


class Timex(ctypes.Structure):
    # struct timex of glibc on Linux (sys/timex.h)
    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long),
        ("freq", ctypes.c_long), ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11),
    ]


def kernel_synchronized():
    """What adjtimex(2) says, computed here independently of signetd."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    tx = Timex()
    st = libc.adjtimex(ctypes.byref(tx))
    assert st >= 0, ctypes.get_errno()
    return st != TIME_ERROR and not (tx.status & STA_UNSYNC)


def conf_policy(instance):
    m = re.search(r"^policy = (.*)$", instance.conf.read_text(), re.M)
    assert m
    return m.group(1).strip()


def tsa_url(instance):
    return f"https://127.0.0.1:{instance.tsa_port}/api/v1/timestamp"


def query(tmp_path, name="q", data=b"artifact to stamp\n", digest="sha256",
          cert=True, policy=None):
    f = tmp_path / (name + ".bin")
    f.write_bytes(data)
    q = tmp_path / (name + ".tsq")
    cmd = ["openssl", "ts", "-query", "-data", str(f), "-" + digest,
           "-out", str(q)]
    if cert:
        cmd.append("-cert")
    if policy:
        cmd += ["-tspolicy", policy]
    run(cmd)
    return f, q


def post_curl(instance, q, out, main=True, content_type=TSQ):
    """curl: with the client certificate on the main listener, plain on the
    [tsa] listener. Returns the HTTP status."""
    cmd = ["curl", "-sS", "--cacert", instance.ca, "-o", str(out),
           "-w", "%{http_code}", "-H", f"Content-Type: {content_type}",
           "--data-binary", f"@{q}"]
    if main:
        cmd += ["--cert", instance.client_cert, "--key", instance.client_key,
                instance.api("/timestamp")]
    else:
        cmd.append(tsa_url(instance))
    return int(run(cmd).stdout.strip())


def reply_text(r):
    return run(["openssl", "ts", "-reply", "-in", str(r), "-text"]).stdout


def serial_of(text):
    m = re.search(r"^Serial number: (0x[0-9A-Fa-f]+|\d+)$", text, re.M)
    assert m, text
    return int(m.group(1), 0)


def chain_file(instance, tmp_path):
    r = instance.session(cert=False).get(instance.api("/timestamp/certificate"),
                                         timeout=30)
    assert r.status_code == 200, r.text
    p = tmp_path / "tsa-chain.pem"
    p.write_text(r.text)
    return p


def verify(instance, tmp_path, r, q):
    return run(["openssl", "ts", "-verify", "-in", str(r), "-queryfile",
                str(q), "-CAfile", str(instance.pki / "release-ca.pem"),
                "-untrusted", str(chain_file(instance, tmp_path))],
               check=False)


def token_certs(tmp_path, r):
    """Certificates carried in the reply's token (the SignedData)."""
    tok = tmp_path / "token.der"
    run(["openssl", "ts", "-reply", "-in", str(r), "-token_out", "-out",
         str(tok)])
    p = run(["openssl", "pkcs7", "-inform", "DER", "-in", str(tok),
             "-print_certs", "-noout"])
    return re.findall(r"^subject=(.*)$", p.stdout, re.M)


def stamp(instance, tmp_path, name="s", main=True, data=b"x\n"):
    _, q = query(tmp_path, name, data=data)
    r = tmp_path / (name + ".tsr")
    assert post_curl(instance, q, r, main=main) == 200
    return serial_of(reply_text(r))


def test_query_main_listener_verifies(instance, tmp_path):
    _, q = query(tmp_path)
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r) == 200
    text = reply_text(r)
    assert "Status: Granted." in text
    assert f"Policy OID: {conf_policy(instance)}" in text
    assert "Accuracy: 0x01 seconds" in text
    assert re.search(r"^TSA: DirName:.*CN ?= ?Signet Dev TSA", text, re.M), text
    nonce = re.search(r"^Nonce: (\S+)$", run(
        ["openssl", "ts", "-query", "-in", str(q), "-text"]).stdout, re.M)
    assert nonce and f"Nonce: {nonce.group(1)}" in text
    v = verify(instance, tmp_path, r, q)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr
    # the reply vouches for this file's imprint and for no other file
    f = tmp_path / "q.bin"
    other = tmp_path / "other.bin"
    other.write_bytes(f.read_bytes() + b"!")
    for data in (f, other):
        v = run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(r),
                 "-CAfile", str(instance.pki / "release-ca.pem"),
                 "-untrusted", str(chain_file(instance, tmp_path))], check=False)
        if data == f:
            assert v.returncode == 0, v.stdout + v.stderr
        else:
            assert v.returncode != 0 and "Verification: OK" not in v.stdout
    # the chain was asked for: leaf and CA in the token
    subjects = token_certs(tmp_path, r)
    assert any("Signet Dev TSA" in s for s in subjects), subjects
    # RFC 5816: the signing certificate is named by ESSCertIDv2
    # (id-aa-signingCertificateV2, 1.2.840.113549.1.9.16.2.47)
    tok = tmp_path / "token.der"
    asn1 = run(["openssl", "asn1parse", "-inform", "DER", "-in", str(tok)]).stdout
    assert "id-smime-aa-signingCertificateV2" in asn1 or \
        "1.2.840.113549.1.9.16.2.47" in asn1, asn1


def test_query_tsa_listener_without_client_certificate(instance, tmp_path):
    _, q = query(tmp_path)
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r, main=False) == 200
    assert "Status: Granted." in reply_text(r)
    v = verify(instance, tmp_path, r, q)
    assert v.returncode == 0, v.stdout + v.stderr
    # the main listener wants a principal
    p = run(["curl", "-sS", "--cacert", instance.ca, "-o", "/dev/null", "-w",
             "%{http_code}", "-H", f"Content-Type: {TSQ}", "--data-binary",
             f"@{q}", instance.api("/timestamp")])
    assert p.stdout.strip() == "401"


@pytest.mark.parametrize("digest", ["sha384", "sha512"])
def test_sha384_sha512(instance, tmp_path, digest):
    _, q = query(tmp_path, digest=digest)
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r, main=False) == 200
    text = reply_text(r)
    assert f"Hash Algorithm: {digest}" in text
    assert verify(instance, tmp_path, r, q).returncode == 0


def test_sha1_is_refused_bad_alg(instance, tmp_path):
    _, q = query(tmp_path, digest="sha1")
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r) == 200
    text = reply_text(r)
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm identifier" in text  # badAlg
    assert "SHA-256, SHA-384 or SHA-512" in text


def test_garbage_is_bad_data_format(instance, tmp_path):
    g = tmp_path / "garbage.tsq"
    g.write_bytes(b"\x30\x03not a time-stamp query")
    r = tmp_path / "r.tsr"
    assert post_curl(instance, g, r, main=False) == 400
    text = reply_text(r)
    assert "Status: Rejected." in text
    assert "the data submitted has the wrong format" in text  # badDataFormat
    # a valid query with a byte after it is no better
    _, q = query(tmp_path)
    g.write_bytes(q.read_bytes() + b"\x00")
    assert post_curl(instance, g, r, main=False) == 400
    # and the wrong media type is not read at all
    assert post_curl(instance, q, r, main=False,
                     content_type="application/octet-stream") == 415


def test_oversized_query_is_413(instance, tmp_path):
    big = tmp_path / "big.tsq"
    big.write_bytes(b"\x30\x82\x10\x00" + b"\x00" * 4096)
    r = tmp_path / "r.out"
    assert post_curl(instance, big, r, main=False) == 413


def test_wrong_policy_is_refused(instance, tmp_path):
    _, q = query(tmp_path, policy="1.2.3.4.5")
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r, main=False) == 200
    text = reply_text(r)
    assert "Status: Rejected." in text
    assert "the requested TSA policy is not supported by the TSA" in text
    # the configured policy asked for by name is granted
    _, q = query(tmp_path, "q2", policy=conf_policy(instance))
    assert post_curl(instance, q, r, main=False) == 200
    assert "Status: Granted." in reply_text(r)


def test_without_cert_req_the_chain_is_absent(instance, tmp_path):
    _, q = query(tmp_path, cert=False)
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r, main=False) == 200
    assert "Status: Granted." in reply_text(r)
    assert token_certs(tmp_path, r) == []
    # it still verifies with the chain given beside it
    assert verify(instance, tmp_path, r, q).returncode == 0


def test_certificate_endpoint_is_unauthenticated(instance):
    for url in (instance.api("/timestamp/certificate"),
                f"https://127.0.0.1:{instance.tsa_port}/api/v1/timestamp/certificate"):
        p = run(["curl", "-sS", "--cacert", instance.ca, "-D", "-", url])
        assert " 200" in p.stdout.splitlines()[0], p.stdout
        assert "application/pem-certificate-chain" in p.stdout
        pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                          p.stdout, re.S)
        assert len(pems) == 2
        leaf = run(["openssl", "x509", "-noout", "-subject", "-ext",
                    "extendedKeyUsage"], input=pems[0] + "\n").stdout
        assert "Signet Dev TSA" in leaf
        assert "critical" in leaf and "Time Stamping" in leaf, leaf


def test_health_reports_the_kernels_clock(instance):
    h = instance.session(cert=False).get(instance.api("/health"), timeout=30).json()
    assert h["clock"]["synchronized"] == kernel_synchronized()
    assert isinstance(h["clock"]["estimatedErrorUs"], int)
    assert h["timestamping"]["enabled"] is True
    assert h["timestamping"]["tokensIssued"] >= 1


def test_dev_instance_issues_whatever_the_clock(instance, tmp_path):
    # provision.sh sets allow_unsynchronized = true
    assert re.search(r"^allow_unsynchronized = true$", instance.conf.read_text(), re.M)
    _, q = query(tmp_path)
    r = tmp_path / "r.tsr"
    assert post_curl(instance, q, r) == 200
    assert "Status: Granted." in reply_text(r)


def test_serials_increase_across_requests_and_restarts(instance, tmp_path):
    # 200 queries, every tenth on the [tsa] listener (its rate limit is
    # tested below): 200 distinct serials, each above the one before
    _, q = query(tmp_path, "many")
    body = q.read_bytes()
    main, plain = instance.session(), instance.session(cert=False)
    a = []
    for i in range(200):
        s, url = (main, instance.api("/timestamp")) if i % 10 else \
            (plain, tsa_url(instance))
        r = s.post(url, data=body, headers={"Content-Type": TSQ}, timeout=30)
        assert r.status_code == 200, r.text
        out = tmp_path / "many.tsr"
        out.write_bytes(r.content)
        a.append(serial_of(reply_text(out)))
    assert len(set(a)) == 200
    assert all(x < y for x, y in zip(a, a[1:])), a
    instance.stop()
    instance.start()
    b = stamp(instance, tmp_path, "after")
    assert b > a[-1], (a, b)
    # the rest of the block reserved before the restart is skipped
    assert (b - 1) // 1000 > (a[-1] - 1) // 1000, (a, b)


def test_clock_discipline_follows_the_kernel(instance, tmp_path):
    conf = instance.conf.read_text()
    strict = conf.replace("allow_unsynchronized = true",
                          "allow_unsynchronized = false")
    assert strict != conf
    instance.stop()
    instance.conf.write_text(strict)
    try:
        instance.start()
        synced = kernel_synchronized()
        _, q = query(tmp_path)
        r = tmp_path / "r.tsr"
        code = post_curl(instance, q, r, main=False)
        text = reply_text(r)
        if synced:
            assert code == 200 and "Status: Granted." in text
        else:
            assert code == 503, code
            assert "Status: Rejected." in text
            assert "the TSA's time source is not available" in text, text  # timeNotAvailable
        h = instance.session(cert=False).get(instance.api("/health"),
                                             timeout=30).json()
        assert h["clock"]["synchronized"] == synced
        assert h["timestamping"]["allowUnsynchronized"] is False
    finally:
        instance.stop()
        instance.conf.write_text(conf)
        instance.start()


def test_tsa_listener_rate_limit(instance, tmp_path):
    _, q = query(tmp_path)
    body = q.read_bytes()
    s = instance.session(cert=False)
    codes = []
    for _ in range(60):
        r = s.post(tsa_url(instance), data=body,
                   headers={"Content-Type": TSQ}, timeout=30)
        codes.append(r.status_code)
    assert 200 in codes and 429 in codes, codes
    assert set(codes) <= {200, 429}, codes
    time.sleep(2)  # the bucket fills again for whoever comes next
    r = s.post(tsa_url(instance), data=body, headers={"Content-Type": TSQ},
               timeout=30)
    assert r.status_code == 200


def admin_cli(instance, *args, check=True):
    pw = instance.password("admin")
    r = instance.session(cert=False).post(
        instance.api("/sessions"), json={"username": "admin", "password": pw},
        timeout=30)
    assert r.status_code == 201
    import os
    import subprocess
    env = dict(os.environ, SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_TOKEN=r.json()["token"])
    p = subprocess.run([str(BUILD / "signet"), "admin", *args], env=env,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def test_timestamping_certificate_needs_critical_eku(instance, tmp_path):
    admin_cli(instance, "keys", "generate", "--label", "tsa-import",
              "--type", "p256")
    csr = tmp_path / "tsa-import.csr"
    admin_cli(instance, "keys", "csr", "tsa-import", "--subject",
              "CN=Import TSA,O=Signet Dev", "--out", str(csr))
    ca, ca_key = instance.pki / "release-ca.pem", instance.pki / "release-ca.key"

    def issue(name, eku):
        ext = tmp_path / (name + ".ext")
        ext.write_text("basicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature\n"
                       f"extendedKeyUsage={eku}\n")
        leaf = tmp_path / (name + ".pem")
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca),
             "-CAkey", str(ca_key), "-CAcreateserial", "-days", "20",
             "-extfile", str(ext), "-out", str(leaf)])
        chain = tmp_path / (name + "-chain.pem")
        chain.write_text(leaf.read_text() + ca.read_text())
        return chain

    for name, eku, why in [("noncrit", "timeStamping", "not critical"),
                           ("codesign", "critical,codeSigning",
                            "not timeStamping alone"),
                           ("both", "critical,timeStamping,codeSigning",
                            "not timeStamping alone")]:
        p = admin_cli(instance, "certificates", "import", "--name",
                      "tsa-" + name, "--purpose", "timestamping",
                      str(issue(name, eku)), check=False)
        assert p.returncode != 0, p.stdout
        assert why in p.stdout + p.stderr, p.stdout + p.stderr
        r = admin_cli(instance, "certificates", "show", "tsa-" + name,
                      check=False)
        assert r.returncode != 0  # nothing stored
    p = admin_cli(instance, "certificates", "import", "--name", "tsa-good",
                  "--purpose", "timestamping",
                  str(issue("good", "critical,timeStamping")))
    assert "created certificate tsa-good" in p.stdout
    # a signing policy cannot use a timestamping certificate
    p = admin_cli(instance, "policies", "create", "demo-app", "--slug",
                  "stamp", "--name", "Stamp", "--certificate", "tsa-good",
                  "--purpose", "release", "--submitter", "ci-runner",
                  "--approvals", "0", check=False)
    assert p.returncode != 0 and "timestamping certificate" in p.stdout + p.stderr


def audit_entries(instance):
    s = instance.login("admin")
    r = s.get(instance.api("/audit"), params={"format": "jsonl"}, timeout=60)
    assert r.status_code == 200, r.text
    return [json.loads(l) for l in r.text.splitlines() if l.strip()]


def test_reconcile_after_50_tokens_and_batched_audit(instance, tmp_path):
    before = audit_entries(instance)
    n0 = sum(1 for e in before if e["action"] == "tsa.tokens-issued")
    _, q = query(tmp_path)
    body = q.read_bytes()
    s = instance.session()
    serials = []
    for _ in range(50):
        r = s.post(instance.api("/timestamp"), data=body,
                   headers={"Content-Type": TSQ}, timeout=30)
        assert r.status_code == 200
        out = tmp_path / "r.tsr"
        out.write_bytes(r.content)
        serials.append(serial_of(reply_text(out)))
    assert len(set(serials)) == 50
    # stopping writes the batch not yet written
    instance.stop()
    instance.start()
    after = audit_entries(instance)
    issued = [e for e in after if e["action"] == "tsa.tokens-issued"]
    new = issued[n0:]
    assert 1 <= len(new) <= 3, new  # batches, not one entry per token
    assert sum(e["details"]["count"] for e in new) >= 50
    assert min(e["details"]["firstSerial"] for e in new) <= min(serials)
    assert max(e["details"]["lastSerial"] for e in new) >= max(serials)
    reserved = [e for e in after if e["action"] == "tsa.serials-reserved"]
    assert reserved and all(e["details"]["last"] - e["details"]["first"] == 999
                            for e in reserved)
    p = run([str(BUILD / "signet"), "-c", str(instance.conf), "audit",
             "reconcile"], check=False, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "every signature is accounted for" in p.stdout
    m = re.search(r"(\d+) time-stamp tokens", p.stdout)
    assert m and int(m.group(1)) >= 50, p.stdout


def test_reconcile_names_a_signature_outside_the_blocks(instance, tmp_path):
    """A journaled TSA signature whose serial was never reserved: what a
    signetd made to sign for itself would leave."""
    import struct
    from test_journal import MSG_SIGN, PURPOSE_REQUEST, DirectKeyholder, reconcile
    kh = DirectKeyholder(instance)
    try:
        key = kh.keys()["tsa"]

        def s(b):
            return struct.pack(">I", len(b)) + b
        body = (s(key.encode()) + bytes([3, 1])  # ECDSA, SHA-256
                + s(b"\x11" * 32) + bytes([PURPOSE_REQUEST])
                + s(b"tsa-999999999"))
        t, rep = kh.call(MSG_SIGN, body)
        assert t == MSG_SIGN | 0x80, (t, rep)
    finally:
        kh.close()
    p, findings = reconcile(instance)
    assert p.returncode == 1
    assert any("time-stamp" in f and "999999999" in f and "outside" in f
               for f in findings), p.stdout


# --- detached CMS with a time-stamp from the built-in TSA -----------------

def der_read(b, off):
    """(tag, content start, content end) of the DER element at off."""
    tag = b[off]
    n = b[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[off:off + k], "big")
        off += k
    return tag, off, off + n


def der_children(b, start, end):
    out, off = [], start
    while off < end:
        tag, s, e = der_read(b, off)
        out.append((tag, off, s, e))
        off = e
    return out


def signer_info(cms):
    """The first SignerInfo of a DER ContentInfo(SignedData): its fields."""
    _, s, e = der_read(cms, 0)
    _oid, content = der_children(cms, s, e)[:2]
    _, s, e = der_read(cms, content[2])          # SignedData
    fields = der_children(cms, s, e)
    signer_infos = fields[-1]                     # SET OF SignerInfo
    first = der_children(cms, signer_infos[2], signer_infos[3])[0]
    return der_children(cms, first[2], first[3])


def test_cms_with_builtin_timestamp(instance, tmp_path):
    admin = instance.login("admin")
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json={"slug": "stamped-test", "name": "Stamped test",
                         "certificate": "test-signing", "purpose": "test",
                         "submitters": ["ci-runner"],
                         "artifactConfigurations": ["detached-cms"],
                         "timestamp": "builtin"}, timeout=30)
    assert r.status_code == 201, r.text
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json={"slug": "stamped-bad", "name": "Bad",
                         "certificate": "test-signing", "purpose": "test",
                         "timestamp": "external"}, timeout=30)
    assert r.status_code == 400 and "timestamp" in r.text, r.text
    data = b"time-stamped artifact\n"
    rid = instance.submit(data, policy="stamped-test").json()["id"]
    done = instance.wait_final(rid)
    assert done["status"] == "Completed", done
    sig = instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact"), timeout=30).content
    check_cms_timestamp(instance, tmp_path, sig, data)
    # a policy without the field signs without a time-stamp
    rid = instance.submit(data).json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"
    plain = instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact"), timeout=30).content
    assert signer_info(plain)[-1][0] == 0x04  # ends with the signature


def test_release_signing_is_time_stamped(instance, tmp_path):
    """The development instance's release-signing policy says timestamp:
    builtin: an approved release signature carries the TSA's token."""
    data = b"a release\n"
    rid = instance.submit(data, policy="release-signing",
                          fields=instance.origin()).json()["id"]
    officer = instance.login("officer")
    r = officer.post(instance.api(f"/signing-requests/{rid}/approve"), json={},
                     timeout=30)
    assert r.status_code == 200, r.text
    done = instance.wait_final(rid)
    assert done["status"] == "Completed", done
    sig = instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact"), timeout=30).content
    check_cms_timestamp(instance, tmp_path, sig, data)


def test_release_signing_time_stamps_authenticode(instance, tmp_path):
    """An Authenticode signature of the development release-signing policy
    carries the built-in TSA's token, which osslsigncode verifies."""
    script = b"Write-Output 'release'\r\n"
    rid = instance.submit(script, policy="release-signing", filename="r.ps1",
                          fields={**instance.origin(),
                                  "artifactConfigurationSlug": "authenticode"}
                          ).json()["id"]
    r = instance.login("officer").post(
        instance.api(f"/signing-requests/{rid}/approve"), json={}, timeout=30)
    assert r.status_code == 200, r.text
    done = instance.wait_final(rid)
    assert done["status"] == "Completed", done
    p = tmp_path / "r.ps1"
    p.write_bytes(instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact"), timeout=30).content)
    ca = str(instance.pki / "release-ca.pem")
    v = run(["osslsigncode", "verify", "-CAfile", ca, "-TSA-CAfile", ca,
             "-in", str(p)], check=False)
    out = v.stdout + v.stderr
    assert v.returncode == 0, out
    assert "Timestamp Server Signature verification: ok" in out, out
    assert "Signet Dev TSA" in out, out


def check_cms_timestamp(instance, tmp_path, sig, data):
    """sig, a detached CMS over data, verifies and carries an RFC 3161
    token over its signature value (RFC 3161 appendix A) that openssl ts
    verifies against the development root, and over nothing else."""
    sig_path, content = tmp_path / "a.p7s", tmp_path / "a.bin"
    sig_path.write_bytes(sig)
    content.write_bytes(data)
    v = run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
             str(sig_path), "-content", str(content), "-noverify", "-out",
             "/dev/null"], check=False)
    assert v.returncode == 0, v.stderr
    # the unsigned attribute id-aa-timeStampToken over the signature value
    fields = signer_info(sig)
    assert fields[-1][0] == 0xA1, "no unsignedAttrs"
    sigval = fields[-2]
    assert sigval[0] == 0x04
    signature = sig[sigval[2]:sigval[3]]
    attrs = der_children(sig, fields[-1][2], fields[-1][3])
    assert len(attrs) == 1
    oid, values = der_children(sig, attrs[0][2], attrs[0][3])
    assert sig[oid[2]:oid[3]] == bytes.fromhex("2a864886f70d010910020e")  # 1.2.840.113549.1.9.16.2.14
    token = der_children(sig, values[2], values[3])[0]
    tok = tmp_path / "token.der"
    tok.write_bytes(sig[token[1]:token[3]])
    sigfile = tmp_path / "signature.bin"
    sigfile.write_bytes(signature)
    v = run(["openssl", "ts", "-verify", "-token_in", "-in", str(tok),
             "-data", str(sigfile), "-CAfile", str(instance.pki / "release-ca.pem"),
             "-untrusted", str(chain_file(instance, tmp_path))], check=False)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr
    # and not over anything else
    sigfile.write_bytes(signature[:-1] + bytes([signature[-1] ^ 1]))
    v = run(["openssl", "ts", "-verify", "-token_in", "-in", str(tok),
             "-data", str(sigfile), "-CAfile", str(instance.pki / "release-ca.pem"),
             "-untrusted", str(chain_file(instance, tmp_path))], check=False)
    assert v.returncode != 0


def test_osslsigncode_timestamps_with_the_tsa_listener(instance, tmp_path):
    """osslsigncode -ts, the client this listener is for: an Authenticode
    signature made here with a key of the test's own, time-stamped by
    Signet, and the time-stamp verified by osslsigncode."""
    src = tmp_path / "hello.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "hello.exe"
    run(["x86_64-w64-mingw32-gcc", "-o", str(exe), str(src)])
    key, crt = tmp_path / "cs.key", tmp_path / "cs.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
         str(crt), "-days", "2", "-subj", "/O=Test/CN=Test Code Signing",
         "-addext", "extendedKeyUsage=codeSigning",
         "-addext", "keyUsage=critical,digitalSignature"])
    out = tmp_path / "hello-signed.exe"
    run(["osslsigncode", "sign", "-certs", str(crt), "-key", str(key),
         "-h", "sha256", "-ts", tsa_url(instance), "-HTTPS-CAfile", instance.ca,
         "-in", str(exe), "-out", str(out)])
    v = run(["osslsigncode", "verify", "-in", str(out), "-CAfile", str(crt),
             "-TSA-CAfile", str(instance.pki / "release-ca.pem")], check=False)
    text = v.stdout + v.stderr
    assert v.returncode == 0, text
    assert "Timestamp Server Signature verification: ok" in text, text
    assert "Signet Dev TSA" in text, text
