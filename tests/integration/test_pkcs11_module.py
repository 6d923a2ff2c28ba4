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

from conftest import BUILD, REPO, run

MODULE = BUILD / "pkcs11" / "libsignet-pkcs11.so"
# The module is loaded by other programs (pkcs11-tool, openssl, java,
# osslsigncode): one built with AddressSanitizer cannot be, since its
# runtime must come first in the program. Against the sanitizer build the
# appliance runs sanitized and the tools load the plain build's module,
# whose memory is checked under valgrind below.
if b"libasan.so" in MODULE.read_bytes():
    MODULE = REPO / "build" / "pkcs11" / "libsignet-pkcs11.so"
HASH_POLICY = "test-signing"        # provision.sh: allowHashSigning
APPROVAL_POLICY = "hash-approval"    # added below: one approval
NO_HASH_POLICY = "no-hash"           # added below: hash signing off
EC_POLICY = "hash-ec"                # added below: a P-256 key
VERIFIED_POLICY = "hash-verified"    # added below: verified origin only


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
    # a P-256 key in the token with a self-signed certificate
    instance.signet("key", "generate", "--label", "hash-ec", "--type", "p256")
    ec_pem = tmp / "hash-ec.pem"
    instance.signet("key", "self-signed", "--key", "hash-ec", "--subject",
                    "CN=Signet Hash EC,O=Signet Dev", "--days", "30",
                    "--out", str(ec_pem))
    apply_doc(instance, {
        "certificates": [{"name": "hash-ec", "key": "hash-ec",
                          "purpose": "test", "chainFile": str(ec_pem)}],
        "projects": [{
        "slug": "demo-app", "name": "Demo App",
        "signingPolicies": [
            {"slug": APPROVAL_POLICY, "name": "Hash signing, approved",
             "certificate": "test-signing", "requiredApprovals": 1,
             "submitters": ["ci-runner", "dev"], "approvers": ["officer"],
             "allowHashSigning": True},
            {"slug": NO_HASH_POLICY, "name": "No hash signing",
             "certificate": "test-signing", "requiredApprovals": 0,
             "submitters": ["ci-runner", "dev"], "approvers": []},
            {"slug": VERIFIED_POLICY, "name": "Hash signing, verified",
             "certificate": "test-signing", "requiredApprovals": 0,
             "submitters": ["ci-runner"], "approvers": [],
             "requireVerifiedOrigin": True, "allowedBranches": ["main"],
             "allowHashSigning": True},
            {"slug": EC_POLICY, "name": "Hash signing, ECDSA",
             "certificate": "hash-ec", "requiredApprovals": 0,
             "submitters": ["ci-runner"], "approvers": [],
             "allowHashSigning": True},
        ]}]}, tmp)
    instance.start()
    pub = tmp / "test-signing.pub"
    run(["openssl", "x509", "-in", str(instance.pki / "test-signing.pem"),
         "-noout", "-pubkey", "-out", str(pub)])
    ec_pub = tmp / "hash-ec.pub"
    run(["openssl", "x509", "-in", str(ec_pem), "-noout", "-pubkey",
         "-out", str(ec_pub)])
    return {"tmp": tmp, "pub": pub, "ec_pub": ec_pub}


def hash_url(instance, policy, project="demo-app"):
    return instance.api(
        f"/projects/{project}/signing-policies/{policy}/hash-signing-requests")


def post_hash(instance, body, policy=HASH_POLICY, session=None, expect=201):
    s = session or instance.session()
    r = s.post(hash_url(instance, policy), json=body, timeout=30)
    if expect is not None:
        assert r.status_code == expect, (r.status_code, r.text)
    return r


def verify_digest(hs, digest, sig, alg="sha256", pss=False, key="pub"):
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
                str(hs[key]), "-in", str(d), "-sigfile", str(s), *opts],
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
    for what in ("unsigned-artifact", "signed-artifact"):
        r = instance.session().get(instance.api(
            f"/signing-requests/{rec['id']}/{what}"), timeout=30)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "hash_request"
        assert "hash.signature" in r.json()["message"]
    # signet status says what it is
    env = dict(os.environ, SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_CLIENT_CERT=instance.client_cert,
               SIGNET_CLIENT_KEY=instance.client_key)
    p = run([str(BUILD / "signet"), "status", rec["id"]], env=env, timeout=60)
    assert "the appliance has not seen the file" in p.stdout, p.stdout
    assert digest.hex() in p.stdout


def test_hash_request_ecdsa(instance, hs):
    digest = hashlib.sha384(b"ec").digest()
    rec = post_hash(instance, {"hashAlgorithm": "sha384",
                               "digest": digest.hex(),
                               "signatureAlgorithm": "ecdsa"},
                    policy=EC_POLICY).json()
    done = instance.wait_final(rec["id"])
    assert done["status"] == "Completed", done
    sig = base64.b64decode(done["hash"]["signature"])
    assert sig[0] == 0x30   # DER ECDSA-Sig-Value, as recorded
    v = verify_digest(hs, digest, sig, "sha384", key="ec_pub")
    assert v.returncode == 0, v.stdout + v.stderr
    # an RSA scheme does not fit the EC key
    r = post_hash(instance, {"hashAlgorithm": "sha256",
                             "digest": "00" * 32,
                             "signatureAlgorithm": "rsa-pss"},
                  policy=EC_POLICY, expect=400)
    assert "needs an RSA key" in r.json()["message"]


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


# ------------------------------------------------------------ the module


def module_env(instance, hs, policy=None, person=None, **extra):
    """The environment a build machine gives a tool that loads the
    module: like `signet submit` (client certificate), or a person's
    bearer token."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SIGNET_", "GITHUB_", "GITLAB_", "CI",
                                "JENKINS_", "BUILD_"))}
    env.update(SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_PKCS11_CONF=os.devnull,
               SIGNET_PKCS11_LOG=str(hs["tmp"] / "module.log"))
    if person is None:
        env.update(SIGNET_CLIENT_CERT=instance.client_cert,
                   SIGNET_CLIENT_KEY=instance.client_key)
    else:
        env["SIGNET_TOKEN"] = person
    if policy is not None:
        env["SIGNET_PKCS11_POLICY"] = policy
    env.update(extra)
    return env


def module_log(hs):
    p = hs["tmp"] / "module.log"
    return p.read_text() if p.exists() else ""


def uri(policy=HASH_POLICY, kind="private"):
    return f"pkcs11:token=demo-app%2F{policy};type={kind}"


def hash_requests(instance):
    return [r for r in instance.list_all()
            if r.get("artifactConfigurationSlug") == "hash"]


def test_module_exports_one_symbol():
    assert MODULE.exists(), f"{MODULE} is not built"
    out = run(["nm", "-D", "--defined-only", str(MODULE)]).stdout
    syms = [l.split()[-1] for l in out.splitlines() if l.strip()]
    assert syms == ["C_GetFunctionList"], syms


def test_pkcs11_tool_lists_tokens_and_objects(instance, hs):
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-slots",
             "--list-objects"], env=module_env(instance, hs), timeout=120)
    out = p.stdout
    assert f"token label        : demo-app/{HASH_POLICY}" in out, out
    assert "token manufacturer : Signet" in out
    assert "Private Key Object; RSA" in out
    assert "Public Key Object; RSA 3072 bits" in out
    assert "Certificate Object; type = X.509 cert" in out
    assert "sensitive, always sensitive, never extractable" in out
    # no login needed, none asked for
    assert "login required" not in out
    # the policy without allowHashSigning is no token
    assert NO_HASH_POLICY not in out
    # private key, public key and certificate share one CKA_ID
    ids = {l.split(":", 1)[1].strip() for l in out.splitlines()
           if l.strip().startswith("ID:")}
    # two hash policies with the same certificate: one id
    assert len(ids) == 1, out


def test_pkcs11_tool_no_token_without_hash_signing(instance, hs):
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-slots"],
            env=module_env(instance, hs, policy=NO_HASH_POLICY),
            check=False, timeout=120)
    assert "demo-app" not in p.stdout
    assert "No slots" in p.stdout + p.stderr or "Available slots:\n" \
        in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("mech,dgst,opts", [
    ("SHA256-RSA-PKCS", "-sha256", []),
    ("SHA512-RSA-PKCS", "-sha512", []),
    ("SHA384-RSA-PKCS-PSS", "-sha384",
     ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]),
])
def test_pkcs11_tool_signs(instance, hs, mech, dgst, opts):
    data = hs["tmp"] / "p11tool.txt"
    sig = hs["tmp"] / "p11tool.sig"
    data.write_bytes(os.urandom(4096))
    before = len(hash_requests(instance))
    run([tool("pkcs11-tool"), "--module", str(MODULE), "--token-label",
         f"demo-app/{HASH_POLICY}", "--sign", "-m", mech, "--input-file",
         str(data), "--output-file", str(sig)],
        env=module_env(instance, hs, policy=HASH_POLICY,
                       SIGNET_FILE_NAME="p11tool.txt"), timeout=120)
    v = run(["openssl", "dgst", dgst, *opts, "-verify", str(hs["pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0 and "Verified OK" in v.stdout, v.stdout + v.stderr
    reqs = hash_requests(instance)
    assert len(reqs) == before + 1   # one request per signature
    rec = reqs[0]
    assert rec["hash"]["fileName"] == "p11tool.txt"
    assert rec["hash"]["tool"] == "pkcs11-tool"
    assert rec["hash"]["digest"] == hashlib.new(
        dgst[1:], data.read_bytes()).hexdigest()


@pytest.mark.parametrize("mech,dgst", [("ECDSA-SHA256", "-sha256"),
                                       ("ECDSA-SHA512", "-sha512")])
def test_pkcs11_tool_signs_ecdsa(instance, hs, mech, dgst):
    data = hs["tmp"] / "ec.txt"
    data.write_bytes(os.urandom(1000))
    sig = hs["tmp"] / "ec.sig"
    env = module_env(instance, hs, policy=EC_POLICY)
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-objects"],
            env=env, timeout=120)
    assert "Private Key Object; EC" in p.stdout, p.stdout
    assert "EC_POINT" in p.stdout and "EC_PARAMS" in p.stdout, p.stdout
    # the raw r || s PKCS#11 returns, 64 bytes for P-256
    run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m", mech,
         "--input-file", str(data), "--output-file", str(sig)], env=env,
        timeout=120)
    assert sig.stat().st_size == 64
    # the same as DER for OpenSSL
    run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m", mech,
         "--signature-format", "openssl", "--input-file", str(data),
         "--output-file", str(sig)], env=env, timeout=120)
    v = run(["openssl", "dgst", dgst, "-verify", str(hs["ec_pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0 and "Verified OK" in v.stdout, v.stdout + v.stderr


def test_pkcs11_tool_raw_rsa_pkcs_needs_digestinfo(instance, hs):
    data = hs["tmp"] / "raw.txt"
    data.write_bytes(b"raw DigestInfo")
    d = hashlib.sha256(data.read_bytes()).digest()
    di = bytes.fromhex("3031300d060960864801650304020105000420") + d
    (hs["tmp"] / "di.bin").write_bytes(di)
    sig = hs["tmp"] / "raw.sig"
    env = module_env(instance, hs, policy=HASH_POLICY)
    run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
         "RSA-PKCS", "--input-file", str(hs["tmp"] / "di.bin"),
         "--output-file", str(sig)], env=env, timeout=120)
    v = run(["openssl", "dgst", "-sha256", "-verify", str(hs["pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0, v.stderr
    # a bare digest is not a DigestInfo: refused, nothing submitted
    (hs["tmp"] / "bare.bin").write_bytes(d)
    before = len(hash_requests(instance))
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
             "RSA-PKCS", "--input-file", str(hs["tmp"] / "bare.bin"),
             "--output-file", str(sig)], env=env, check=False, timeout=120)
    assert p.returncode != 0
    assert "CKR_DATA_INVALID" in p.stderr, p.stderr
    assert "not a DigestInfo" in module_log(hs)
    assert len(hash_requests(instance)) == before


def test_openssl_engine_signs(instance, hs):
    data = hs["tmp"] / "engine.txt"
    data.write_bytes(b"signed through libp11's engine\n")
    d = hs["tmp"] / "engine.dgst"
    d.write_bytes(hashlib.sha256(data.read_bytes()).digest())
    sig = hs["tmp"] / "engine.sig"
    env = module_env(instance, hs, PKCS11_MODULE_PATH=str(MODULE))
    run(["openssl", "pkeyutl", "-engine", "pkcs11", "-keyform", "engine",
         "-inkey", uri(), "-sign", "-in", str(d), "-pkeyopt",
         "digest:sha256", "-out", str(sig)], env=env, timeout=120)
    v = run(["openssl", "dgst", "-sha256", "-verify", str(hs["pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    # openssl dgst -sign, the engine hashing with OpenSSL
    sig2 = hs["tmp"] / "engine2.sig"
    run(["openssl", "dgst", "-engine", "pkcs11", "-keyform", "engine",
         "-sign", uri(), "-sha384", "-out", str(sig2), str(data)], env=env,
        timeout=120)
    v = run(["openssl", "dgst", "-sha384", "-verify", str(hs["pub"]),
             "-signature", str(sig2), str(data)], check=False)
    assert v.returncode == 0, v.stdout + v.stderr


def test_osslsigncode_signs_pe(instance, hs):
    src = hs["tmp"] / "hello.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = hs["tmp"] / "hello.exe"
    run([tool("x86_64-w64-mingw32-gcc"), "-o", str(exe), str(src)])
    out = hs["tmp"] / "hello-signed.exe"
    run([tool("osslsigncode"), "sign", "-pkcs11module", str(MODULE),
         "-pkcs11cert", uri(kind="cert"), "-key", uri(), "-h", "sha256",
         "-n", "hello", "-in", str(exe), "-out", str(out)],
        env=module_env(instance, hs, SIGNET_FILE_NAME="hello.exe"),
        timeout=180)
    v = run([tool("osslsigncode"), "verify", "-CAfile",
             str(instance.pki / "test-signing.pem"), "-in", str(out)],
            check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "Signature verification: ok" in v.stdout
    # the unsigned file does not verify
    v = run([tool("osslsigncode"), "verify", "-CAfile",
             str(instance.pki / "test-signing.pem"), "-in", str(exe)],
            check=False)
    assert v.returncode != 0
    rec = hash_requests(instance)[0]
    assert rec["hash"]["fileName"] == "hello.exe"
    assert rec["hash"]["tool"] == "osslsigncode"


def test_jarsigner_with_sunpkcs11(instance, hs):
    tmp = hs["tmp"]
    cfg = tmp / "sunpkcs11.cfg"
    cfg.write_text(f"name = Signet\nlibrary = {MODULE}\nslot = 0\n")
    env = module_env(instance, hs, policy=HASH_POLICY,
                     SIGNET_FILE_NAME="app.jar")
    (tmp / "jar").mkdir(exist_ok=True)
    (tmp / "jar" / "hello.txt").write_text("hello from a jar\n")
    jar = tmp / "app.jar"
    run([tool("jar"), "cf", str(jar), "-C", str(tmp / "jar"), "hello.txt"])
    prov = ["-storetype", "PKCS11", "-providerClass",
            "sun.security.pkcs11.SunPKCS11", "-providerArg", str(cfg),
            "-storepass", "any PIN is ignored"]
    p = run([tool("keytool"), "-list", *prov], env=env, timeout=180)
    assert f"demo-app/{HASH_POLICY}, PrivateKeyEntry" in p.stdout, p.stdout
    signed = tmp / "app-signed.jar"
    run([tool("jarsigner"), "-keystore", "NONE", *prov, "-signedjar",
         str(signed), str(jar), f"demo-app/{HASH_POLICY}"], env=env,
        timeout=180)
    trust = tmp / "trust.p12"
    if trust.exists():
        trust.unlink()
    run([tool("keytool"), "-importcert", "-noprompt", "-alias", "root",
         "-file", str(instance.pki / "test-signing.pem"), "-keystore",
         str(trust), "-storetype", "PKCS12", "-storepass", "changeit"])
    v = run([tool("jarsigner"), "-verify", "-strict", "-keystore",
             str(trust), "-storepass", "changeit", str(signed)], check=False)
    assert v.returncode == 0 and "jar verified." in v.stdout, \
        v.stdout + v.stderr
    v = run([tool("jarsigner"), "-verify", "-strict", str(jar)], check=False)
    assert v.returncode != 0   # the unsigned jar


def test_p11kit_lists_module(instance, hs):
    """p11-kit reads user module configs only for non-root users: the
    tool runs as nobody, with a person's token (SIGNET_TOKEN) and a copy
    of the CA it may read."""
    tmp = hs["tmp"] / "p11kit"
    mods = tmp / "home" / ".config" / "pkcs11" / "modules"
    mods.mkdir(parents=True, exist_ok=True)
    (mods / "signet.module").write_text(f"module: {MODULE}\n")
    shutil.copy(instance.ca, tmp / "ca.pem")
    for d in [tmp, *tmp.rglob("*")]:
        d.chmod(0o755 if d.is_dir() else 0o644)
    for d in list(tmp.parents)[:-1]:
        if str(d).startswith(str(hs["tmp"].parent.parent)):
            d.chmod(d.stat().st_mode | 0o005)
    token = instance.login("dev").headers["Authorization"].split()[1]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp / "home"),
           "SIGNET_URL": instance.url, "SIGNET_CACERT": str(tmp / "ca.pem"),
           "SIGNET_TOKEN": token, "SIGNET_PKCS11_CONF": os.devnull}
    p = run([tool("setpriv"), "--reuid=65534", "--regid=65534",
             "--clear-groups", tool("p11-kit"), "list-modules"], env=env,
            timeout=120)
    block = p.stdout[p.stdout.index(f"signet: {MODULE}"):]
    assert "library-manufacturer: Signet" in block, p.stdout
    assert f"token: demo-app/{HASH_POLICY}" in block, p.stdout
    assert f"token: demo-app/{APPROVAL_POLICY}" in block, p.stdout
    assert NO_HASH_POLICY not in block


def wait_waiting(instance, before, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reqs = [r for r in hash_requests(instance)
                if r["id"] not in before and
                r["workflowStatus"] == "WaitingForApproval"]
        if reqs:
            return reqs[0]
        time.sleep(0.2)
    raise AssertionError("no hash request waits for approval")


def test_approval_blocks_the_tool(instance, hs):
    data = hs["tmp"] / "approve.txt"
    data.write_bytes(b"release build\n")
    sig = hs["tmp"] / "approve.sig"
    before = {r["id"] for r in hash_requests(instance)}
    p = subprocess.Popen(
        [tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
         "SHA256-RSA-PKCS", "--input-file", str(data), "--output-file",
         str(sig)], env=module_env(instance, hs, policy=APPROVAL_POLICY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rec = wait_waiting(instance, before)
        time.sleep(1)
        assert p.poll() is None, "the tool did not wait for the approval"
        officer = instance.login("officer")
        r = officer.post(instance.api(f"/signing-requests/{rec['id']}/approve"),
                         json={"comment": "release"}, timeout=30)
        assert r.status_code == 200, r.text
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out + err
    v = run(["openssl", "dgst", "-sha256", "-verify", str(hs["pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0, v.stdout + v.stderr


def test_deny_fails_the_tool(instance, hs):
    data = hs["tmp"] / "deny.txt"
    data.write_bytes(b"not this one\n")
    sig = hs["tmp"] / "deny.sig"
    if sig.exists():
        sig.unlink()
    before = {r["id"] for r in hash_requests(instance)}
    p = subprocess.Popen(
        [tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
         "SHA256-RSA-PKCS", "--input-file", str(data), "--output-file",
         str(sig)], env=module_env(instance, hs, policy=APPROVAL_POLICY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rec = wait_waiting(instance, before)
        officer = instance.login("officer")
        r = officer.post(instance.api(f"/signing-requests/{rec['id']}/deny"),
                         json={"comment": "unreviewed change"}, timeout=30)
        assert r.status_code == 200, r.text
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    # CKR_FUNCTION_REJECTED, which pkcs11-tool 0.23 prints by number
    assert "(0x200)" in err, err
    # one request: pkcs11-tool's second try (C_SignUpdate after a failed
    # C_Sign) is not put before the officer again
    assert len(hash_requests(instance)) == len(before) + 1
    assert "refused a moment ago, not asked again" in module_log(hs)
    # the module says why, in the server's words
    assert (f"request {rec['id']} was denied by officer: unreviewed change"
            in err + module_log(hs)), err
    assert not sig.exists() or sig.stat().st_size == 0


def test_unreachable_appliance_is_a_device_error(instance, hs):
    env = module_env(instance, hs)
    env["SIGNET_URL"] = "https://127.0.0.1:1"
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-slots"],
            env=env, check=False, timeout=300)
    assert "demo-app" not in p.stdout
    assert "no tokens" in p.stderr + module_log(hs)


def test_threads_sign_without_leaks(instance, hs):
    """Four threads, 25 signatures each, in one process under valgrind:
    every signature verifies, one request each (the size query of
    C_Sign submits nothing), no definite leak, no memory error."""
    # valgrind and AddressSanitizer do not mix: the plain build's helper
    helper = MODULE.parents[1] / "tests" / "bench" / "p11_sign"
    assert helper.exists(), f"{helper} is not built"
    before = len(hash_requests(instance))
    p = run([tool("valgrind"), "--leak-check=full",
             "--errors-for-leak-kinds=definite", "--error-exitcode=3",
             str(helper), str(MODULE), "4", "25"],
            env=module_env(instance, hs, policy=HASH_POLICY), check=False,
            timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr[-4000:]
    assert "signatures 100 threads 4" in p.stdout
    assert "definitely lost: 0 bytes in 0 blocks" in p.stderr or \
        "All heap blocks were freed" in p.stderr, p.stderr[-4000:]
    assert "ERROR SUMMARY: 0 errors" in p.stderr
    assert len(hash_requests(instance)) == before + 100


def test_configuration_file(instance, hs):
    """The settings from SIGNET_PKCS11_CONF alone, no SIGNET_* variable;
    a bad file is named in the log and the module does not start."""
    conf = hs["tmp"] / "pkcs11.conf"
    conf.write_text(f"# the appliance\nurl = {instance.url}\n"
                    f"cacert = {instance.ca}\n"
                    f"client_cert = {instance.client_cert}\n"
                    f"client_key = {instance.client_key}\n"
                    f"policy = {APPROVAL_POLICY}\nwait = 60\n")
    env = {k: v for k, v in module_env(instance, hs).items()
           if not k.startswith("SIGNET_") or k == "SIGNET_PKCS11_LOG"}
    env["SIGNET_PKCS11_CONF"] = str(conf)
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-slots"],
            env=env, timeout=120)
    assert f"demo-app/{APPROVAL_POLICY}" in p.stdout, p.stdout
    assert f"demo-app/{HASH_POLICY}" not in p.stdout
    conf.write_text(f"url = {instance.url}\ncolour = blue\n")
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--list-slots"],
            env=env, check=False, timeout=120)
    assert p.returncode != 0
    assert "line 2: unknown key 'colour'" in module_log(hs)


def test_wait_limit_cancels(instance, hs):
    """An approval that does not come within the wait: the request is
    canceled, the tool fails, and its retry asks nobody again."""
    data = hs["tmp"] / "late.txt"
    data.write_bytes(os.urandom(100))
    before = {r["id"] for r in hash_requests(instance)}
    t0 = time.monotonic()
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
             "SHA256-RSA-PKCS", "--input-file", str(data), "--output-file",
             str(hs["tmp"] / "late.sig")],
            env=module_env(instance, hs, policy=APPROVAL_POLICY,
                           SIGNET_PKCS11_WAIT="2"), check=False, timeout=120)
    assert p.returncode != 0
    assert time.monotonic() - t0 < 60
    assert "CKR_FUNCTION_CANCELED" in p.stderr or "(0x50)" in p.stderr, \
        p.stderr
    new = [r for r in hash_requests(instance) if r["id"] not in before]
    assert len(new) == 1, new
    assert new[0]["workflowStatus"] == "Canceled"
    assert "after 2 s (wait); canceled" in module_log(hs)


def test_module_calls_directly(instance, hs):
    """C_Sign's size convention with a buffer too small makes one
    request, not two; any PIN is taken; PSS parameters other than the
    appliance's are refused; the private exponent is sensitive; an
    appliance that went away is CKR_DEVICE_ERROR."""
    script = os.path.join(os.path.dirname(__file__), "p11_ctypes.py")
    p = subprocess.Popen(["/usr/bin/python3", script, str(MODULE)],
                         env=module_env(instance, hs, policy=HASH_POLICY),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    steps = {}

    def read():
        line = p.stdout.readline()
        assert line, p.stderr.read()
        s = json.loads(line)
        steps[s["step"]] = s
        return s

    try:
        for _ in range(4):
            read()
        assert steps["initialize"]["rv"] == 0
        assert steps["login"]["rv"] == 0
        assert steps["sensitive"]["rv"] == 0x11        # CKR_ATTRIBUTE_SENSITIVE
        assert steps["pss-params"]["rv"] == 0x71       # CKR_MECHANISM_PARAM_INVALID
        before = len(hash_requests(instance))
        data = "signed through ctypes"
        p.stdin.write(data + "\n")
        p.stdin.flush()
        s = read()
        assert s["init"] == 0 and s["size_rv"] == 0 and s["size"] == 384
        assert s["small_rv"] == 0x150 and s["small_len"] == 384  # BUFFER_TOO_SMALL
        assert s["rv"] == 0, s
        assert len(hash_requests(instance)) == before + 1
        (hs["tmp"] / "ctypes.txt").write_text(data)
        (hs["tmp"] / "ctypes.sig").write_bytes(bytes.fromhex(s["sig"]))
        v = run(["openssl", "dgst", "-sha256", "-verify", str(hs["pub"]),
                 "-signature", str(hs["tmp"] / "ctypes.sig"),
                 str(hs["tmp"] / "ctypes.txt")], check=False)
        assert v.returncode == 0, v.stdout + v.stderr
        instance.stop()
        try:
            p.stdin.write("after the appliance went away\n")
            p.stdin.flush()
            s = read()
            assert s["rv"] == 0x30, s                   # CKR_DEVICE_ERROR
        finally:
            instance.start()
        assert read()["rv"] == 0
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, p.stderr.read()


def test_origin_rules_judge_hash_requests(instance, hs):
    """The policy's origin rules hold for a hash request as for an
    upload: through the API, and through the module in a GitLab-like job
    whose ID token (SIGNET_ID_TOKEN) vouches for the origin."""
    body = {"hashAlgorithm": "sha256", "digest": "33" * 32,
            "signatureAlgorithm": "rsa-pkcs1"}
    r = post_hash(instance, body, policy=VERIFIED_POLICY, expect=403)
    assert r.json()["error"] == "origin_rule", r.text
    r = post_hash(instance, dict(body, **instance.origin(branch="feature")),
                  policy=VERIFIED_POLICY, expect=403)
    assert r.json()["error"] == "origin_rule", r.text
    rec = post_hash(instance, dict(body, **instance.origin()),
                    policy=VERIFIED_POLICY).json()
    assert rec["origin"]["verification"]["verified"] is True
    assert "idToken" not in rec["origin"]
    assert instance.wait_final(rec["id"])["status"] == "Completed"

    commit = os.urandom(20).hex()
    data = hs["tmp"] / "gitlab.txt"
    data.write_bytes(b"built in a pipeline\n")
    sig = hs["tmp"] / "gitlab.sig"
    job = dict(GITLAB_CI="true",
               CI_PROJECT_URL="https://github.com/signet-dev/demo-app",
               CI_COMMIT_SHA=commit, CI_COMMIT_REF_NAME="main",
               CI_COMMIT_BRANCH="main", CI_PIPELINE_ID="1",
               SIGNET_ID_TOKEN=instance.id_token(sha=commit, run_id="1"))
    run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
         "SHA256-RSA-PKCS", "--input-file", str(data), "--output-file",
         str(sig)], env=module_env(instance, hs, policy=VERIFIED_POLICY,
                                   **job), timeout=120)
    v = run(["openssl", "dgst", "-sha256", "-verify", str(hs["pub"]),
             "-signature", str(sig), str(data)], check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    rec = hash_requests(instance)[0]
    assert rec["origin"]["commitId"] == commit
    assert rec["origin"]["verification"]["verified"] is True
    # the same job without its token is refused by the rule
    job.pop("SIGNET_ID_TOKEN")
    p = run([tool("pkcs11-tool"), "--module", str(MODULE), "--sign", "-m",
             "SHA256-RSA-PKCS", "--input-file", str(data), "--output-file",
             str(sig)], env=module_env(instance, hs, policy=VERIFIED_POLICY,
                                       **job), check=False, timeout=120)
    assert p.returncode != 0 and "(0x200)" in p.stderr, p.stderr
    assert "requireVerifiedOrigin" in module_log(hs)


def test_audit_reconcile_accounts_for_hash_signatures(instance, hs):
    """Every hash signature is in the keyholder's journal under its
    request, and `signet audit reconcile` finds each one accounted for."""
    p = run([str(BUILD / "signet"), "-c", str(instance.conf), "audit",
             "reconcile"], check=False, timeout=120)
    findings = [l for l in p.stdout.splitlines() if l.startswith("finding: ")]
    assert p.returncode == 0 and findings == [], p.stdout + p.stderr
    assert "every signature is accounted for" in p.stdout
    journal = (instance.state / "keyholder" / "journal" /
               "journal.jsonl").read_text()
    done = [r for r in hash_requests(instance) if r["status"] == "Completed"]
    assert len(done) > 100
    for r in done[:20]:
        assert r["id"] in journal


def test_console_marks_hash_requests(instance, hs):
    """The officer's console lists and shows a hash request as one:
    "hash signing: the appliance has not seen the file", with its
    digest, and the officer approves it there."""
    from test_console import CONSOLE, Tmux

    tool("tmux")
    digest = hashlib.sha256(b"judged on the console").hexdigest()
    rec = post_hash(instance, {"hashAlgorithm": "sha256", "digest": digest,
                               "signatureAlgorithm": "rsa-pkcs1",
                               "fileName": "big.iso", "tool": "jarsigner"},
                    policy=APPROVAL_POLICY).json()
    tm = Tmux("hash", f"{CONSOLE} --socket {instance.state / 'console.sock'}"
              " --idle 300")
    try:
        tm.wait("User:", "Password:")
        tm.type("officer")
        tm.keys("Enter")
        tm.type(instance.password("officer"))
        tm.keys("Enter")
        tm.wait("hash: big.iso")
        tm.keys("Enter")
        scr = tm.wait(rec["id"], "Hash signing: the appliance has not seen")
        assert "big.iso (stated), tool jarsigner" in scr, scr
        assert f"Digest       {digest}" in scr, scr
        tm.keys("a")
        scr = tm.wait("Comment (optional):", "APPROVE request " + rec["id"])
        assert "hash signing: the appliance has not seen the file" in scr
        tm.keys("Enter")
        tm.wait("Really approve this request? (y/n)")
        tm.keys("y")
        done = instance.wait_final(rec["id"])
        assert done["status"] == "Completed", done
        assert done["approvals"][0]["hashDigest"] == digest
    finally:
        tm.kill()
