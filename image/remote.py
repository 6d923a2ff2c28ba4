#!/usr/bin/python3
"""What image/test.sh asks of a booted appliance, from outside, over HTTPS
only: the customer's network's view.

  remote.py health URL CA
  remote.py setup URL CA ADMIN_PASSWORD CI_CERT SIGNET_CLI
  remote.py submit URL CA CI_CERT CI_KEY ARTIFACT OUTDIR   (prints the request id)
  remote.py nocert URL CA
  remote.py again URL CA CI_CERT CI_KEY ID ARTIFACT OUTDIR
  remote.py scan ADDRESS OPEN_PORT [CLOSED_PORTS]          (every TCP port)
Exits non-zero with a message on stderr when the appliance does not do it.
"""

import os
import socket
import struct
import subprocess
import sys
import time

import requests


def fail(msg):
    print(f"remote: {msg}", file=sys.stderr)
    sys.exit(1)


def health(url, ca, timeout=240):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            r = requests.get(url + "/api/v1/health", verify=ca, timeout=10)
            if r.status_code == 200:
                print(r.text)
                return
            last = f"{r.status_code} {r.text[:200]}"
        except requests.RequestException as e:
            last = str(e)
        time.sleep(3)
    fail(f"/api/v1/health did not answer 200 within {timeout}s: {last}")


def admin(cli, url, ca, token, *args):
    env = dict(os.environ, SIGNET_URL=url, SIGNET_CACERT=ca, SIGNET_TOKEN=token)
    p = subprocess.run([cli, "admin", *args], env=env, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != 0:
        fail(f"signet admin {' '.join(args)}: {p.returncode} {p.stderr.strip()}")
    return p.stdout


def setup(url, ca, password, ci_cert, cli):
    r = requests.post(url + "/api/v1/sessions", verify=ca, timeout=30,
                      json={"username": "admin", "password": password})
    if r.status_code != 201:
        fail(f"admin login: {r.status_code} {r.text[:300]}")
    tok = r.json()["token"]
    admin(cli, url, ca, tok, "keys", "generate", "--label", "ci-test",
          "--type", "p256")
    admin(cli, url, ca, tok, "keys", "self-signed", "ci-test", "--name",
          "ci-test", "--subject", "CN=Appliance test signing,O=Signet",
          "--days", "30")
    admin(cli, url, ca, tok, "identities", "create", "--name", "ci",
          "--certificate-file", ci_cert)
    admin(cli, url, ca, tok, "projects", "create", "--slug", "app", "--name",
          "App", "--repository-url", "https://git.example.com/app")
    admin(cli, url, ca, tok, "policies", "create", "app", "--slug", "test",
          "--name", "Test", "--certificate", "ci-test", "--purpose", "test",
          "--submitter", "ci", "--approvals", "0")


def ci_session(ca, cert, key):
    s = requests.Session()
    # REQUESTS_CA_BUNDLE & co. would win over s.verify
    s.trust_env = False
    s.verify = ca
    s.cert = (cert, key)
    return s


def wait_completed(s, url, rid, timeout=240):
    end = time.time() + timeout
    st = None
    while time.time() < end:
        r = s.get(f"{url}/api/v1/signing-requests/{rid}", timeout=30)
        if r.status_code != 200:
            fail(f"GET request {rid}: {r.status_code} {r.text[:300]}")
        st = r.json().get("status")
        if st == "Completed":
            return r.json()
        if st in ("Failed", "Denied", "Cancelled", "Rejected"):
            fail(f"request {rid} ended {st}: {r.text[:300]}")
        time.sleep(2)
    fail(f"request {rid} not Completed within {timeout}s (last {st})")


def verify(s, url, rid, artifact, outdir):
    r = s.get(f"{url}/api/v1/signing-requests/{rid}/signed-artifact", timeout=60)
    if r.status_code != 200:
        fail(f"signed artifact: {r.status_code} {r.text[:300]}")
    sig = os.path.join(outdir, f"{rid}.p7s")
    with open(sig, "wb") as f:
        f.write(r.content)
    r = s.get(f"{url}/api/v1/projects/app/signing-policies/test/certificate",
              timeout=60)
    if r.status_code != 200:
        fail(f"policy certificate: {r.status_code} {r.text[:300]}")
    chain = os.path.join(outdir, "chain.pem")
    with open(chain, "w") as f:
        f.write(r.text)
    p = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                        "-in", sig, "-content", artifact, "-CAfile", chain,
                        "-purpose", "any", "-out", "/dev/null"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"openssl cms -verify: {p.stderr.strip()}")


def submit(url, ca, cert, key, artifact, outdir):
    s = ci_session(ca, cert, key)
    with open(artifact, "rb") as f:
        r = s.post(url + "/api/v1/signing-requests", timeout=120,
                   data={"projectSlug": "app", "signingPolicySlug": "test",
                         "origin.repositoryUrl": "https://git.example.com/app"},
                   files={"artifact": ("artifact.bin", f)})
    if r.status_code != 201:
        fail(f"submit: {r.status_code} {r.text[:300]}")
    rid = r.json()["id"]
    wait_completed(s, url, rid)
    verify(s, url, rid, artifact, outdir)
    print(rid)


def nocert(url, ca):
    with open("/dev/urandom", "rb") as f:
        data = f.read(64)
    r = requests.post(url + "/api/v1/signing-requests", verify=ca, timeout=60,
                      data={"projectSlug": "app", "signingPolicySlug": "test"},
                      files={"artifact": ("a.bin", data)})
    if r.status_code not in (401, 403):
        fail(f"a submission without a client certificate got {r.status_code}")
    r = requests.get(url + "/api/v1/signing-requests", verify=ca, timeout=60)
    if r.status_code not in (401, 403):
        fail(f"a listing without a client certificate got {r.status_code}")


def again(url, ca, cert, key, rid, artifact, outdir):
    s = ci_session(ca, cert, key)
    wait_completed(s, url, rid, timeout=30)
    verify(s, url, rid, artifact, outdir)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    t = sum(struct.unpack(f"!{len(data) // 2}H", data))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF


def syn(src, dst, sport, dport, seq):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02,
                      64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(
        "!BBH", 0, socket.IPPROTO_TCP, len(hdr))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


def scan(host, want, want_reset="", rounds=2, rate=2000):
    """A SYN scan of every TCP port (raw sockets, so root): a port is open
    when it answers SYN-ACK, whenever that comes; one that answers RST is
    closed but let through by the firewall; one that answers nothing is
    dropped. Two rounds, so a lost packet is not taken for a drop. want:
    the only open port; want_reset: the only closed ones (comma list)."""
    t = time.time()
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    tx.connect((host, 0))
    src = tx.getsockname()[0]
    sport = 40000 + os.getpid() % 20000
    opened, answered = set(), set()

    def drain():
        while True:
            try:
                pkt, (addr, _) = rx.recvfrom(65535)
            except BlockingIOError:
                return
            if addr != host:
                continue
            ihl = (pkt[0] & 0x0F) * 4
            sp, dp = struct.unpack("!HH", pkt[ihl:ihl + 4])
            flags = pkt[ihl + 13]
            if dp != sport:
                continue
            answered.add(sp)
            if flags & 0x12 == 0x12:
                opened.add(sp)

    for r in range(rounds):
        for port in range(1, 65536):
            if port in answered:
                continue
            tx.send(syn(src, host, sport, port, port * 7919 + r))
            if port % 200 == 0:
                drain()
                time.sleep(200 / rate)
        end = time.time() + 8
        while time.time() < end:
            drain()
            time.sleep(0.1)
    print(f"scanned 65535 TCP ports of {host} in {time.time() - t:.0f}s "
          f"({rounds} rounds): open {sorted(opened)}, "
          f"{len(answered) - len(opened)} closed (RST), "
          f"{65535 - len(answered)} silent (dropped)")
    if sorted(opened) != [int(want)]:
        fail(f"open TCP ports of {host} are {sorted(opened)}, not only [{want}]")
    reset = sorted(answered - opened)
    expect = sorted(int(p) for p in want_reset.split(",") if p)
    if reset != expect:
        fail(f"TCP ports of {host} that the firewall lets through to no "
             f"listener are {reset}, not {expect}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"health": health, "setup": setup, "submit": submit, "nocert": nocert,
     "again": again, "scan": scan}[cmd](*args)


if __name__ == "__main__":
    main()
