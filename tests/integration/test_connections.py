"""What a peer that has not shown who it is can hold of the HTTPS server.

One request thread serves one connection. A peer that connects and sends
nothing, half a ClientHello or half a request header is dropped after the
request timeout; one address holds at most [server]
max_connections_per_address connections, more are closed at once; and
while one address holds its maximum, others are served (health, an
approval). A body that keeps moving is not cut by the timeout.
Limits: appliance/lib/signet_limits.h."""

import http.client
import json
import os
import subprocess
import select
import socket
import ssl
import time

import pytest
import requests

from conftest import BUILD, MAX_ARTIFACT

REQUEST_TIMEOUT = 5.0   # SIGNET_HTTP_REQUEST_TIMEOUT_MS
KEEP_ALIVE = 3.0        # SIGNET_HTTP_KEEP_ALIVE_MS
PER_ADDRESS = 16        # SIGNET_DEFAULT_CONN_PER_ADDRESS
SLACK = 3.0             # scheduling, the sanitizer build
OTHER = "127.0.0.2"     # loopback too, but another peer address


def session_from(instance, source, cert=True):
    return instance.session(cert=cert, source=source)


def password(instance, user):
    return instance.password(user)


def client_hello():
    """The first flight of a real TLS client."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert len(hello) > 100
    return hello


def connect(instance, source="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.connect(("127.0.0.1", instance.port))
    return s


def closed_by_peer(s):
    """Has the server ended this connection (without waiting)?"""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def wait_closed(socks, timeout):
    """Sockets the server closed within timeout, and how long each took."""
    start = time.monotonic()
    when = {}
    while len(when) < len(socks) and time.monotonic() - start < timeout:
        for i, s in enumerate(socks):
            if i not in when and closed_by_peer(s):
                when[i] = time.monotonic() - start
        time.sleep(0.05)
    return when


def tls_context(instance):
    ctx = ssl.create_default_context(cafile=instance.ca)
    ctx.load_cert_chain(instance.client_cert, instance.client_key)
    ctx.check_hostname = False
    return ctx


def test_idle_and_half_handshakes_do_not_stop_the_api(instance):
    # a request an officer can approve
    rid = instance.submit(b"approve me while the server is busy\n",
                          policy="release-signing",
                          fields=instance.origin()).json()["id"]
    assert instance.get_request(rid)["workflowStatus"] == "WaitingForApproval"
    officer = session_from(instance, OTHER, cert=False)
    r = officer.post(instance.api("/sessions"), json={
        "username": "officer", "password": password(instance, "officer")},
        timeout=30)
    assert r.status_code == 201, r.text
    officer.headers["Authorization"] = "Bearer " + r.json()["token"]

    hello = client_hello()
    idle = [connect(instance) for _ in range(60)]
    half = []
    for _ in range(20):
        s = connect(instance)
        s.sendall(hello[:len(hello) // 2])
        half.append(s)
    socks = idle + half
    opened = time.monotonic()
    try:
        # beyond the per-address limit, connections are closed at once
        early = wait_closed(socks, 2.0)
        assert len(early) >= len(socks) - PER_ADDRESS, len(early)
        # another address is served meanwhile
        other = session_from(instance, OTHER)
        t = time.monotonic()
        r = other.get(instance.api("/health"), timeout=REQUEST_TIMEOUT)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t < 3.0
        t = time.monotonic()
        r = officer.post(instance.api(f"/signing-requests/{rid}/approve"),
                         json={"comment": "while 127.0.0.1 is busy"},
                         timeout=REQUEST_TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text)
        assert time.monotonic() - t < 3.0
        # the address at its limit gets no more
        extra = connect(instance)
        assert wait_closed([extra], 2.0), "a connection over the limit stayed"
        extra.close()
        # and the ones it holds are dropped after the request timeout
        rest = [s for i, s in enumerate(socks) if i not in early]
        late = wait_closed(rest, REQUEST_TIMEOUT + SLACK)
        assert len(late) == len(rest), (len(late), len(rest))
        assert time.monotonic() - opened < REQUEST_TIMEOUT + SLACK + 2.0
        assert max(late.values(), default=0) >= REQUEST_TIMEOUT - 3.0
    finally:
        for s in socks:
            s.close()
    # 127.0.0.1 is served again
    r = instance.session().get(instance.api("/health"), timeout=10)
    assert r.status_code == 200
    assert instance.wait_final(rid)["workflowStatus"] == "Completed"
    assert "max_connections_per_address" in instance.log_text()


def test_half_a_request_header_is_dropped(instance):
    raw = connect(instance)
    s = tls_context(instance).wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n")
        s.settimeout(REQUEST_TIMEOUT + SLACK)
        t = time.monotonic()
        try:
            data = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        took = time.monotonic() - t
        assert b"200 OK" not in data
        assert took < REQUEST_TIMEOUT + SLACK, took
    except socket.timeout:
        pytest.fail("the server kept a half header open")
    finally:
        s.close()


def test_idle_keep_alive_connection_is_closed(instance):
    c = http.client.HTTPSConnection("127.0.0.1", instance.port,
                                    context=tls_context(instance), timeout=30)
    c.request("GET", "/api/v1/health")
    r = c.getresponse()
    assert r.status == 200
    r.read()
    assert r.getheader("Connection", "").lower() != "close"
    closed = wait_closed([c.sock], KEEP_ALIVE + SLACK)
    c.close()
    assert closed, "an idle keep-alive connection stayed open"


def multipart(data):
    boundary = "signet-" + os.urandom(8).hex()
    head = "".join(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f"name=\"{k}\"\r\n\r\n{v}\r\n"
        for k, v in (("projectSlug", "demo-app"),
                     ("signingPolicySlug", "test-signing"))).encode()
    head += (f"--{boundary}\r\nContent-Disposition: form-data; "
             f"name=\"artifact\"; filename=\"slow.bin\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return boundary, head + data + tail


def test_slow_but_moving_upload_is_not_cut(instance):
    data = os.urandom(MAX_ARTIFACT // 2)
    boundary, body = multipart(data)
    c = http.client.HTTPSConnection("127.0.0.1", instance.port,
                                    context=tls_context(instance), timeout=60)
    c.putrequest("POST", "/api/v1/signing-requests")
    c.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    t = time.monotonic()
    step = 32 * 1024
    for i in range(0, len(body), step):
        c.send(body[i:i + step])
        time.sleep(0.4)
    took = time.monotonic() - t
    assert took > 2 * REQUEST_TIMEOUT  # far longer than the timeout
    r = c.getresponse()
    text = r.read()
    assert r.status == 201, text
    c.close()


def test_stalled_body_is_dropped(instance):
    """A body that stops: each read the handler (and CivetWeb, draining
    it) makes waits at most the request timeout, then the request fails
    and the connection ends."""
    data = os.urandom(256 * 1024)
    boundary, body = multipart(data)
    raw = connect(instance)
    s = tls_context(instance).wrap_socket(raw, server_hostname="localhost")
    limit = 3 * REQUEST_TIMEOUT + KEEP_ALIVE + 2 * SLACK
    got = b""
    try:
        s.sendall((f"POST /api/v1/signing-requests HTTP/1.1\r\n"
                   f"Host: localhost\r\n"
                   f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode())
        s.sendall(body[:len(body) // 2])
        s.settimeout(limit)
        t = time.monotonic()
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, ssl.SSLError):
            pass
        assert time.monotonic() - t < limit
    except socket.timeout:
        pytest.fail(f"the server held a stalled body for {limit}s")
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    # and nothing of it is left behind
    assert instance.tmp_entries() == []


@pytest.mark.parametrize("settings, words", [
    ("threads = 32\nmax_connections_per_address = 9\n",
     "at least 4 times max_connections_per_address"),
    ("max_connections_per_address = 0\n", "max_connections_per_address"),
    ("max_connections_per_address = 129\n", "max_connections_per_address"),
    ("threads = 3\n", "threads must be"),
])
def test_connection_settings_are_checked(instance, tmp_path, settings, words):
    text = instance.conf.read_text().replace(
        "threads = 64\n", settings)
    conf = tmp_path / "signetd.conf"
    conf.write_text(text)
    p = subprocess.run([str(BUILD / "signetd"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert words in p.stderr, p.stderr


def _answers(instance, requests_bytes):
    """Sends raw requests on one mTLS connection; returns each answer as
    (status line, headers, body), read by its Content-Length."""
    ctx = ssl.create_default_context(cafile=instance.ca)
    ctx.load_cert_chain(*instance.cert)
    sock = socket.create_connection(("127.0.0.1", instance.port), timeout=10)
    s = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    out, buf = [], b""
    try:
        for req in requests_bytes:
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(65536)
                assert chunk, buf
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                k, v = line.split(":", 1)
                assert k.lower() not in headers, ("header twice", k)
                headers[k.lower()] = v.strip()
            n = int(headers["content-length"])
            while len(buf) < n:
                chunk = s.recv(65536)
                assert chunk
                buf += chunk
            out.append((lines[0], headers, buf[:n]))
            buf = buf[n:]
    finally:
        s.close()
    return out


def test_json_answers_carry_their_headers_and_keep_the_connection(instance):
    """An API answer is written whole by Signet (head and body in one
    write): its status line, Content-Length, security headers, Date and
    Connection are right, and the connection serves the next request."""
    get = (b"GET /api/v1/signing-requests?limit=1 HTTP/1.1\r\n"
           b"Host: 127.0.0.1\r\n\r\n")
    missing = (b"GET /api/v1/signing-requests/00000000-0000-4000-8000-000000000000 HTTP/1.1\r\n"
               b"Host: 127.0.0.1\r\n\r\n")
    close = (b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"Connection: close\r\n\r\n")
    answers = _answers(instance, [get, missing, close])
    assert [a[0] for a in answers] == ["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found",
                                       "HTTP/1.1 200 OK"]
    for status, h, body in answers:
        assert h["content-type"] == "application/json; charset=utf-8"
        assert json_ok(body), body
        assert h["cache-control"] == "no-store"
        assert h["x-content-type-options"] == "nosniff"
        assert h["strict-transport-security"].startswith("max-age=")
        # RFC 9110 5.6.7: IMF-fixdate, within a minute of now
        t = time.mktime(time.strptime(h["date"], "%a, %d %b %Y %H:%M:%S GMT")) - time.timezone
        assert abs(t - time.time()) < 60, h["date"]
    assert [a[1]["connection"] for a in answers] == ["keep-alive", "keep-alive", "close"]
    assert json.loads(answers[1][2])["error"] == "not_found"
    # HTTP/1.0 without keep-alive: the answer says close
    (status, h, _), = _answers(instance, [b"GET /api/v1/health HTTP/1.0\r\n\r\n"])
    assert status.endswith(" 200 OK") and h["connection"] == "close"
    # every status has its own reason phrase (CivetWeb's table), not a
    # generic one: a malformed PE is a 422
    r = instance.submit(b"MZ\x90\x00 not an image", expect=422,
                        fields={"artifactConfigurationSlug": "authenticode-pe"})
    assert r.reason not in ("", "Error", "Internal Server Error"), r.reason


def json_ok(body):
    try:
        json.loads(body)
    except ValueError:
        return False
    return body.endswith(b"\n")
