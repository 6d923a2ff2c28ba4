"""Administration without editing files: projects, policies, CI identities,
keys in the token, CSRs, imported chains, purposes, expiry, export/apply,
backup and restore, all through the `signet` CLI."""

import base64
import json
import os
import subprocess
import threading
import time

import pytest
import requests

from conftest import BUILD, P11KIT, cms_verify, run, sha256

SIGNET = str(BUILD / "signet")


def admin_token(instance):
    pw = (instance.dir / "passwords" / "admin").read_text().strip()
    r = instance.session(cert=False).post(
        instance.api("/sessions"), json={"username": "admin", "password": pw})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def cli(instance, token, *args, check=True, stdin=None):
    env = dict(os.environ, SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_TOKEN=token)
    p = subprocess.run([SIGNET, "admin", *args], env=env, capture_output=True,
                       text=True, input=stdin, timeout=120)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def make_ca(tmp_path, name):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
         str(crt), "-days", "30", "-subj", f"/O=Test Corp/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return key, crt


def sign_csr(tmp_path, csr, ca_key, ca_crt, out, eku="codeSigning,emailProtection"):
    ext = tmp_path / (out.name + ".ext")
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   f"extendedKeyUsage={eku}\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt),
         "-CAkey", str(ca_key), "-CAcreateserial", "-days", "20",
         "-extfile", str(ext), "-out", str(out)])


@pytest.fixture(scope="module")
def tok(instance):
    return admin_token(instance)


def test_only_administrators(instance, tok):
    pw = (instance.dir / "passwords" / "dev").read_text().strip()
    r = instance.session(cert=False).post(
        instance.api("/sessions"), json={"username": "dev", "password": pw})
    p = cli(instance, r.json()["token"], "users", "list", check=False)
    assert p.returncode == 3 and "administrator" in p.stderr
    # a CI identity is no administrator either
    r = instance.session().get(instance.api("/admin/users"))
    assert r.status_code == 403


def test_help_and_usage(instance, tok):
    p = cli(instance, tok, "--help")
    assert p.returncode == 0 and "policies create" in p.stdout
    p = cli(instance, tok, "keys", "generate", "--help")
    assert p.returncode == 0 and "--label" in p.stdout
    p = cli(instance, tok, "keys", "generate", check=False)
    assert p.returncode == 2


def test_cli_only_setup_and_signing(instance, tok, tmp_path):
    # a CI identity with its own client certificate
    ck, cc = tmp_path / "cli-ci.key", tmp_path / "cli-ci.pem"
    csr = tmp_path / "cli-ci.csr"
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ck), "-out",
         str(csr), "-subj", "/O=Signet Dev/CN=cli-ci"])
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
         str(instance.pki / "client-ca.pem"), "-CAkey",
         str(instance.pki / "client-ca.key"), "-CAcreateserial", "-days", "2",
         "-out", str(cc)])
    cli(instance, tok, "projects", "create", "--slug", "cli-app", "--name",
        "CLI App", "--repository-url", "https://git.example.com/cli-app")
    p = cli(instance, tok, "identities", "create", "--name", "cli-ci",
            "--certificate-file", str(cc))
    assert "created identity cli-ci" in p.stdout
    # a key in the token, a CSR, a CA's certificate, imported
    p = cli(instance, tok, "--json", "keys", "generate", "--label",
            "cli-release", "--type", "rsa3072")
    key_id = json.loads(p.stdout)["id"]
    req = tmp_path / "cli-release.csr"
    cli(instance, tok, "keys", "csr", "cli-release", "--subject",
        "CN=CLI Release,O=Test Corp", "--extension",
        "extendedKeyUsage=codeSigning", "--out", str(req))
    v = run(["openssl", "req", "-in", str(req), "-noout", "-verify", "-text"])
    assert "Code Signing" in v.stdout
    ca_key, ca_crt = make_ca(tmp_path, "Test Corp CA")
    leaf = tmp_path / "cli-release.pem"
    sign_csr(tmp_path, req, ca_key, ca_crt, leaf)
    chain = tmp_path / "chain.pem"
    chain.write_text(ca_crt.read_text() + leaf.read_text())  # any order
    p = cli(instance, tok, "certificates", "import", "--name", "cli-release",
            "--purpose", "release", str(chain))
    assert "created certificate cli-release" in p.stdout
    p = cli(instance, tok, "--json", "certificates", "show", "cli-release")
    shown = json.loads(p.stdout)
    assert shown["key"] == key_id and shown["purpose"] == "release"
    # a policy that uses it
    cli(instance, tok, "policies", "create", "cli-app", "--slug", "release",
        "--name", "Release", "--certificate", "cli-release", "--purpose",
        "release", "--submitter", "cli-ci", "--approvals", "0")
    p = cli(instance, tok, "policies", "list", "cli-app")
    assert "release" in p.stdout and "cli-ci" in p.stdout
    # the CI identity signs an artifact that verifies
    s = instance.session(cert=False)
    s.cert = (str(cc), str(ck))
    art = os.urandom(4096)
    r = instance.submit(art, project="cli-app", policy="release", session=s,
                        fields={"origin.repositoryUrl":
                                "https://git.example.com/cli-app"})
    rid = r.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        req_ = s.get(instance.api(f"/signing-requests/{rid}")).json()
        if req_["isFinalStatus"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert req_["status"] == "Completed", req_
    sig = s.get(instance.api(f"/signing-requests/{rid}/signed-artifact")).content
    (tmp_path / "a.bin").write_bytes(art)
    (tmp_path / "a.p7s").write_bytes(sig)
    assert cms_verify(tmp_path / "a.p7s", tmp_path / "a.bin", ca_crt).returncode == 0
    # DER and PKCS#7 forms import too
    der = tmp_path / "leaf.der"
    run(["openssl", "x509", "-in", str(leaf), "-outform", "DER", "-out", str(der)])
    p = cli(instance, tok, "certificates", "import", "--name", "cli-release-der",
            "--purpose", "release", str(der))
    assert p.returncode == 0
    p7 = tmp_path / "chain.p7b"
    run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", str(chain), "-outform",
         "DER", "-out", str(p7)])
    p = cli(instance, tok, "certificates", "import", "--name", "cli-release-p7",
            "--purpose", "release", str(p7))
    assert p.returncode == 0
    # still referenced: refused, saying by what
    p = cli(instance, tok, "certificates", "delete", "cli-release", check=False)
    assert p.returncode == 3 and "cli-app/release" in p.stderr
    p = cli(instance, tok, "identities", "delete", "cli-ci", check=False)
    assert p.returncode == 3 and "cli-app/release" in p.stderr
    p = cli(instance, tok, "projects", "delete", "cli-app", check=False)
    assert p.returncode == 3 and "release" in p.stderr


def test_wrong_purpose_refused(instance, tok):
    p = cli(instance, tok, "policies", "create", "demo-app", "--slug", "bad",
            "--name", "Bad", "--certificate", "release-signing", "--purpose",
            "test", check=False)
    assert p.returncode == 3
    assert "release certificate" in p.stderr
    p = cli(instance, tok, "policies", "update", "demo-app", "test-signing",
            "--certificate", "release-signing", check=False)
    assert p.returncode == 3


def test_foreign_chain_refused(instance, tok, tmp_path):
    ca_key, ca_crt = make_ca(tmp_path, "Foreign CA")
    fk, fc = tmp_path / "f.key", tmp_path / "f.csr"
    run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(fk), "-out", str(fc), "-subj", "/CN=not a token key"])
    leaf = tmp_path / "f.pem"
    sign_csr(tmp_path, fc, ca_key, ca_crt, leaf)
    p = cli(instance, tok, "certificates", "import", "--name", "foreign",
            "--purpose", "release", str(leaf), check=False)
    assert p.returncode == 3 and "token" in p.stderr
    p = cli(instance, tok, "certificates", "list")
    assert "foreign" not in p.stdout


def test_self_signed_and_expiry(instance, tok):
    cli(instance, tok, "keys", "generate", "--label", "short", "--type", "p256")
    cli(instance, tok, "keys", "self-signed", "short", "--name", "short-lived",
        "--subject", "CN=Short lived test", "--days", "10")
    p = cli(instance, tok, "--json", "certificates", "list")
    c = [x for x in json.loads(p.stdout)["items"] if x["name"] == "short-lived"][0]
    assert c["purpose"] == "test" and c["expiringSoon"] is True
    assert 8 <= c["daysLeft"] <= 10
    h = requests.get(instance.api("/health"), verify=instance.ca).json()
    assert "short-lived" in [x["name"] for x in h["expiringCertificates"]]
    p = cli(instance, tok, "token")
    assert "present   yes" in p.stdout and "short" in p.stdout
    t = json.loads(cli(instance, tok, "--json", "token").stdout)
    if P11KIT:
        # p11-kit's server exports the one token its URI names
        assert t["slots"] == 1 and t["freeSlots"] == 0, t
    else:
        # SoftHSM keeps one uninitialised slot beside each token
        assert t["slots"] >= 2 and t["freeSlots"] >= 1, t
        assert t["freeSlots"] < t["slots"]
    assert h["token"]["slots"] == t["slots"]


def test_users_and_webhooks(instance, tok, tmp_path):
    cli(instance, tok, "users", "create", "--name", "carol", "--email",
        "carol@example.test", "--role", "auditor")
    p = cli(instance, tok, "users", "password", "carol",
            stdin="carol-password-123\n")
    assert p.returncode == 0
    r = instance.session(cert=False).post(
        instance.api("/sessions"),
        json={"username": "carol", "password": "carol-password-123"})
    assert r.status_code == 201
    p = cli(instance, tok, "users", "create", "--name", "x", "--role", "king",
            check=False)
    assert p.returncode == 3 and "role" in p.stderr
    sec = tmp_path / "hook.secret"
    sec.write_text("a-webhook-secret-of-some-length\n")
    cli(instance, tok, "projects", "create", "--slug", "hooked", "--name",
        "Hooked", "--webhook", "https://hooks.example.test/x",
        "--webhook-secret-file", str(sec))
    p = cli(instance, tok, "--json", "projects", "show", "hooked")
    assert "a-webhook-secret" not in p.stdout
    assert json.loads(p.stdout)["webhooks"] == [{"url": "https://hooks.example.test/x"}]
    p = cli(instance, tok, "export")
    assert "a-webhook-secret" not in p.stdout
    assert "passwordHash" not in p.stdout
    cli(instance, tok, "users", "delete", "carol")


def rsa_jwk(tmp_path, name):
    """An RSA key made by openssl; its public half as a JWK (RFC 7518 6.3)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    key, pub = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
         "rsa_keygen_bits:2048", "-out", str(key)])
    run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)])
    nums = load_pem_public_key(pub.read_bytes()).public_numbers()

    def b64u(i):
        raw = i.to_bytes((i.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": name, "alg": "RS256", "use": "sig",
            "n": b64u(nums.n), "e": b64u(nums.e)}


def test_build_systems(instance, tok, tmp_path):
    # a new CI identity for the build system to be
    cli(instance, tok, "identities", "create", "--name", "bs-runner",
        "--subject", "CN=bs-runner,O=Test Corp", "--issuer",
        "CN=Test Client CA,O=Test Corp")
    jwk = rsa_jwk(tmp_path, "bs-key-1")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    p = cli(instance, tok, "build-systems", "create", "--name", "bs-cli",
            "--identity", "bs-runner", "--issuer", "https://oidc.cli.example.test",
            "--audience", "signet", "--jwks-file", str(jwks),
            "--claim", "commitId=git_sha", "--claim", "branchName=ref",
            "--repository-url-prefix", "https://git.example.test/")
    assert "created build-system bs-cli" in p.stdout, p.stdout
    p = cli(instance, tok, "build-systems", "list")
    row = next(line for line in p.stdout.splitlines() if line.startswith("bs-cli "))
    assert "bs-runner" in row and "generic" in row and "https://oidc.cli.example.test" in row
    names = {b["name"] for b in json.loads(
        cli(instance, tok, "--json", "build-systems", "list").stdout)["items"]}
    assert {"bs-cli", "dev-ci"} <= names
    shown = json.loads(cli(instance, tok, "--json", "build-systems", "show", "bs-cli").stdout)
    assert shown["identities"] == ["bs-runner"] and shown["preset"] == "generic"
    assert shown["audience"] == "signet"
    assert shown["claims"] == {"commitId": "git_sha", "branchName": "ref"}
    assert shown["jwks"] == {"keys": [jwk]}
    assert shown["repositoryUrlPrefix"] == "https://git.example.test/"
    # the export carries it as the apply document has it
    doc = json.loads(cli(instance, tok, "export").stdout)
    assert shown in doc["buildSystems"]

    # update: what is not named stays; a single JWK becomes a set of one
    jwk2 = rsa_jwk(tmp_path, "bs-key-2")
    one = tmp_path / "one.jwk"
    one.write_text(json.dumps(jwk2))
    p = cli(instance, tok, "build-systems", "update", "bs-cli", "--audience",
            "signet-2", "--jwks-file", str(one), "--repository-url-prefix", "")
    assert "updated build-system bs-cli" in p.stdout
    shown = json.loads(cli(instance, tok, "--json", "build-systems", "show", "bs-cli").stdout)
    assert shown["audience"] == "signet-2" and shown["jwks"] == {"keys": [jwk2]}
    assert shown["claims"] == {"commitId": "git_sha", "branchName": "ref"}
    assert "repositoryUrlPrefix" not in shown
    # switching to a preset drops the generic mapping; --no-issuer leaves
    # the client certificate alone to vouch
    cli(instance, tok, "build-systems", "update", "bs-cli", "--preset", "github")
    shown = json.loads(cli(instance, tok, "--json", "build-systems", "show", "bs-cli").stdout)
    assert shown["preset"] == "github" and "claims" not in shown
    cli(instance, tok, "build-systems", "update", "bs-cli", "--no-issuer")
    shown = json.loads(cli(instance, tok, "--json", "build-systems", "show", "bs-cli").stdout)
    assert shown == {"name": "bs-cli", "identities": ["bs-runner"], "preset": "github"}

    # refusals: the server's message, exit 3; local mistakes, exit 2
    priv = tmp_path / "private.jwk"
    priv.write_text(json.dumps(dict(jwk, d="AQAB")))
    p = cli(instance, tok, "build-systems", "update", "bs-cli", "--issuer",
            "https://oidc.cli.example.test", "--audience", "signet",
            "--jwks-file", str(priv), check=False)
    assert p.returncode == 3 and "private" in p.stderr.lower(), p.stderr
    p = cli(instance, tok, "build-systems", "create", "--name", "bs-other",
            "--identity", "bs-runner", check=False)
    assert p.returncode == 3 and "already belongs to build system" in p.stderr
    p = cli(instance, tok, "build-systems", "create", "--name", "bs-other",
            "--identity", "ci-runner", "--issuer", "https://oidc.cli.example.test",
            "--audience", "signet", "--jwks-file", str(jwks), "--claim", "commitId",
            check=False)
    assert p.returncode == 2 and "FIELD=CLAIM" in p.stderr
    p = cli(instance, tok, "build-systems", "create", "--name", "bs-other", check=False)
    assert p.returncode == 2 and "--identity" in p.stderr
    p = cli(instance, tok, "build-systems", "create", "--help")
    assert p.returncode == 0 and "--jwks-file" in p.stdout

    # an identity a build system names cannot go; the build system can
    p = cli(instance, tok, "identities", "delete", "bs-runner", check=False)
    assert p.returncode == 3 and "build system bs-cli" in p.stderr, p.stderr
    cli(instance, tok, "build-systems", "delete", "bs-cli")
    p = cli(instance, tok, "build-systems", "show", "bs-cli", check=False)
    assert p.returncode == 3 and "no build-system" in p.stderr
    names = {b["name"] for b in json.loads(
        cli(instance, tok, "--json", "build-systems", "list").stdout)["items"]}
    assert "bs-cli" not in names
    cli(instance, tok, "identities", "delete", "bs-runner")


def test_documents_over_the_api_name_no_files(instance, tok, tmp_path):
    """A document sent to the appliance carries its contents inline: a
    file name in it would let an administrator's request read any file
    signetd can (here, the token PIN)."""
    doc = tmp_path / "files.json"
    for bad in (
        {"projects": [{"slug": "leak", "name": "Leak", "webhooks": [
            {"url": "https://hooks.example.test/x",
             "secretFile": str(instance.dir / "token.pin")}]}]},
        {"certificates": [{"name": "c", "key": "test-signing",
                           "purpose": "test",
                           "chainFile": str(instance.pki / "test-signing.pem")}]},
    ):
        doc.write_text(json.dumps(bad))
        p = cli(instance, tok, "apply", str(doc), check=False)
        assert p.returncode == 3 and "inline" in p.stderr, p.stderr
    p = cli(instance, tok, "projects", "show", "leak", check=False)
    assert p.returncode == 3


def test_export_wipe_apply(instance, tok, tmp_path):
    cli(instance, tok, "projects", "delete", "hooked", check=False)
    before = json.loads(cli(instance, tok, "export").stdout)
    doc = tmp_path / "appliance.json"
    doc.write_text(json.dumps(before))
    # apply of its own export changes nothing
    p = cli(instance, tok, "apply", str(doc))
    assert p.stdout.strip() == "0 changes", p.stdout
    p = cli(instance, tok, "apply", "--dry-run", str(doc))
    assert p.stdout.startswith("0 changes (dry run"), p.stdout
    # wipe the database; the keys stay in the token
    instance.stop()
    run(["rm", "-rf", str(instance.state / "db")])
    p = instance.signet("apply", str(doc))
    assert "created policy demo-app/release-signing" in p.stdout
    pw = (instance.dir / "passwords" / "admin").read_text().strip()
    subprocess.run([SIGNET, "-c", str(instance.conf), "user", "password",
                    "admin"], input=pw + "\n", text=True, check=True,
                   capture_output=True)
    instance.start()
    tok2 = admin_token(instance)
    after = json.loads(cli(instance, tok2, "export").stdout)
    assert after == before


def test_backup_while_submitting_and_restore(instance, tmp_path):
    acked, stop = [], threading.Event()

    def submitter():
        s = instance.session()
        while not stop.is_set():
            r = s.post(instance.api("/signing-requests"),
                       data={"projectSlug": "demo-app",
                             "signingPolicySlug": "test-signing"},
                       files={"artifact": ("b.bin", os.urandom(2048))})
            if r.status_code == 201:
                acked.append((time.monotonic(), r.json()["id"]))

    t = threading.Thread(target=submitter)
    t.start()
    time.sleep(1.0)
    started = time.monotonic()
    backup = tmp_path / "backup"
    p = instance.signet("admin", "backup", str(backup))
    assert "backup in" in p.stdout
    time.sleep(0.5)
    stop.set()
    t.join()
    before_backup = [rid for (at, rid) in acked if at < started]
    assert len(before_backup) >= 3
    # the appliance is still serving; restoring needs it stopped
    p = instance.signet("admin", "restore", str(backup), check=False)
    assert p.returncode != 0 and "stop" in p.stderr
    instance.stop()
    p = instance.signet("admin", "restore", str(backup))
    assert "restored" in p.stdout
    instance.start()
    s = instance.session()
    for rid in before_backup:
        r = s.get(instance.api(f"/signing-requests/{rid}"))
        assert r.status_code == 200, rid
        body = r.json()
        u = s.get(instance.api(f"/signing-requests/{rid}/unsigned-artifact"))
        assert u.status_code == 200 and sha256(u.content) == body["unsignedArtifact"]["sha256"]
    # every restored request reaches a final state and signed ones verify
    for rid in before_backup[-3:]:
        assert instance.wait_final(rid)["status"] == "Completed"


def test_identity_cannot_take_a_persons_name(instance, tok, tmp_path):
    """An identity named like the user officer would approve as the
    officer with its certificate: refused (409), and so is the other way
    round, a user named like the CI identity ci-runner."""
    tok = admin_token(instance)  # the restore above ended older sessions
    ck, cc = tmp_path / "fake.key", tmp_path / "fake.pem"
    csr = tmp_path / "fake.csr"
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ck), "-out",
         str(csr), "-subj", "/O=Signet Dev/CN=officer"])
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
         str(instance.pki / "client-ca.pem"), "-CAkey",
         str(instance.pki / "client-ca.key"), "-CAcreateserial", "-days", "2",
         "-out", str(cc)])
    p = cli(instance, tok, "identities", "create", "--name", "officer",
            "--certificate-file", str(cc), check=False)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "a user already has that name" in p.stderr
    s = instance.session(cert=False)
    s.headers["Authorization"] = "Bearer " + tok
    for path, body, what in [
            ("/admin/identities", {"name": "officer", "type": "client-certificate",
                                   "sha256Fingerprint": "cd" * 32}, "a user"),
            ("/admin/identities/officer", {"type": "client-certificate",
                                           "sha256Fingerprint": "cd" * 32},
             "a user"),
            ("/admin/users", {"name": "ci-runner", "roles": ["security-officer"]},
             "a CI identity"),
            ("/admin/users/ci-runner", {"roles": []}, "a CI identity")]:
        r = (s.put if path.count("/") == 3 else s.post)(instance.api(path),
                                                        json=body)
        assert r.status_code == 409, (path, r.status_code, r.text)
        assert r.json()["error"] == "exists"
        assert f"{what} already has that name" in r.json()["message"], r.text
    # nothing of it was written: officer is still only a user
    assert s.get(instance.api("/admin/identities/officer")).status_code == 404
    assert s.get(instance.api("/admin/users/ci-runner")).status_code == 404
    # the certificate is no identity: it is refused, and approves nothing
    c = instance.session(cert=False)
    c.cert = (str(cc), str(ck))
    assert c.get(instance.api("/signing-requests")).status_code == 403
