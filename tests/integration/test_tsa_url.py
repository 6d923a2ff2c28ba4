"""Time-stamps from an RFC 3161 server in the network (a policy's
`timestamp: url`, appliance/sign/tsa_client.c, README "Time stamping"):
the server is this same instance's [tsa] listener, reached through the
outbound rules (provisioning lists 127.0.0.1 in [outbound] allow_internal)
and trusted through the policy's timestampCaPem (the release CA that
issued the development TSA's certificate) and timestampTlsCaPem (the
listener's TLS CA). Detached CMS checked with `openssl cms -verify` and
its token, taken from the unsigned attributes, with `openssl ts -verify`;
Authenticode (script and PE) with `osslsigncode verify -TSA-CAfile`. A
server that refuses connections, one that answers garbage, one whose
tokens chain to another CA and an internal address the rules do not list
each make the request Failed after the retries, with a history message
(failureReason) naming the TSA and what went wrong; `signet audit reconcile` stays clean throughout."""

import http.server
import json
import re
import threading
import time

import pytest

from conftest import BUILD, free_port, run
from test_authenticode import HELLO_C, SCRIPT, mingw, tool
from test_tsa import chain_file, der_children, signer_info

PROJECT = "tsa-url"


class Garbage(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 200 and bytes that are no TimeStampResp."""
    hits = 0

    def do_POST(self):  # noqa: N802 (http.server's name)
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        type(self).hits += 1
        body = b"\x30\x03\x02\x01\x00 this is not a reply"
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def garbage():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/tsa"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def pol(instance, garbage, tmp_path_factory):
    conf = instance.conf.read_text()
    # the TSA is on loopback: the outbound rules must let signetd reach it
    m = re.search(r"^allow_internal = (.*)$", conf, re.M)
    assert m and "127.0.0.1" in m.group(1), conf
    doc = json.loads((instance.dir / "appliance.json").read_text())
    for c in doc["certificates"]:
        c["chainFile"] = str(instance.dir / c["chainFile"])
    release_ca = (instance.pki / "release-ca.pem").read_text()
    tls_ca = open(instance.ca).read()
    good = f"https://127.0.0.1:{instance.tsa_port}/api/v1/timestamp"

    def p(slug, url=good, ca=release_ca, tls=tls_ca):
        d = {"slug": slug, "name": slug, "certificate": "release-signing",
             "requiredApprovals": 0, "submitters": ["ci-runner"],
             "approvers": [], "artifactConfigurations": [
                 "detached-cms", "authenticode-script", "authenticode-pe"],
             "timestamp": "url", "timestampUrl": url, "timestampCaPem": ca}
        if tls is not None:
            d["timestampTlsCaPem"] = tls
        return d

    refused = f"http://127.0.0.1:{free_port()}/tsa"
    doc["projects"].append({
        "slug": PROJECT, "name": "TSA URL", "repositoryUrls": [],
        "url": "https://signet.test/tsa-url",
        "signingPolicies": [
            p("good"),
            p("refused", url=refused, tls=None),
            p("garbage", url=garbage, tls=None),
            # the test certificate is a self-signed CA of its own: the
            # development TSA's tokens do not chain to it
            p("other-ca", ca=(instance.pki / "test-signing.pem").read_text()),
            # 127.0.0.2 is loopback and not in allow_internal
            p("internal", url="http://127.0.0.2:9/tsa", tls=None),
        ]})
    path = tmp_path_factory.mktemp("tsaurl") / "doc.json"
    path.write_text(json.dumps(doc))
    instance.signet("apply", str(path))
    return {"good": good, "refused": refused, "garbage": garbage}


def submit(instance, data, policy, conf, name):
    r = instance.submit(data, project=PROJECT, policy=policy, filename=name,
                        fields={"artifactConfigurationSlug": conf})
    return instance.wait_final(r.json()["id"])


def signed(instance, req):
    r = instance.session().get(
        instance.api(f"/signing-requests/{req['id']}/signed-artifact"),
        timeout=30)
    assert r.status_code == 200, r.text
    return r.content


def reconcile_clean(instance):
    p = run([str(BUILD / "signet"), "-c", str(instance.conf), "audit",
             "reconcile"], check=False, timeout=300)
    findings = [ln for ln in p.stdout.splitlines()
                if ln.startswith("finding: ")]
    assert findings == [], p.stdout + p.stderr
    assert p.returncode == 0, p.stdout + p.stderr


def test_cms_token_from_the_url(instance, pol, tmp_path):
    data = b"stamped by a TSA in the network\n"
    req = submit(instance, data, "good", "detached-cms", "a.bin")
    assert req["status"] == "Completed", req
    sig = signed(instance, req)
    sp, content = tmp_path / "a.p7s", tmp_path / "a.bin"
    sp.write_bytes(sig)
    content.write_bytes(data)
    v = run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
             str(sp), "-content", str(content), "-CAfile",
             str(instance.pki / "release-ca.pem"), "-purpose", "any",
             "-out", "/dev/null"], check=False)
    assert v.returncode == 0, v.stderr
    fields = signer_info(sig)
    assert fields[-1][0] == 0xA1, "no unsignedAttrs"
    sigval = fields[-2]
    signature = sig[sigval[2]:sigval[3]]
    attrs = der_children(sig, fields[-1][2], fields[-1][3])
    assert len(attrs) == 1
    oid, values = der_children(sig, attrs[0][2], attrs[0][3])
    # id-aa-timeStampToken 1.2.840.113549.1.9.16.2.14
    assert sig[oid[2]:oid[3]] == bytes.fromhex("2a864886f70d010910020e")
    token = der_children(sig, values[2], values[3])[0]
    tok = tmp_path / "token.der"
    tok.write_bytes(sig[token[1]:token[3]])
    sigfile = tmp_path / "signature.bin"
    sigfile.write_bytes(signature)
    cmd = ["openssl", "ts", "-verify", "-token_in", "-in", str(tok),
           "-data", str(sigfile), "-CAfile",
           str(instance.pki / "release-ca.pem"), "-untrusted",
           str(chain_file(instance, tmp_path))]
    v = run(cmd, check=False)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, \
        v.stdout + v.stderr
    # over the signature value and nothing else
    sigfile.write_bytes(signature[:-1] + bytes([signature[-1] ^ 1]))
    assert run(cmd, check=False).returncode != 0
    t = run(["openssl", "ts", "-reply", "-token_in", "-in", str(tok),
             "-token_out", "-text"]).stdout
    assert "Signet Dev TSA" in t, t
    assert re.search(r"^Nonce: 0x[0-9A-F]+", t, re.M), t


def osslsigncode_ts(instance, path):
    ca = str(instance.pki / "release-ca.pem")
    v = run([tool("osslsigncode"), "verify", "-CAfile", ca, "-TSA-CAfile", ca,
             "-in", str(path)], check=False)
    out = v.stdout + v.stderr
    assert v.returncode == 0, out
    assert "Timestamp Server Signature verification: ok" in out, out
    assert "Signet Dev TSA" in out, out


def test_authenticode_script_and_pe(instance, pol, tmp_path):
    req = submit(instance, SCRIPT.encode(), "good", "authenticode-script",
                 "hello.ps1")
    assert req["status"] == "Completed", req
    p = tmp_path / "hello.ps1"
    p.write_bytes(signed(instance, req))
    osslsigncode_ts(instance, p)
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "ts.exe")
    req = submit(instance, data, "good", "authenticode-pe", "ts.exe")
    assert req["status"] == "Completed", req
    p = tmp_path / "signed.exe"
    p.write_bytes(signed(instance, req))
    osslsigncode_ts(instance, p)


def failed(instance, policy, conf="detached-cms", data=b"no stamp\n"):
    req = submit(instance, data, policy, conf, "f.bin")
    assert req["status"] == "Failed", req
    # the reason a request failed is its failureReason, next to the
    # history entry that moved it to Failed
    assert req["history"][-1]["workflowStatus"] == "Failed", req
    assert not req.get("signedArtifact"), req
    return req.get("failureReason") or ""


@pytest.mark.parametrize("policy,words", [
    ("refused", "refused or the host is unreachable"),
    ("garbage", "not a TimeStampResp"),
    ("other-ca", "does not verify against timestampCaPem"),
    ("internal", "allow_internal does not list it"),
])
def test_failures_fail_the_request(instance, pol, policy, words):
    before = Garbage.hits
    text = failed(instance, policy)
    assert "time-stamping authority" in text, text
    assert "after 3 attempts" in text, text
    assert words in text, text
    # the TSA is named
    url = {"internal": "http://127.0.0.2:9/tsa",
           "other-ca": pol["good"]}.get(policy) or pol[policy]
    assert url in text, text
    if policy == "garbage":
        assert Garbage.hits - before == 3


def metric(instance, name):
    r = instance.login("admin").get(instance.api("/metrics"), timeout=30)
    assert r.status_code == 200, r.text
    m = re.search(rf"^{name} (\d+)$", r.text, re.M)
    assert m, (name, r.text)
    return int(m.group(1))


def test_signed_once_however_often_the_tsa_is_asked(instance, pol):
    """The keyholder is asked for one signature: the retries are of the
    token fetch, and the failed request is not queued again."""
    before = metric(instance, "signet_token_operations_total")
    failed(instance, "refused")
    time.sleep(2)  # a request put back in line would be signed again
    assert metric(instance, "signet_token_operations_total") - before == 1


def test_authenticode_failure_fails_the_request(instance, pol):
    text = failed(instance, "garbage", conf="authenticode-script",
                  data=SCRIPT.encode())
    assert "not a TimeStampResp" in text, text


def test_policy_fields_checked(instance, pol):
    admin = instance.login("admin")
    base = {"name": "x", "certificate": "test-signing", "purpose": "test"}
    ca = (instance.pki / "release-ca.pem").read_text()
    cases = [
        ({"timestamp": "url", "timestampCaPem": ca}, "timestampUrl"),
        ({"timestamp": "url", "timestampUrl": pol["good"]}, "timestampCaPem"),
        ({"timestamp": "url", "timestampUrl": "ftp://x/", "timestampCaPem":
          ca}, "http:// or https://"),
        ({"timestamp": "url", "timestampUrl": pol["good"], "timestampCaPem":
          "/etc/ssl/certs/ca-certificates.crt"}, "not a list of PEM"),
        ({"timestamp": "builtin", "timestampUrl": pol["good"]},
         "go with timestamp"),
    ]
    for i, (fields, words) in enumerate(cases):
        body = dict(base, slug=f"bad-ts-{i}", **fields)
        r = admin.post(instance.api("/admin/projects/demo-app/"
                                    "signing-policies"), json=body,
                       timeout=30)
        assert r.status_code == 400 and words in r.text, (fields, r.text)


def test_metrics_count_tokens_and_failures(instance, pol):
    def value(name):
        return metric(instance, name)
    # the tests above: CMS, a script and a PE stamped; six failed
    assert value("signet_tsa_url_tokens_total") >= 3
    assert value("signet_tsa_url_failures_total") >= 6
    # the URL was this instance's own TSA
    assert value("signet_tsa_tokens_issued_total") >= 3


def test_reconcile_clean(instance, pol):
    """Each failed request was signed once (only the token was fetched
    again), and every signature the keyholder journaled is accounted
    for."""
    reconcile_clean(instance)
