"""Text from the network is checked before anything is written: file
names, form fields, url-encoded bodies, query strings and path segments
that are not UTF-8 text get a 400 (or 404) that names them, not a 500,
and leave the service working (no writer lock held, no worker stuck).
Url-encoded bodies never reach CivetWeb's parser, which looped forever on
"username=%". A submission is checked against its policy before its
artifact is stored, and a refused large body is not read to its end."""

import concurrent.futures
import json
import os
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import MAX_ARTIFACT, peer

BOUNDARY = "sigNETboundary7f3a"


def password(instance, user):
    return instance.password(user)


def login(instance, user):
    return instance.login(user)


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    return body


def part(name, value, filename=None):
    """One multipart part; name, value and filename as raw bytes."""
    name = name.encode() if isinstance(name, str) else name
    value = value.encode() if isinstance(value, str) else value
    disp = b'form-data; name="' + name + b'"'
    if filename is not None:
        filename = filename.encode() if isinstance(filename, str) else filename
        disp += b'; filename="' + filename + b'"'
    return (b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disp
            + b"\r\n\r\n" + value + b"\r\n")


def multipart(*parts):
    return b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


def slugs(policy="test-signing", project="demo-app"):
    return part("projectSlug", project) + part("signingPolicySlug", policy)


def post_form(instance, body, path="/signing-requests", session=None):
    s = session or instance.session()
    return s.post(instance.api(path), data=body, timeout=30, headers={
        "Content-Type": "multipart/form-data; boundary=" + BOUNDARY})


def ids(instance):
    return [i["id"] for i in instance.list_all()]


class Raw:
    """A TLS connection that writes exactly the bytes it is given (for
    bodies cut short, sent in pieces, or sent only in part)."""

    def __init__(self, instance, cert=True):
        ctx = ssl.create_default_context(cafile=instance.ca)
        if cert:
            ctx.load_cert_chain(*instance.cert)
        sock = socket.create_connection(("127.0.0.1", instance.port), timeout=15)
        self.s = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sent = 0

    def send(self, data):
        self.s.sendall(data)
        self.sent += len(data)

    def response(self, timeout=15):
        """(status, headers, JSON body) of one response."""
        self.s.settimeout(timeout)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a response: {buf!r}")
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, json.loads(body[:n]) if n else None

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def raw_head(method, path, length, ctype, extra=b""):
    return (f"{method} /api/v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {length}\r\n").encode() \
        + extra + b"\r\n"


def assert_alive(instance):
    """health answers, a submission, a login and a decision work."""
    r = instance.session(cert=False).get(instance.api("/health"), timeout=10)
    assert r.status_code == 200, r.text
    rid = instance.submit(os.urandom(64)).json()["id"]
    assert instance.wait_final(rid)["workflowStatus"] == "Completed"
    officer = login(instance, "officer")
    rel = instance.submit(os.urandom(64), policy="release-signing",
                          fields=instance.origin()).json()["id"]
    assert instance.get_request(rel)["workflowStatus"] == "WaitingForApproval"
    r = officer.post(instance.api(f"/signing-requests/{rel}/approve"),
                     json={"comment": "ok"}, timeout=30)
    assert r.status_code == 200, r.text
    assert instance.wait_final(rel)["workflowStatus"] == "Completed"


# ------------------------------------------------------ text, not bytes

NOT_TEXT = [b"\xff\xfe", b"caf\xc3", b"a\xc0\xafb", b"\xed\xa0\x80", b"a\x00b",
            b"\x1b[2J"]


@pytest.mark.parametrize("value", NOT_TEXT)
def test_file_name_not_text(instance, value):
    before = ids(instance)
    r = post_form(instance, multipart(slugs(), part("artifact", b"data",
                                                     filename=b"app" + value + b".bin")))
    body = error_of(r, 400)
    # a NUL in a part's headers ends them for CivetWeb: the body is
    # refused as unreadable
    if b"\0" not in value:
        assert "file name" in body["message"] and "artifact" in body["message"], body
    assert ids(instance) == before
    assert instance.tmp_entries() == []


def test_file_name_percent_escapes_are_decoded_as_browsers_send_them(instance):
    # HTML's multipart encoding writes a file name's '"', CR and LF as
    # %22, %0D, %0A: those are decoded, and a CR or LF is then refused;
    # any other '%' is the name's own
    before = ids(instance)
    for name in ("a%0Ab.bin", "a%0db.bin"):
        r = post_form(instance, multipart(slugs(), part("artifact", b"data",
                                                         filename=name)))
        assert "file name" in error_of(r, 400)["message"], name
    assert ids(instance) == before
    r = post_form(instance, multipart(slugs(), part("artifact", b"data",
                                                     filename="a%22b%ff.bin")))
    assert r.status_code == 201, r.text
    assert r.json()["unsignedArtifact"]["name"] == 'a"b%ff.bin'


@pytest.mark.parametrize("field", ["description", "parameters.version",
                                   "origin.commitId", "origin.branchName",
                                   "origin.repositoryUrl", "signingPolicySlug"])
@pytest.mark.parametrize("value", [b"\xff", b"a\x00b", b"\x07"])
def test_field_not_text(instance, field, value):
    before = ids(instance)
    fields = [part("projectSlug", "demo-app"), part(field, value)]
    if field != "signingPolicySlug":
        fields.append(part("signingPolicySlug", "test-signing"))
    r = post_form(instance, multipart(*fields, part("artifact", b"x", filename="a.bin")))
    body = error_of(r, 400)
    assert field in body["message"], body
    assert ids(instance) == before


def test_unknown_field_name_not_text(instance):
    r = post_form(instance, multipart(part(b"parameters.\xff", "x"), slugs(),
                                      part("artifact", b"x", filename="a.bin")))
    error_of(r, 400)
    r = post_form(instance, multipart(part(b"nope\xc3", "x"), slugs(),
                                      part("artifact", b"x", filename="a.bin")))
    error_of(r, 400)


def test_after_bad_text_everything_works(instance):
    """A bad upload used to leave the writer lock held: every later write
    hung."""
    for value in NOT_TEXT[:2]:
        post_form(instance, multipart(slugs(), part("artifact", b"d", filename=b"x" + value)))
        post_form(instance, multipart(part("description", value), slugs(),
                                      part("artifact", b"d", filename="a")))
    assert_alive(instance)


# ------------------------------------------------------- small bodies

BAD_URLENCODED = [b"username=%", b"username=%0", b"username=%zz", b"a=%00",
                  b"=", b"username=%&password=x", b"username", b"%=x",
                  b"username=a%ffb&password=x", b"username=x&username=y",
                  b"n" * 5000 + b"=1", b"username=" + b"%" * 3000]


@pytest.mark.parametrize("body", BAD_URLENCODED, ids=lambda b: repr(b[:24]))
def test_bad_login_bodies(instance, body):
    t = time.monotonic()
    r = instance.session(cert=False).post(
        instance.api("/sessions"), data=body, timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code in (400, 413), (r.status_code, r.text)
    error_of(r, r.status_code)
    assert time.monotonic() - t < 5


def test_login_bodies_no_fields(instance):
    for body in (b"&&&", b"&"):
        r = instance.session(cert=False).post(
            instance.api("/sessions"), data=body, timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert error_of(r, 400)["error"] == "missing_field"


def test_urlencoded_login_works(instance):
    r = instance.session(cert=False).post(
        instance.api("/sessions"), timeout=10,
        data={"username": "dev", "password": password(instance, "dev")})
    assert r.status_code == 201, r.text
    assert r.json()["tokenType"] == "Bearer"


def test_bad_login_bodies_in_parallel(instance):
    """40 at once used to take every worker (32) for good."""
    def bad(i):
        # several peers: one address holds at most 16 connections
        s = instance.session(cert=False, source=peer(i))
        r = s.post(instance.api("/sessions"), timeout=20,
                   data=BAD_URLENCODED[i % 4],
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        return r.status_code

    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(40) as ex:
        codes = list(ex.map(bad, range(40)))
    assert codes == [400] * 40, codes
    assert time.monotonic() - t < 30
    r = instance.session(cert=False).get(instance.api("/health"), timeout=5)
    assert r.status_code == 200
    login(instance, "dev")


def test_small_form_bodies_checked(instance):
    """Decisions and resubmit take url-encoded or multipart text fields:
    bad escapes, bytes that are not text, names twice, files are 400."""
    rid = instance.submit(b"small bodies").json()["id"]
    instance.wait_final(rid)
    before = ids(instance)
    s = instance.session()
    url = f"/signing-requests/{rid}/resubmit"
    for body in (b"signingPolicySlug=%", b"signingPolicySlug=test-signing&description=%ff",
                 b"signingPolicySlug=test-signing&description=a%00",
                 b"signingPolicySlug=a&signingPolicySlug=b"):
        r = s.post(instance.api(url), data=body, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        error_of(r, 400)
    for body in (multipart(part("signingPolicySlug", "test-signing"), part("description", b"\xff")),
                 multipart(part("signingPolicySlug", "test-signing"), part("description", b"a\x00")),
                 multipart(part("signingPolicySlug", "a"), part("signingPolicySlug", "b")),
                 multipart(part("signingPolicySlug", "x", filename="f.txt"))):
        error_of(post_form(instance, body, path=url), 400)
    r = s.post(instance.api(url), timeout=10, json={
        "signingPolicySlug": "test-signing", "description": "bell\u0007"})
    error_of(r, 400)
    assert ids(instance) == before
    # and all three kinds still work
    for kw in ({"data": {"signingPolicySlug": "test-signing", "description": "d\u00e9j\u00e0"}},
               {"json": {"signingPolicySlug": "test-signing"}}):
        r = s.post(instance.api(url), timeout=10, **kw)
        assert r.status_code == 201, r.text
    r = post_form(instance, multipart(part("signingPolicySlug", "test-signing")), path=url)
    assert r.status_code == 201, r.text


def test_other_content_type_refused(instance):
    r = instance.session(cert=False).post(
        instance.api("/sessions"), data=b"username=dev", timeout=10,
        headers={"Content-Type": "text/plain"})
    error_of(r, 415)


# ----------------------------------------------------- query and path

@pytest.mark.parametrize("query", ["status=%", "status=%zz", "status=%ff",
                                   "status=a%00", "projectSlug=%c3",
                                   "status=Completed&status=Failed",
                                   "submitter=%1b%5b2J"])
def test_bad_query_strings(instance, query):
    s = instance.session()
    r = s.get(instance.api("/signing-requests") + "?" + query, timeout=10)
    body = error_of(r, 400)
    assert body["error"] == "invalid_query", body


def test_query_echo_is_text(instance):
    # a value that is text but unknown is echoed in the message
    r = instance.session().get(instance.api("/signing-requests"),
                               params={"status": "K\u00e4se"}, timeout=10)
    assert "K\u00e4se" in error_of(r, 400)["message"]


def test_audit_query_checked(instance):
    admin = login(instance, "admin")
    r = admin.get(instance.api("/audit") + "?limit=%ff", timeout=10)
    error_of(r, 400)


@pytest.mark.parametrize("segment", [b"\xff", b"ab\xc3", b"a\x01b", b"\xe2\x82\xac"])
def test_path_segments_not_text(instance, segment):
    c = Raw(instance)
    try:
        c.send(b"GET /api/v1/signing-requests/" + segment + b" HTTP/1.1\r\n"
               b"Host: 127.0.0.1\r\n\r\n")
        status, _, body = c.response()
    finally:
        c.close()
    assert status in (400, 404), (status, body)
    if body is not None:
        assert body["error"]


# ------------------------------------------------------- multipart faults

def test_multipart_faults(instance):
    """Bodies cut short, empty parts, parts without a name, a missing
    final boundary: each a quick 4xx, nothing stored."""
    before = ids(instance)
    b = BOUNDARY.encode()
    bad = [
        # ends in the middle of the artifact
        slugs() + b"--" + b + b'\r\nContent-Disposition: form-data; name="artifact"; '
        b'filename="a.bin"\r\n\r\nhalf of it',
        # no closing boundary
        slugs() + part("artifact", b"x", filename="a.bin"),
        # a part without a name
        slugs() + b"--" + b + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n--" + b + b"--\r\n",
        # a part without headers
        slugs() + b"--" + b + b"\r\n\r\nx\r\n--" + b + b"--\r\n",
        # empty name
        multipart(part("", "x"), slugs(), part("artifact", b"x", filename="a.bin")),
        # an empty artifact part name with a file
        multipart(slugs(), part("", b"x", filename="a.bin")),
        # nothing but the end
        b"--" + b + b"--\r\n",
        b"",
        b"garbage",
    ]
    for body in bad:
        t = time.monotonic()
        r = post_form(instance, body)
        assert 400 <= r.status_code < 500, (body[:80], r.status_code, r.text)
        assert time.monotonic() - t < 5
    # an empty text part is an empty value, which is fine for description
    r = post_form(instance, multipart(part("description", b""), slugs(),
                                      part("artifact", b"ok", filename="a.bin")))
    assert r.status_code == 201, r.text
    assert len(ids(instance)) == len(before) + 1
    # the signer writes the signature through tmp/ too: once it is done,
    # nothing of any upload is left there
    instance.wait_final(r.json()["id"])
    assert instance.tmp_entries() == []


def test_multipart_messages_say_what_is_wrong(instance):
    """The multipart reader names the fault: a body without its closing
    boundary, a boundary that goes on, an encoded part, a Content-Type
    without a boundary. Nothing is stored."""
    before = ids(instance)
    b = BOUNDARY.encode()
    ctype = "multipart/form-data; boundary=" + BOUNDARY
    cases = [
        (slugs() + part("artifact", b"x" * 5000, filename="a.bin"), ctype, "cut short"),
        (slugs() + b"--" + b + b"x\r\n", ctype, "goes on"),
        (slugs() + b"--" + b + b'\r\nContent-Disposition: form-data; name="artifact"; '
         b'filename="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\neA==\r\n--' + b + b"--\r\n",
         ctype, "Content-Transfer-Encoding"),
        (multipart(slugs(), part("artifact", b"x", filename="a.bin")),
         "multipart/form-data", "boundary"),
        (multipart(slugs(), part("artifact", b"x", filename="a.bin")),
         "multipart/form-data; boundary=" + "b" * 71, "boundary"),
    ]
    # a part's headers past their limit (8 KiB) is a 413 that says so
    long_head = (slugs() + b"--" + b + b'\r\nContent-Disposition: form-data; name="artifact"; '
                 b'filename="a.bin"\r\nX-Padding: ' + b"p" * 9000 + b"\r\n\r\nx\r\n--" + b + b"--\r\n")
    cases.append((long_head, ctype, "headers are longer", 413))
    for body, ct, word, *status in cases:
        r = instance.session().post(instance.api("/signing-requests"), data=body,
                                    timeout=30, headers={"Content-Type": ct})
        msg = error_of(r, status[0] if status else 400)["message"]
        assert word in msg, (word, msg)
    assert ids(instance) == before
    assert instance.tmp_entries() == []


def test_upload_gets_100_continue_after_the_checks(instance, tmp_path):
    """A client that waits for 100 Continue (curl, above 1 MiB) gets it,
    but only once the checks that need no body have passed: a body too
    large is refused before it is sent."""
    f = tmp_path / "a.bin"
    f.write_bytes(os.urandom(1536 * 1024))
    p = subprocess.run(["curl", "-v", "-sS", "--max-time", "60", "--cacert", instance.ca,
                        "--cert", instance.client_cert, "--key", instance.client_key,
                        "-w", "\n%{http_code}", "-F", "projectSlug=demo-app",
                        "-F", "signingPolicySlug=test-signing", "-F", f"artifact=@{f}",
                        instance.api("/signing-requests")],
                       capture_output=True, text=True, check=False)
    assert "> Expect: 100-continue" in p.stderr, p.stderr
    assert "< HTTP/1.1 100 Continue" in p.stderr, p.stderr
    assert p.stdout.rpartition("\n")[2] == "201", (p.stdout, p.stderr)
    rec = json.loads(p.stdout.rpartition("\n")[0])
    assert rec["unsignedArtifact"]["size"] == 1536 * 1024
    # too large by its Content-Length: the final answer, no 100
    c = Raw(instance)
    try:
        c.send(raw_head("POST", "/signing-requests", MAX_ARTIFACT + (2 << 20),
                        "multipart/form-data; boundary=" + BOUNDARY,
                        b"Expect: 100-continue\r\n"))
        status, _, body = c.response()
    finally:
        c.close()
    assert status == 413, (status, body)
    # a body of the right size: 100 first, then the body, then 201
    body = multipart(slugs(), part("artifact", os.urandom(4096), filename="c.bin"))
    c = Raw(instance)
    try:
        c.send(raw_head("POST", "/signing-requests", len(body),
                        "multipart/form-data; boundary=" + BOUNDARY,
                        b"Expect: 100-continue\r\n"))
        status, _, _ = c.response()
        assert status == 100
        c.send(body)
        status, headers, rec = c.response()
    finally:
        c.close()
    assert status == 201, rec
    assert headers["location"] == "/api/v1/signing-requests/" + rec["id"]
    assert headers["content-type"].startswith("application/json")
    assert headers["cache-control"] == "no-store"


def test_multipart_in_pieces(instance):
    """A boundary split across writes is found; a body sent slowly works."""
    body = multipart(slugs(), part("description", "pieces"),
                     part("artifact", os.urandom(20000), filename="p.bin"))
    c = Raw(instance)
    try:
        c.send(raw_head("POST", "/signing-requests", len(body),
                        "multipart/form-data; boundary=" + BOUNDARY))
        cuts = [0, 3, 50, 70, 200, 9000, len(body) - 10, len(body) - 3, len(body)]
        for a, z in zip(cuts, cuts[1:]):
            c.send(body[a:z])
            time.sleep(0.05)
        status, _, rec = c.response()
    finally:
        c.close()
    assert status == 201, rec
    assert rec["unsignedArtifact"]["name"] == "p.bin"


def test_artifact_must_be_last(instance):
    before = ids(instance)
    for after in ("description", "parameters.v", "origin.commitId"):
        r = post_form(instance, multipart(slugs(), part("artifact", b"x", filename="a"),
                                          part(after, "x")))
        body = error_of(r, 400)
        assert body["error"] == "artifact_not_last", body
        assert after in body["message"] and "last part" in body["message"]
    for late in ("projectSlug", "signingPolicySlug"):
        first = "signingPolicySlug" if late == "projectSlug" else "projectSlug"
        value = "test-signing" if first == "signingPolicySlug" else "demo-app"
        r = post_form(instance, multipart(part(first, value),
                                          part("artifact", b"x", filename="a"),
                                          part(late, "x")))
        body = error_of(r, 400)
        assert late in body["message"] and "before the artifact" in body["message"], body
    assert ids(instance) == before
    assert instance.tmp_entries() == []


# -------------------------------------- refused before the artifact is read

def partial_upload(instance, fields, session_token=None, total=MAX_ARTIFACT - 4096,
                   first=32 * 1024):
    """Sends the text fields and the first bytes of a large artifact, then
    waits for the answer without sending the rest. Returns (status, body,
    bytes sent, Content-Length, tmp/ entries seen while waiting)."""
    head_part = (fields + b"--" + BOUNDARY.encode()
                 + b'\r\nContent-Disposition: form-data; name="artifact"; '
                   b'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n')
    tail = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
    length = len(head_part) + total + len(tail)
    extra = b""
    if session_token:
        extra = b"Authorization: Bearer " + session_token.encode() + b"\r\n"
    c = Raw(instance, cert=session_token is None)
    seen = set()
    try:
        c.send(raw_head("POST", "/signing-requests", length,
                        "multipart/form-data; boundary=" + BOUNDARY, extra))
        # small enough for the socket buffers: the client is not held in
        # a send when the server stops reading
        c.send(head_part + b"\0" * first)
        seen.update(instance.tmp_entries())
        status, headers, body = c.response(timeout=15)
        seen.update(instance.tmp_entries())
    finally:
        c.close()
    return status, body, c.sent, length, seen


def test_unauthorised_large_upload_refused_before_stored(instance):
    dev = login(instance, "dev")  # a submitter of test-signing only
    token = dev.headers["Authorization"].split()[1]
    before = ids(instance)
    status, body, sent, length, seen = partial_upload(
        instance, slugs(policy="release-signing"), session_token=token)
    assert status == 403, body
    assert "release-signing" in body["message"], body
    assert sent < length // 2, (sent, length)
    assert seen == set(), seen
    assert instance.tmp_entries() == []
    assert ids(instance) == before


@pytest.mark.parametrize("project,policy,status", [
    ("no-such-project", "test-signing", 404),
    ("demo-app", "no-such-policy", 404),
])
def test_unknown_policy_large_upload_refused_before_stored(instance, project, policy,
                                                           status):
    got, body, sent, length, seen = partial_upload(instance, slugs(policy, project))
    assert got == status, body
    assert sent < length // 2, (sent, length)
    assert seen == set() and instance.tmp_entries() == []


def test_origin_refused_before_stored(instance):
    # release-signing wants a verified origin from main: without one the
    # answer comes before the artifact is read
    got, body, sent, length, seen = partial_upload(
        instance, slugs(policy="release-signing"))
    assert got == 403, body
    assert sent < length // 2 and seen == set()


def test_slugs_after_artifact_refused_before_stored(instance):
    got, body, sent, length, seen = partial_upload(
        instance, part("projectSlug", "demo-app"))
    assert got == 400, body
    assert "before the artifact" in body["message"]
    assert sent < length // 2 and seen == set()


def test_refused_body_not_drained(instance):
    """A body refused by its size is answered at once and not read to its
    end: a client that keeps sending is cut off after at most
    SIGNET_MAX_DRAIN (1 MiB) more, plus what the socket buffers hold."""
    declared = 200 * 1024 * 1024
    c = Raw(instance)
    chunk = b"\0" * 65536
    t = time.monotonic()
    try:
        c.send(raw_head("POST", "/signing-requests", declared,
                        "multipart/form-data; boundary=" + BOUNDARY))
        with pytest.raises((OSError, ssl.SSLError)):
            while c.sent < declared:
                c.send(chunk)
    finally:
        c.close()
    assert c.sent < declared // 4, c.sent
    assert time.monotonic() - t < 30
    assert instance.tmp_entries() == []


def test_still_alive_after_refusals(instance):
    assert_alive(instance)


# ------------------------------------------------------------- stopping

def test_stops_on_sigterm_after_bad_bodies(instance):
    """A worker stuck in CivetWeb's url-encoded parser kept signetd from
    stopping."""
    for body in BAD_URLENCODED[:6]:
        try:
            instance.session(cert=False).post(
                instance.api("/sessions"), data=body, timeout=5,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        except requests.RequestException:
            pass
    t = time.monotonic()
    rc = instance.stop(timeout=20)
    assert rc == 0, rc
    assert time.monotonic() - t < 20
    instance.start()
    r = instance.session(cert=False).get(instance.api("/health"), timeout=10)
    assert r.status_code == 200
