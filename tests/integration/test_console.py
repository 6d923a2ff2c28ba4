"""The officer console on tty1, driven in tmux at 80x24.

signetd starts with the token locked (no pin_file): health says so and
signing waits. An officer logs in on signet-console, activates the token
with the PIN (which goes to the keyholder over the console's own
connection, never through signetd), and approves or denies requests that
arrive through the API while the console watches."""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import BUILD, Instance, cms_verify, keyholder_pids
from test_privsep import memory_contains

CONSOLE = BUILD / "signet-console"
WAIT = 20  # seconds for a screen to show what is expected


def password(inst, user):
    return inst.password(user)


def health(inst):
    s = inst.session(cert=False)
    r = s.get(inst.api("/health"), timeout=10)
    # 503 while signing cannot proceed: the token is not logged in
    assert r.status_code == (200 if r.json()["token"]["loggedIn"] else 503), r.text
    return r.json()


class Tmux:
    """A tmux server of our own (-L) running one program at 80x24."""

    def __init__(self, name, cmd):
        self.sock = f"signet-test-{os.getpid()}-{name}"
        self.name = name
        self._tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24",
                   cmd)
        # if the program dies, its last screen stays for the failure report
        self._tmux("set-option", "-t", name, "remain-on-exit", "on")

    def _tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args],
                              capture_output=True, text=True, check=True,
                              timeout=10).stdout

    def keys(self, *keys):
        """Key names (Enter, Escape, Down) or single characters."""
        self._tmux("send-keys", "-t", self.name, *keys)

    def type(self, text):
        """Literal text, never taken for a key name."""
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def screen(self):
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def wait(self, *texts, timeout=WAIT, gone=False):
        """Until every text is on the screen (or, gone=True, none is)."""
        deadline = time.monotonic() + timeout
        while True:
            scr = self.screen()
            present = [t for t in texts if t in scr]
            if (not gone and len(present) == len(texts)) or (gone and not present):
                return scr
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"waited {timeout}s for {texts!r} {'to go' if gone else ''}; "
                    f"the screen:\n{scr}")
            time.sleep(0.1)

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"],
                       capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """An instance whose signetd starts without a PIN file, and its
    console socket where the test says."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/deps.sh)", pytrace=False)
    inst = Instance(tmp_path_factory.mktemp("console"))
    inst.provision()
    conf = inst.conf.read_text()
    conf, n = re.subn(r"(?m)^pin_file = .*\n", "", conf)
    assert n == 1, conf
    inst.socket = inst.dir / "console.sock"
    conf += f"\n[console]\nsocket = {inst.socket}\nidle_timeout = 300\n"
    inst.conf.write_text(conf)
    inst.start()
    yield inst
    inst.stop()
    report = inst.sanitizer_reports()
    if report:
        pytest.fail(f"sanitizer report from signetd:\n{report}", pytrace=False)


@pytest.fixture(scope="module")
def console(locked):
    tm = Tmux("console", f"{CONSOLE} --socket {locked.socket} --idle 300")
    yield tm
    tm.kill()


def login(tm, user, pw):
    tm.wait("User:", "Password:")
    tm.type(user)
    tm.keys("Enter")
    tm.type(pw)
    tm.keys("Enter")


def tsa_query(inst, tmp):
    """A time-stamp query posted to the instance's TSA (test_tsa.py)."""
    f = tmp / "stamp.bin"
    f.write_bytes(b"stamp me\n")
    q = tmp / "stamp.tsq"
    subprocess.run(["openssl", "ts", "-query", "-data", str(f), "-sha256",
                    "-cert", "-out", str(q)], check=True, capture_output=True)
    return inst.session().post(
        inst.api("/timestamp"), data=q.read_bytes(),
        headers={"Content-Type": "application/timestamp-query"}, timeout=30)


def test_signetd_starts_locked_and_signing_waits(locked, tmp_path):
    h = health(locked)
    assert h["token"]["present"] is True
    assert h["token"]["loggedIn"] is False
    assert h["status"] == "degraded"
    # nor does the time-stamping authority issue
    r = tsa_query(locked, tmp_path)
    assert r.status_code == 503 and r.json()["error"] == "token_locked", r.text
    # a request that needs no approval is queued, and waits for the token
    rid = locked.submit(b"submitted while locked\n").json()["id"]
    locked.waiting_id = rid
    time.sleep(3)
    req = locked.get_request(rid)
    assert req["isFinalStatus"] is False, req
    assert req["status"] == "InProgress", req


def test_console_socket_is_private(locked):
    st = os.stat(locked.socket)
    assert st.st_mode & 0o777 == 0o600


def test_protocol_refuses_before_login_and_oversize(locked):
    def call(s, obj):
        data = json.dumps(obj).encode()
        s.sendall(struct.pack(">I", len(data)) + data)
        n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
        return json.loads(s.recv(n, socket.MSG_WAITALL))

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(locked.socket))
        r = call(s, {"op": "pending"})
        assert r["ok"] is False and r["error"] == "unauthenticated", r
        r = call(s, {"op": "token-login"})
        assert r["ok"] is False and r["error"] == "unauthenticated", r
        r = call(s, {"op": "no-such-op"})
        assert r["ok"] is False and r["error"] == "invalid", r
        # the length is checked before anything is read; then it ends
        s.sendall(struct.pack(">I", 65 * 1024 + 1) + b"{")
        n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
        r = json.loads(s.recv(n, socket.MSG_WAITALL))
        assert r["ok"] is False and "64 KiB" in r["message"], r
        # closed with the rest unread: an end of file or a reset
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass


def test_wrong_password_refused(locked, console):
    login(console, "officer", "not-the-password")
    # the words of this refusal, not "Login refused": an earlier test's
    # refusal may still be on the screen of the shared console
    scr = console.wait("Login refused: wrong user name or password")
    assert "Pending approvals" not in scr
    assert "User:" in scr


def test_non_officer_refused(locked, console):
    login(console, "dev", password(locked, "dev"))
    # the wrong-password test's refusal may still be on the screen
    scr = console.wait("not a security officer")
    assert "Login refused" in scr
    assert "Pending approvals" not in scr
    # the refusal is in the audit log, and the session it would have been
    # was revoked (a logout follows the login)
    s = locked.session(cert=False)
    r = s.post(locked.api("/sessions"), json={
        "username": "admin", "password": password(locked, "admin")}, timeout=30)
    assert r.status_code == 201, r.text
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    r = s.get(locked.api("/audit"), params={"format": "jsonl"}, timeout=30)
    assert r.status_code == 200, r.text
    entries = [json.loads(line) for line in r.text.splitlines() if line]
    dev = [e for e in entries if e.get("actor", {}).get("name") == "dev"]
    actions = [e["action"] for e in dev]
    assert "console.login-refused" in actions, actions
    assert actions.index("session.login") < actions.index("session.logout"), actions


def test_officer_logs_in(locked, console):
    login(console, "officer", password(locked, "officer"))
    scr = console.wait("Pending approvals", "token: LOCKED")
    assert "officer" in scr.splitlines()[0]


def test_wrong_pin_reported_and_token_still_usable(locked, console):
    console.keys("t")
    scr = console.wait("Logged in    NO")
    assert "User PIN     ok" in scr
    console.keys("l")
    console.wait("Token PIN (not shown, tried once)")
    console.type("0000" + locked.pin[4:][::-1])
    console.keys("Enter")
    scr = console.wait("PIN incorrect, not retried")
    # the token's own counter is shown (SoftHSM reports COUNT_LOW)
    assert "User PIN" in scr
    assert "Logged in    NO" in scr
    assert health(locked)["token"]["loggedIn"] is False
    assert len(keyholder_pids(locked.proc.pid)) == 1


def test_officer_activates_the_token(locked, console, tmp_path):
    console.keys("l")
    console.wait("Token PIN (not shown, tried once)")
    console.type(locked.pin)
    console.keys("Enter")
    scr = console.wait("Token activated", "Logged in    yes")
    assert locked.pin not in scr
    assert "release-signing" in scr and "expires" in scr
    # the clock time-stamps come from, as health reports it
    h = health(locked)
    assert ("Clock        synchronised" if h["clock"]["synchronized"]
            else "Clock        NOT synchronised") in scr, scr
    assert "Time-stamps  issued" in scr, scr  # allow_unsynchronized in dev
    assert h["token"]["loggedIn"] is True
    r = tsa_query(locked, tmp_path)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/timestamp-reply"
    # what was submitted while the token was locked is signed now
    done = locked.wait_final(locked.waiting_id)
    assert done["status"] == "Completed", done
    console.keys("q")
    console.wait("Pending approvals", "token: active")


def test_pin_never_in_signetd_memory(locked):
    pin = locked.pin.encode()
    control = str(locked.conf).encode()
    found = memory_contains(locked.proc.pid, [pin, control])
    assert control in found, "memory scan is broken: config path not found"
    assert pin not in found, "the token PIN is in signetd's memory"
    log = locked.log_text()
    assert locked.pin not in log
    assert password(locked, "officer") not in log


def test_approve_on_the_console(locked, console, tmp_path):
    data = b"release candidate for the console\n" + os.urandom(16)
    rid = locked.submit(data, policy="release-signing",
                        filename="appr.bin", fields=locked.origin()).json()["id"]
    scr = console.wait("appr.bin")
    line = next(l for l in scr.splitlines() if "appr.bin" in l)
    assert "demo-app" in line and "release-signing" in line
    assert "ci-runner" in line and "verified" in line
    assert "not verified" not in line
    assert locked.get_request(rid)["unsignedArtifact"]["sha256"][:8] in line
    console.keys("Enter")
    console.wait("Origin       verified", "verification.buildSystem: dev-ci", rid)
    # the origin's evidence makes the page longer than 24 rows (two pages
    # with the ref in its full and short forms)
    console.keys("NPage")
    console.wait("verification.verified: true")
    console.keys("NPage")
    console.wait("You may decide on this request")
    console.keys("a")
    console.wait("Comment (optional):")
    console.type("approved at the console")
    console.keys("Enter")
    console.wait("Really approve this request? (y/n)")
    console.keys("y")
    console.wait("Approved request")
    done = locked.wait_final(rid)
    assert done["status"] == "Completed", done
    appr = done["approvals"]
    assert len(appr) == 1 and appr[0]["by"]["name"] == "officer"
    assert appr[0]["comment"] == "approved at the console"
    sig = locked.session().get(locked.api(f"/signing-requests/{rid}/signed-artifact"),
                               timeout=30)
    assert sig.status_code == 200, sig.text
    (tmp_path / "a.bin").write_bytes(data)
    (tmp_path / "a.p7s").write_bytes(sig.content)
    v = cms_verify(tmp_path / "a.p7s", tmp_path / "a.bin",
                   locked.pki / "release-ca.pem")
    assert v.returncode == 0, v.stderr
    console.wait("appr.bin", gone=True)


def test_deny_with_a_comment(locked, console):
    rid = locked.submit(b"not this one\n", policy="release-signing",
                        filename="deny.bin", fields=locked.origin()).json()["id"]
    console.wait("deny.bin")
    console.keys("d")
    console.wait("Comment (optional):", "DENY request " + rid)
    console.type("not built from main")
    console.keys("Enter")
    console.wait("Really deny this request? (y/n)")
    console.keys("y")
    console.wait("Denied request")
    done = locked.wait_final(rid)
    assert done["status"] == "Denied", done
    assert done["approvals"][0]["decision"] == "denied"
    assert done["approvals"][0]["comment"] == "not built from main"
    console.wait("deny.bin", gone=True)


def test_cancel_at_confirmation_decides_nothing(locked, console):
    rid = locked.submit(b"think twice\n", policy="release-signing",
                        filename="keep.bin", fields=locked.origin()).json()["id"]
    console.wait("keep.bin")
    console.keys("a")
    console.wait("Comment (optional):")
    console.keys("Enter")
    console.wait("Really approve this request? (y/n)")
    console.keys("n")
    console.wait("Nothing decided", "keep.bin")
    assert locked.get_request(rid)["workflowStatus"] == "WaitingForApproval"


def test_details_of_a_resubmit(locked, console):
    orig = locked.submit(b"tested build\n", filename="rc.bin",
                         fields=locked.origin()).json()["id"]
    assert locked.wait_final(orig)["status"] == "Completed"
    r = locked.session().post(locked.api(f"/signing-requests/{orig}/resubmit"),
                              data={"signingPolicySlug": "release-signing"},
                              timeout=30)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    console.wait("rc.bin")
    # the newest is first; keep.bin from the test before is below it
    console.keys("Enter")
    console.wait(rid)
    console.keys("NPage")
    console.wait("verification.verified: true")
    console.keys("NPage")
    scr = console.wait("Resubmitted from " + orig)
    assert "policy test-signing, status Completed (Completed), signed" in scr
    assert "Approvals    0 of 1" in scr
    console.keys("Escape")
    console.wait("Pending approvals")


def test_details_of_an_authenticode_request(locked, console, tmp_path):
    """The officer sees what an embedded signature will cover: the
    container, the program name and both digests."""
    doc = json.loads((locked.dir / "appliance.json").read_text())
    # the certificates are the appliance's already (applying them again
    # would need the token, which this instance keeps locked)
    del doc["certificates"]
    for p in doc["projects"]:
        if p["slug"] == "demo-app":
            p["signingPolicies"].append({
                "slug": "ac-release", "name": "AC release",
                "certificate": "release-signing", "requiredApprovals": 1,
                "submitters": ["ci-runner"], "approvers": ["officer"],
                "artifactConfigurations": ["authenticode"]})
    path = tmp_path / "ac.json"
    path.write_text(json.dumps(doc))
    locked.signet("apply", str(path))
    rid = locked.submit(b"Write-Output 'console'\r\n", policy="ac-release",
                        filename="console.ps1",
                        fields={"artifactConfigurationSlug": "authenticode",
                                "parameters.programName": "Console Tool"}
                        ).json()["id"]
    req = locked.get_request(rid)
    console.wait("console.ps1")
    console.keys("Enter")
    scr = console.wait(rid, "Format       authenticode-script (signature "
                       "mode replace)", "Program      Console Tool")
    assert req["unsignedArtifact"]["sha256"] in scr, scr
    assert "Authenticode sha256 digest" in scr, scr
    assert " " * 13 + req["authenticode"]["digest"] in scr, scr
    console.keys("Escape")
    console.wait("Pending approvals")


def test_logout_and_idle_logout(locked, console):
    console.keys("q")
    console.wait("User:", "Logged out.")
    tm = Tmux("idle", f"{CONSOLE} --socket {locked.socket} --idle 5")
    try:
        login(tm, "officer", password(locked, "officer"))
        tm.wait("Pending approvals")
        tm.wait("User:", "no keystroke", timeout=15)
    finally:
        tm.kill()
