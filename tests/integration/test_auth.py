"""Mutual TLS: who may talk to the API, and who may not."""

import datetime
import ssl
import socket
import warnings

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import run

NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn, org="Signet Dev"):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def make_cert(subject, issuer_name, issuer_key, key=None, ca=False,
              not_before=None, not_after=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder()
         .subject_name(subject)
         .issuer_name(issuer_name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
         .not_valid_after(not_after or NOW + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256()), key


def write_pair(tmp_path, stem, cert, key):
    c = tmp_path / f"{stem}.pem"
    k = tmp_path / f"{stem}.key"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    k.chmod(0o600)
    return str(c), str(k)


def client_ca(instance):
    pem = (instance.pki / "client-ca.pem").read_bytes()
    key = (instance.pki / "client-ca.key").read_bytes()
    return (x509.load_pem_x509_certificate(pem),
            serialization.load_pem_private_key(key, password=None))


def attempt(instance, cert):
    """Status codes of submit, get and list with this client certificate, or
    'refused' where the TLS handshake (or the connection) was refused."""
    s = requests.Session()
    s.trust_env = False
    s.verify = instance.ca
    s.cert = cert
    out = []
    calls = [
        lambda: s.post(instance.api("/signing-requests"),
                       data={"projectSlug": "demo-app", "signingPolicySlug": "test-signing"},
                       files={"artifact": ("a.bin", b"x")}, timeout=30),
        lambda: s.get(instance.api("/signing-requests/anything"), timeout=30),
        lambda: s.get(instance.api("/signing-requests"), timeout=30),
    ]
    for call in calls:
        try:
            out.append(call().status_code)
        except (requests.exceptions.SSLError, requests.exceptions.ConnectionError):
            out.append("refused")
    return out


def test_health_needs_no_client_certificate(instance):
    r = requests.get(instance.api("/health"), verify=instance.ca, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["token"]["present"] is True
    assert body["token"]["loggedIn"] is True
    assert body["token"]["label"] == "signet-dev"


def test_server_offers_tls12_or_later_only(instance):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(instance.ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", instance.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass


def test_no_client_certificate_is_401(instance):
    s = instance.session(cert=False)
    r = s.post(instance.api("/signing-requests"),
               data={"projectSlug": "demo-app", "signingPolicySlug": "test-signing"},
               files={"artifact": ("a.bin", b"x")}, timeout=30)
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["error"] and r.json()["message"]
    rid = instance.submit(b"mine").json()["id"]
    for path in (f"/signing-requests/{rid}", "/signing-requests",
                 f"/signing-requests/{rid}/unsigned-artifact"):
        r = s.get(instance.api(path), timeout=30)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert b"mine" not in r.content


def test_client_certificate_from_foreign_ca_is_refused(instance, tmp_path):
    # A CA with the same name as the real one, and a leaf with ci-runner's
    # exact subject: only the signature tells them apart.
    real_ca, _ = client_ca(instance)
    fake_ca_key = ec.generate_private_key(ec.SECP256R1())
    fake_ca, _ = make_cert(real_ca.subject, real_ca.subject, fake_ca_key,
                           key=fake_ca_key, ca=True)
    leaf, key = make_cert(name("ci-runner"), fake_ca.subject, fake_ca_key)
    cert = write_pair(tmp_path, "foreign", leaf, key)
    for code in attempt(instance, cert):
        assert code in ("refused", 401, 403), code

    # curl, as a real client, gets no further.
    p = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
             "--cacert", instance.ca, "--cert", cert[0], "--key", cert[1],
             instance.api("/signing-requests")], check=False)
    assert p.returncode != 0 or p.stdout in ("401", "403"), (p.returncode, p.stdout)


def test_expired_client_certificate_is_refused(instance, tmp_path):
    ca, ca_key = client_ca(instance)
    leaf, key = make_cert(name("ci-runner"), ca.subject, ca_key,
                          not_before=NOW - datetime.timedelta(days=30),
                          not_after=NOW - datetime.timedelta(days=1))
    cert = write_pair(tmp_path, "expired", leaf, key)
    for code in attempt(instance, cert):
        assert code in ("refused", 401, 403), code


def test_not_yet_valid_client_certificate_is_refused(instance, tmp_path):
    ca, ca_key = client_ca(instance)
    leaf, key = make_cert(name("ci-runner"), ca.subject, ca_key,
                          not_before=NOW + datetime.timedelta(days=2),
                          not_after=NOW + datetime.timedelta(days=30))
    cert = write_pair(tmp_path, "future", leaf, key)
    for code in attempt(instance, cert):
        assert code in ("refused", 401, 403), code


def test_valid_certificate_of_unknown_identity_is_403(instance, tmp_path):
    ca, ca_key = client_ca(instance)
    leaf, key = make_cert(name("stranger"), ca.subject, ca_key)
    cert = write_pair(tmp_path, "stranger", leaf, key)
    assert attempt(instance, cert) == [403, 403, 403]

    # Same CN, other organisation: still not ci-runner.
    leaf, key = make_cert(name("ci-runner", org="Elsewhere"), ca.subject, ca_key)
    cert = write_pair(tmp_path, "lookalike", leaf, key)
    assert attempt(instance, cert) == [403, 403, 403]


def test_fresh_certificate_with_ci_runner_subject_is_accepted(instance, tmp_path):
    """Positive control for the tests above: a new valid certificate with
    ci-runner's subject from the real client CA is ci-runner."""
    ca, ca_key = client_ca(instance)
    leaf, key = make_cert(name("ci-runner"), ca.subject, ca_key)
    cert = write_pair(tmp_path, "renewed", leaf, key)
    codes = attempt(instance, cert)
    assert codes[0] == 201 and codes[2] == 200, codes
