"""The signet CLI: token keys and the declarative appliance document."""

import json
import re

NO_CHANGES = re.compile(r"(?i)\b(0|no) changes\b")
CHANGE_LINE = re.compile(r"(?im)^\s*(created|updated|deleted|removed)\b")


def keys_by_label(instance):
    doc = json.loads(instance.signet("key", "list", "--json").stdout)
    items = doc if isinstance(doc, list) else doc.get("keys", doc.get("items"))
    return {k["label"]: k for k in items}


def test_key_list_shows_the_token_keys(instance):
    keys = keys_by_label(instance)
    for label in ("test-signing", "release-signing"):
        assert label in keys, keys
        k = keys[label]
        assert k["id"]
        assert "rsa" in k["type"].lower(), k
        assert int(k["bits"]) == 3072, k
    assert keys["test-signing"]["id"] != keys["release-signing"]["id"]
    table = instance.signet("key", "list").stdout
    assert "test-signing" in table and "release-signing" in table
    assert keys["test-signing"]["id"] in table


def test_apply_twice_changes_nothing(instance):
    doc = str(instance.dir / "appliance.json")
    first = instance.signet("apply", doc)
    second = instance.signet("apply", doc)
    for out in (first.stdout, second.stdout):
        assert not CHANGE_LINE.search(out), out
        assert NO_CHANGES.search(out), out


def test_apply_adds_a_project_once(instance, tmp_path):
    doc = json.loads((instance.dir / "appliance.json").read_text())
    for c in doc["certificates"]:
        c["chainFile"] = str(instance.dir / c["chainFile"])
    doc["projects"].append({
        "slug": "other-app", "name": "Other App", "repositoryUrls": [],
        "signingPolicies": [{
            "slug": "nightly", "name": "Nightly", "certificate": "test-signing",
            "requiredApprovals": 0, "submitters": ["ci-runner"], "approvers": [],
            "artifactConfigurations": ["detached-cms"]}],
    })
    path = tmp_path / "more.json"
    path.write_text(json.dumps(doc))

    first = instance.signet("apply", str(path)).stdout
    assert "other-app" in first and CHANGE_LINE.search(first), first
    assert not NO_CHANGES.search(first), first
    second = instance.signet("apply", str(path)).stdout
    assert not CHANGE_LINE.search(second) and NO_CHANGES.search(second), second

    # The running signetd serves the new project at once.
    rid = instance.submit(b"other", project="other-app", policy="nightly").json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"


def test_apply_rejects_a_bad_document_whole(instance, tmp_path):
    doc = json.loads((instance.dir / "appliance.json").read_text())
    for c in doc["certificates"]:
        c["chainFile"] = str(instance.dir / c["chainFile"])
    doc["projects"].append({
        "slug": "broken-app", "name": "Broken", "repositoryUrls": [],
        "signingPolicies": [{
            "slug": "p", "name": "P", "certificate": "no-such-certificate",
            "requiredApprovals": 0, "submitters": ["ci-runner"], "approvers": [],
            "artifactConfigurations": ["detached-cms"]}],
    })
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    p = instance.signet("apply", str(path), check=False)
    assert p.returncode != 0, p.stdout
    assert "no-such-certificate" in p.stdout + p.stderr
    # Nothing of it was recorded.
    r = instance.submit(project="broken-app", policy="p", expect=404)
    assert r.json()["error"]

    p = instance.signet("apply", str(tmp_path / "missing.json"), check=False)
    assert p.returncode != 0
    (tmp_path / "junk.json").write_text("{not json")
    p = instance.signet("apply", str(tmp_path / "junk.json"), check=False)
    assert p.returncode != 0


def test_csr_is_made_with_the_token_key(instance, tmp_path):
    out = tmp_path / "req.csr"
    instance.signet("key", "csr", "--key", "release-signing",
                    "--subject", "CN=Another Release,O=Signet Dev", "--out", str(out))
    from cryptography import x509
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    chain = (instance.dir / "pki" / "release-chain.pem").read_bytes()
    leaf = x509.load_pem_x509_certificate(chain)
    assert csr.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert "CN=Another Release" in csr.subject.rfc4514_string()


def admin_session(instance):
    pw = (instance.dir / "passwords" / "admin").read_text().strip()
    s = instance.session(cert=False)
    r = s.post(instance.api("/sessions"), json={"username": "admin", "password": pw})
    assert r.status_code == 201, r.text
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    return s


def test_user_and_identity_names_are_one_name_space(instance, tmp_path):
    """A CI identity named like a person, or a person named like a CI
    identity, is refused (409 over the API, a failed apply locally), in
    the document and against what is stored, and nothing is written."""
    fp = "ab" * 32
    cases = [
        # an identity named like the stored user officer
        {"identities": [{"name": "officer", "type": "client-certificate",
                         "sha256Fingerprint": fp}]},
        # a user named like the stored identity ci-runner
        {"users": [{"name": "ci-runner", "roles": ["security-officer"]}]},
        # both new, in one document
        {"identities": [{"name": "twin", "type": "client-certificate",
                         "sha256Fingerprint": fp}],
         "users": [{"name": "twin", "roles": []}]},
    ]
    admin = admin_session(instance)
    before = admin.get(instance.api("/admin/export")).json()
    for i, doc in enumerate(cases):
        path = tmp_path / f"clash{i}.json"
        path.write_text(json.dumps(doc))
        p = instance.signet("apply", str(path), check=False)
        assert p.returncode != 0, p.stdout
        assert "unique across users and CI identities" in p.stdout + p.stderr
        r = admin.post(instance.api("/admin/apply"), json=doc)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "exists"
        assert "unique across users and CI identities" in r.json()["message"]
    assert admin.get(instance.api("/admin/export")).json() == before


def test_policy_with_an_identity_as_approver_refused(instance, tmp_path):
    doc = {"projects": [{
        "slug": "approver-app", "name": "Approver App", "repositoryUrls": [],
        "signingPolicies": [{
            "slug": "p", "name": "P", "certificate": "release-signing",
            "requiredApprovals": 2, "submitters": ["ci-runner"],
            "approvers": ["officer", "ci-runner"],
            "artifactConfigurations": ["detached-cms"]}]}]}
    path = tmp_path / "approver.json"
    path.write_text(json.dumps(doc))
    p = instance.signet("apply", str(path), check=False)
    assert p.returncode != 0, p.stdout
    out = p.stdout + p.stderr
    assert "approver 'ci-runner' is a CI identity" in out, out
    admin = admin_session(instance)
    r = admin.post(instance.api("/admin/apply"), json=doc)
    assert r.status_code == 400, r.text
    assert "approvers must be users" in r.json()["message"]
    instance.submit(project="approver-app", policy="p", expect=404)
    # the same through the policy endpoint of an existing project
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json=doc["projects"][0]["signingPolicies"][0])
    assert r.status_code == 400, r.text
    assert "approver 'ci-runner' is a CI identity" in r.json()["message"]
    r = admin.get(instance.api("/admin/projects/demo-app/signing-policies/p"))
    assert r.status_code == 404
    # a user as approver is fine
    pol = dict(doc["projects"][0]["signingPolicies"][0], approvers=["officer"],
               requiredApprovals=1)
    r = admin.post(instance.api("/admin/projects/demo-app/signing-policies"),
                   json=pol)
    assert r.status_code == 201, r.text
    assert admin.delete(instance.api(
        "/admin/projects/demo-app/signing-policies/p")).status_code in (200, 204)


def test_key_types_and_audit_the_same_for_the_cli_and_the_api(instance):
    """The CLI and the admin API take one list of key types (RSA keys
    under 3072 bits are refused by both: code-signing CAs no longer
    certify them) and record a generated key the same way."""
    s = admin_session(instance)
    types = "rsa3072, rsa4096, p256, p384"
    p = instance.signet("key", "generate", "--label", "weak-cli", "--type",
                        "rsa2048", check=False)
    assert p.returncode == 2 and types in p.stderr, p.stderr
    r = s.post(instance.api("/admin/keys"),
               json={"label": "weak-api", "type": "rsa2048"})
    assert r.status_code == 400 and r.json()["error"] == "invalid", r.text
    assert types in r.json()["message"], r.text
    keys = keys_by_label(instance)
    assert "weak-cli" not in keys and "weak-api" not in keys
    instance.signet("key", "generate", "--label", "cli-p256", "--type", "p256")
    r = s.post(instance.api("/admin/keys"),
               json={"label": "api-p384", "type": "p384"})
    assert r.status_code == 201, r.text
    assert (r.json()["type"], r.json()["bits"]) == ("ec", 384)
    # the label is taken, whoever asks
    r = s.post(instance.api("/admin/keys"),
               json={"label": "cli-p256", "type": "p256"})
    assert r.status_code == 409 and r.json()["error"] == "exists", r.text
    p = instance.signet("key", "generate", "--label", "api-p384", "--type",
                        "p384", check=False)
    assert p.returncode == 1 and "already has a key labelled" in p.stderr
    keys = keys_by_label(instance)
    assert (keys["cli-p256"]["type"], int(keys["cli-p256"]["bits"])) == ("ec", 256)
    r = s.get(instance.api("/audit"), params={"format": "jsonl"}, timeout=60)
    assert r.status_code == 200, r.text
    gen = {e["details"]["label"]: e for e in map(json.loads, r.text.splitlines())
           if e["action"] == "key.generated"}
    for label, typ, bits in (("cli-p256", "p256", 256), ("api-p384", "p384", 384)):
        assert gen[label]["details"] == {"label": label, "type": typ,
                                         "bits": bits}, gen[label]
        assert gen[label]["target"] == keys[label]["id"]
    assert gen["cli-p256"]["actor"]["type"] == "system"
    assert gen["api-p384"]["actor"] == {"type": "user", "name": "admin"}
