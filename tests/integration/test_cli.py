"""The network commands of the signet CLI against a real signetd: submit
with --wait/--output, origin collected from a simulated GitHub Actions job
(a local server plays GitHub's ID-token endpoint), resubmit to
release-signing, login and approval by the officer, download; error paths
and their documented exit codes; retries with backoff against fake
servers that answer 503 or refuse connections."""

import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import (BUILD, DEV_REPOSITORY, MAX_ARTIFACT, cms_verify,
                      free_port, sha256)

SIGNET = str(BUILD / "signet")
CLI_TIMEOUT = 90

# A JWT's shape; the server does not verify tokens yet (origin verification
# comes with its own work), so any three base64url parts will do.
FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvYXBwIn0.c2lnbmF0dXJl"
REQUEST_TOKEN = "actions-request-token-" + os.urandom(6).hex()

# Variables of CI systems and of .dev/env: a test decides which exist, so a
# run inside a real CI job sees the same thing as one on a laptop.
_FOREIGN_PREFIXES = ("GITHUB_", "GITLAB", "CI_", "ACTIONS_", "SIGNET_",
                     "JENKINS", "BUILD_", "GIT_", "BRANCH_NAME", "TAG_NAME")


def cli_env(instance, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_FOREIGN_PREFIXES)}
    env.update(SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_CLIENT_CERT=instance.client_cert,
               SIGNET_CLIENT_KEY=instance.client_key)
    env.update(extra)
    return env


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:")


def signet(env, *args, input=None):
    p = subprocess.run([SIGNET, *args], env=env, input=input,
                       capture_output=True, text=True, timeout=CLI_TIMEOUT)
    # the sanitizer build runs the CLI under ASan/UBSan too
    assert not any(m in p.stderr for m in SANITIZER_MARKERS), p.stderr
    return p


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def password(instance, user):
    return instance.password(user)


class FakeServer:
    """A plain-HTTP server on loopback (which the client accepts for
    http://) whose answers a test scripts; it records every request."""

    def __init__(self, answer):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers),
                                       "body": body, "at": time.monotonic()})
                status, headers, data = answer(len(outer.requests), self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def json_answer(status, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return status, h, json.dumps(obj).encode()


@pytest.fixture
def artifact(tmp_path):
    p = tmp_path / "app.bin"
    p.write_bytes(b"signet cli artifact\n" + os.urandom(4096))
    return p


GH_SHA = "0123456789abcdef0123456789abcdef01234567"
GH_RUN = "4242"


@pytest.fixture(scope="module")
def token_endpoint(instance):
    """GitHub's ID-token endpoint: hands out tokens of the development
    issuer (build system dev-ci) for the simulated job below."""
    served = []

    def answer(n, req):
        tok = instance.id_token(repository=DEV_REPOSITORY,
                                ref="refs/heads/main", sha=GH_SHA,
                                run_id=GH_RUN)
        served.append(tok)
        return json_answer(200, {"count": 1, "value": tok})
    srv = FakeServer(answer)
    srv.served = served
    yield srv
    srv.close()


def without_verification(origin):
    return {k: v for k, v in origin.items() if k != "verification"}


def github_env(instance, token_endpoint, **extra):
    return cli_env(
        instance,
        GITHUB_ACTIONS="true",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_REPOSITORY=DEV_REPOSITORY,
        GITHUB_SHA=GH_SHA,
        GITHUB_REF="refs/heads/main",
        GITHUB_REF_NAME="main",
        GITHUB_REF_TYPE="branch",
        GITHUB_RUN_ID=GH_RUN,
        GITHUB_RUN_ATTEMPT="2",
        ACTIONS_ID_TOKEN_REQUEST_URL=token_endpoint.url + "/token?api-version=2.0",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
        **extra)


# ----------------------------------------------------------------- usage


def test_help_and_usage_errors(instance, artifact):
    env = cli_env(instance)
    p = ok(signet(env, "submit", "--help"))
    assert "Exit codes" in p.stdout and "5  --timeout" in p.stdout
    for cmd in ("resubmit", "status", "download", "approve", "deny",
                "cancel", "login"):
        assert ok(signet(env, cmd, "--help")).stdout.startswith("usage: signet " + cmd)
    # missing --artifact, unknown option, option of another command, bad id
    p = signet(env, "submit", "--project", "demo-app", "--policy", "test-signing")
    assert p.returncode == 2 and "--artifact" in p.stderr
    assert signet(env, "submit", "--bogus").returncode == 2
    p = signet(env, "submit", "--artifact", str(artifact), "--project")
    assert p.returncode == 2 and "needs a value" in p.stderr
    assert signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact), "--param", "novalue").returncode == 2
    assert signet(env, "status", "--project", "x",
                  "00000000-0000-4000-8000-000000000000").returncode == 2
    p = signet(env, "status", "../../health")
    assert p.returncode == 2 and "not a signing request id" in p.stderr
    # --output without --wait, no server at all
    assert signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact), "--output", "x").returncode == 2
    noserver = {k: v for k, v in env.items() if k != "SIGNET_URL"}
    p = signet(noserver, "status", "00000000-0000-4000-8000-000000000000")
    assert p.returncode == 2 and "SIGNET_URL" in p.stderr
    # plain http only to loopback: a token must not cross a network in clear
    p = signet(env, "status", "--url", "http://example.com",
               "00000000-0000-4000-8000-000000000000")
    assert p.returncode == 2
    # the admin CLI still works as before
    assert "Network commands" in ok(subprocess.run(
        [SIGNET, "--help"], capture_output=True, text=True)).stdout


# ------------------------------------------------------------- the flow


def test_submit_wait_output_verifies(instance, artifact, tmp_path):
    sig = tmp_path / "app.p7s"
    p = ok(signet(cli_env(instance), "submit", "--project", "demo-app",
                  "--policy", "test-signing", "--artifact", str(artifact),
                  "--description", "cli test", "--param", "version=1.2.3",
                  "--wait", "--output", str(sig)))
    rid = p.stdout.strip()
    req = instance.get_request(rid)
    assert req["status"] == "Completed"
    assert req["description"] == "cli test"
    assert req["parameters"] == {"version": "1.2.3"}
    assert req["unsignedArtifact"]["name"] == "app.bin"
    assert req["unsignedArtifact"]["sha256"] == sha256(artifact.read_bytes())
    # not in a CI: nothing collected, nothing verified
    assert without_verification(req["origin"]) == {}
    assert req["origin"]["verification"]["verified"] is False
    assert instance.url + "/api/v1/signing-requests/" + rid in p.stderr
    v = cms_verify(sig, artifact, instance.pki / "test-signing.pem")
    assert v.returncode == 0, v.stderr
    # no temporary files left beside the output
    assert sorted(x.name for x in tmp_path.iterdir()) == ["app.bin", "app.p7s"]
    # status: a table, or the request as JSON
    t = ok(signet(cli_env(instance), "status", rid)).stdout
    assert "Completed" in t and "test-signing" in t and "version=1.2.3" in t
    j = json.loads(ok(signet(cli_env(instance), "status", rid, "--json")).stdout)
    assert j["id"] == rid and j["isFinalStatus"] is True


def test_github_actions_resubmit_approve_download(instance, artifact, tmp_path,
                                                  token_endpoint):
    env = github_env(instance, token_endpoint)
    sig = tmp_path / "test.p7s"
    p = ok(signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact), "--wait", "--output", str(sig)))
    rid = p.stdout.strip()
    assert "origin from GitHub Actions" in p.stderr and "with an ID token" in p.stderr
    # the ID token is a credential: in no output, not even the request token
    assert token_endpoint.served
    for secret in (*token_endpoint.served, REQUEST_TOKEN):
        assert secret not in p.stdout + p.stderr

    # the endpoint was asked as GitHub's toolkit asks it
    got = token_endpoint.requests[-1]
    assert got["method"] == "GET"
    auth = got["headers"].get("Authorization", "")
    assert auth.lower() == ("bearer " + REQUEST_TOKEN).lower()
    q = parse_qs(urlparse(got["path"]).query)
    assert urlparse(got["path"]).path == "/token"
    assert q == {"api-version": ["2.0"], "audience": ["signet"]}

    origin = instance.get_request(rid)["origin"]
    assert without_verification(origin) == {
        "repositoryUrl": "https://github.com/" + DEV_REPOSITORY,
        "commitId": GH_SHA,
        "branchName": "main",
        "buildUrl": f"https://github.com/{DEV_REPOSITORY}/actions/runs/4242/attempts/2",
        "buildId": "4242",
    }
    # the appliance verified the ID token the CLI fetched
    assert origin["verification"]["verified"] is True, origin["verification"]
    assert origin["verification"]["buildSystem"] == "dev-ci"
    assert cms_verify(sig, artifact, instance.pki / "test-signing.pem").returncode == 0

    # CI resubmits the tested request for release signing and waits for
    # the officer; the new id comes first on stdout
    rel = tmp_path / "release.p7s"
    waiter = subprocess.Popen(
        [SIGNET, "resubmit", rid, "--policy", "release-signing",
         "--description", "release 1.2.3", "--wait", "--timeout", "60",
         "--output", str(rel)],
        env=cli_env(instance), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        newid = waiter.stdout.readline().strip()
        assert len(newid) == 36, newid
        req = instance.get_request(newid)
        assert req["workflowStatus"] == "WaitingForApproval"
        assert req["originalSigningRequestId"] == rid
        assert req["origin"]["commitId"] == origin["commitId"]

        # the officer logs in (password on stdin) and approves with the token
        lp = ok(signet(cli_env(instance), "login", "--username", "officer",
                       input=password(instance, "officer") + "\n"))
        assert lp.stdout.startswith("export SIGNET_TOKEN=signet_")
        token = lp.stdout.strip().split("=", 1)[1]
        assert password(instance, "officer") not in lp.stdout + lp.stderr
        ap = ok(signet(cli_env(instance, SIGNET_TOKEN=token), "approve", newid,
                       "--comment", "tests green"))
        assert newid in ap.stdout

        out, err = waiter.communicate(timeout=CLI_TIMEOUT)
        assert waiter.returncode == 0, (out, err)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    ca = instance.pki / "release-ca.pem"
    assert cms_verify(rel, artifact, ca).returncode == 0

    # download on its own, signed and unsigned
    dl = tmp_path / "dl.p7s"
    ok(signet(cli_env(instance), "download", newid, "--output", str(dl)))
    assert cms_verify(dl, artifact, ca).returncode == 0
    assert dl.read_bytes() == rel.read_bytes()
    un = tmp_path / "unsigned.bin"
    ok(signet(cli_env(instance), "download", newid, "--unsigned", "--output", str(un)))
    assert un.read_bytes() == artifact.read_bytes()
    st = ok(signet(cli_env(instance), "status", newid)).stdout
    assert "approved by officer: tests green" in st and rid in st


def test_gitlab_origin_and_id_token_var(instance, artifact):
    env = cli_env(instance, GITLAB_CI="true",
                  CI_PROJECT_URL="https://gitlab.example.com/acme/app",
                  CI_COMMIT_SHA="89abcdef0123456789abcdef0123456789abcdef",
                  CI_COMMIT_REF_NAME="v1.2.3", CI_COMMIT_TAG="v1.2.3",
                  CI_PIPELINE_ID="777",
                  CI_PIPELINE_URL="https://gitlab.example.com/acme/app/-/pipelines/777",
                  MY_TOKEN=FAKE_JWT)
    p = ok(signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact), "--gitlab-id-token-var", "MY_TOKEN"))
    assert FAKE_JWT not in p.stdout + p.stderr
    origin = without_verification(instance.get_request(p.stdout.strip())["origin"])
    assert origin == {
        "repositoryUrl": "https://gitlab.example.com/acme/app",
        "commitId": "89abcdef0123456789abcdef0123456789abcdef",
        "branchName": "refs/tags/v1.2.3",
        "buildUrl": "https://gitlab.example.com/acme/app/-/pipelines/777",
        "buildId": "777",
    }
    # a named variable that is missing is a usage error; --no-origin sends
    # nothing
    p = signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
               "--artifact", str(artifact), "--gitlab-id-token-var", "NOPE")
    assert p.returncode == 2 and "NOPE" in p.stderr
    p = ok(signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact), "--no-origin",
                  "--origin", "buildId=manual-1"))
    assert without_verification(
        instance.get_request(p.stdout.strip())["origin"]) == {"buildId": "manual-1"}


def test_jenkins_origin(instance, artifact):
    env = cli_env(instance, JENKINS_URL="https://jenkins.example.com/",
                  GIT_URL="https://git.example.com/acme/app.git",
                  GIT_COMMIT="fedcba9876543210fedcba9876543210fedcba98",
                  GIT_BRANCH="origin/release/2.0",
                  BUILD_URL="https://jenkins.example.com/job/app/51/",
                  BUILD_ID="51")
    p = ok(signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
                  "--artifact", str(artifact)))
    assert "origin from Jenkins" in p.stderr
    assert without_verification(instance.get_request(p.stdout.strip())["origin"]) == {
        "repositoryUrl": "https://git.example.com/acme/app.git",
        "commitId": "fedcba9876543210fedcba9876543210fedcba98",
        "branchName": "release/2.0",
        "buildUrl": "https://jenkins.example.com/job/app/51/",
        "buildId": "51",
    }


def test_deny_cancel_and_timeout(instance, artifact, token_endpoint):
    # release-signing wants a verified origin: a GitHub job with its token
    env = github_env(instance, token_endpoint)
    # waiting runs out: exit 5, the request goes on
    t0 = time.monotonic()
    p = signet(env, "submit", "--project", "demo-app", "--policy", "release-signing",
               "--artifact", str(artifact), "--wait", "--timeout", "2")
    assert p.returncode == 5, (p.stdout, p.stderr)
    assert time.monotonic() - t0 < 15
    rid = p.stdout.strip()
    assert instance.get_request(rid)["workflowStatus"] == "WaitingForApproval"
    # the officer denies; a waiting submit ends with exit 1
    token = ok(signet(env, "login", "--username", "officer",
                      input=password(instance, "officer"))).stdout.strip().split("=", 1)[1]
    waiter = subprocess.Popen(
        [SIGNET, "submit", "--project", "demo-app", "--policy", "release-signing",
         "--artifact", str(artifact), "--wait", "--timeout", "60", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = instance.list_all(status="WaitingForApproval")
            mine = [r for r in waiting if r["id"] != rid]
            if mine:
                break
            time.sleep(0.2)
        ok(signet(cli_env(instance, SIGNET_TOKEN=token), "deny", mine[0]["id"],
                  "--comment", "not today"))
        out, err = waiter.communicate(timeout=CLI_TIMEOUT)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 1, (out, err)
    assert json.loads(out)["status"] == "Denied" and "Denied" in err
    # the submitter cancels the one that timed out
    p = ok(signet(env, "cancel", rid))
    assert instance.get_request(rid)["workflowStatus"] == "Canceled"
    # deciding again: refused with the server's message
    p = signet(cli_env(instance, SIGNET_TOKEN=token), "approve", rid)
    assert p.returncode == 3 and "HTTP 409" in p.stderr


# ------------------------------------------------------------ error paths


def test_refusals_print_the_servers_message(instance, artifact, tmp_path,
                                           token_endpoint):
    env = cli_env(instance)
    p = signet(env, "submit", "--project", "demo-app", "--policy", "no-such-policy",
               "--artifact", str(artifact))
    assert p.returncode == 3, (p.stdout, p.stderr)
    # verbatim, as the API sent it
    r = instance.submit(policy="no-such-policy", expect=404)
    assert r.json()["message"] in p.stderr
    assert "policy_not_found" in p.stderr and p.stdout == ""
    # not signed yet → 409 from the server; nothing written
    p = signet(github_env(instance, token_endpoint), "submit", "--project",
               "demo-app", "--policy", "release-signing", "--artifact",
               str(artifact))
    rid = p.stdout.strip()
    out = tmp_path / "never.p7s"
    p = signet(env, "download", rid, "--output", str(out))
    assert p.returncode == 3 and "HTTP 409" in p.stderr and not out.exists()
    assert list(tmp_path.iterdir()) == [artifact]
    # over the appliance's artifact limit: refused from the announced size
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (MAX_ARTIFACT + 1024 * 1024))
    p = signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
               "--artifact", str(big))
    assert p.returncode == 3 and "HTTP 413" in p.stderr, p.stderr
    assert "max_artifact_size" in p.stderr
    big.unlink()
    # wrong password → 401
    p = signet(env, "login", "--username", "dev", input="wrong password 123\n")
    assert p.returncode == 3 and "HTTP 401" in p.stderr
    # local I/O: unreadable artifact, unwritable output
    p = signet(env, "submit", "--project", "demo-app", "--policy", "test-signing",
               "--artifact", str(tmp_path / "missing.bin"))
    assert p.returncode == 6 and "missing.bin" in p.stderr
    p = signet(env, "download", rid, "--unsigned", "--output",
               str(tmp_path / "no" / "such" / "dir"))
    assert p.returncode == 6
    # a CA that did not issue the server's certificate
    p = signet(env, "status", rid, "--cacert", str(instance.pki / "release-ca.pem"))
    assert p.returncode == 4 and "certificate" in p.stderr


def test_retries_with_backoff_then_give_up(instance, artifact):
    def always_503(n, req):
        return json_answer(503, {"error": "unavailable", "message": "busy"},
                           {"Retry-After": "1"})
    srv = FakeServer(always_503)
    try:
        env = cli_env(instance)
        t0 = time.monotonic()
        p = signet(env, "submit", "--url", srv.url, "--retries", "2", "--project",
                   "demo-app", "--policy", "test-signing", "--artifact", str(artifact))
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert p.returncode == 4, (p.stdout, p.stderr)
    assert len(srv.requests) == 3
    # Retry-After: 1 honoured between the attempts
    gaps = [b["at"] - a["at"] for a, b in zip(srv.requests, srv.requests[1:])]
    assert all(g >= 0.9 for g in gaps), gaps
    assert took < 10
    # every attempt carried the whole artifact again
    data = artifact.read_bytes()
    assert all(data in r["body"] for r in srv.requests)
    assert "gave up after 3 attempts" in p.stderr


def test_retry_then_success(instance):
    rid = instance.submit().json()["id"]
    real = instance.get_request(rid)

    def flaky(n, req):
        if n <= 2:
            return json_answer(503 if n == 1 else 502, {"message": "later"})
        return json_answer(200, real)
    srv = FakeServer(flaky)
    try:
        p = signet(cli_env(instance), "status", rid, "--json", "--url", srv.url,
                   "--retries", "3")
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == rid and len(srv.requests) == 3
    assert srv.requests[0]["path"] == f"/api/v1/signing-requests/{rid}"


def test_download_checks_the_recorded_digest(instance, tmp_path):
    """Bytes that are not the ones the request records never reach the
    output file."""
    rid = instance.submit().json()["id"]
    real = instance.wait_final(rid)

    def liar(n, req):
        if req.path.endswith("/signed-artifact"):
            return 200, {"Content-Type": "application/pkcs7-signature"}, b"forged"
        return json_answer(200, real)
    srv = FakeServer(liar)
    out = tmp_path / "sig.p7s"
    try:
        p = signet(cli_env(instance), "download", rid, "--output", str(out),
                   "--url", srv.url)
    finally:
        srv.close()
    assert p.returncode == 4 and "not the ones the request records" in p.stderr
    assert list(tmp_path.iterdir()) == []
    # the real server's bytes do match
    ok(signet(cli_env(instance), "download", rid, "--output", str(out)))
    assert sha256(out.read_bytes()) == real["signedArtifact"]["sha256"]


def test_connection_refused(instance):
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    p = signet(cli_env(instance), "status", "00000000-0000-4000-8000-000000000000",
               "--url", f"https://127.0.0.1:{port}", "--retries", "1")
    assert p.returncode == 4, (p.stdout, p.stderr)
    assert "cannot reach" in p.stderr and time.monotonic() - t0 < 10
