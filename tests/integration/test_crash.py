"""Crash safety: SIGKILL in the middle of work loses nothing that was
recorded, records nothing half-done, and leaves no temporary files."""

import hashlib
import json
import os
import socket
import ssl
import time

from conftest import MAX_ARTIFACT, cms_verify, keyholder_pids


def wait_gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and
                 "Z" not in _state(p)]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


def _state(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return "Z"
    return stat[stat.rindex(")") + 2:].split()[0]


def partial_upload(instance, artifact_size, send_bytes):
    """Opens a mutual-TLS connection and sends a multipart submission whose
    artifact is artifact_size bytes long, stopping after send_bytes of it.
    Returns the open socket."""
    ctx = ssl.create_default_context(cafile=instance.ca)
    ctx.load_cert_chain(instance.client_cert, instance.client_key)
    raw = socket.create_connection(("127.0.0.1", instance.port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    b = "signetcrash" + os.urandom(8).hex()
    head = (
        f"--{b}\r\nContent-Disposition: form-data; name=\"projectSlug\"\r\n\r\n"
        f"demo-app\r\n"
        f"--{b}\r\nContent-Disposition: form-data; name=\"signingPolicySlug\"\r\n\r\n"
        f"test-signing\r\n"
        f"--{b}\r\nContent-Disposition: form-data; name=\"artifact\"; "
        f"filename=\"partial.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{b}--\r\n".encode()
    length = len(head) + artifact_size + len(tail)
    request = (
        f"POST /api/v1/signing-requests HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{instance.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={b}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    sock.sendall(request + head)
    sent = 0
    chunk = os.urandom(64 * 1024)
    while sent < send_bytes:
        n = min(len(chunk), send_bytes - sent)
        sock.sendall(chunk[:n])
        sent += n
        time.sleep(0.01)  # slowly, like a real upload
    return sock


def snapshot(instance):
    return {i["id"]: i for i in instance.list_all()}


def test_sigkill_mid_upload(instance, tmp_path):
    # Work that was finished before the crash.
    done = []
    for i in range(2):
        data = f"before the crash {i}".encode()
        rid = instance.submit(data).json()["id"]
        assert instance.wait_final(rid)["status"] == "Completed"
        done.append((rid, data))
    waiting = instance.submit(b"waits", policy="release-signing",
                              fields=instance.origin()).json()["id"]
    before = snapshot(instance)
    assert set(before) == {r for r, _ in done} | {waiting}

    size = MAX_ARTIFACT - 64 * 1024
    sock = partial_upload(instance, size, size // 2)
    # Give signetd time to stream the part it has into artifacts/tmp.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not instance.tmp_entries():
        time.sleep(0.05)
    in_progress = instance.tmp_entries()
    # Otherwise this would not test the cleanup of an interrupted upload.
    assert in_progress, "the upload never reached artifacts/tmp"

    pid = instance.proc.pid
    kids = keyholder_pids(pid)
    instance.kill()
    sock.close()

    # The keyholder notices that signetd is gone and exits by itself.
    assert wait_gone(kids) == [], f"keyholder {kids} outlived signetd"

    instance.start()
    assert instance.tmp_entries() == [], (
        f"tmp not emptied at startup (in progress before the kill: {in_progress})")
    after = snapshot(instance)
    assert set(after) == set(before), "requests appeared or vanished"
    for rid, data in done:
        req = instance.get_request(rid)
        assert req["status"] == "Completed", req
        assert req["unsignedArtifact"]["size"] == len(data)
        s = instance.session()
        assert s.get(instance.api(f"/signing-requests/{rid}/unsigned-artifact")).content == data
        sig = s.get(instance.api(f"/signing-requests/{rid}/signed-artifact"))
        assert sig.status_code == 200
        (tmp_path / "a").write_bytes(data)
        (tmp_path / "a.p7s").write_bytes(sig.content)
        v = cms_verify(tmp_path / "a.p7s", tmp_path / "a", instance.pki / "test-signing.pem")
        assert v.returncode == 0, v.stderr
    assert instance.get_request(waiting)["status"] == "WaitingForApproval"

    # And it works as before.
    rid = instance.submit(b"after the crash").json()["id"]
    assert instance.wait_final(rid)["status"] == "Completed"


def test_sigkill_with_queued_work(instance):
    """Requests accepted before a crash are finished after the restart, not
    left in QueuedForProcessing or Processing forever."""
    rids = [instance.submit(os.urandom(256 * 1024)).json()["id"] for _ in range(6)]
    instance.kill()
    instance.start()
    for rid in rids:
        req = instance.wait_final(rid)
        assert req["status"] in ("Completed", "Failed"), req
        if req["status"] == "Failed":
            assert req.get("failureReason"), req
    assert instance.tmp_entries() == []


def test_sigterm_is_a_clean_exit(instance):
    rc = instance.stop()
    assert rc == 0, f"signetd exited {rc} on SIGTERM:\n{instance.log_text()[-4000:]}"
    instance.start()
    assert instance.list_all()


KILL_ROUNDS = 20


def test_sigkill_loop_under_load(instance):
    """SIGKILL signetd again and again while submissions stream in from
    several peers: every acknowledged request (201 with an id) is there
    after each restart, and in the end every one of them is Completed."""
    import concurrent.futures
    import threading

    from conftest import peer

    acked = []
    lock = threading.Lock()

    def submitter(i, stop):
        s = instance.session(source=peer(i))
        n = 0
        while not stop.is_set():
            n += 1
            data = b"kill loop %d %d " % (i, n) + os.urandom(512)
            try:
                r = s.post(instance.api("/signing-requests"),
                           data={"projectSlug": "demo-app",
                                 "signingPolicySlug": "test-signing"},
                           files={"artifact": ("k.bin", data)}, timeout=10)
            except Exception:
                time.sleep(0.05)
                continue
            if r.status_code != 201:
                continue
            try:
                rid = r.json()["id"]
            except ValueError:
                # the kill cut the answer after its status line: the
                # client never learned an id, nothing was acknowledged
                continue
            with lock:
                acked.append(rid)

    lost = []
    for rnd in range(KILL_ROUNDS):
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futs = [ex.submit(submitter, i, stop) for i in range(4)]
            time.sleep(0.4 + (rnd % 4) * 0.15)
            instance.kill()
            stop.set()
            for f in futs:
                f.result()
        instance.start()
        with lock:
            seen = list(acked)
        s = instance.session()
        for rid in seen:
            if s.get(instance.api(f"/signing-requests/{rid}"),
                     timeout=30).status_code != 200:
                lost.append(rid)
    print(f"\n{KILL_ROUNDS} kills, {len(acked)} acknowledged, "
          f"{len(set(lost))} lost")
    assert acked, "nothing was acknowledged: the loop tested nothing"
    assert not lost, lost[:5]
    not_completed = [r for r in set(acked)
                     if instance.wait_final(r)["workflowStatus"] != "Completed"]
    assert not not_completed, not_completed[:5]
    assert instance.tmp_entries() == []


def test_sigterm_drains_the_queue(instance):
    """SIGTERM: submissions are refused (503, Retry-After) while the signer
    works through what is queued; signetd exits 0 with nothing left."""
    import concurrent.futures
    import datetime

    from conftest import peer

    def one(i):
        s = instance.session(source=peer(i))
        r = s.post(instance.api("/signing-requests"),
                   data={"projectSlug": "demo-app",
                         "signingPolicySlug": "test-signing"},
                   files={"artifact": ("d.bin", os.urandom(2048))}, timeout=60)
        return r.json()["id"] if r.status_code == 201 else None

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rids = [r for r in ex.map(one, range(120)) if r]
    assert len(rids) == 120
    instance.proc.send_signal(15)
    refused = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and instance.proc.poll() is None:
        try:
            r = instance.submit(b"while stopping\n", expect=None)
        except Exception:
            break
        if r.status_code == 503:
            refused = r
            break
    # a second SIGTERM would end the drain at once: wait for the exit
    instance.proc.wait(timeout=30)
    rc = instance.stop()
    assert rc == 0, instance.log_text()[-2000:]
    stopped = datetime.datetime.now(datetime.timezone.utc)
    log = instance.log_text()
    assert "drain: the queue is empty" in log, log[-2000:]
    if refused is not None:
        assert refused.json()["error"] == "stopping"
        assert "Retry-After" in refused.headers
    instance.start()
    for rid in rids:
        req = instance.get_request(rid)
        assert req["workflowStatus"] == "Completed", req
        done = datetime.datetime.fromisoformat(
            req["history"][-1]["at"].replace("Z", "+00:00"))
        assert done <= stopped, (rid, done, stopped)


def test_sigterm_lets_an_upload_in_flight_finish(instance):
    """SIGTERM while an artifact is being uploaded: the upload goes on to
    its 201 ([server] drain_timeout), a new one is refused with 503, then
    signetd exits 0 and the acknowledged request is there and signed."""
    ctx = ssl.create_default_context(cafile=instance.ca)
    ctx.load_cert_chain(instance.client_cert, instance.client_key)
    raw = socket.create_connection(("127.0.0.1", instance.port), timeout=30)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    b = "signetdrain" + os.urandom(8).hex()
    data = os.urandom(1536 * 1024)
    head = (
        f"--{b}\r\nContent-Disposition: form-data; name=\"projectSlug\"\r\n\r\n"
        f"demo-app\r\n"
        f"--{b}\r\nContent-Disposition: form-data; name=\"signingPolicySlug\"\r\n\r\n"
        f"test-signing\r\n"
        f"--{b}\r\nContent-Disposition: form-data; name=\"artifact\"; "
        f"filename=\"drain.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{b}--\r\n".encode()
    sock.sendall((
        f"POST /api/v1/signing-requests HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{instance.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={b}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode())
    half = len(body) // 2
    sock.sendall(body[:half])
    time.sleep(1)  # the handler has begun reading the artifact
    instance.proc.send_signal(15)
    time.sleep(1)
    assert instance.proc.poll() is None, "signetd stopped under the upload"
    # a submission that begins now is refused
    r = instance.submit(b"after SIGTERM\n", expect=None)
    assert r.status_code == 503 and r.json()["error"] == "stopping", r.text
    for i in range(half, len(body), 64 * 1024):
        sock.sendall(body[i:i + 64 * 1024])
        time.sleep(0.01)
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    sock.close()
    status = reply.split(b"\r\n", 1)[0]
    assert b" 201 " in status, reply[:500]
    rid = json.loads(reply.split(b"\r\n\r\n", 1)[1])["id"]
    instance.proc.wait(timeout=30)
    assert instance.stop() == 0, instance.log_text()[-2000:]
    assert "no upload in flight" in instance.log_text()
    instance.start()
    req = instance.wait_final(rid)
    assert req["workflowStatus"] == "Completed", req
    assert req["unsignedArtifact"]["sha256"] == hashlib.sha256(data).hexdigest()
