"""Bad submissions get a clean 4xx naming the problem, and leave nothing behind."""

import json
import os

from conftest import MAX_ARTIFACT, run

# appliance/lib/signet_limits.h
MAX_PARAMETERS = 32
MAX_DESCRIPTION = 4096


def error_body(r):
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def ids(instance):
    return [i["id"] for i in instance.list_all()]


def test_unknown_project_is_404(instance):
    before = ids(instance)
    r = instance.submit(project="no-such-project", expect=404)
    body = error_body(r)
    assert body["error"] == "project_not_found", body
    assert "'no-such-project'" in body["message"], body
    assert ids(instance) == before
    assert instance.tmp_entries() == []


def test_unknown_policy_is_404(instance):
    r = instance.submit(policy="no-such-policy", expect=404)
    body = error_body(r)
    assert body["error"] == "policy_not_found", body
    assert "'no-such-policy'" in body["message"], body


def test_unknown_artifact_configuration_is_400(instance):
    before = ids(instance)
    r = instance.submit(fields={"artifactConfigurationSlug": "no-such-format"},
                        expect=400)
    body = error_body(r)
    assert body["error"] == "invalid_artifact_configuration", body
    assert "'no-such-format'" in body["message"], body
    assert ids(instance) == before


def test_missing_project_slug_is_400(instance):
    r = instance.submit(project=None, expect=400)
    assert "projectSlug" in error_body(r)["message"]


def test_missing_policy_slug_is_400(instance):
    r = instance.submit(policy=None, expect=400)
    assert "signingPolicySlug" in error_body(r)["message"]


def test_missing_artifact_is_400(instance):
    r = instance.session().post(
        instance.api("/signing-requests"),
        files={"projectSlug": (None, "demo-app"),
               "signingPolicySlug": (None, "test-signing")}, timeout=30)
    assert r.status_code == 400, (r.status_code, r.text)
    assert "artifact" in error_body(r)["message"]


def test_not_multipart_is_415(instance):
    r = instance.session().post(
        instance.api("/signing-requests"), data=json.dumps({"projectSlug": "demo-app"}),
        headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 415, (r.status_code, r.text)
    body = error_body(r)
    assert body["error"] == "unsupported_media_type", body
    assert "multipart/form-data" in body["message"], body


def test_too_many_parameters(instance):
    fields = {f"parameters.p{i}": "v" for i in range(MAX_PARAMETERS + 1)}
    r = instance.submit(fields=fields, expect=400)
    body = error_body(r)
    assert body["error"] == "too_many_parameters", body
    assert f"at most {MAX_PARAMETERS} parameters" in body["message"], body

    # At the limit it is accepted and every parameter is kept.
    fields = {f"parameters.p{i}": f"v{i}" for i in range(MAX_PARAMETERS)}
    rid = instance.submit(fields=fields).json()["id"]
    assert instance.get_request(rid)["parameters"] == {
        f"p{i}": f"v{i}" for i in range(MAX_PARAMETERS)}


def test_too_long_description(instance):
    r = instance.submit(fields={"description": "d" * (MAX_DESCRIPTION + 1)}, expect=400)
    body = error_body(r)
    assert body["error"] == "field_too_long", body
    assert "'description'" in body["message"], body
    assert str(MAX_DESCRIPTION) in body["message"], body

    rid = instance.submit(fields={"description": "d" * MAX_DESCRIPTION}).json()["id"]
    assert instance.get_request(rid)["description"] == "d" * MAX_DESCRIPTION


def curl_upload(instance, path, size, extra=()):
    """Uploads a file of size bytes with curl; returns (status, body)."""
    path.write_bytes(os.urandom(size))
    p = run(["curl", "-sS", "--max-time", "60", "--cacert", instance.ca,
             "--cert", instance.client_cert, "--key", instance.client_key,
             "-w", "\n%{http_code}", *extra,
             "-F", "projectSlug=demo-app", "-F", "signingPolicySlug=test-signing",
             "-F", f"artifact=@{path}", instance.api("/signing-requests")],
            check=False)
    body, _, code = p.stdout.rpartition("\n")
    return code, body, p


def test_oversized_artifact_is_413_and_leaves_nothing(instance, tmp_path):
    before = ids(instance)
    code, body, p = curl_upload(instance, tmp_path / "big.bin", MAX_ARTIFACT + 512 * 1024)
    assert code == "413", (code, body, p.stderr)
    msg = json.loads(body)["message"]
    assert msg
    assert ids(instance) == before
    assert instance.tmp_entries() == []


def test_oversized_chunked_upload_is_413_and_leaves_nothing(instance, tmp_path):
    """Without Content-Length the limit has to hold while streaming."""
    before = ids(instance)
    code, body, p = curl_upload(instance, tmp_path / "big.bin", MAX_ARTIFACT + 512 * 1024,
                                extra=("-H", "Transfer-Encoding: chunked"))
    assert code == "413", (code, body, p.stderr)
    assert ids(instance) == before
    assert instance.tmp_entries() == []


def test_artifact_of_exactly_the_limit_is_accepted(instance, tmp_path):
    """The limit is on the artifact, not on the multipart body around it."""
    code, body, p = curl_upload(instance, tmp_path / "max.bin", MAX_ARTIFACT)
    assert code == "201", (code, body, p.stderr)
    req = instance.wait_final(json.loads(body)["id"])
    assert req["status"] == "Completed", req
    assert req["unsignedArtifact"]["size"] == MAX_ARTIFACT
    assert instance.tmp_entries() == []


def test_service_still_answers_after_bad_requests(instance):
    rid = instance.submit(b"after the storm").json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"


def test_json_bodies_are_checked(instance):
    """The small JSON bodies (resubmit, decisions, login): malformed,
    not an object, repeated names, values of the wrong type and too
    large are refused with a message, and nothing is created."""
    rid = instance.submit(b"json bodies").json()["id"]
    instance.wait_final(rid)
    before = ids(instance)
    s = instance.session()
    url = instance.api(f"/signing-requests/{rid}/resubmit")
    hdr = {"Content-Type": "application/json"}
    cases = [
        (b'{"signingPolicySlug": ', 400, "invalid_json"),
        (b'["test-signing"]', 400, "invalid_json"),
        (b'{"signingPolicySlug": "test-signing", "signingPolicySlug": "x"}',
         400, "invalid_json"),
        (b'{"signingPolicySlug": 7}', 400, "invalid_field"),
        (b'{"signingPolicySlug": {"a": 1}}', 400, "invalid_field"),
        (json.dumps({"signingPolicySlug": "test-signing",
                     "description": "x" * (70 * 1024)}).encode(),
         413, "payload_too_large"),
    ]
    for body, status, code in cases:
        r = s.post(url, data=body, headers=hdr, timeout=30)
        assert r.status_code == status, (body[:60], r.status_code, r.text)
        assert error_body(r)["error"] == code, r.text
    assert ids(instance) == before
    # the service is still there and a good body works
    r = s.post(url, json={"signingPolicySlug": "test-signing"}, timeout=30)
    assert r.status_code == 201, r.text
