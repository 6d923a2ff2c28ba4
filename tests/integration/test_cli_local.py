"""The signet tool at a terminal and with local files: passwords typed into
`signet user password`, `signet admin users password` and `signet login`
are not echoed (appliance/cli/prompt.c, driven in tmux); `signet apply`
reads its document under the same bound as the admin API."""
import shlex
import shutil

import pytest

from conftest import BUILD
from test_admin import admin_token
from test_console import Tmux

SIGNET = BUILD / "signet"


@pytest.fixture(autouse=True)
def _tmux_present():
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (scripts/deps.sh)", pytrace=False)


def login_status(instance, user, pw):
    r = instance.session(cert=False).post(
        instance.api("/sessions"), json={"username": user, "password": pw})
    return r.status_code


def typed_without_echo(name, cmd, prompt, secret, done):
    tm = Tmux(name, cmd)
    try:
        tm.wait(prompt)
        tm.type(secret)
        tm.keys("Enter")
        scr = tm.wait(done)
        assert secret not in scr, scr
        return scr
    finally:
        tm.kill()


def test_local_user_password_is_not_echoed(instance):
    secret = "Local-Echo-Check-7391"
    cmd = shlex.join([str(SIGNET), "-c", str(instance.conf), "user",
                      "password", "dev"])
    typed_without_echo("localpw", cmd, "new password for dev:", secret,
                       "password of dev set")
    assert login_status(instance, "dev", secret) == 201


def test_admin_users_password_is_not_echoed(instance):
    secret = "Admin-Echo-Check-5120"
    tok = admin_token(instance)
    cmd = "env " + shlex.join([
        f"SIGNET_URL={instance.url}", f"SIGNET_CACERT={instance.ca}",
        f"SIGNET_TOKEN={tok}", str(SIGNET), "admin", "users", "password",
        "dev"]) + "; echo exit=$?"
    typed_without_echo("adminpw", cmd, "new password for dev:", secret,
                       "exit=0")
    assert login_status(instance, "dev", secret) == 201


def test_login_password_is_not_echoed(instance):
    pw = (instance.dir / "passwords" / "officer").read_text().strip()
    cmd = "env " + shlex.join([
        f"SIGNET_URL={instance.url}", f"SIGNET_CACERT={instance.ca}",
        str(SIGNET), "login", "--username", "officer"]) + "; echo exit=$?"
    scr = typed_without_echo("loginpw", cmd, "password for officer:", pw,
                             "exit=0")
    assert "SIGNET_TOKEN=" in scr, scr


def test_apply_document_is_bounded(instance, tmp_path):
    """`signet apply` reads its document under SIGNET_MAX_APPLY_DOCUMENT
    (16 MiB), as the admin API does, and says so."""
    big = tmp_path / "big.json"
    with open(big, "w") as f:
        f.write('{"projects": [], "padding": "')
        f.write("x" * (16 << 20))
        f.write('"}')
    p = instance.signet("apply", "--dry-run", str(big), check=False)
    assert p.returncode != 0
    assert "at most 16 MiB" in p.stderr, p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"projects": [}')
    p = instance.signet("apply", "--dry-run", str(bad), check=False)
    assert p.returncode != 0 and "bad.json:1:" in p.stderr, p.stderr
