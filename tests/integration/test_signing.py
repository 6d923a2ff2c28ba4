"""Submitting, signing and downloading: the CI system's whole round trip."""

import json
import os
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import cms_verify, run, sha256

PEM_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.S)


def pem_chain(data):
    return [x509.load_pem_x509_certificate(m) for m in PEM_RE.findall(data)]


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def test_detached_cms_round_trip(instance, tmp_path):
    artifact = os.urandom(100 * 1024) + b"signet"
    r = instance.submit(artifact, filename="app.bin",
                        fields={"description": "round trip",
                                "parameters.version": "1.2.3"})
    created = r.json()
    rid = created["id"]
    assert r.headers.get("Location") == f"/api/v1/signing-requests/{rid}"
    assert created["projectSlug"] == "demo-app"
    assert created["signingPolicySlug"] == "test-signing"
    assert created["artifactConfigurationSlug"] == "detached-cms"

    req = instance.wait_final(rid)
    assert req["status"] == "Completed", req
    assert req["workflowStatus"] == "Completed", req
    assert req["isFinalStatus"] is True
    assert req["description"] == "round trip"
    assert req["parameters"] == {"version": "1.2.3"}
    assert req["submitter"]["name"] == "ci-runner"
    assert req["unsignedArtifact"]["name"] == "app.bin"
    assert req["unsignedArtifact"]["size"] == len(artifact)
    assert req["unsignedArtifact"]["sha256"] == sha256(artifact)
    assert req["originalSigningRequestId"] is None
    assert req.get("failureReason") in (None, "")
    history = [h["workflowStatus"] for h in req["history"]]
    assert history[-1] == "Completed", history
    assert "QueuedForProcessing" in history and "WaitingForApproval" not in history

    s = instance.session()
    unsigned = s.get(instance.api(f"/signing-requests/{rid}/unsigned-artifact"))
    assert unsigned.status_code == 200
    assert unsigned.content == artifact

    signed = s.get(instance.api(f"/signing-requests/{rid}/signed-artifact"))
    assert signed.status_code == 200, signed.text
    # the format's name and media type, from the format registry
    assert signed.headers["Content-Type"] == "application/pkcs7-signature"
    assert req["signedArtifact"]["name"] == "app.bin.p7s", req
    assert req["signedArtifact"]["mediaType"] == "application/pkcs7-signature"
    sig = signed.content
    assert req["signedArtifact"]["size"] == len(sig)
    assert req["signedArtifact"]["sha256"] == sha256(sig)

    art_path = tmp_path / "app.bin"
    sig_path = tmp_path / "app.bin.p7s"
    art_path.write_bytes(artifact)
    sig_path.write_bytes(sig)
    root = instance.pki / "test-signing.pem"
    signer = tmp_path / "signer.pem"
    v = cms_verify(sig_path, art_path, root, extra=("-signer", str(signer)))
    assert v.returncode == 0, v.stderr
    assert "Verification successful" in v.stderr

    # The signer is the policy's leaf certificate.
    chain = s.get(instance.api(
        "/projects/demo-app/signing-policies/test-signing/certificate"))
    assert chain.status_code == 200
    certs = pem_chain(chain.content)
    assert len(certs) >= 1
    assert der(certs[0]) == der(pem_chain(signer.read_bytes())[0])
    assert der(certs[0]) == der(pem_chain(root.read_bytes())[0])

    # Any changed byte breaks the signature.
    for pos in (0, len(artifact) // 2, len(artifact) - 1):
        bad = bytearray(artifact)
        bad[pos] ^= 0x01
        bad_path = tmp_path / "bad.bin"
        bad_path.write_bytes(bytes(bad))
        v = cms_verify(sig_path, bad_path, root)
        assert v.returncode != 0, f"verification passed with byte {pos} changed"

    # A foreign root does not verify it either.
    other = instance.pki / "release-ca.pem"
    assert cms_verify(sig_path, art_path, other).returncode != 0


def test_signature_formats_listed(instance):
    """The formats the appliance signs come from its registry; what a
    policy may list and a submitter may name are these slugs."""
    r = instance.session().get(instance.api("/signature-formats"), timeout=30)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    by_slug = {f["slug"]: f for f in items}
    assert by_slug["detached-cms"] == {
        "slug": "detached-cms", "extension": ".p7s",
        "mediaType": "application/pkcs7-signature",
        "title": by_slug["detached-cms"]["title"], "default": True}
    assert [f["slug"] for f in items if f["default"]] == ["detached-cms"]
    # without authentication: refused like every other non-public call
    r = instance.session(cert=False).get(instance.api("/signature-formats"),
                                         timeout=30)
    assert r.status_code == 401, r.text


def test_empty_artifact_is_signed(instance, tmp_path):
    rid = instance.submit(b"", filename="empty.txt").json()["id"]
    req = instance.wait_final(rid)
    assert req["status"] == "Completed", req
    assert req["unsignedArtifact"]["sha256"] == sha256(b"")
    sig = instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact")).content
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "e.p7s").write_bytes(sig)
    v = cms_verify(tmp_path / "e.p7s", tmp_path / "e", instance.pki / "test-signing.pem")
    assert v.returncode == 0, v.stderr


@pytest.mark.parametrize("size", [1, 64 * 1024, 64 * 1024 + 1])
def test_where_artifacts_are_kept(instance, tmp_path, size):
    """An artifact of up to 64 KiB, and its signature, are kept in the
    database with the request (no file of the artifact store); a larger
    one is a file. Either way the bytes come back whole, also after a
    restart, and the signature verifies over them."""
    data = os.urandom(size)
    rid = instance.submit(data, filename="kept.bin").json()["id"]
    req = instance.wait_final(rid)
    assert req["status"] == "Completed", req
    digest = req["unsignedArtifact"]["sha256"]
    sig_digest = req["signedArtifact"]["sha256"]
    files = {p.name for p in (instance.state / "artifacts" / "sha256").glob("*/*")}
    small = size <= 64 * 1024
    assert (instance.artifact_in_database(digest) == data) == small
    assert (digest in files) == (not small)
    # a signature is small: in the database whatever the artifact's size
    assert instance.artifact_in_database(sig_digest) is not None
    assert sig_digest not in files
    assert instance.tmp_entries() == []
    instance.stop()
    instance.start()
    s = instance.session()
    got = s.get(instance.api(f"/signing-requests/{rid}/unsigned-artifact"))
    assert got.status_code == 200 and got.content == data
    sig = s.get(instance.api(f"/signing-requests/{rid}/signed-artifact"))
    assert sig.status_code == 200 and sha256(sig.content) == sig_digest
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "a.p7s").write_bytes(sig.content)
    v = cms_verify(tmp_path / "a.p7s", tmp_path / "a", instance.pki / "test-signing.pem")
    assert v.returncode == 0, v.stderr


def test_curl_round_trip(instance, tmp_path):
    """The same with curl, a real client doing mutual TLS."""
    art = tmp_path / "tool.exe"
    art.write_bytes(os.urandom(300 * 1024))
    tls = ["--cacert", instance.ca, "--cert", instance.client_cert,
           "--key", instance.client_key, "-sS", "--max-time", "60"]
    body = tmp_path / "body.json"
    headers = tmp_path / "headers.txt"
    p = run(["curl", *tls, "-o", str(body), "-D", str(headers),
             "-w", "%{http_code}",
             "-F", "projectSlug=demo-app", "-F", "signingPolicySlug=test-signing",
             "-F", "origin.buildUrl=https://ci.example/build/7",
             "-F", f"artifact=@{art}",
             instance.api("/signing-requests")])
    assert p.stdout == "201", (p.stdout, body.read_text())
    rid = json.loads(body.read_text())["id"]
    assert re.search(rf"(?im)^location: /api/v1/signing-requests/{re.escape(rid)}\s*$",
                     headers.read_text()), headers.read_text()

    deadline = time.monotonic() + 60
    while True:
        p = run(["curl", *tls, "-f", instance.api(f"/signing-requests/{rid}")])
        req = json.loads(p.stdout)
        if req["isFinalStatus"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert req["status"] == "Completed", req
    assert "https://ci.example/build/7" in json.dumps(req["origin"]), req["origin"]

    sig = tmp_path / "tool.exe.p7s"
    run(["curl", *tls, "-f", "-o", str(sig),
         instance.api(f"/signing-requests/{rid}/signed-artifact")])
    v = cms_verify(sig, art, instance.pki / "test-signing.pem")
    assert v.returncode == 0, v.stderr

    # With an empty trust store curl must refuse the server certificate.
    p = run(["curl", "-sS", "--cacert", str(instance.pki / "client-ca.pem"),
             "--cert", instance.client_cert, "--key", instance.client_key,
             instance.api("/health")], check=False)
    assert p.returncode != 0


def test_release_request_waits_for_approval(instance):
    rid = instance.submit(b"release candidate", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    time.sleep(1.0)  # time enough for a worker to pick it up wrongly
    req = instance.get_request(rid)
    assert req["status"] == "WaitingForApproval", req
    assert req["workflowStatus"] == "WaitingForApproval", req
    assert req["isFinalStatus"] is False
    assert req["signedArtifact"] is None
    r = instance.session().get(instance.api(f"/signing-requests/{rid}/signed-artifact"))
    assert r.status_code == 409, (r.status_code, r.text)
    assert r.json()["error"] and r.json()["message"]
    # Its artifact is downloadable while it waits.
    r = instance.session().get(instance.api(f"/signing-requests/{rid}/unsigned-artifact"))
    assert r.status_code == 200 and r.content == b"release candidate"


def test_release_policy_certificate_chain(instance):
    r = instance.session().get(instance.api(
        "/projects/demo-app/signing-policies/release-signing/certificate"))
    assert r.status_code == 200, r.text
    certs = pem_chain(r.content)
    expected = pem_chain((instance.pki / "release-chain.pem").read_bytes())
    assert [der(c) for c in certs] == [der(c) for c in expected]
    leaf, ca = certs
    assert leaf.issuer == ca.subject
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.CODE_SIGNING in eku


def test_unknown_request_is_404(instance):
    s = instance.session()
    for path in ("/signing-requests/does-not-exist",
                 "/signing-requests/does-not-exist/signed-artifact",
                 "/signing-requests/does-not-exist/unsigned-artifact",
                 "/projects/demo-app/signing-policies/nope/certificate",
                 "/projects/nope/signing-policies/test-signing/certificate"):
        r = s.get(instance.api(path))
        assert r.status_code == 404, (path, r.status_code, r.text)
        body = r.json()
        assert body["error"] and body["message"], body
