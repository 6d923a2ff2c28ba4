"""Passwords typed into the signet tool at a terminal are not echoed
(appliance/cli/prompt.c): the local `signet user password`, `signet admin
users password` and `signet login`, each driven in tmux."""
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
