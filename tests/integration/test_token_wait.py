"""A request queued while the token is not activated waits without growing.

The signer tries a waiting request again every few seconds. Its history
records the wait once ("waiting: token not activated"), not once per try:
otherwise a request left waiting over a weekend would outgrow its record.
Once signetd has the PIN again, the request is signed."""

import re
import time

import pytest

from conftest import Instance

RETRY_SECONDS = 2  # appliance/daemon/signer.c SIGNER_RETRY_SECONDS


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("tokenwait"))
    inst.provision()
    inst.full_conf = inst.conf.read_text()
    conf, n = re.subn(r"(?m)^pin_file = .*\n", "", inst.full_conf)
    assert n == 1, conf
    inst.conf.write_text(conf)
    inst.start()
    yield inst
    inst.stop()
    report = inst.sanitizer_reports()
    if report:
        pytest.fail(f"sanitizer report from signetd:\n{report}", pytrace=False)


def test_waiting_request_history_is_bounded(locked):
    rid = locked.submit(b"queued while the token is locked\n").json()["id"]
    # long enough for several tries
    time.sleep(6 * RETRY_SECONDS)
    req = locked.get_request(rid)
    assert req["workflowStatus"] == "QueuedForProcessing", req
    hist = req["history"]
    states = [h["workflowStatus"] for h in hist]
    assert states == ["QueuedForProcessing", "Processing", "QueuedForProcessing"], hist
    assert hist[-1].get("note") == "waiting: token not activated", hist
    assert "failureReason" not in req, req
    # still the same a few tries later
    time.sleep(3 * RETRY_SECONDS)
    assert locked.get_request(rid)["history"] == hist
    # each try is not logged either: the wait is, once
    assert locked.log_text().count(f"signer: {rid} waits") == 1
    locked.waiting_id = rid


def test_waiting_request_can_be_canceled(locked):
    rid = locked.submit(b"canceled while waiting\n").json()["id"]
    time.sleep(2 * RETRY_SECONDS)
    r = locked.session().post(locked.api(f"/signing-requests/{rid}/cancel"),
                              json={}, timeout=30)
    assert r.status_code == 200, r.text
    time.sleep(2 * RETRY_SECONDS)
    req = locked.get_request(rid)
    states = [h["workflowStatus"] for h in req["history"]]
    assert states == ["QueuedForProcessing", "Processing",
                      "QueuedForProcessing", "Canceled"], req["history"]


def test_waiting_request_is_signed_once_the_token_is_there(locked):
    rid = locked.waiting_id
    assert locked.stop() == 0
    locked.conf.write_text(locked.full_conf)  # with pin_file again
    locked.start()
    req = locked.wait_final(rid)
    assert req["workflowStatus"] == "Completed", req
    states = [h["workflowStatus"] for h in req["history"]]
    assert states == ["QueuedForProcessing", "Processing", "QueuedForProcessing", "Processing",
                      "Completed"], req["history"]
