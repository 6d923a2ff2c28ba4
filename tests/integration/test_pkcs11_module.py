"""Hash signing: the appliance side (POST .../hash-signing-requests) and
the PKCS#11 module build machines load (build/pkcs11/libsignet-pkcs11.so),
driven by the real tools: pkcs11-tool, OpenSSL through libp11's engine,
osslsigncode, jarsigner with SunPKCS11, p11-kit. Every signature is
verified by a tool that is not Signet's."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, run

MODULE = BUILD / "pkcs11" / "libsignet-pkcs11.so"
HASH_POLICY = "test-signing"        # provision.sh: allowHashSigning
APPROVAL_POLICY = "hash-approval"    # added below: one approval
NO_HASH_POLICY = "no-hash"           # added below: hash signing off


def tool(name):
    """The path of a tool the test needs: missing is a failure."""
    p = shutil.which(name)
    assert p is not None, f"{name} is not installed (scripts/deps.sh)"
    return p


def apply_doc(instance, doc, tmp):
    p = tmp / "hash-policies.json"
    p.write_text(json.dumps(doc))
    instance.signet("apply", str(p))


@pytest.fixture(scope="module")
def hs(instance, tmp_path_factory):
    """The instance with a hash policy that needs an approval and an
    otherwise equal one without hash signing."""
    tmp = tmp_path_factory.mktemp("hash")
    instance.stop()
    apply_doc(instance, {"projects": [{
        "slug": "demo-app", "name": "Demo App",
        "signingPolicies": [
            {"slug": APPROVAL_POLICY, "name": "Hash signing, approved",
             "certificate": "test-signing", "requiredApprovals": 1,
             "submitters": ["ci-runner", "dev"], "approvers": ["officer"],
             "allowHashSigning": True},
            {"slug": NO_HASH_POLICY, "name": "No hash signing",
             "certificate": "test-signing", "requiredApprovals": 0,
             "submitters": ["ci-runner", "dev"], "approvers": []},
        ]}]}, tmp)
    instance.start()
    pub = tmp / "test-signing.pub"
    run(["openssl", "x509", "-in", str(instance.pki / "test-signing.pem"),
         "-noout", "-pubkey", "-out", str(pub)])
    return {"tmp": tmp, "pub": pub}


def hash_url(instance, policy, project="demo-app"):
    return instance.api(
        f"/projects/{project}/signing-policies/{policy}/hash-signing-requests")


def post_hash(instance, body, policy=HASH_POLICY, session=None, expect=201):
    s = session or instance.session()
    r = s.post(hash_url(instance, policy), json=body, timeout=30)
    if expect is not None:
        assert r.status_code == expect, (r.status_code, r.text)
    return r


def verify_digest(hs, digest, sig, alg="sha256", pss=False):
    """openssl pkeyutl -verify of a signature over a bare digest."""
    d = hs["tmp"] / "digest.bin"
    s = hs["tmp"] / "sig.bin"
    d.write_bytes(digest)
    s.write_bytes(sig)
    opts = ["-pkeyopt", f"digest:{alg}"]
    if pss:
        opts += ["-pkeyopt", "rsa_padding_mode:pss",
                 "-pkeyopt", "rsa_pss_saltlen:digest",
                 "-pkeyopt", f"rsa_mgf1_md:{alg}"]
    return run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                str(hs["pub"]), "-in", str(d), "-sigfile", str(s), *opts],
               check=False)


# ------------------------------------------------------------ appliance side


@pytest.mark.parametrize("alg,pss", [("sha256", False), ("sha384", True),
                                     ("sha512", False)])
def test_hash_request_signed(instance, hs, alg, pss):
    digest = hashlib.new(alg, os.urandom(1000)).digest()
    r = post_hash(instance, {
        "hashAlgorithm": alg, "digest": digest.hex(),
        "signatureAlgorithm": "rsa-pss" if pss else "rsa-pkcs1",
        "fileName": "app.exe", "tool": "osslsigncode",
        "origin.repositoryUrl": "https://example.test/app",
        "origin.commitId": "a" * 40})
    assert r.headers["Location"].startswith("/api/v1/signing-requests/")
    rec = r.json()
    assert rec["artifactConfigurationSlug"] == "hash"
    assert rec["unsignedArtifact"] is None
    assert rec["unsignedArtifactLink"] is None
    assert rec["hash"] == {"algorithm": alg, "digest": digest.hex(),
                           "mechanism": "rsa-pss" if pss else "rsa-pkcs1",
                           "fileName": "app.exe", "tool": "osslsigncode"}
    assert rec["origin"]["commitId"] == "a" * 40
    done = instance.wait_final(rec["id"])
    assert done["status"] == "Completed", done
    assert done["signedArtifact"] is None
    assert done["certificate"]["name"] == "test-signing"
    sig = base64.b64decode(done["hash"]["signature"])
    assert len(sig) == 384  # rsa3072
    v = verify_digest(hs, digest, sig, alg, pss)
    assert v.returncode == 0, v.stdout + v.stderr
    # the signature is over this digest and no other
    v = verify_digest(hs, hashlib.new(alg, b"other").digest(), sig, alg, pss)
    assert v.returncode != 0
    # nothing was stored to download
    r = instance.session().get(instance.api(
        f"/signing-requests/{rec['id']}/unsigned-artifact"), timeout=30)
    assert r.status_code != 200


def test_hash_request_base_fields_default(instance, hs):
    digest = hashlib.sha256(b"x").digest()
    rec = post_hash(instance, {"hashAlgorithm": "sha256",
                               "digest": digest.hex().upper(),
                               "signatureAlgorithm": "rsa-pkcs1"}).json()
    assert rec["hash"]["digest"] == digest.hex()
    assert rec["hash"]["fileName"] == "unknown"
    assert rec["hash"]["tool"] == "unknown"
    instance.wait_final(rec["id"])


@pytest.mark.parametrize("alg,nbytes,want", [
    ("sha256", 31, "32 bytes (64 hex digits)"),
    ("sha256", 48, "32 bytes"),
    ("sha384", 32, "48 bytes (96 hex digits)"),
    ("sha512", 65, "64 bytes"),
])
def test_malformed_digest_length_refused(instance, hs, alg, nbytes, want):
    before = len(instance.list_all())
    r = post_hash(instance, {"hashAlgorithm": alg,
                             "digest": os.urandom(nbytes).hex(),
                             "signatureAlgorithm": "rsa-pkcs1"}, expect=400)
    assert want in r.json()["message"], r.text
    assert len(instance.list_all()) == before


@pytest.mark.parametrize("body,word", [
    ({"hashAlgorithm": "md5", "digest": "00" * 16,
      "signatureAlgorithm": "rsa-pkcs1"}, "hashAlgorithm"),
    ({"hashAlgorithm": "sha256", "digest": "zz" * 32,
      "signatureAlgorithm": "rsa-pkcs1"}, "hex"),
    ({"hashAlgorithm": "sha256", "digest": "0" * 63,
      "signatureAlgorithm": "rsa-pkcs1"}, "hex"),
    ({"hashAlgorithm": "sha256", "digest": "00" * 32,
      "signatureAlgorithm": "dsa"}, "signatureAlgorithm"),
    ({"hashAlgorithm": "sha256", "digest": "00" * 32}, "signatureAlgorithm"),
    ({"digest": "00" * 32, "signatureAlgorithm": "rsa-pkcs1"},
     "hashAlgorithm"),
    ({"hashAlgorithm": "sha256", "digest": "00" * 32,
      "signatureAlgorithm": "rsa-pkcs1", "artifact": "x"}, "unknown field"),
    ({"hashAlgorithm": "sha256", "digest": "00" * 32,
      "signatureAlgorithm": "rsa-pkcs1", "origin.color": "x"},
     "unknown field"),
    # the policy's key is RSA
    ({"hashAlgorithm": "sha256", "digest": "00" * 32,
      "signatureAlgorithm": "ecdsa"}, "needs an EC key"),
])
def test_malformed_hash_request_refused(instance, hs, body, word):
    before = len(instance.list_all())
    r = post_hash(instance, body, expect=400)
    assert word in r.json()["message"], r.text
    assert len(instance.list_all()) == before


def test_policy_without_hash_signing_refuses(instance, hs):
    before = len(instance.list_all())
    body = {"hashAlgorithm": "sha256", "digest": "11" * 32,
            "signatureAlgorithm": "rsa-pkcs1"}
    r = post_hash(instance, body, policy=NO_HASH_POLICY, expect=403)
    assert r.json()["error"] == "hash_signing_not_allowed"
    assert "allowHashSigning" in r.json()["message"]
    # a forged upload that names the hash format is refused as well
    r = instance.submit(b"data", policy=HASH_POLICY,
                        fields={"artifactConfigurationSlug": "hash"},
                        expect=400)
    assert "hash-signing-requests" in r.json()["message"]
    r = instance.submit(b"data", policy=NO_HASH_POLICY,
                        fields={"artifactConfigurationSlug": "hash"},
                        expect=400)
    assert len(instance.list_all()) == before
    # an unknown policy, a caller who may not submit
    post_hash(instance, body, policy="nope", expect=404)
    s = instance.login("officer")
    post_hash(instance, body, session=s, expect=403)


def test_hash_listed_only_where_allowed(instance, hs):
    me = instance.session().get(instance.api("/me"), timeout=30).json()
    by = {p["policy"]: p for p in me["submitPolicies"]}
    assert by[HASH_POLICY]["allowHashSigning"] is True
    assert by[APPROVAL_POLICY]["allowHashSigning"] is True
    assert by[NO_HASH_POLICY]["allowHashSigning"] is False
    # never a default artifact configuration
    assert "hash" not in by[NO_HASH_POLICY]["artifactConfigurations"]


def test_hash_cannot_be_listed_as_configuration(instance, hs):
    p = hs["tmp"] / "bad.json"
    p.write_text(json.dumps({"projects": [{
        "slug": "demo-app", "name": "Demo App", "signingPolicies": [
            {"slug": "listed", "name": "L", "certificate": "test-signing",
             "artifactConfigurations": ["hash"]}]}]}))
    instance.stop()
    try:
        r = instance.signet("apply", str(p), check=False)
    finally:
        instance.start()
    assert r.returncode != 0
    assert "allowHashSigning" in r.stdout + r.stderr


def test_hash_request_approval_and_resubmit(instance, hs):
    digest = hashlib.sha256(b"approve me").digest()
    body = {"hashAlgorithm": "sha256", "digest": digest.hex(),
            "signatureAlgorithm": "rsa-pkcs1", "fileName": "a.jar",
            "tool": "java"}
    rec = post_hash(instance, body, policy=APPROVAL_POLICY).json()
    assert rec["status"] == "WaitingForApproval"
    officer = instance.login("officer")
    r = officer.post(instance.api(f"/signing-requests/{rec['id']}/approve"),
                     json={"comment": "digest checked"}, timeout=30)
    assert r.status_code == 200, r.text
    done = instance.wait_final(rec["id"])
    assert done["status"] == "Completed", done
    assert done["approvals"][0]["hashDigest"] == digest.hex()
    v = verify_digest(hs, digest, base64.b64decode(done["hash"]["signature"]))
    assert v.returncode == 0, v.stderr
    # resubmitted: refused where hash signing is off, signed where on
    ci = instance.session()
    r = ci.post(instance.api(f"/signing-requests/{rec['id']}/resubmit"),
                json={"signingPolicySlug": NO_HASH_POLICY}, timeout=30)
    assert r.status_code == 403, r.text
    assert "allowHashSigning" in r.json()["message"]
    r = ci.post(instance.api(f"/signing-requests/{rec['id']}/resubmit"),
                json={"signingPolicySlug": HASH_POLICY}, timeout=30)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["originalSigningRequestId"] == rec["id"]
    assert "signature" not in new["hash"]
    assert new["hash"]["digest"] == digest.hex()
    again = instance.wait_final(new["id"])
    assert again["status"] == "Completed"
    v = verify_digest(hs, digest, base64.b64decode(again["hash"]["signature"]))
    assert v.returncode == 0, v.stderr


def test_hash_request_deny(instance, hs):
    rec = post_hash(instance, {"hashAlgorithm": "sha256",
                               "digest": "22" * 32,
                               "signatureAlgorithm": "rsa-pkcs1"},
                    policy=APPROVAL_POLICY).json()
    officer = instance.login("officer")
    r = officer.post(instance.api(f"/signing-requests/{rec['id']}/deny"),
                     json={"comment": "no"}, timeout=30)
    assert r.status_code == 200, r.text
    req = instance.get_request(rec["id"])
    assert req["status"] == "Denied"
    assert "signature" not in req["hash"]
