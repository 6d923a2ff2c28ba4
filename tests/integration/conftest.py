"""Integration test harness: every test module gets its own Signet instance.

An instance is a fresh directory provisioned by scripts/provision.sh (SoftHSM
token, PKI, keys, configuration), and a real signetd started on a free port.
SIGNET_BUILD selects the build directory (default <repo>/build), so the same
suite runs against the sanitizer build; SIGNET_P11KIT=1 puts p11-kit's
remoting between the keyholder and the token (P11KitServer). After every
test signetd's stderr is checked for sanitizer reports; after the module,
signetd is stopped and the log is checked once more (LeakSanitizer reports
at exit).
"""

import hashlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import lmdb
import pytest
import requests
from requests.adapters import HTTPAdapter

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SIGNET_BUILD", REPO / "build")).resolve()
PROVISION = REPO / "scripts" / "provision.sh"

# scripts/dev-id-token.py: ID tokens from the dev instance's OIDC issuer
_spec = importlib.util.spec_from_file_location(
    "dev_id_token", REPO / "scripts" / "dev-id-token.py")
dev_id_token = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dev_id_token)
DEV_REPOSITORY = "signet-dev/demo-app"

# A small limit so the size tests are quick.
MAX_ARTIFACT = 2 * 1024 * 1024
MAX_ARTIFACT_CONF = "2M"

# Set for signetd only: the keyholder must not inherit it (privsep test).
CANARY_ENV = "SIGNET_TEST_CANARY"

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
)

# The token module provision.sh configures, and the label of its token.
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "signet-dev"

# SIGNET_P11KIT=1: the keyholder reaches the token as it would a network
# HSM, through a module that is not SoftHSM2 (P11KitServer).
_p11kit = os.environ.get("SIGNET_P11KIT", "0")
if _p11kit not in ("0", "1"):
    raise SystemExit(f"SIGNET_P11KIT must be 0 or 1, not {_p11kit!r}")
P11KIT = _p11kit == "1"

START_TIMEOUT = 60  # seconds; the sanitizer build is slow to start
FINAL_TIMEOUT = 60

FINAL_STATUSES = {"Completed", "Failed", "Denied", "Canceled"}

# Trust only what a test names: requests lets REQUESTS_CA_BUNDLE override a
# session's verify, and OpenSSL tools add SSL_CERT_FILE to their -CAfile.
for _var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
             "SSL_CERT_DIR", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def run(cmd, check=True, **kw):
    """Runs cmd, captures its output as text; failure shows everything."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(
            f"{cmd!r} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        )
    return p


class SourceAdapter(HTTPAdapter):
    """requests from a given local address (127.0.0.0/8 is all loopback, so
    a test can be several peers: signetd bounds connections per address)."""

    def __init__(self, source, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kw)


# Peers for tests that open more connections at once than one address may
# hold ([server] max_connections_per_address, 16 by default).
PEERS = [f"127.0.0.{i}" for i in range(2, 10)]


def peer(i):
    """The i-th of PEERS, round robin."""
    return PEERS[i % len(PEERS)]


def p11kit_client_module():
    """p11-kit-client.so where p11-kit installs its modules (Debian:
    /usr/lib/<multiarch>/pkcs11, package p11-kit-modules)."""
    p = subprocess.run(["pkg-config", "--variable=p11_module_path", "p11-kit-1"],
                       capture_output=True, text=True)
    path = Path(p.stdout.strip()) / "p11-kit-client.so"
    if p.returncode != 0 or not p.stdout.strip() or not path.is_file():
        pytest.fail(f"SIGNET_P11KIT=1 needs p11-kit-client.so (p11-kit-modules) "
                    f"and pkg-config's p11-kit-1 (libp11-kit-dev); not found at "
                    f"{path} (scripts/deps.sh installs them)", pytrace=False)
    return str(path)


class P11KitServer:
    """`p11-kit server` exporting an instance's SoftHSM2 token on a socket
    in the instance directory, so the keyholder loads p11-kit-client.so and
    every PKCS#11 call is a round trip over that socket to another process
    (p11-kit-remote, one per connection), as with a network HSM."""

    READY_TIMEOUT = 10  # seconds until the server prints its address

    def __init__(self, inst):
        self.path = inst.dir / "p11-kit.sock"
        # sockaddr_un.sun_path holds 108 bytes with the NUL
        if len(os.fsencode(self.path)) >= 108:
            pytest.fail(f"the p11-kit socket path {self.path} is longer than a "
                        f"Unix socket address allows; use a shorter --basetemp",
                        pytrace=False)
        self.log_path = inst.dir / "p11-kit-server.log"
        env = {k: v for k, v in os.environ.items() if k != "P11_KIT_SERVER_ADDRESS"}
        env["SOFTHSM2_CONF"] = str(inst.dir / "softhsm2.conf")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["p11-kit", "server", "--foreground", "--provider", SOFTHSM_MODULE,
             "--name", str(self.path), f"pkcs11:token={TOKEN_LABEL}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
            env=env, cwd=inst.dir)
        # The first line is the address, printed once the socket listens:
        # "P11_KIT_SERVER_ADDRESS=unix:path=...; export P11_KIT_SERVER_ADDRESS;"
        line = b""
        deadline = time.monotonic() + self.READY_TIMEOUT
        os.set_blocking(self.proc.stdout.fileno(), False)
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                line += chunk
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.02)
        m = re.match(rb"P11_KIT_SERVER_ADDRESS=([^;\s]+);", line)
        if not m:
            self.stop()
            pytest.fail(f"p11-kit server did not print its address within "
                        f"{self.READY_TIMEOUT}s (stdout {line!r}):\n"
                        f"{self.log_path.read_text(errors='replace')}",
                        pytrace=False)
        self.address = m.group(1).decode()

    def children(self):
        """The p11-kit-remote processes serving connections."""
        return keyholder_pids(self.proc.pid)

    def stop(self):
        """Stops the server and what still serves a connection: SIGTERM
        leaves p11-kit-remote children running until their client goes."""
        if self.proc.poll() is None:
            kids = self.children()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for k in kids:
                try:
                    os.kill(k, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        self.proc.stdout.close()
        self._log.close()


# Servers started during the current test module; _p11kit_servers stops
# them after the module, when its instances have stopped.
_P11KIT_RUNNING = []


def _set_token(conf, module, env_lines):
    """[token] module and env of signetd.conf text: module replaced, the
    SOFTHSM2_CONF line replaced by env_lines (other env lines kept)."""
    conf, n = re.subn(r"(?m)^module = .*$", f"module = {module}", conf)
    assert n == 1, conf
    conf, n = re.subn(r"(?m)^env = SOFTHSM2_CONF=.*$",
                      "\n".join(f"env = {e}" for e in env_lines), conf)
    assert n == 1, conf
    return conf


class Instance:
    """A provisioned directory and the signetd serving it."""

    def __init__(self, root: Path):
        self.dir = root
        self.port = free_port()
        self.tsa_port = free_port()  # the [tsa] listener (test_tsa.py)
        self.pki = root / "pki"
        self.conf = root / "signetd.conf"
        self.state = root / "state"
        self.tmp_dir = self.state / "artifacts" / "tmp"
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca = str(self.pki / "tls-ca.pem")
        self.client_cert = str(self.pki / "ci-runner.pem")
        self.client_key = str(self.pki / "ci-runner.key")
        self.cert = (self.client_cert, self.client_key)
        self.proc = None
        self.log_path = root / "signetd.log"
        self._log = None
        self.log_checked = 0  # bytes of the log already checked
        self.canary = "canary-" + os.urandom(8).hex()
        self.p11kit = None  # the P11KitServer in SIGNET_P11KIT=1 mode

    # ------------------------------------------------------------ setup
    def provision(self):
        env = dict(os.environ)
        env.update(
            SIGNET_PORT=str(self.port),
            SIGNET_TSA_PORT=str(self.tsa_port),
            SIGNET_BUILD=str(BUILD),
            SIGNET_MAX_ARTIFACT_SIZE=MAX_ARTIFACT_CONF,
        )
        p = subprocess.run(
            [str(PROVISION), str(self.dir)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        if p.returncode != 0:
            pytest.fail(
                f"provision.sh exited {p.returncode}\n"
                f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}", pytrace=False)
        self.provision_output = p.stdout + p.stderr
        self.pin = (self.dir / "token.pin").read_text().strip()
        if P11KIT:
            self.export_token()

    def export_token(self):
        """SIGNET_P11KIT=1: starts this instance's p11-kit server (once)
        and points [token] at p11-kit-client.so, the server's address in
        the keyholder's configured environment instead of SOFTHSM2_CONF.
        Provisioning made the keys through SoftHSM2 directly; from here on
        the keyholder of signetd and of the signet CLI logs in, lists,
        signs and generates through the remoting."""
        if self.p11kit is None or self.p11kit.proc.poll() is not None:
            self.p11kit = P11KitServer(self)
            _P11KIT_RUNNING.append(self.p11kit)
        module = p11kit_client_module()
        env = f"P11_KIT_SERVER_ADDRESS={self.p11kit.address}"
        # the token must be there through the remoting, or nothing after
        # this would say why signetd cannot sign
        p = subprocess.run(["pkcs11-tool", "--module", module, "--list-token-slots"],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                "P11_KIT_SERVER_ADDRESS": self.p11kit.address})
        if not re.search(rf"token label\s*:\s*{TOKEN_LABEL}\s*$", p.stdout, re.M):
            pytest.fail(f"token {TOKEN_LABEL} not seen through {module} at "
                        f"{self.p11kit.address}:\n{p.stdout}{p.stderr}\n"
                        f"{self.p11kit.log_path.read_text(errors='replace')}",
                        pytrace=False)
        self.conf.write_text(_set_token(self.conf.read_text(), module, [env]))

    def keyholder_env(self):
        """The environment [token] env gives the keyholder."""
        env = {}
        for line in self.conf.read_text().splitlines():
            m = re.match(r"env = ([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
            if m:
                env[m.group(1)] = m.group(2)
        return env

    def stop_token_server(self):
        """Stops the p11-kit server, if there is one (after signetd)."""
        if self.p11kit is not None:
            self.p11kit.stop()
            if self.p11kit in _P11KIT_RUNNING:
                _P11KIT_RUNNING.remove(self.p11kit)
            self.p11kit = None

    def signet(self, *args, check=True):
        """Runs the signet CLI on this instance's configuration."""
        return run([str(BUILD / "signet"), "-c", str(self.conf), *args],
                   check=check, timeout=120)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        env = dict(os.environ)
        env[CANARY_ENV] = self.canary
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BUILD / "signetd"), "-c", str(self.conf)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"signetd exited {self.proc.returncode} while "
                            f"starting:\n{self.log_text()}", pytrace=False)
            try:
                r = requests.get(self.url + "/api/v1/health", verify=self.ca,
                                 timeout=2)
                # 503: up, but cannot sign (token locked, store full)
                if r.status_code in (200, 503) and "token" in r.json():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"signetd did not answer health within {START_TIMEOUT}s:\n"
                    f"{self.log_text()}", pytrace=False)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops signetd; returns its exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(sig)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = None
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    # ------------------------------------------------------------ logs
    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_reports(self):
        """Sanitizer reports written since the last call."""
        data = self.log_text()
        new = data[self.log_checked:]
        self.log_checked = len(data)
        if any(m in new for m in SANITIZER_MARKERS):
            return new
        return None

    # ------------------------------------------------------------ API
    def session(self, cert=True, source=None):
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        if cert:
            s.cert = self.cert
        if source is not None:
            s.mount("https://", SourceAdapter(source))
        return s

    def api(self, path):
        return self.url + "/api/v1" + path

    def password(self, user):
        """A development user's password, as provisioning wrote it."""
        return (self.dir / "passwords" / user).read_text().strip()

    def login(self, user, password=None):
        """A session (no client certificate) with a bearer token of user."""
        s = self.session(cert=False)
        r = s.post(self.api("/sessions"),
                   json={"username": user,
                         "password": password or self.password(user)},
                   timeout=30)
        assert r.status_code == 201, (user, r.status_code, r.text)
        s.headers["Authorization"] = "Bearer " + r.json()["token"]
        return s

    def submit(self, data=b"hello signet\n", policy="test-signing",
               project="demo-app", filename="artifact.bin", fields=None,
               session=None, expect=201):
        form = {"projectSlug": project, "signingPolicySlug": policy}
        if project is None:
            del form["projectSlug"]
        if policy is None:
            del form["signingPolicySlug"]
        form.update(fields or {})
        s = session or self.session()
        r = s.post(self.api("/signing-requests"), data=form,
                   files={"artifact": (filename, data, "application/octet-stream")},
                   timeout=60)
        if expect is not None:
            assert r.status_code == expect, (r.status_code, r.text)
        return r

    def id_token(self, repository=DEV_REPOSITORY, ref="refs/heads/main",
                 sha="0" * 40, run_id="1", lifetime=300, issued_ago=0,
                 kid=None, **claims):
        """An ID token of build system dev-ci's issuer (provision.sh)."""
        key = dev_id_token.load_key(self.pki / "oidc-issuer.key")
        now = int(time.time())
        body = {
            "iss": dev_id_token.DEV_ISSUER, "aud": dev_id_token.DEV_AUDIENCE,
            "iat": now - issued_ago, "nbf": now - issued_ago,
            "exp": now + lifetime,
            "sub": f"repo:{repository}:ref:{ref}",
            "repository": repository, "ref": ref, "sha": sha,
            "run_id": str(run_id),
            "workflow_ref": f"{repository}/.github/workflows/build.yml@{ref}",
        }
        body.update(claims)
        return dev_id_token.mint(
            key, body, kid or dev_id_token.thumbprint(dev_id_token.public_jwk(key)))

    def origin(self, branch="main", commit=None, repository=DEV_REPOSITORY,
               run_id="1", token=True, **token_args):
        """Form fields of a verified origin: what ci-runner, build system
        dev-ci, sends from a GitHub-like job, with a fresh ID token."""
        commit = commit or os.urandom(20).hex()
        ref = branch if branch.startswith("refs/") else "refs/heads/" + branch
        fields = {
            "origin.repositoryUrl": "https://github.com/" + repository,
            "origin.commitId": commit,
            "origin.branchName": branch,
            "origin.buildId": str(run_id),
        }
        if token:
            fields["origin.idToken"] = self.id_token(
                repository=repository, ref=ref, sha=commit, run_id=run_id,
                **token_args)
        return fields

    def get_request(self, rid, session=None):
        s = session or self.session()
        r = s.get(self.api(f"/signing-requests/{rid}"), timeout=30)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def wait_final(self, rid, timeout=FINAL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            req = self.get_request(rid)
            if req.get("isFinalStatus"):
                return req
            if time.monotonic() > deadline:
                raise AssertionError(f"request {rid} not final after {timeout}s: {req}")
            time.sleep(0.1)

    def list_all(self, **params):
        """Every request matching params, following nextCursor."""
        s = self.session()
        items, cursor = [], None
        params.setdefault("pageSize", 200)
        for _ in range(1000):
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            r = s.get(self.api("/signing-requests"), params=q, timeout=30)
            assert r.status_code == 200, (r.status_code, r.text)
            body = r.json()
            items.extend(body["items"])
            cursor = body.get("nextCursor")
            if not cursor:
                return items
        raise AssertionError("listing did not end")

    def tmp_entries(self):
        if not self.tmp_dir.exists():
            return []
        return sorted(p.name for p in self.tmp_dir.iterdir())

    def _blobs(self, write=False):
        env = lmdb.open(str(self.state / "db"), max_dbs=64, readonly=not write,
                        create=False, subdir=True)
        return env, env.open_db(b"blobs", create=False)

    def stored_artifacts(self):
        """The SHA-256 of every artifact kept, wherever it is: a file of the
        artifact store, or (a small one) in the database's blobs."""
        root = self.state / "artifacts" / "sha256"
        names = {p.name for p in root.glob("*/*")}
        env, db = self._blobs()
        try:
            with env.begin(db=db) as t:
                names |= {bytes(k).decode() for k, _ in t.cursor()}
        finally:
            env.close()
        return names

    def artifact_in_database(self, sha256):
        """The bytes the database keeps for a small artifact, or None."""
        env, db = self._blobs()
        try:
            with env.begin(db=db) as t:
                v = t.get(sha256.encode())
                return bytes(v) if v is not None else None
        finally:
            env.close()

    def put_artifact_in_database(self, sha256, data):
        """Overwrites what the database keeps under sha256 (a test that
        changes stored bytes behind signetd's back)."""
        env, db = self._blobs(write=True)
        try:
            with env.begin(db=db, write=True) as t:
                assert t.get(sha256.encode()) is not None
                t.put(sha256.encode(), data)
        finally:
            env.close()


def keyholder_pids(pid):
    """Children of pid (the keyholder and anything else signetd forked)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after
        # the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def cms_verify(sig_path, content_path, ca_path, extra=()):
    """openssl cms -verify of a detached DER signature."""
    return run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                "-in", str(sig_path), "-content", str(content_path),
                "-CAfile", str(ca_path), "-no-CApath", "-no-CAstore", "-out", os.devnull,
                *extra], check=False)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("signet"))
    inst.provision()
    inst.start()
    yield inst
    inst.stop()
    inst.stop_token_server()
    # Reports written at exit (leaks) or in the last test of the module.
    report = inst.sanitizer_reports()
    if report:
        pytest.fail(f"sanitizer report from signetd:\n{report}", pytrace=False)


@pytest.fixture(scope="module", autouse=True)
def _p11kit_servers():
    """Stops the p11-kit servers of a module's own instances after them
    (an autouse fixture is set up first, so it is torn down last)."""
    yield
    while _P11KIT_RUNNING:
        _P11KIT_RUNNING.pop().stop()


@pytest.fixture(autouse=True)
def _sanitizer_check(request):
    """Fails the test during which signetd printed a sanitizer report."""
    inst = None
    if "instance" in request.fixturenames:
        inst = request.getfixturevalue("instance")
    yield
    if inst is not None:
        time.sleep(0.05)
        report = inst.sanitizer_reports()
        if report:
            pytest.fail(f"sanitizer report from signetd:\n{report}", pytrace=False)
