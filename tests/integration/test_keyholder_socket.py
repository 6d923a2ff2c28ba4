"""The keyholder as a process of its own ([keyholder] socket), as the
appliance image runs it under signet-keyholder.socket: signetd connects to
a listening socket instead of starting the keyholder, signs through it,
has no keyholder child, and stops (fail closed) when the keyholder goes;
with nothing listening it does not start."""

import os
import pwd
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, Instance, keyholder_pids


def conf_value(text, section, key):
    """The first `key = value` of [section] in a signetd.conf."""
    cur = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            cur = line.strip("[]")
        elif cur == section and re.match(rf"{key}\s*=", line):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"no [{section}] {key} in the configuration")


class SocketKeyholder:
    """signet-keyholder on a listening socket, as systemd hands it one."""

    def __init__(self, inst, path):
        conf = inst.conf.read_text()
        self.path = str(path)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(self.path)
        lsock.listen(4)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for line in conf.splitlines():
            m = re.match(r"\s*env\s*=\s*([A-Z0-9_]+)=(.*)", line)
            if m:
                env[m.group(1)] = m.group(2).strip()
        self.log = open(inst.dir / "keyholder.log", "ab")
        self.proc = subprocess.Popen(
            [str(BUILD / "pkcs11" / "signet-keyholder"),
             "--listen-fd", str(lsock.fileno()),
             "--peer-user", pwd.getpwuid(os.getuid()).pw_name,
             "--module", conf_value(conf, "token", "module"),
             "--token", conf_value(conf, "token", "label"),
             "--pin-file", str(inst.dir / "token.pin"),
             "--journal", str(inst.dir / "kh-journal")],
            pass_fds=(lsock.fileno(),), stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=self.log, env=env, cwd=inst.dir)
        lsock.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def sock_instance(tmp_path_factory):
    inst = Instance(tmp_path_factory.mktemp("signet-khsock"))
    inst.provision()
    path = inst.dir / "kh.sock"
    with open(inst.conf, "a") as f:
        f.write(f"\n[keyholder]\nsocket = {path}\n")
    kh = SocketKeyholder(inst, path)
    inst.start()
    yield inst, kh
    inst.stop()
    kh.stop()


def test_signs_through_the_socket(sock_instance, tmp_path):
    inst, kh = sock_instance
    r = inst.submit(os.urandom(4096) + b"socket")
    req = inst.wait_final(r.json()["id"])
    assert req["status"] == "Completed", req
    # the keyholder is not signetd's child
    assert keyholder_pids(inst.proc.pid) == []
    assert kh.proc.poll() is None
    assert "connected to the keyholder at" in inst.log_text()


def test_signetd_stops_when_the_keyholder_goes(sock_instance):
    inst, kh = sock_instance
    kh.proc.send_signal(signal.SIGKILL)
    kh.proc.wait(timeout=10)
    deadline = time.monotonic() + 15
    while inst.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    rc = inst.proc.poll()
    assert rc is not None, "signetd kept running without its keyholder"
    assert rc != 0, "signetd stopped without failing"
    assert "the keyholder closed its connection; stopping" in inst.log_text()


def test_no_listener_no_start(tmp_path):
    inst = Instance(tmp_path)
    inst.provision()
    with open(inst.conf, "a") as f:
        f.write(f"\n[keyholder]\nsocket = {tmp_path / 'nothing.sock'}\n")
    p = subprocess.run([str(BUILD / "signetd"), "-c", str(inst.conf)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "cannot connect to the keyholder" in p.stderr, p.stderr
