"""Refreshing a build system's JWKS from its jwksUrl (docs/origin.md,
appliance/origin/jwks_refresh.c) against a real signetd and an HTTPS JWKS server
run by the test (certificate from the instance's TLS CA): key rotation
through the admin endpoint and the CLI, an unreachable server, documents
that are refused, and the periodic thread."""

import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import BUILD, Instance, dev_id_token, run

SIGNET = str(BUILD / "signet")
BS = "dev-ci"


# ---------------------------------------------------------------- the server

class JwksServer:
    """HTTPS on 127.0.0.1: GET /jwks answers with whatever self.answer
    holds (status, content type, body bytes). stop() and start() again
    keep the address."""

    def __init__(self, cert, key):
        self.cert, self.key = cert, key
        self.answer = (200, "application/json", b"{}")
        self.hits = 0
        self.port = 0
        self.httpd = None
        self.start()
        self.url = f"https://127.0.0.1:{self.port}/jwks"

    def start(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                status, ctype, body = outer.answer
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "https://127.0.0.1:1/elsewhere")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, doc, status=200, ctype="application/json"):
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.answer = (status, ctype, body)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def server_cert(inst, d, name, ca="tls-ca"):
    """A serverAuth certificate for 127.0.0.1, issued by the instance's
    TLS CA (or self-signed with ca=None)."""
    key, crt = d / f"{name}.key", d / f"{name}.pem"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", str(key)])
    ext = d / f"{name}.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=IP:127.0.0.1\n")
    if ca is None:
        run(["openssl", "req", "-x509", "-key", str(key), "-subj",
             f"/CN={name}", "-days", "2", "-addext",
             "subjectAltName=IP:127.0.0.1", "-out", str(crt)])
    else:
        csr = d / f"{name}.csr"
        run(["openssl", "req", "-new", "-key", str(key), "-subj",
             f"/O=Signet Dev/CN={name}", "-out", str(csr)])
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
             str(inst.pki / f"{ca}.pem"), "-CAkey", str(inst.pki / f"{ca}.key"),
             "-set_serial", "0x" + os.urandom(8).hex(), "-days", "2",
             "-sha256", "-extfile", str(ext), "-out", str(crt)])
    return crt, key


# ---------------------------------------------------------------- keys

class Issuer:
    """An RSA key of the dev issuer (https://oidc.dev.signet.invalid)."""

    def __init__(self, key=None):
        self.key = key or rsa.generate_private_key(public_exponent=65537,
                                                   key_size=2048)
        self.jwk = dev_id_token.public_jwk(self.key)
        self.kid = dev_id_token.thumbprint(self.jwk)
        # as provision.sh (dev-id-token.py --jwks) writes it
        self.jwk = dict(self.jwk, kid=self.kid, alg="RS256", use="sig")

    def token(self, sha, ref="refs/heads/main", run_id="1"):
        now = int(time.time())
        return dev_id_token.mint(self.key, {
            "iss": dev_id_token.DEV_ISSUER, "aud": dev_id_token.DEV_AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 300,
            "sub": f"repo:signet-dev/demo-app:ref:{ref}",
            "repository": "signet-dev/demo-app", "ref": ref, "sha": sha,
            "run_id": run_id}, self.kid)


def jwks(*issuers):
    return {"keys": [i.jwk for i in issuers]}


# ---------------------------------------------------------------- fixtures

ORIGIN_CONF = "\n[origin]\nca_file = pki/tls-ca.pem\njwks_refresh_interval = {}\n"


def set_interval(inst, seconds):
    text = inst.conf.read_text()
    text = text.split("\n[origin]\n")[0].rstrip("\n") + "\n"
    inst.conf.write_text(text + ORIGIN_CONF.format(seconds))


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """This module's own instance: [origin] trusts the TLS CA the JWKS
    server's certificate comes from; no periodic refresh until the test
    of the thread turns it on."""
    inst = Instance(tmp_path_factory.mktemp("signet"))
    inst.provision()
    set_interval(inst, 0)
    inst.start()
    yield inst
    inst.stop()
    report = inst.sanitizer_reports()
    if report:
        pytest.fail(f"sanitizer report from signetd:\n{report}", pytrace=False)


def login(inst, user):
    return inst.login(user)


@pytest.fixture(scope="module")
def admin(instance):
    return login(instance, "admin")


@pytest.fixture(scope="module")
def dev_issuer(instance):
    return Issuer(dev_id_token.load_key(instance.pki / "oidc-issuer.key"))


@pytest.fixture(scope="module")
def server(instance, admin, dev_issuer, tmp_path_factory):
    """The JWKS server, serving the dev issuer's set, and dev-ci's jwksUrl
    pointing at it."""
    d = tmp_path_factory.mktemp("jwks")
    crt, key = server_cert(instance, d, "jwks-server")
    srv = JwksServer(crt, key)
    srv.serve(jwks(dev_issuer))
    bs = admin.get(instance.api(f"/admin/build-systems/{BS}"), timeout=30).json()
    bs["jwksUrl"] = srv.url
    r = admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs, timeout=30)
    assert r.status_code == 200, r.text
    yield srv
    srv.stop()


# ---------------------------------------------------------------- helpers

def refresh(inst, session, name=BS):
    return session.post(inst.api(f"/admin/build-systems/{name}/refresh-jwks"),
                        timeout=120)


def stored(inst, admin):
    r = admin.get(inst.api(f"/admin/build-systems/{BS}"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["jwks"]


def audit_entries(inst, admin, action="build-system.jwks-refreshed"):
    entries, after = [], None
    while True:
        params = {"limit": 1000}
        if after:
            params["after"] = after
        r = admin.get(inst.api("/audit"), params=params, timeout=30)
        assert r.status_code == 200, r.text
        entries += r.json()["items"]
        after = r.json().get("nextAfter")
        if not after:
            return [e for e in entries if e["action"] == action]


def release(inst, issuer, expect=None):
    """A submission to release-signing (verified origin required) with an
    ID token signed by issuer's key."""
    sha = os.urandom(20).hex()
    fields = {"origin.repositoryUrl": "https://github.com/signet-dev/demo-app",
              "origin.commitId": sha, "origin.branchName": "main",
              "origin.buildId": "1", "origin.idToken": issuer.token(sha)}
    return inst.submit(os.urandom(64), policy="release-signing",
                       fields=fields, expect=expect)


def accepted(inst, issuer):
    r = release(inst, issuer)
    assert r.status_code == 201, (r.status_code, r.text)
    ev = r.json()["origin"]["verification"]
    assert ev["verified"] is True and ev["keyId"] == issuer.kid, ev
    return r.json()


def refused(inst, issuer):
    r = release(inst, issuer)
    assert r.status_code == 403, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "origin_rule", body
    assert f"key '{issuer.kid}', which is not in build system" in body["message"], body
    return r.json()


def cli(inst, token, *args):
    env = dict(os.environ, SIGNET_URL=inst.url, SIGNET_CACERT=inst.ca,
               SIGNET_TOKEN=token)
    return subprocess.run([SIGNET, "admin", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def admin_token(admin):
    return admin.headers["Authorization"].split(" ", 1)[1]


# ---------------------------------------------------------------- tests

def test_unchanged_set_is_not_rewritten(instance, admin, server, dev_issuer):
    before = len(audit_entries(instance, admin))
    r = refresh(instance, admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": False, "keyIds": [dev_issuer.kid]}
    assert len(audit_entries(instance, admin)) == before
    assert server.hits >= 1


def test_rotation_by_the_admin_endpoint(instance, admin, server, dev_issuer):
    new = Issuer()
    old_request = accepted(instance, dev_issuer)
    # the issuer has rotated; the appliance does not know the key yet
    server.serve(jwks(new))
    refused(instance, new)
    r = refresh(instance, admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"changed": True, "keyIds": [new.kid]}
    assert stored(instance, admin) == jwks(new)
    # the new key verifies, the one taken out does not any more
    accepted(instance, new)
    refused(instance, dev_issuer)
    # what was recorded with an earlier request is untouched
    req = instance.get_request(old_request["id"])
    assert req["origin"]["verification"]["verified"] is True
    assert req["origin"]["verification"]["keyId"] == dev_issuer.kid
    # audited, by the administrator who asked
    e = audit_entries(instance, admin)[-1]
    assert e["target"] == BS
    assert e["actor"] == {"type": "user", "name": "admin"}
    assert e["details"] == {"url": server.url, "oldKeyIds": [dev_issuer.kid],
                            "newKeyIds": [new.kid]}
    # the export carries the refreshed set and nothing of the refresh
    # itself, so applying it changes nothing
    doc = admin.get(instance.api("/admin/export"), timeout=30).json()
    bs = next(b for b in doc["buildSystems"] if b["name"] == BS)
    assert bs["jwks"] == jwks(new) and bs["jwksUrl"] == server.url
    assert set(bs) <= {"name", "identities", "preset", "issuer", "audience",
                       "jwks", "jwksUrl", "claims", "repositoryUrlPrefix"}
    r = admin.post(instance.api("/admin/apply"), json=doc, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == ["0 changes"], r.json()


def test_rotation_by_the_cli(instance, admin, server, dev_issuer):
    new = Issuer()
    server.serve(jwks(dev_issuer, new))
    p = cli(instance, admin_token(admin), "build-systems", "refresh-jwks", BS)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip() == (f"{BS}: JWKS replaced; key ids: "
                                f"{dev_issuer.kid} {new.kid}")
    accepted(instance, dev_issuer)
    accepted(instance, new)
    p = cli(instance, admin_token(admin), "--json", "build-systems",
            "refresh-jwks", BS)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"changed": False,
                                    "keyIds": [dev_issuer.kid, new.kid]}
    # the dev issuer alone again, for the tests after this one
    server.serve(jwks(dev_issuer))
    assert refresh(instance, admin).json()["changed"] is True


def test_server_down_keeps_the_stored_set(instance, admin, server, dev_issuer):
    before, entries = stored(instance, admin), len(audit_entries(instance, admin))
    server.stop()
    try:
        r = refresh(instance, admin)
        assert r.status_code == 502, r.text
        body = r.json()
        assert body["error"] == "jwks_refresh_failed"
        assert server.url in body["message"]
        assert "stored JWKS stays in use" in body["message"]
        # the CLI says so at once: the appliance answered, no retries
        t0 = time.monotonic()
        p = cli(instance, admin_token(admin), "build-systems", "refresh-jwks", BS)
        assert p.returncode == 3, (p.stdout, p.stderr)
        assert server.url in p.stderr and "trying again" not in p.stderr
        assert time.monotonic() - t0 < 10
        accepted(instance, dev_issuer)
        assert stored(instance, admin) == before
        assert len(audit_entries(instance, admin)) == entries
        assert "jwks-refresh: build system dev-ci" in instance.log_text()
    finally:
        # the same address again, for the tests after this one
        server.start()
    assert refresh(instance, admin).status_code == 200


@pytest.fixture
def served(instance, admin, server, dev_issuer):
    """What a refused document must not change."""
    state = (stored(instance, admin), len(audit_entries(instance, admin)))
    yield server
    assert stored(instance, admin) == state[0]
    assert len(audit_entries(instance, admin)) == state[1]
    accepted(instance, dev_issuer)


def test_private_key_is_refused(instance, admin, served, dev_issuer):
    priv = dev_issuer.key.private_numbers()
    jwk = dict(dev_issuer.jwk, d=dev_id_token.int_b64url(priv.d))
    served.serve({"keys": [jwk]})
    r = refresh(instance, admin)
    assert r.status_code == 502, r.text
    assert "private or secret material" in r.json()["message"]


@pytest.mark.parametrize("doc, status, words", [
    (b"this is not json", 200, "not valid JSON"),
    (b"", 200, "the answer is empty"),
    (b'{"keys": [], "keys": []}', 200, "not valid JSON"),
    ({"keys": []}, 200, "at least one key"),
    ({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}, 200,
     "private or secret material"),
    (b"{" + b" " * (70 * 1024) + b"}", 200, "larger than 65536 bytes"),
    ({"error": "gone"}, 404, "HTTP 404"),
    ({}, 302, "redirect"),
])
def test_bad_answers_are_refused(instance, admin, served, doc, status, words):
    served.serve(doc, status=status)
    r = refresh(instance, admin)
    assert r.status_code == 502, r.text
    assert words in r.json()["message"], r.json()


def test_weak_key_is_refused(instance, admin, served):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwk = dict(dev_id_token.public_jwk(weak), kid="weak")
    served.serve({"keys": [jwk]})
    r = refresh(instance, admin)
    assert r.status_code == 502, r.text
    assert "1024 bits" in r.json()["message"]


def test_untrusted_certificate_is_refused(instance, admin, server, tmp_path,
                                          dev_issuer):
    crt, key = server_cert(instance, tmp_path, "self-signed", ca=None)
    other = JwksServer(crt, key)
    other.serve(jwks(Issuer()))
    bs = admin.get(instance.api(f"/admin/build-systems/{BS}"), timeout=30).json()
    try:
        bs["jwksUrl"] = other.url
        assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                         timeout=30).status_code == 200
        r = refresh(instance, admin)
        assert r.status_code == 502, r.text
        # the handshake fails: no request reaches the server
        assert other.hits == 0
        assert "certificate" in r.json()["message"], r.json()
        accepted(instance, dev_issuer)
    finally:
        other.stop()
        bs["jwksUrl"] = server.url
        assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                         timeout=30).status_code == 200


def test_who_and_what(instance, admin, server):
    dev = login(instance, "dev")
    r = refresh(instance, dev)
    assert r.status_code == 403, r.text
    r = refresh(instance, admin, name="no-such-system")
    assert r.status_code == 404, r.text
    # a build system without jwksUrl has nothing to fetch
    bs = admin.get(instance.api(f"/admin/build-systems/{BS}"), timeout=30).json()
    url = bs.pop("jwksUrl")
    assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                     timeout=30).status_code == 200
    try:
        r = refresh(instance, admin)
        assert r.status_code == 409, r.text
        assert "no jwksUrl" in r.json()["message"]
    finally:
        bs["jwksUrl"] = url
        assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                         timeout=30).status_code == 200


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_periodic_refresh(instance, admin, server, dev_issuer):
    """Restarted with jwks_refresh_interval = 1: fetched at start, then
    every second, audited as the system."""
    first, second = Issuer(), Issuer()
    server.serve(jwks(first))
    instance.stop()
    set_interval(instance, 1)
    instance.start()
    try:
        # at start
        assert wait_for(lambda: stored(instance, admin) == jwks(first)), \
            instance.log_text()[-2000:]
        e = audit_entries(instance, admin)[-1]
        assert e["actor"] == {"type": "system", "name": "jwks-refresh"}
        assert e["details"]["newKeyIds"] == [first.kid]
        accepted(instance, first)
        refused(instance, dev_issuer)
        # and again a moment later
        server.serve(jwks(first, second))
        assert wait_for(lambda: stored(instance, admin) == jwks(first, second))
        accepted(instance, second)
        # nothing new to store: no audit entry per pass
        n = len(audit_entries(instance, admin))
        time.sleep(2.5)
        assert len(audit_entries(instance, admin)) == n
        # a refused document is logged and changes nothing
        server.serve(b"garbage")
        assert wait_for(lambda: "not valid JSON" in instance.log_text())
        assert stored(instance, admin) == jwks(first, second)
        accepted(instance, first)
        # the dev issuer again
        server.serve(jwks(dev_issuer))
        assert wait_for(lambda: stored(instance, admin) == jwks(dev_issuer))
    finally:
        instance.stop()
        set_interval(instance, 0)
        instance.start()
    assert "jwks-refresh: build system dev-ci: new JWKS stored" in instance.log_text()


def test_stopping_does_not_wait_for_a_fetch(instance, admin, server):
    """A JWKS server that accepts and never answers holds the thread for
    up to 30 s; stopping signetd aborts the transfer instead."""
    hang = socket.create_server(("127.0.0.1", 0))
    hang.settimeout(20)
    conn = None
    bs = admin.get(instance.api(f"/admin/build-systems/{BS}"), timeout=30).json()
    bs["jwksUrl"] = f"https://127.0.0.1:{hang.getsockname()[1]}/jwks"
    assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                     timeout=30).status_code == 200
    instance.stop()
    set_interval(instance, 1)
    instance.start()
    try:
        conn, _ = hang.accept()  # the thread is in its TLS handshake now
        t0 = time.monotonic()
        assert instance.stop() == 0
        assert time.monotonic() - t0 < 10
    finally:
        if conn is not None:
            conn.close()
        hang.close()
        instance.stop()
        set_interval(instance, 0)
        instance.start()
        bs["jwksUrl"] = server.url
        assert admin.put(instance.api(f"/admin/build-systems/{BS}"), json=bs,
                         timeout=30).status_code == 200


# ------------------------------------------------- internal targets, errors

def set_jwks_url(inst, admin, url):
    bs = admin.get(inst.api(f"/admin/build-systems/{BS}"), timeout=30).json()
    bs["jwksUrl"] = url
    r = admin.put(inst.api(f"/admin/build-systems/{BS}"), json=bs, timeout=30)
    assert r.status_code == 200, r.text


def set_allow_internal(inst, value):
    """Rewrites [outbound] allow_internal (None: no such line)."""
    lines = [l for l in inst.conf.read_text().split("\n")
             if not l.startswith("allow_internal")]
    text = "\n".join(lines)
    if value is not None:
        text = text.replace("[outbound]", f"[outbound]\nallow_internal = {value}")
    inst.conf.write_text(text)


INTERNAL = "allow_internal does not list it"


def test_internal_targets_are_refused_unless_allowed(instance, admin, server,
                                                     dev_issuer):
    """Loopback, link-local and unspecified addresses, in every spelling,
    are never connected to unless [outbound] allow_internal lists them;
    the check is made on the address connected to (a name that resolves
    to loopback is refused too)."""
    port = server.port
    before = stored(instance, admin)
    instance.stop()
    set_allow_internal(instance, None)
    instance.start()
    try:
        for url in (server.url,
                    f"https://localhost:{port}/jwks",
                    f"https://[::ffff:127.0.0.1]:{port}/jwks",
                    f"https://[::1]:{port}/jwks",
                    f"https://0.0.0.0:{port}/jwks",
                    f"https://127.1.2.3:{port}/jwks",
                    f"https://169.254.169.254:{port}/jwks",
                    f"https://[fe80::1]:{port}/jwks"):
            set_jwks_url(instance, admin, url)
            hits = server.hits
            r = refresh(instance, admin)
            assert r.status_code == 502, (url, r.text)
            assert INTERNAL in r.json()["message"], (url, r.json())
            assert server.hits == hits, url
        # an allowance for another address does not cover this one
        instance.stop()
        set_allow_internal(instance, "127.0.0.2, fe80::/10")
        instance.start()
        set_jwks_url(instance, admin, server.url)
        r = refresh(instance, admin)
        assert INTERNAL in r.json()["message"], r.json()
        # a block that covers it does
        instance.stop()
        set_allow_internal(instance, "127.0.0.0/8")
        instance.start()
        r = refresh(instance, admin)
        assert r.status_code == 200, r.text
        assert stored(instance, admin) == before
    finally:
        instance.stop()
        set_allow_internal(instance, "127.0.0.1, ::1")
        instance.start()
        set_jwks_url(instance, admin, server.url)


def test_bad_allow_internal_is_a_config_error(instance):
    conf = instance.dir / "bad-outbound.conf"
    text = instance.conf.read_text().replace(
        "allow_internal = 127.0.0.1, ::1", "allow_internal = 127.0.0.1/33")
    conf.write_text(text)
    p = subprocess.run([str(BUILD / "signetd"), "-c", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "allow_internal" in p.stderr, p.stderr


def test_fetch_errors_do_not_tell_what_answered(instance, admin, server,
                                                dev_issuer):
    """What failed is said by class; nothing the peer sent (a service's
    banner), nor libcurl's text naming the port, reaches the answer."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    banner = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def talk():
        banner.settimeout(0.5)
        while not stop.is_set():
            try:
                c, _ = banner.accept()
            except OSError:
                continue
            c.sendall(b"SSH-2.0-OpenSSH_9.6 banner-secret\r\n")
            time.sleep(0.2)
            c.close()

    threading.Thread(target=talk, daemon=True).start()
    try:
        cases = [
            (f"https://127.0.0.1:{closed_port}/jwks",
             "the connection was refused or the host is unreachable"),
            (f"https://127.0.0.1:{banner.getsockname()[1]}/jwks",
             "the TLS handshake failed"),
        ]
        for url, words in cases:
            set_jwks_url(instance, admin, url)
            r = refresh(instance, admin)
            assert r.status_code == 502, r.text
            msg = r.json()["message"]
            assert words in msg, msg
            for leak in ("SSH", "banner", "Failed to connect", "port",
                         "wrong version", "routines"):
                assert leak not in msg.replace(url, ""), msg
        # an answer that is not JSON: not quoted either
        set_jwks_url(instance, admin, server.url)
        server.serve(b"SSH-2.0-OpenSSH_9.6 banner-secret")
        r = refresh(instance, admin)
        assert r.status_code == 502, r.text
        assert "not valid JSON" in r.json()["message"]
        assert "banner" not in r.json()["message"]
    finally:
        stop.set()
        banner.close()
        server.serve(jwks(dev_issuer))
        set_jwks_url(instance, admin, server.url)
