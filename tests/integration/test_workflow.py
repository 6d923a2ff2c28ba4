"""The release workflow of the reference document: test-sign, resubmit for
release-signing, a security officer approves, the release certificate signs
the very same bytes. Also denials, k-of-n, self-approval, permissions,
lockout, notifications (webhook receiver and SMTP sink) and the audit log."""

import hashlib
import hmac
import http.server
import json
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time

import pytest
import requests

from conftest import BUILD, cms_verify, free_port, run, sha256

# --------------------------------------------------------------- helpers


def password(instance, user):
    return instance.password(user)


def login(instance, user, pw=None):
    s = instance.session(cert=False)
    r = s.post(instance.api("/sessions"),
               json={"username": user,
                     "password": pw if pw is not None else password(instance, user)},
               timeout=30)
    assert r.status_code == 201, (r.status_code, r.text)
    body = r.json()
    assert len(body["token"]) >= 43 and body["tokenType"] == "Bearer"
    s.headers["Authorization"] = "Bearer " + body["token"]
    return s


def apply_doc(instance, doc, tmp_path, name="extra.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return instance.signet("apply", str(p))


def set_password(instance, user, pw):
    p = subprocess.run([str(BUILD / "signet"), "-c", str(instance.conf), "user",
                        "password", user], input=pw + "\n", text=True,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr


def decide(session, instance, rid, what, comment=None, expect=200):
    body = {} if comment is None else {"comment": comment}
    r = session.post(instance.api(f"/signing-requests/{rid}/{what}"), json=body,
                     timeout=30)
    assert r.status_code == expect, (r.status_code, r.text)
    return r


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Webhooks:
    """An HTTPS receiver with a certificate from the instance's TLS CA."""

    def __init__(self, instance, tmp_path, port=None):
        self.port = port or free_port()
        self.events = []
        self.server = None
        key = tmp_path / "hook.key"
        cert = tmp_path / "hook.pem"
        csr = tmp_path / "hook.csr"
        ext = tmp_path / "hook.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
             str(csr), "-subj", "/CN=webhook receiver"])
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
             str(instance.pki / "tls-ca.pem"), "-CAkey",
             str(instance.pki / "tls-ca.key"), "-CAcreateserial", "-days", "2",
             "-extfile", str(ext), "-out", str(cert)])
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))

    def start(self):
        events = self.events

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                events.append((dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.socket = self.ctx.wrap_socket(self.server.socket,
                                                  server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def of_type(self, typ, rid=None):
        out = []
        for headers, body in list(self.events):
            ev = json.loads(body)
            if ev["type"] == typ and (rid is None or
                                      ev["signingRequest"]["id"] == rid):
                out.append((headers, body, ev))
        return out


class SmtpSink:
    """Enough SMTP to take mail from libcurl."""

    def __init__(self):
        self.port = free_port()
        self.mails = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(c,), daemon=True).start()

    def session(self, c):
        f = c.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 sink ESMTP")
        rcpt, data = [], None
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").strip()
            up = cmd.upper()
            if up.startswith(("EHLO", "HELO")):
                say("250 sink")
            elif up.startswith("MAIL FROM"):
                say("250 ok")
            elif up.startswith("RCPT TO"):
                rcpt.append(cmd[8:].strip().strip("<>"))
                say("250 ok")
            elif up == "DATA":
                say("354 go on")
                lines = []
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b".\n", b""):
                        break
                    lines.append(l)
                self.mails.append((rcpt, b"".join(lines).decode(errors="replace")))
                rcpt = []
                say("250 queued")
            elif up == "QUIT":
                say("221 bye")
                c.close()
                return
            else:
                say("250 ok")

    def to(self, addr):
        return [m for r, m in self.mails if addr in r]


# --------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def wf(instance, tmp_path_factory):
    """The instance with a webhook, an SMTP relay and fast retries."""
    tmp = tmp_path_factory.mktemp("wf")
    hooks = Webhooks(instance, tmp)
    hooks.start()
    smtp = SmtpSink()
    secret = "whsec-" + os.urandom(12).hex()
    instance.stop()
    with open(instance.conf, "a") as f:
        f.write(f"\n[notify]\nsmtp_url = smtp://127.0.0.1:{smtp.port}\n"
                f"mail_from = signet@example.test\n"
                f"ca_file = {instance.pki / 'tls-ca.pem'}\n"
                "retry_base_ms = 100\nretry_max_ms = 500\n"
                "\n[auth]\nlockout_failures = 3\nlockout_seconds = 600\n")
    doc = {
        "users": [
            {"name": "officer", "email": "officer@example.test",
             "roles": ["security-officer"]},
            {"name": "officer2", "email": "officer2@example.test",
             "roles": ["security-officer"]},
            {"name": "outsider", "roles": []},
            {"name": "auditor", "roles": ["auditor"]},
        ],
        "projects": [{
            "slug": "demo-app", "name": "Demo App",
            "webhooks": [{"url": f"https://127.0.0.1:{hooks.port}/hook",
                          "secret": secret}],
            "signingPolicies": [
                {"slug": "two-person", "name": "Two-person release",
                 "certificate": "release-signing", "requiredApprovals": 2,
                 "submitters": ["ci-runner", "officer"],
                 "approvers": ["officer", "officer2"]},
            ]}],
    }
    apply_doc(instance, doc, tmp)
    for u in ("officer2", "outsider", "auditor"):
        pw = "pw-" + os.urandom(12).hex()
        set_password(instance, u, pw)
        (instance.dir / "passwords" / u).write_text(pw)
    instance.start()
    yield {"hooks": hooks, "smtp": smtp, "secret": secret, "tmp": tmp}
    hooks.stop()


# --------------------------------------------------------------- tests


def test_reference_scenario(instance, wf, tmp_path):
    ci = instance.session()
    rc = os.urandom(64 * 1024) + b"release candidate"
    # 1-2: the release candidate is test-signed
    rid = instance.submit(rc, filename="app-1.0-rc1.bin",
                          fields=instance.origin()).json()["id"]
    test_req = instance.wait_final(rid)
    assert test_req["status"] == "Completed"
    # 4: CI resubmits it for release-signing
    r = ci.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                json={"signingPolicySlug": "release-signing",
                      "description": "tests passed"}, timeout=30)
    assert r.status_code == 201, r.text
    new = r.json()
    new_id = new["id"]
    assert r.headers["Location"] == f"/api/v1/signing-requests/{new_id}"
    assert new["originalSigningRequestId"] == rid
    assert new["signingPolicySlug"] == "release-signing"
    assert new["description"] == "tests passed"
    assert new["status"] == "WaitingForApproval"
    assert new["unsignedArtifact"] == test_req["unsignedArtifact"]
    assert new["parameters"] == test_req["parameters"]
    assert new["origin"] == test_req["origin"]
    # 5: the officer is notified, by webhook and by mail
    hits = wait_for(lambda: wf["hooks"].of_type(
        "signing-request.waiting-for-approval", new_id), what="webhook")
    headers, body, ev = hits[0]
    want = "sha256=" + hmac.new(wf["secret"].encode(), body,
                                hashlib.sha256).hexdigest()
    assert headers["X-Signet-Signature-256"] == want
    assert headers["X-Signet-Event"] == "signing-request.waiting-for-approval"
    mails = wait_for(lambda: wf["smtp"].to("officer@example.test"), what="mail")
    assert any(new_id in m for m in mails)
    # 6: the officer approves
    officer = login(instance, "officer")
    decide(officer, instance, new_id, "approve", comment="tests green")
    # 7: signed with the release certificate, over the same bytes
    done = instance.wait_final(new_id)
    assert done["status"] == "Completed", done
    assert done["unsignedArtifact"]["sha256"] == sha256(rc)
    appr = done["approvals"]
    assert len(appr) == 1 and appr[0]["by"]["name"] == "officer"
    assert appr[0]["comment"] == "tests green"
    assert appr[0]["artifactSha256"] == sha256(rc)
    sig = ci.get(instance.api(f"/signing-requests/{new_id}/signed-artifact"))
    assert sig.status_code == 200
    (tmp_path / "rc.bin").write_bytes(rc)
    (tmp_path / "rc.p7s").write_bytes(sig.content)
    v = cms_verify(tmp_path / "rc.p7s", tmp_path / "rc.bin",
                   instance.pki / "release-ca.pem")
    assert v.returncode == 0, v.stderr
    # the test certificate is not the root of this one
    v = cms_verify(tmp_path / "rc.p7s", tmp_path / "rc.bin",
                   instance.pki / "test-signing.pem")
    assert v.returncode != 0
    # the original is untouched
    again = instance.get_request(rid)
    assert again == test_req
    # the submitter hears of the result
    wait_for(lambda: wf["hooks"].of_type("signing-request.completed", new_id),
             what="completed webhook")


def test_deny(instance, wf):
    rid = instance.submit(b"deny me", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    officer = login(instance, "officer")
    decide(officer, instance, rid, "deny", comment="not from a release branch")
    req = instance.get_request(rid)
    assert req["status"] == "Denied" and req["isFinalStatus"] is True
    assert req["approvals"][0]["decision"] == "denied"
    assert req["approvals"][0]["comment"] == "not from a release branch"
    assert req["signedArtifact"] is None
    r = instance.session().get(instance.api(f"/signing-requests/{rid}/signed-artifact"))
    assert r.status_code == 409
    # a decided request cannot be decided again
    decide(officer, instance, rid, "approve", expect=409)


def test_two_of_two(instance, wf):
    rid = instance.submit(b"needs two", policy="two-person").json()["id"]
    o1 = login(instance, "officer")
    o2 = login(instance, "officer2")
    decide(o1, instance, rid, "approve")
    assert instance.get_request(rid)["status"] == "WaitingForApproval"
    # nobody approves twice
    decide(o1, instance, rid, "approve", expect=409)
    decide(o2, instance, rid, "approve")
    assert instance.wait_final(rid)["status"] == "Completed"


def test_self_approval_refused(instance, wf):
    officer = login(instance, "officer")
    r = instance.submit(b"mine", policy="two-person", session=officer)
    rid = r.json()["id"]
    assert r.json()["submitter"] == {"type": "user", "name": "officer"}
    r = decide(officer, instance, rid, "approve", expect=403)
    assert "submitter" in r.json()["message"]


def test_only_approvers_decide(instance, wf):
    rid = instance.submit(b"x", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    dev = login(instance, "dev")
    decide(dev, instance, rid, "approve", expect=403)
    decide(instance.session(), instance, rid, "approve", expect=403)


def test_cancel_by_submitter(instance, wf):
    rid = instance.submit(b"cancel me", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    officer = login(instance, "officer")
    decide(officer, instance, rid, "cancel", expect=403)
    decide(instance.session(), instance, rid, "cancel", comment="wrong build")
    assert instance.get_request(rid)["status"] == "Canceled"


def test_resubmit_errors(instance, wf):
    rid = instance.submit(b"orig", fields=instance.origin()).json()["id"]
    instance.wait_final(rid)
    ci = instance.session()
    r = ci.post(instance.api(f"/signing-requests/{rid}/resubmit"), json={})
    assert r.status_code == 400 and "signingPolicySlug" in r.json()["message"]
    dev = login(instance, "dev")
    r = dev.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                 json={"signingPolicySlug": "release-signing"})
    assert r.status_code == 403, r.text
    r = ci.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                json={"signingPolicySlug": "no-such-policy"})
    assert r.status_code == 404
    # curl with form fields works as well
    p = run(["curl", "-sS", "--cacert", instance.ca, "--cert",
             instance.client_cert, "--key", instance.client_key, "-F",
             "signingPolicySlug=release-signing", "-o", "/dev/null", "-w",
             "%{http_code}", instance.api(f"/signing-requests/{rid}/resubmit")])
    assert p.stdout == "201"


def resubmit(session, instance, rid, policy):
    return session.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                        json={"signingPolicySlug": policy}, timeout=30)


def resubmissions(instance, rid):
    return instance.list_all(originalSigningRequestId=rid)


def test_resubmit_of_a_request_not_final_refused(instance, wf):
    ci = instance.session()
    rid = instance.submit(b"still waiting", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    r = resubmit(ci, instance, rid, "test-signing")
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "conflict"
    msg = r.json()["message"]
    assert "WaitingForApproval" in msg and "final status" in msg, msg
    assert "cancel it first" in msg
    assert resubmissions(instance, rid) == []
    # canceled, it is final: it may go elsewhere
    decide(ci, instance, rid, "cancel")
    r = resubmit(ci, instance, rid, "test-signing")
    assert r.status_code == 201, r.text
    assert instance.wait_final(r.json()["id"])["status"] == "Completed"


def test_resubmit_does_not_undo_a_deny(instance, wf):
    """P denies A: neither A nor any request resubmitted from A (through
    other policies, any number of times) can be resubmitted to P."""
    ci = instance.session()
    officer = login(instance, "officer")
    rid = instance.submit(b"denied build", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    decide(officer, instance, rid, "deny", comment="no")
    r = resubmit(ci, instance, rid, "release-signing")
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "conflict"
    msg = r.json()["message"]
    assert f"request {rid} was denied under signing policy " \
        "demo-app/release-signing" in msg, msg
    assert "Resubmit to another signing policy" in msg
    assert resubmissions(instance, rid) == []
    # to another policy it may go, and on from there, but never back
    r = resubmit(ci, instance, rid, "test-signing")
    assert r.status_code == 201, r.text
    child = r.json()["id"]
    assert instance.wait_final(child)["status"] == "Completed"
    r = resubmit(ci, instance, child, "test-signing")
    assert r.status_code == 201, r.text
    grandchild = r.json()["id"]
    assert instance.wait_final(grandchild)["status"] == "Completed"
    for req in (child, grandchild):
        r = resubmit(ci, instance, req, "release-signing")
        assert r.status_code == 409, r.text
        msg = r.json()["message"]
        assert f"resubmitted from request {rid}, which was denied under " \
            "signing policy demo-app/release-signing" in msg, msg
        assert [i["id"] for i in resubmissions(instance, req)
                if i["signingPolicySlug"] == "release-signing"] == []
    # a deny under one policy says nothing of another: the two-person
    # policy takes the denied bytes, and a completed request still goes
    # from test-signing to release-signing (the reference scenario)
    r = resubmit(ci, instance, grandchild, "two-person")
    assert r.status_code == 201, r.text
    ok = instance.submit(b"tested", fields=instance.origin()).json()["id"]
    instance.wait_final(ok)
    assert resubmit(ci, instance, ok, "release-signing").status_code == 201


def test_ci_identity_never_approves(instance, wf):
    """A client certificate is a build, not an approver: whatever its
    name, it cannot decide, and one person alone never meets 2 of 2."""
    rid = instance.submit(b"two needed", policy="two-person").json()["id"]
    r = decide(instance.session(), instance, rid, "approve", expect=403)
    assert "CI identity 'ci-runner' cannot approve or deny" in r.json()["message"]
    o1 = login(instance, "officer")
    decide(o1, instance, rid, "approve")
    decide(o1, instance, rid, "approve", expect=409)
    r = decide(instance.session(), instance, rid, "deny", expect=403)
    req = instance.get_request(rid)
    assert req["status"] == "WaitingForApproval"
    assert [a["by"] for a in req["approvals"]] == [
        {"type": "user", "name": "officer"}]
    decide(o1, instance, rid, "cancel", expect=403)
    decide(instance.session(), instance, rid, "cancel")


def test_visibility(instance, wf):
    rid = instance.submit(b"private").json()["id"]
    outsider = login(instance, "outsider")
    r = outsider.get(instance.api(f"/signing-requests/{rid}"))
    assert r.status_code == 404
    assert outsider.get(instance.api("/signing-requests")).json()["items"] == []
    auditor = login(instance, "auditor")
    assert auditor.get(instance.api(f"/signing-requests/{rid}")).status_code == 200
    dev = login(instance, "dev")
    assert dev.get(instance.api(f"/signing-requests/{rid}")).status_code == 200
    # the audit log is for auditors and administrators only
    assert dev.get(instance.api("/audit")).status_code == 403
    assert auditor.get(instance.api("/audit")).status_code == 200


def test_sessions(instance, wf):
    s = login(instance, "dev")
    assert s.get(instance.api("/signing-requests")).status_code == 200
    r = s.delete(instance.api("/sessions/current"))
    assert r.status_code == 204
    r = s.get(instance.api("/signing-requests"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    bad = instance.session(cert=False)
    bad.headers["Authorization"] = "Bearer signet_" + "A" * 43
    assert bad.get(instance.api("/signing-requests")).status_code == 401


def test_lockout(instance, wf):
    s = instance.session(cert=False)
    wrong = {"username": "outsider", "password": "definitely-wrong-pw"}
    t0 = time.monotonic()
    for _ in range(3):
        r = s.post(instance.api("/sessions"), json=wrong)
        assert r.status_code == 401
    # failures are slowed down
    assert time.monotonic() - t0 >= 2.5
    # locked: even the right password is refused now
    r = s.post(instance.api("/sessions"), json={
        "username": "outsider", "password": password(instance, "outsider")})
    assert r.status_code == 401
    # an unknown user gets the very same answer
    r2 = s.post(instance.api("/sessions"), json={"username": "nobody-here",
                                                   "password": "x" * 16})
    assert r2.status_code == 401 and r2.json() == r.json()


def test_webhook_receiver_down_then_up(instance, wf, tmp_path):
    port = free_port()
    hooks = Webhooks(instance, tmp_path, port=port)
    doc = {"projects": [{"slug": "demo-app", "name": "Demo App", "webhooks": [
        {"url": f"https://127.0.0.1:{wf['hooks'].port}/hook", "secret": wf["secret"]},
        {"url": f"https://127.0.0.1:{port}/late", "secret": wf["secret"]}]}]}
    apply_doc(instance, doc, tmp_path)
    rid = instance.submit(b"late delivery", policy="release-signing",
                          fields=instance.origin()).json()["id"]
    time.sleep(1.5)  # several failed tries against nothing
    hooks.start()
    try:
        wait_for(lambda: hooks.of_type("signing-request.waiting-for-approval",
                                       rid), timeout=30, what="late webhook")
    finally:
        hooks.stop()


def test_audit_chain_and_tampering(instance, wf, tmp_path):
    admin = login(instance, "admin")
    r = admin.get(instance.api("/audit"), params={"format": "jsonl"})
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert len(lines) > 10
    actions = [json.loads(l)["action"] for l in lines]
    for a in ("signing-request.submitted", "signing-request.approved",
              "signing-request.denied", "signing-request.resubmitted",
              "signing-request.completed", "session.login",
              "session.login-failed", "user.created"):
        assert a in actions, a
    good = tmp_path / "audit.jsonl"
    good.write_text("\n".join(lines) + "\n")
    signet = str(BUILD / "signet")
    ok = run([signet, "audit", "verify", str(good)], check=False)
    assert ok.returncode == 0, ok.stderr

    def broken(ls):
        p = tmp_path / "t.jsonl"
        p.write_text("\n".join(ls) + "\n")
        return run([signet, "audit", "verify", str(p)], check=False)

    # 1. an entry changed
    e = json.loads(lines[3])
    e["actor"]["name"] = "someone-else"
    changed = lines[:3] + [json.dumps(e, sort_keys=True, separators=(",", ":"))] + lines[4:]
    assert broken(changed).returncode != 0
    # 2. an entry removed
    assert broken(lines[:5] + lines[6:]).returncode != 0
    # 3. two entries swapped
    assert broken(lines[:5] + [lines[6], lines[5]] + lines[7:]).returncode != 0
