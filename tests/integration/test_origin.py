"""Origin verification (docs/origin.md) against a real signetd: trusted
build systems through the admin API, ID tokens from the dev issuer
(scripts/dev-id-token.py) and from a second issuer made here, the origin
rules of release-signing (verified origin, main or v* tags) and of a
project's repositories, the evidence in GET, and resubmit judged on the
evidence recorded at submission."""

import base64
import hashlib
import json
import os
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import dev_id_token, run


def password(instance, user):
    return instance.password(user)


def login(instance, user):
    return instance.login(user)


def refused(r, *words):
    assert r.status_code == 403, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "origin_rule", body
    for w in words:
        assert w in body["message"], (w, body["message"])
    return body["message"]


def resubmit(instance, rid, policy, session=None):
    s = session or instance.session()
    return s.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                  json={"signingPolicySlug": policy}, timeout=30)


@pytest.fixture(scope="module")
def admin(instance):
    return login(instance, "admin")


@pytest.fixture(scope="module")
def other(instance, admin, tmp_path_factory):
    """A second CI identity (client certificate from the dev client CA) in
    a second build system with an issuer of its own, and a policy both
    identities submit to that requires verified origin."""
    d = tmp_path_factory.mktemp("other")
    key, crt, csr = d / "ci-other.key", d / "ci-other.pem", d / "ci-other.csr"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", str(key)])
    run(["openssl", "req", "-new", "-key", str(key), "-subj",
         "/O=Signet Dev/CN=ci-other", "-out", str(csr)])
    ext = d / "ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n")
    run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
         str(instance.pki / "client-ca.pem"), "-CAkey",
         str(instance.pki / "client-ca.key"), "-set_serial", "0x" + os.urandom(8).hex(),
         "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(crt)])
    fp = run(["openssl", "x509", "-in", str(crt), "-noout", "-fingerprint",
              "-sha256"]).stdout.strip().split("=", 1)[1]
    r = admin.post(instance.api("/admin/identities"),
                   json={"name": "ci-other", "type": "client-certificate",
                         "sha256Fingerprint": fp}, timeout=30)
    assert r.status_code == 201, r.text
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = dev_id_token.public_jwk(issuer_key)
    kid = dev_id_token.thumbprint(jwk)
    bs = {"name": "other-ci", "identities": ["ci-other"], "preset": "github",
          "issuer": "https://oidc.other.signet.invalid", "audience": "signet",
          "jwks": {"keys": [dict(jwk, kid=kid)]}}
    r = admin.post(instance.api("/admin/build-systems"), json=bs, timeout=30)
    assert r.status_code == 201, r.text
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json={"slug": "strict-test", "name": "Strict test",
                         "certificate": "test-signing", "purpose": "test",
                         "submitters": ["ci-runner", "ci-other"],
                         "requireVerifiedOrigin": True}, timeout=30)
    assert r.status_code == 201, r.text
    s = instance.session(cert=False)
    s.cert = (str(crt), str(key))

    def token(sha, ref="refs/heads/main", repository="signet-dev/demo-app"):
        now = int(time.time())
        return dev_id_token.mint(issuer_key, {
            "iss": bs["issuer"], "aud": "signet", "iat": now, "nbf": now,
            "exp": now + 300, "repository": repository, "ref": ref,
            "sha": sha, "run_id": "1"}, kid)

    return {"session": s, "token": token, "bs": bs}


def test_verified_origin_is_shown_with_evidence(instance):
    fields = instance.origin(branch="main", run_id="31")
    token = fields["origin.idToken"]
    r = instance.submit(b"verified build\n", fields=fields)
    req = instance.get_request(r.json()["id"])
    origin = req["origin"]
    assert "idToken" not in origin and "originVerification" not in req
    ev = origin["verification"]
    assert ev["verified"] is True, ev
    assert ev["buildSystem"] == "dev-ci"
    assert ev["issuer"] == dev_id_token.DEV_ISSUER
    assert ev["method"] == "client-certificate+id-token"
    assert ev["algorithm"] == "RS256" and ev["keyId"]
    assert ev["claims"]["sha"] == fields["origin.commitId"]
    assert ev["claims"]["ref"] == "refs/heads/main"
    assert ev["claims"]["run_id"] == "31"
    assert ev["claims"]["workflow_ref"].endswith("@refs/heads/main")
    assert ev["verifiedAt"].endswith("Z")
    assert "reason" not in ev
    # the credential is nowhere: not in the response, the log, the database
    assert token not in r.text and token not in json.dumps(req)
    assert token not in instance.log_text()
    sig = token.rsplit(".", 1)[1].encode()
    assert sig not in (instance.state / "db" / "data.mdb").read_bytes()
    # the listing shows the same
    items = instance.list_all(projectSlug="demo-app")
    mine = next(i for i in items if i["id"] == req["id"])
    assert mine["origin"]["verification"]["verified"] is True


def test_fields_left_out_are_taken_from_the_token(instance):
    commit = os.urandom(20).hex()
    tok = instance.id_token(sha=commit, run_id="77")
    r = instance.submit(b"sparse origin\n", policy="release-signing",
                        fields={"origin.idToken": tok})
    req = r.json()
    assert req["origin"]["commitId"] == commit
    assert req["origin"]["branchName"] == "main"
    assert req["origin"]["buildId"] == "77"
    assert req["origin"]["repositoryUrl"] == "https://github.com/signet-dev/demo-app"
    assert req["origin"]["verification"]["verified"] is True


def test_release_signing_rules(instance):
    # verified, from main or a v* tag: accepted
    for branch in ("main", "refs/heads/main", "refs/tags/v1.2.0"):
        r = instance.submit(b"release " + branch.encode(), policy="release-signing",
                            fields=instance.origin(branch=branch))
        assert r.json()["status"] == "WaitingForApproval"
    # another branch: refused at once, before the artifact is stored
    data = os.urandom(2048)
    r = instance.submit(data, policy="release-signing", expect=None,
                        fields=instance.origin(branch="feature/x"))
    msg = refused(r, "allowedBranches", "main, refs/tags/v*", "'feature/x'")
    assert "release-signing" in msg
    digest = hashlib.sha256(data).hexdigest()
    assert digest not in instance.stored_artifacts()
    assert instance.tmp_entries() == []
    # a tag that is not v*, and a branch named like a tag
    refused(instance.submit(b"t", policy="release-signing", expect=None,
                            fields=instance.origin(branch="refs/tags/nightly")),
            "allowedBranches")
    # no ID token: not verified
    r = instance.submit(b"u", policy="release-signing", expect=None,
                        fields=instance.origin(token=False))
    refused(r, "requireVerifiedOrigin", "origin.idToken")
    # nothing at all
    refused(instance.submit(b"n", policy="release-signing", expect=None),
            "requireVerifiedOrigin")


def test_tokens_that_do_not_verify(instance):
    def attempt(fields, *words):
        r = instance.submit(os.urandom(64), policy="release-signing",
                            fields=fields, expect=None)
        return refused(r, "requireVerifiedOrigin", *words)

    # claims that do not match: another commit
    f = instance.origin()
    f["origin.commitId"] = os.urandom(20).hex()
    attempt(f, "commitId", "sha")
    # expired, not yet valid
    attempt(instance.origin(lifetime=-120, issued_ago=600), "expired")
    attempt(instance.origin(issued_ago=-600), "not valid yet")
    # another audience, another issuer
    attempt(instance.origin(aud="sigstore"), "audience")
    attempt(instance.origin(iss="https://token.actions.githubusercontent.com"),
            "issuer")
    # a kid the JWKS does not have
    attempt(instance.origin(kid="rotated-away"), "not in build system")
    # HS256 keyed with the dev issuer's public key (its JWKS bytes)
    key = dev_id_token.load_key(instance.pki / "oidc-issuer.key")
    jwk = dev_id_token.public_jwk(key)
    f = instance.origin(token=False)
    now = int(time.time())
    claims = {"iss": dev_id_token.DEV_ISSUER, "aud": "signet", "iat": now,
              "nbf": now, "exp": now + 300, "repository": "signet-dev/demo-app",
              "ref": "refs/heads/main", "sha": f["origin.commitId"], "run_id": "1"}
    head = {"alg": "HS256", "typ": "JWT", "kid": dev_id_token.thumbprint(jwk)}
    b = dev_id_token.b64url
    si = (b(json.dumps(head).encode()) + "." + b(json.dumps(claims).encode()))
    import hmac
    for secret in (json.dumps(jwk).encode(),
                   key.public_key().public_bytes(
                       serialization.Encoding.PEM,
                       serialization.PublicFormat.SubjectPublicKeyInfo)):
        mac = hmac.new(secret, si.encode(), "sha256").digest()
        f["origin.idToken"] = si + "." + b(mac)
        attempt(dict(f), "HS256")
    # alg none
    head = {"alg": "none", "kid": dev_id_token.thumbprint(jwk)}
    f["origin.idToken"] = (b(json.dumps(head).encode()) + "." +
                           b(json.dumps(claims).encode()) + ".")
    attempt(dict(f), "not a signed JWT")
    # garbage
    f["origin.idToken"] = "a" * 100
    attempt(dict(f), "not a signed JWT")


def test_token_of_another_build_system(instance, other):
    sha = os.urandom(20).hex()
    base = instance.origin(commit=sha, token=False)
    # ci-runner (dev-ci) with a token of other-ci's issuer
    f = dict(base, **{"origin.idToken": other["token"](sha)})
    r = instance.submit(b"mixed 1", policy="strict-test", fields=f, expect=None)
    refused(r, "requireVerifiedOrigin")
    assert "dev-ci" in r.json()["message"] or "not in build system" in r.json()["message"]
    # ci-other (other-ci) with a token of dev-ci's issuer
    f = dict(base, **{"origin.idToken": instance.id_token(sha=sha)})
    r = instance.submit(b"mixed 2", policy="strict-test", fields=f, expect=None,
                        session=other["session"])
    refused(r, "requireVerifiedOrigin")
    # each with its own: verified, and the evidence names the build system
    r = instance.submit(b"own 1", policy="strict-test",
                        fields=instance.origin(commit=sha))
    assert r.json()["origin"]["verification"]["buildSystem"] == "dev-ci"
    f = dict(base, **{"origin.idToken": other["token"](sha)})
    r = instance.submit(b"own 2", policy="strict-test", fields=f,
                        session=other["session"])
    ev = r.json()["origin"]["verification"]
    assert ev["verified"] is True and ev["buildSystem"] == "other-ci"
    # a person is never a build system, whatever token they hold
    dev = login(instance, "dev")
    r = instance.submit(b"by a person", fields=instance.origin(), session=dev)
    ev = r.json()["origin"]["verification"]
    assert ev["verified"] is False and "user 'dev'" in ev["reason"]


def test_build_systems_admin_api(instance, admin, other):
    r = admin.get(instance.api("/admin/build-systems"), timeout=30)
    names = {b["name"] for b in r.json()["items"]}
    assert {"dev-ci", "other-ci"} <= names
    r = admin.get(instance.api("/admin/build-systems/other-ci"), timeout=30)
    assert r.status_code == 200 and r.json()["issuer"] == other["bs"]["issuer"]
    # only administrators
    assert instance.session().get(instance.api("/admin/build-systems")).status_code == 403
    # refusals name what is wrong
    bad = dict(other["bs"], name="bad")
    r = admin.post(instance.api("/admin/build-systems"), json=bad, timeout=30)
    assert r.status_code == 400 and "already belongs to build system" in r.json()["message"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = dict(dev_id_token.public_jwk(key), kid="k1",
                d=base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("="))
    bad = dict(other["bs"], jwks={"keys": [priv]})
    r = admin.put(instance.api("/admin/build-systems/other-ci"), json=bad, timeout=30)
    assert r.status_code == 400 and "private" in r.json()["message"], r.text
    bad = {"name": "bad", "identities": ["nobody"]}
    r = admin.post(instance.api("/admin/build-systems"), json=bad, timeout=30)
    assert r.status_code == 400 and "not a CI identity" in r.json()["message"]
    bad = {"name": "bad", "identities": ["ci-other"], "issuer": "https://x.signet.invalid",
           "audience": "signet", "jwks": {"keys": [dict(dev_id_token.public_jwk(key), kid="k")]}}
    r = admin.post(instance.api("/admin/build-systems"), json=bad, timeout=30)
    assert r.status_code == 400  # generic preset needs claims; ci-other is taken
    r = admin.post(instance.api("/admin/build-systems"), json=other["bs"], timeout=30)
    assert r.status_code == 409
    # an identity a build system names cannot go (once no policy names it)
    r = admin.put(instance.api("/admin/projects/demo-app/signing-policies/strict-test"),
                  json={"slug": "strict-test", "name": "Strict test",
                        "certificate": "test-signing", "purpose": "test",
                        "submitters": ["ci-runner"],
                        "requireVerifiedOrigin": True}, timeout=30)
    assert r.status_code == 200, r.text
    r = admin.delete(instance.api("/admin/identities/ci-other"), timeout=30)
    assert r.status_code == 409 and "other-ci" in r.json()["message"], r.text
    # the export carries build systems, and applying it changes nothing
    doc = admin.get(instance.api("/admin/export"), timeout=30).json()
    assert {b["name"] for b in doc["buildSystems"]} >= {"dev-ci", "other-ci"}
    pol = next(p for p in doc["projects"][0]["signingPolicies"]
               if p["slug"] == "release-signing")
    assert pol["requireVerifiedOrigin"] is True
    assert pol["allowedBranches"] == ["main", "refs/tags/v*"]
    r = admin.post(instance.api("/admin/apply"), json=doc, timeout=60)
    assert r.status_code == 200 and r.json()["changes"] == ["0 changes"], r.text
    # PUT changes it; DELETE removes it, then the identity may go
    upd = dict(other["bs"], audience="signet-2")
    r = admin.put(instance.api("/admin/build-systems/other-ci"), json=upd, timeout=30)
    assert r.status_code == 200, r.text
    assert admin.get(instance.api("/admin/build-systems/other-ci")).json()["audience"] == "signet-2"
    r = admin.put(instance.api("/admin/build-systems/other-ci"), json=other["bs"], timeout=30)
    assert r.status_code == 200, r.text


def test_project_repositories(instance, admin):
    r = admin.post(instance.api("/admin/projects"), json={
        "slug": "repo-app", "name": "Repo app",
        "repositoryUrls": ["https://github.com/signet-dev/demo-app"],
        "signingPolicies": [{"slug": "test", "name": "Test",
                             "certificate": "test-signing", "purpose": "test",
                             "submitters": ["ci-runner"]}]}, timeout=30)
    assert r.status_code == 201, r.text
    r = instance.submit(b"ours", project="repo-app", policy="test",
                        fields=instance.origin())
    assert r.status_code == 201
    r = instance.submit(b"theirs", project="repo-app", policy="test", expect=None,
                        fields=instance.origin(repository="signet-dev/fork"))
    refused(r, "repositoryUrls", "https://github.com/signet-dev/fork")
    r = instance.submit(b"none", project="repo-app", policy="test", expect=None)
    refused(r, "repositoryUrls", "not given")


def test_resubmit_judged_on_recorded_evidence(instance):
    # a token that is valid now (within the clock skew) and expired soon
    fields = instance.origin(lifetime=-50, issued_ago=600)
    token = fields["origin.idToken"]
    rid = instance.submit(b"rc with a short-lived token\n", fields=fields).json()["id"]
    assert instance.wait_final(rid)["origin"]["verification"]["verified"] is True
    time.sleep(12)
    # the token has expired by now: submitted again, it would not verify
    f = dict(fields)
    r = instance.submit(b"again", policy="release-signing", fields=f, expect=None)
    refused(r, "expired")
    # resubmit uses the evidence recorded at submission
    r = resubmit(instance, rid, "release-signing")
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["originalSigningRequestId"] == rid
    assert new["origin"]["verification"]["verified"] is True
    assert new["status"] == "WaitingForApproval"
    assert token not in r.text


def test_resubmit_without_verified_origin_refused(instance):
    rid = instance.submit(b"no origin\n").json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"
    r = resubmit(instance, rid, "release-signing")
    refused(r, "requireVerifiedOrigin", "release-signing")
    # verified, but from a feature branch
    rid = instance.submit(b"feature build\n",
                          fields=instance.origin(branch="feature/y")).json()["id"]
    instance.wait_final(rid)
    r = resubmit(instance, rid, "release-signing")
    refused(r, "allowedBranches", "'feature/y'")
    # the same request may go to test-signing again
    assert resubmit(instance, rid, "test-signing").status_code == 201


def minted(instance, ref, sha, run_id="5"):
    """A token of the dev issuer from scripts/dev-id-token.py itself."""
    p = run(["/usr/bin/python3", str(dev_id_token.__file__), "--key",
             str(instance.pki / "oidc-issuer.key"), "--ref", ref, "--sha", sha,
             "--run-id", run_id])
    return p.stdout.strip()


@pytest.mark.parametrize("ref, looks_like", [
    ("refs/heads/refs/heads/main", "main"),
    ("refs/heads/refs/tags/v9.9.9", "refs/tags/v9.9.9"),
])
def test_branch_named_like_a_ref_is_not_that_ref(instance, ref, looks_like):
    """A branch literally named "refs/heads/main" (its ref is
    refs/heads/refs/heads/main) is neither the branch main nor, named
    "refs/tags/v9.9.9", a tag: release-signing refuses it, however its
    name is sent, and the evidence shows the full ref."""
    commit = os.urandom(20).hex()
    repo = "https://github.com/signet-dev/demo-app"
    for branch in (None, looks_like, ref[len("refs/heads/"):], ref):
        fields = {"origin.idToken": minted(instance, ref, commit),
                  "origin.commitId": commit, "origin.repositoryUrl": repo}
        if branch is not None:
            fields["origin.branchName"] = branch
        data = os.urandom(512)
        r = instance.submit(data, policy="release-signing", fields=fields,
                            expect=None)
        msg = refused(r)
        assert "allowedBranches" in msg or "requireVerifiedOrigin" in msg, msg
        digest = hashlib.sha256(data).hexdigest()
        assert digest not in instance.stored_artifacts()
    # the same token on test-signing: verified, recorded as the full ref
    fields = {"origin.idToken": minted(instance, ref, commit),
              "origin.commitId": commit, "origin.repositoryUrl": repo}
    req = instance.submit(b"lookalike " + ref.encode(), fields=fields).json()
    ev = req["origin"]["verification"]
    assert ev["verified"] is True, ev
    assert ev["ref"] == ref and ev["refType"] == "branch"
    assert ev["refName"] == ref[len("refs/heads/"):]
    assert req["origin"]["branchName"] == ref
    assert instance.wait_final(req["id"])["status"] == "Completed"
    # and resubmitting it to release-signing is refused by the same rule
    r = resubmit(instance, req["id"], "release-signing")
    refused(r, "allowedBranches", f"(ref {ref})")
    # the real ones still pass, with both forms in the evidence
    for real, kind, name in (("refs/heads/main", "branch", "main"),
                             ("refs/tags/v9.9.9", "tag", "v9.9.9")):
        commit = os.urandom(20).hex()
        r = instance.submit(os.urandom(64), policy="release-signing", fields={
            "origin.idToken": minted(instance, real, commit),
            "origin.commitId": commit, "origin.repositoryUrl": repo})
        ev = r.json()["origin"]["verification"]
        assert (ev["ref"], ev["refType"], ev["refName"]) == (real, kind, name)


def test_repository_url_lookalikes(instance, admin):
    """repositoryUrls match one repository: the host's case and one
    trailing "/" or ".git" aside, a URL that looks like it is refused, and
    one that could be read two ways cannot even be listed."""
    r = admin.post(instance.api("/admin/projects"), json={
        "slug": "url-app", "name": "URL App",
        "repositoryUrls": ["https://github.com/signet-dev/demo-app"],
        "signingPolicies": [{"slug": "test", "name": "Test",
                             "certificate": "test-signing",
                             "submitters": ["ci-runner"]}]})
    assert r.status_code == 201, r.text
    for url in ("https://GitHub.com/signet-dev/demo-app/",
                "https://github.com/signet-dev/demo-app.git"):
        r = instance.submit(b"same repo", project="url-app", policy="test",
                            fields={"origin.repositoryUrl": url})
    for url in ("https://github.com/Signet-Dev/Demo-App",
                "https://github.com@evil.example/signet-dev/demo-app",
                "https://github.com/signet-dev/x/../demo-app",
                "https://github.com/signet-dev/demo-app.git.git",
                "https://github.com/signet-dev/demo%2Dapp",
                "https://github.com.evil.example/signet-dev/demo-app"):
        r = instance.submit(b"lookalike", project="url-app", policy="test",
                            fields={"origin.repositoryUrl": url}, expect=None)
        refused(r, "url-app")
    r = admin.post(instance.api("/admin/projects"), json={
        "slug": "url-bad", "name": "URL Bad",
        "repositoryUrls": ["https://user@github.com/signet-dev/demo-app"]})
    assert r.status_code == 400, r.text
    assert "user information" in r.json()["message"]


def test_branch_patterns_stay_within_one_part(instance, admin):
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json={"slug": "rel-branches", "name": "Release branches",
                         "certificate": "test-signing",
                         "submitters": ["ci-runner"],
                         "allowedBranches": ["release/*"]})
    assert r.status_code == 201, r.text
    assert instance.submit(b"r1", policy="rel-branches",
                           fields=instance.origin(branch="release/1.2")
                           ).status_code == 201
    refused(instance.submit(b"r2", policy="rel-branches", expect=None,
                            fields=instance.origin(branch="release/1.2/x")),
            "allowedBranches", "(ref refs/heads/release/1.2/x)")
    r = admin.put(instance.api("/admin/projects/demo-app/signing-policies/rel-branches"),
                  json={"slug": "rel-branches", "name": "Release branches",
                        "certificate": "test-signing",
                        "submitters": ["ci-runner"],
                        "allowedBranches": ["release/**"]})
    assert r.status_code == 400 and "'**' is not supported" in r.json()["message"]
