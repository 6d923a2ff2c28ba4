"""Faults the appliance survives: nothing acknowledged is lost, nothing
fails that could have waited, and the operator can see why it waits.

- the keyholder is killed with requests queued: signetd stops (fail closed)
  and after the restart every acknowledged request completes, none Failed;
- the disk or the database map fills up under concurrent load: 507 with a
  message naming the limit, health says why, nothing acknowledged is lost,
  and freeing space resumes the work without a restart;
- retries with an idempotency key, the queue limit, metrics.
"""

import concurrent.futures
import os
import subprocess
import time

import pytest
import requests

from conftest import Instance, keyholder_pids, peer


def _submit_many(inst, n, size=2048, workers=8, policy="test-signing",
                 prefix=b"fault"):
    """n submissions from several peers at once; returns (acknowledged ids,
    other answers as (status or exception text))."""
    def one(i):
        data = prefix + b" %d " % i + os.urandom(size)
        s = inst.session(source=peer(i))
        try:
            r = s.post(inst.api("/signing-requests"),
                       data={"projectSlug": "demo-app",
                             "signingPolicySlug": policy},
                       files={"artifact": (f"a{i}.bin", data)}, timeout=60)
        except requests.RequestException as e:
            return None, type(e).__name__
        if r.status_code == 201:
            return r.json()["id"], None
        return None, (r.status_code, r.text[:200])

    acked, other = [], []
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for rid, why in ex.map(one, range(n)):
            if rid:
                acked.append(rid)
            else:
                other.append(why)
    return acked, other


def test_keyholder_killed_with_requests_queued(instance):
    """The keyholder dies while requests are queued: signetd exits, and not
    one request fails against the dead channel; all complete after the
    restart."""
    acked, _ = _submit_many(instance, 40)
    assert len(acked) == 40
    pid = instance.proc.pid
    kids = keyholder_pids(pid)
    assert len(kids) == 1, kids
    os.kill(kids[0], 9)
    # fail closed: signetd stops by itself
    instance.proc.wait(timeout=30)
    assert instance.proc.returncode != 0
    instance.stop()
    log = instance.log_text()
    assert "the keyholder exited" in log
    before = len(log)
    instance.start()
    failed = []
    for rid in acked:
        req = instance.wait_final(rid)
        if req["status"] != "Completed":
            failed.append(req)
    assert not failed, failed[:3]
    assert len(acked) == len(set(acked))
    # otherwise nothing was queued at the kill and this tested nothing
    assert "completed" in instance.log_text()[before:]


def test_keyholder_killed_under_load(instance):
    """The same while submissions keep arriving: whatever was acknowledged
    completes after the restart."""
    ex = concurrent.futures.ThreadPoolExecutor(1)
    fut = ex.submit(_submit_many, instance, 120, 1024, 6)
    time.sleep(1.0)
    kids = keyholder_pids(instance.proc.pid)
    os.kill(kids[0], 9)
    acked, _ = fut.result(timeout=120)
    ex.shutdown()
    instance.proc.wait(timeout=30)
    instance.stop()
    instance.start()
    states = [instance.wait_final(rid)["status"] for rid in acked]
    failed = [s for s in states if s != "Completed"]
    print(f"acknowledged {len(acked)}, not completed {len(failed)}")
    assert acked
    assert not failed


# ---------------------------------------------------------------- storage

def _approve_all(inst, rid):
    officer = inst.login("officer")
    r = officer.post(inst.api(f"/signing-requests/{rid}/approve"),
                     json={"comment": "fault test"}, timeout=30)
    assert r.status_code == 200, r.text

def _set_conf(inst, **store):
    """Rewrites keys of the [store] section of inst's configuration."""
    import re
    conf = inst.conf.read_text()
    for k, v in store.items():
        conf, n = re.subn(rf"(?m)^{k} = .*$", f"{k} = {v}", conf)
        if n == 0:
            conf = conf.replace("[store]\n", f"[store]\n{k} = {v}\n", 1)
    inst.conf.write_text(conf)


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory):
    """An instance whose state directory is on a 40 MiB tmpfs."""
    inst = Instance(tmp_path_factory.mktemp("smalldisk"))
    inst.provision()
    mnt = inst.dir / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700",
                    "tmpfs", str(mnt)], check=True)
    try:
        subprocess.run(["cp", "-a", "--sparse=always", str(inst.state),
                        str(mnt / "state")], check=True)
        inst.state = mnt / "state"
        inst.tmp_dir = inst.state / "artifacts" / "tmp"
        _set_conf(inst, state_dir=str(inst.state))
        inst.start()
        yield inst
        inst.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill_disk(path, leave):
    """Fills the file system of path up to `leave` bytes free."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    filler = path / "filler"
    with open(filler, "wb") as f:
        left = free - leave
        chunk = b"\0" * (1 << 20)
        while left > 0:
            n = min(left, len(chunk))
            try:
                f.write(chunk[:n])
                f.flush()
            except OSError:
                break
            left -= n
    return filler


def test_disk_full_is_507_and_resumes(small_disk):
    inst = small_disk
    health = inst.session().get(inst.api("/health"), timeout=30).json()
    assert health["status"] == "ok", health
    filler = _fill_disk(inst.state.parent, 256 * 1024)
    try:
        acked, other = _submit_many(inst, 30, size=64 * 1024, workers=6)
        statuses = [o[0] for o in other if isinstance(o, tuple)]
        # refused, and saying why: no 500 or "try again"
        assert statuses, (acked, other)
        assert set(statuses) == {507}, other
        for o in other:
            assert "full" in o[1], o
        assert not [o for o in other if not isinstance(o, tuple)], other
        # nothing half-stored stays behind
        assert inst.tmp_entries() == []
        h = inst.session().get(inst.api("/health"), timeout=30)
        assert h.status_code == 503, h.text
        body = h.json()
        assert body["store"]["writable"] is False, body
        assert "disk" in body["store"]["reason"], body
        # reads and the console's view still work
        assert inst.list_all() is not None
    finally:
        filler.unlink()
    # space is back: new work is taken, the acknowledged completes
    deadline = time.monotonic() + 30
    while True:
        r = inst.submit(b"after the disk was freed\n", expect=None)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.status_code == 201, r.text
    for rid in acked + [r.json()["id"]]:
        req = inst.wait_final(rid)
        assert req["status"] == "Completed", req
    h = inst.session().get(inst.api("/health"), timeout=30)
    assert h.status_code == 200, h.text


def test_disk_full_while_signing_waits(small_disk, tmp_path):
    """The signed file cannot be stored: the request waits, its history
    says why, and it completes once there is space, without a restart. A
    detached signature is kept in the database with its request, so the
    signed result here is an executable with its signature embedded,
    too large to be kept there (8 KiB): a file of its own."""
    from test_authenticode import HELLO_C, mingw
    inst = small_disk
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "big.exe")
    data += b"x" * (600 * 1024)
    rid = inst.submit(data, policy="release-signing", filename="big.exe",
                      fields={**inst.origin(),
                              "artifactConfigurationSlug": "authenticode-pe"}
                      ).json()["id"]
    # the database's next pages are on the disk already (an LMDB file
    # keeps its blocks), so the approval is recorded and the signed file,
    # a new file, is what finds the disk full
    subprocess.run(["fallocate", "-n", "-l", "8M",
                    str(inst.state / "db" / "data.mdb")], check=True)
    filler = _fill_disk(inst.state.parent, 0)
    try:
        _approve_all(inst, rid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            req = inst.get_request(rid)
            notes = [h.get("note", "") for h in req["history"]]
            if any(n.startswith("waiting: storage") for n in notes):
                break
            time.sleep(0.3)
        assert req["workflowStatus"] in ("QueuedForProcessing", "Processing"), req
        assert any(n.startswith("waiting: storage") for n in notes), req
        assert "failureReason" not in req
    finally:
        filler.unlink()
    req = inst.wait_final(rid)
    assert req["status"] == "Completed", req


def test_admin_storage_status(small_disk):
    """`signet admin storage status` shows the limits and says why the
    store takes no submissions."""
    import json
    from test_admin import admin_token, cli
    inst = small_disk
    inst.wait_final(inst.submit(b"one artifact at least\n").json()["id"])
    tok = admin_token(inst)
    out = json.loads(cli(inst, tok, "--json", "storage").stdout)
    assert out["writable"] is True
    assert out["artifacts"]["count"] >= 1
    assert out["database"]["maxMapSizeBytes"] >= out["database"]["mapSizeBytes"]
    filler = _fill_disk(inst.state.parent, 0)
    try:
        p = cli(inst, tok, "storage", "status")
        assert "disk holding the state directory is full" in p.stdout, p.stdout
        assert "artifacts" in p.stdout and "MiB" in p.stdout
    finally:
        filler.unlink()
    # administrators only
    r = inst.session().get(inst.api("/admin/storage"), timeout=30)
    assert r.status_code == 403


@pytest.fixture(scope="module")
def small_map(tmp_path_factory):
    """An instance whose database starts at 1 MiB and may grow to 3 MiB."""
    inst = Instance(tmp_path_factory.mktemp("smallmap"))
    inst.provision()
    _set_conf(inst, map_size="1M", max_map_size="3M")
    inst.start()
    yield inst
    inst.stop()


def test_map_full_is_507_and_the_ceiling_can_be_raised(small_map):
    inst = small_map
    waiting = inst.submit(b"to approve when full\n", policy="release-signing",
                          fields=inst.origin()).json()["id"]
    acked, other = [], []
    for _ in range(60):
        a, o = _submit_many(inst, 24, size=512, workers=6)
        acked += a
        other += o
        if o:
            # refused while the queue's results are owed; full for good
            # once they are written and it still refuses
            for rid in acked:
                inst.wait_final(rid)
            h = inst.session().get(inst.api("/health"), timeout=30)
            if h.status_code == 503:
                break
    assert "grown to" in inst.log_text(), "the map never grew"
    statuses = {o[0] for o in other if isinstance(o, tuple)}
    assert statuses == {507}, other[:5]
    assert all("max_map_size = 3 MiB" in o[1] for o in other), other[:3]
    assert h.status_code == 503, h.text
    assert "max_map_size" in h.json()["store"]["reason"]
    assert h.json()["store"]["maxMapSizeBytes"] == 3 << 20
    # what is stored goes on: reads, an approval, the signer's results
    _approve_all(inst, waiting)
    assert inst.wait_final(waiting)["workflowStatus"] == "Completed"
    for rid in acked:
        assert inst.wait_final(rid)["workflowStatus"] == "Completed", rid
    # a raised ceiling, read on SIGHUP: submissions are taken again
    _set_conf(inst, max_map_size="8M")
    inst.proc.send_signal(1)
    deadline = time.monotonic() + 10
    while True:
        r = inst.submit(b"after the ceiling was raised\n", expect=None)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status_code == 201, r.text
    assert inst.wait_final(r.json()["id"])["workflowStatus"] == "Completed"
    assert inst.session().get(inst.api("/health"), timeout=30).status_code == 200


# ------------------------------------------------------------ idempotency

def test_idempotent_retry_returns_the_first_request(instance):
    s = instance.session()
    key = "run-42-" + os.urandom(6).hex()
    data = b"one artifact, sent twice " + os.urandom(8)
    first = instance.submit(data, session=s, fields={"idempotencyKey": key})
    rid = first.json()["id"]
    # the same key as a header, the same bytes: the first request
    s2 = instance.session()
    s2.headers["Idempotency-Key"] = key
    again = instance.submit(data, session=s2, expect=200)
    assert again.json()["id"] == rid
    assert again.headers["Location"].endswith(rid)
    assert len(instance.list_all(submitter="ci-runner")) == len(
        {i["id"] for i in instance.list_all(submitter="ci-runner")})
    assert sum(1 for i in instance.list_all() if i["id"] == rid) == 1
    # the same key with other bytes: refused, and nothing of it kept
    other = b"another artifact " + os.urandom(8)
    import hashlib
    r = instance.submit(other, session=s2, expect=409)
    assert r.json()["error"] == "idempotency_key_reused", r.text
    assert rid in r.json()["message"]
    assert hashlib.sha256(other).hexdigest() not in instance.stored_artifacts()
    # another submitter's key space is its own
    dev = instance.login("dev")
    dev.headers["Idempotency-Key"] = key
    r = instance.submit(data, session=dev, expect=None)
    if r.status_code == 201:
        assert r.json()["id"] != rid
    else:
        assert r.status_code == 403, r.text  # not a submitter of the policy
    # header and field must agree; a key must be text
    r = instance.submit(data, session=s2, fields={"idempotencyKey": key + "x"},
                        expect=400)
    assert r.json()["error"] == "invalid_idempotency_key"
    s3 = instance.session()
    s3.headers["Idempotency-Key"] = "has space"
    r = instance.submit(data, session=s3, expect=400)
    assert r.json()["error"] == "invalid_idempotency_key"
    assert instance.wait_final(rid)["workflowStatus"] == "Completed"


def test_cli_submit_sends_an_idempotency_key(instance, tmp_path):
    """Every submission of `signet submit` carries a key (so its own retries
    return the first request); SIGNET_IDEMPOTENCY_KEY makes one span
    invocations."""
    from conftest import BUILD
    art = tmp_path / "app.bin"
    art.write_bytes(b"cli idempotency " + os.urandom(8))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB", "CI_", "SIGNET_",
                                "JENKINS", "BUILD_"))}
    env.update(SIGNET_URL=instance.url, SIGNET_CACERT=instance.ca,
               SIGNET_CLIENT_CERT=instance.client_cert,
               SIGNET_CLIENT_KEY=instance.client_key)
    args = [str(BUILD / "signet"), "submit", "--project", "demo-app",
            "--policy", "test-signing", "--artifact", str(art),
            "--origin", "buildId=run-77"]

    def submit(**extra):
        p = subprocess.run(args, env={**env, **extra}, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    # two invocations are two submissions
    assert submit() != submit()
    key = "pipeline-step-" + os.urandom(4).hex()
    first = submit(SIGNET_IDEMPOTENCY_KEY=key)
    assert submit(SIGNET_IDEMPOTENCY_KEY=key) == first
    assert "repeated " + first in instance.log_text()
    # what the CLI sent without the variable: a key of its own, in the log
    # of the first submission it is not repeated
    log = instance.log_text()
    assert log.count("repeated ") >= 1


# ---------------------------------------------------------- back-pressure

@pytest.fixture(scope="module")
def queue_limited(tmp_path_factory):
    """The token locked (nothing is signed, the queue only grows) and at
    most 4 requests queued."""
    import re
    inst = Instance(tmp_path_factory.mktemp("queuelimit"))
    inst.provision()
    conf, n = re.subn(r"(?m)^pin_file = .*\n", "", inst.conf.read_text())
    assert n == 1
    inst.conf.write_text(conf + "\n[signer]\nmax_queue = 4\n")
    inst.start()
    yield inst
    inst.stop()


def test_queue_limit_answers_503_with_retry_after(queue_limited):
    inst = queue_limited
    waiting = inst.submit(b"for approval\n", policy="release-signing",
                          fields=inst.origin()).json()["id"]
    for i in range(4):
        inst.submit(b"queued %d\n" % i)
    r = inst.submit(b"one too many\n", expect=503)
    assert r.json()["error"] == "queue_full", r.text
    assert "max_queue" in r.json()["message"]
    assert int(r.headers["Retry-After"]) > 0
    h = inst.session().get(inst.api("/health"), timeout=30).json()
    assert h["queue"]["depth"] == 4, h
    assert h["queue"]["oldestId"], h
    # approvals go on (the approved request joins the queue beyond the limit)
    _approve_all(inst, waiting)
    assert inst.get_request(waiting)["workflowStatus"] == "QueuedForProcessing"
    assert inst.list_all()
    # a raised limit, read on SIGHUP
    conf = inst.conf.read_text().replace("max_queue = 4", "max_queue = 100")
    inst.conf.write_text(conf)
    inst.proc.send_signal(1)
    deadline = time.monotonic() + 10
    while True:
        r = inst.submit(b"after the limit was raised\n", expect=None)
        if r.status_code == 201 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------- metrics

def _families(text):
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fams, name, **labels):
    for fam in fams.values():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v
                                      for k, v in labels.items()):
                return s.value
    raise AssertionError(f"no sample {name} {labels}")


def test_metrics_parse_and_count(instance):
    rid = instance.submit(b"counted\n").json()["id"]
    instance.wait_final(rid)
    bad = instance.session(cert=False).post(
        instance.api("/sessions"), json={"username": "admin",
                                         "password": "wrong"}, timeout=30)
    assert bad.status_code == 401
    # the CI identity has no metrics role; the auditor is no administrator
    assert instance.session().get(instance.api("/metrics"),
                                  timeout=30).status_code == 403
    r = instance.login("admin").get(instance.api("/metrics"), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = _families(r.text)
    assert _value(fams, "signet_requests", project="demo-app",
                  policy="test-signing", status="Completed") >= 1
    assert _value(fams, "signet_queue_depth") >= 0
    assert _value(fams, "signet_signing_seconds_count") >= 1
    assert _value(fams, "signet_signing_seconds_bucket", le="+Inf") >= 1
    assert _value(fams, "signet_token_operations_total") >= 1
    assert _value(fams, "signet_login_failures_total") >= 1
    assert _value(fams, "signet_store_map_used_bytes") > 0
    assert _value(fams, "signet_store_map_max_bytes") >= \
        _value(fams, "signet_store_map_size_bytes")
    # every durable commit counted, with the writes it carried
    assert _value(fams, "signet_store_flushes_total") >= 1
    assert _value(fams, "signet_store_writes_total") >= \
        _value(fams, "signet_store_flushes_total")
    assert _value(fams, "signet_store_batched_writes_total") >= 0
    assert _value(fams, "signet_token_logged_in") == 1
    assert _value(fams, "signet_keyholder_up") == 1
    assert fams["signet_signing_seconds"].type == "histogram"


def test_metrics_role_and_plain_listener(tmp_path_factory):
    """An identity given the metrics role reads them; [metrics] listen
    serves them on loopback without TLS; only loopback is accepted."""
    import json
    from conftest import free_port, run, BUILD
    inst = Instance(tmp_path_factory.mktemp("metrics"))
    inst.provision()
    port = free_port()
    base = inst.conf.read_text()
    inst.conf.write_text(base + f"\n[metrics]\nlisten = 0.0.0.0:{port}\n")
    p = subprocess.run([str(BUILD / "signetd"), "-c", str(inst.conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "loopback" in p.stderr, p.stderr
    inst.conf.write_text(base + f"\n[metrics]\nlisten = 127.0.0.1:{port}\n")
    inst.start()
    try:
        r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        assert r.status_code == 200, r.text
        assert "signet_queue_depth" in _families(r.text)
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/health",
                            timeout=30).status_code == 404
        # the CI identity, given the metrics role by an applied document
        doc = inst.login("admin").get(inst.api("/admin/export"), timeout=30)
        assert doc.status_code == 200, doc.text
        body = doc.json()
        ids = body.get("identities")
        assert ids, body.keys()
        for i in ids:
            if i["name"] == "ci-runner":
                i["roles"] = ["metrics"]
        r = inst.login("admin").post(inst.api("/admin/apply"), json=body,
                                     timeout=30)
        assert r.status_code in (200, 201), r.text
        r = inst.session().get(inst.api("/metrics"), timeout=30)
        assert r.status_code == 200, r.text
        _families(r.text)
    finally:
        inst.stop()


# -------------------------------------------------------------- retention

def test_retention_removes_artifacts_of_final_requests(tmp_path_factory):
    """[store] retention: the artifacts of requests final for longer are
    removed (the record stays, downloads say 410), a file another request
    still needs stays, and each removal is audited."""
    import hashlib
    inst = Instance(tmp_path_factory.mktemp("retention"))
    inst.provision()
    _set_conf(inst, retention="3s")
    inst.start()
    try:
        shared = b"shared bytes " + os.urandom(8)
        waiting = inst.submit(shared, policy="release-signing",
                              fields=inst.origin()).json()["id"]
        done = inst.submit(shared).json()["id"]
        alone = inst.submit(b"alone " + os.urandom(8)).json()["id"]
        for rid in (done, alone):
            assert inst.wait_final(rid)["workflowStatus"] == "Completed"
        signed = inst.get_request(alone)["signedArtifact"]["sha256"]
        unsigned = inst.get_request(alone)["unsignedArtifact"]["sha256"]
        assert {signed, unsigned} <= inst.stored_artifacts()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "artifactsRemovedAt" in inst.get_request(alone) and \
                    "artifactsRemovedAt" in inst.get_request(done):
                break
            time.sleep(0.5)
        req = inst.get_request(alone)
        assert "artifactsRemovedAt" in req, req
        assert req["workflowStatus"] == "Completed"
        files = inst.stored_artifacts()
        assert signed not in files and unsigned not in files
        r = inst.session().get(inst.api(f"/signing-requests/{alone}/signed-artifact"),
                               timeout=30)
        assert r.status_code == 410 and r.json()["error"] == "artifact_removed"
        # the waiting request still refers to the shared bytes
        assert hashlib.sha256(shared).hexdigest() in files
        assert "artifactsRemovedAt" not in inst.get_request(waiting)
        _approve_all(inst, waiting)
        assert inst.wait_final(waiting)["workflowStatus"] == "Completed"
        audit = inst.login("admin").get(inst.api("/audit?limit=1000"), timeout=30)
        assert audit.status_code == 200, audit.text
        assert "signing-request.artifacts-removed" in audit.text
        # what has no artifact any more cannot be resubmitted
        r = inst.session().post(inst.api(f"/signing-requests/{alone}/resubmit"),
                                json={"signingPolicySlug": "test-signing"},
                                timeout=30)
        assert r.status_code == 409, r.text
    finally:
        inst.stop()
