"""People's sessions: the lockout under parallel guessing, sessions that
end with a password or role change and with the user, a session that never
passes to a later user of the same name, logins from other sites, the
__Host- cookie, and failed logins under names that are no user."""

import json
import os
import subprocess
import threading
import time

import pytest

from conftest import BUILD, peer

LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 20
GUESSES = 30
UNKNOWN = 50
COOKIE = "__Host-signet_session"


def password(instance, user):
    return instance.password(user)


def post_login(instance, user, pw, headers=None, source=None, **body):
    s = instance.session(cert=False, source=source)
    return s.post(instance.api("/sessions"), timeout=60, headers=headers or {},
                  json={"username": user, "password": pw, **body})


def bearer(instance, token):
    s = instance.session(cert=False)
    s.headers["Authorization"] = "Bearer " + token
    return s


def me_status(instance, token=None, cookie=None):
    s = instance.session(cert=False)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if cookie:
        headers["Cookie"] = cookie
    return s.get(instance.api("/me"), headers=headers, timeout=30).status_code


def parallel(n, fn):
    out = [None] * n

    def run(i):
        out[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def audit(admin):
    r = admin.get(admin.base + "/audit", params={"format": "jsonl"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.text.splitlines()


@pytest.fixture(scope="module")
def inst(instance):
    instance.stop()
    with open(instance.conf, "a") as f:
        f.write(f"\n[auth]\nlockout_failures = {LOCKOUT_FAILURES}\n"
                f"lockout_seconds = {LOCKOUT_SECONDS}\n")
    instance.start()
    return instance


@pytest.fixture(scope="module")
def admin(inst):
    r = post_login(inst, "admin", password(inst, "admin"))
    assert r.status_code == 201, r.text
    s = bearer(inst, r.json()["token"])
    s.base = inst.api("")
    return s


def make_user(inst, admin, name, roles, pw):
    r = admin.put(inst.api(f"/admin/users/{name}"),
                  json={"name": name, "roles": roles}, timeout=30)
    assert r.status_code in (200, 201), r.text
    r = admin.post(inst.api(f"/admin/users/{name}/password"),
                   json={"password": pw}, timeout=60)
    assert r.status_code == 204, r.text


def cookie_login(inst, user, pw):
    r = post_login(inst, user, pw, headers={"Sec-Fetch-Site": "same-origin"},
                   cookie=True)
    assert r.status_code == 201, r.text
    return f"{COOKIE}={r.cookies[COOKIE]}"


def three_sessions(inst, user, pw):
    """Two bearer tokens and a web session of user, all live."""
    toks = [post_login(inst, user, pw).json()["token"] for _ in range(2)]
    cookie = cookie_login(inst, user, pw)
    assert [me_status(inst, token=t) for t in toks] == [200, 200]
    assert me_status(inst, cookie=cookie) == 200
    return toks, cookie


def all_ended(inst, toks, cookie):
    assert [me_status(inst, token=t) for t in toks] == [401, 401]
    assert me_status(inst, cookie=cookie) == 401


# ------------------------------------------------ unknown names (runs first)

def test_unknown_names_bounded_and_nameless(inst, admin):
    before = audit(admin)
    names = ["ghost-" + os.urandom(6).hex() for _ in range(UNKNOWN)]
    codes = parallel(UNKNOWN, lambda i: post_login(
        inst, names[i], "some-password-123", source=peer(i)).status_code)
    assert codes == [401] * UNKNOWN
    new = audit(admin)[len(before):]
    for line in new:
        for n in names:
            assert n not in line, line
    unknown = [json.loads(l) for l in new
               if json.loads(l)["action"] == "session.login-failed-unknown-user"]
    # the first of this signetd's life is written at once, the rest are
    # counted into the next one (at most one a minute)
    assert len(unknown) == 1, new
    assert unknown[0]["actor"] == {"type": "system", "name": "signetd"}
    assert unknown[0]["details"]["attempts"] == 1
    assert unknown[0]["target"] is None
    assert not [l for l in new if '"session.login-failed"' in l]


# ------------------------------------------------------------ lockout

def test_parallel_guesses_lock_the_account(inst, admin):
    pw = "guessme-" + os.urandom(8).hex()
    make_user(inst, admin, "guessed", ["auditor"], pw)
    n0 = len(audit(admin))
    # from several addresses: one address may hold only so many
    # connections at once, and an attacker has more than one
    codes = parallel(GUESSES, lambda i: post_login(
        inst, "guessed", f"wrong-password-{i:02d}",
        source=peer(i)).status_code)
    burst_end = time.monotonic()
    assert codes == [401] * GUESSES
    # every attempt counted, under the user: some wrong, one lock, the
    # rest refused while locked
    entries = [json.loads(l) for l in audit(admin)[n0:]]
    failed = [e for e in entries if e["action"] == "session.login-failed"
              and e["actor"] == {"type": "user", "name": "guessed"}]
    reasons = [e["details"]["reason"] for e in failed]
    assert len(failed) == GUESSES, reasons
    assert reasons.count("wrong-password") == LOCKOUT_FAILURES - 1, reasons
    assert reasons.count("locked-now") == 1, reasons
    assert reasons.count("locked") == GUESSES - LOCKOUT_FAILURES, reasons
    # locked: the right password is refused with the very answer a wrong
    # one gets, and as slowly
    t0 = time.monotonic()
    right = post_login(inst, "guessed", pw)
    assert time.monotonic() - t0 >= 0.9
    wrong = post_login(inst, "guessed", "still-the-wrong-one")
    assert right.status_code == wrong.status_code == 401, right.text
    assert right.json() == wrong.json()
    assert "token" not in right.text
    # until the lock runs out
    time.sleep(max(0, burst_end + LOCKOUT_SECONDS + 1 - time.monotonic()))
    r = post_login(inst, "guessed", pw)
    assert r.status_code == 201, r.text


# ----------------------------------------------- sessions end with the user

def test_password_reset_ends_sessions(inst, admin):
    make_user(inst, admin, "pat", ["auditor"], "pat-password-1234")
    toks, cookie = three_sessions(inst, "pat", "pat-password-1234")
    other = post_login(inst, "admin", password(inst, "admin")).json()["token"]
    r = admin.post(inst.api("/admin/users/pat/password"),
                   json={"password": "pat-password-5678"}, timeout=60)
    assert r.status_code == 204, r.text
    all_ended(inst, toks, cookie)
    # another user's sessions go on
    assert me_status(inst, token=other) == 200
    assert post_login(inst, "pat", "pat-password-1234").status_code == 401

    # the same from the local CLI
    toks, cookie = three_sessions(inst, "pat", "pat-password-5678")
    p = subprocess.run([str(BUILD / "signet"), "-c", str(inst.conf), "user",
                        "password", "pat"], input="pat-password-9012\n",
                       text=True, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    all_ended(inst, toks, cookie)
    assert post_login(inst, "pat", "pat-password-9012").status_code == 201


def test_role_change_ends_sessions(inst, admin, tmp_path):
    make_user(inst, admin, "rob", ["auditor"], "rob-password-1234")
    toks, cookie = three_sessions(inst, "rob", "rob-password-1234")
    # rewriting the user as it is changes nothing
    r = admin.put(inst.api("/admin/users/rob"),
                  json={"name": "rob", "roles": ["auditor"]}, timeout=30)
    assert r.status_code in (200, 201), r.text
    assert me_status(inst, token=toks[0]) == 200
    r = admin.put(inst.api("/admin/users/rob"),
                  json={"name": "rob", "roles": ["administrator"]}, timeout=30)
    assert r.status_code in (200, 201), r.text
    all_ended(inst, toks, cookie)

    # the same through an applied document
    toks, cookie = three_sessions(inst, "rob", "rob-password-1234")
    doc = tmp_path / "rob.json"
    doc.write_text(json.dumps({"users": [{"name": "rob", "roles": []}]}))
    p = inst.signet("apply", str(doc))
    assert "updated user rob" in p.stdout, p.stdout
    all_ended(inst, toks, cookie)


def test_delete_and_recreate_ends_sessions(inst, admin):
    make_user(inst, admin, "sam", ["auditor"], "sam-password-1234")
    toks, cookie = three_sessions(inst, "sam", "sam-password-1234")
    r = admin.delete(inst.api("/admin/users/sam"), timeout=30)
    assert r.status_code in (200, 204), r.text
    all_ended(inst, toks, cookie)
    # a new administrator of the same name, with the same password
    make_user(inst, admin, "sam", ["administrator"], "sam-password-1234")
    all_ended(inst, toks, cookie)
    for t in toks:
        r = bearer(inst, t).get(inst.api("/admin/users"), timeout=30)
        assert r.status_code == 401, r.text
    assert post_login(inst, "sam", "sam-password-1234").status_code == 201


# ----------------------------------------------------- logins from elsewhere

@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
])
def test_login_from_another_site_is_refused(inst, headers):
    pw = password(inst, "dev")
    for cookie in (True, False):
        r = post_login(inst, "dev", pw, headers=headers, cookie=cookie)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "cross_site_login" and r.json()["message"]
        assert "Set-Cookie" not in r.headers
    # a form, as another site's page would post it
    s = inst.session(cert=False)
    r = s.post(inst.api("/sessions"), headers=headers, timeout=30,
               data={"username": "dev", "password": pw, "cookie": "true"})
    assert r.status_code == 403, r.text
    assert "Set-Cookie" not in r.headers


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
    "own-origin",
])
def test_login_from_here_or_a_program(inst, headers):
    if headers == "own-origin":
        headers = {"Origin": f"https://127.0.0.1:{inst.port}"}
    r = post_login(inst, "dev", password(inst, "dev"), headers=headers,
                   cookie=True)
    assert r.status_code == 201, r.text
    set_cookie = r.headers["Set-Cookie"]
    assert set_cookie.startswith(COOKIE + "="), set_cookie
    attrs = [a.strip() for a in set_cookie.split(";")]
    assert "Secure" in attrs and "Path=/" in attrs and "HttpOnly" in attrs
    assert not [a for a in attrs if a.lower().startswith("domain")]


def test_cookie_name_is_exact(inst):
    cookie = cookie_login(inst, "dev", password(inst, "dev"))
    value = cookie.split("=", 1)[1]
    assert me_status(inst, cookie=cookie) == 200
    # only the name as set: another case is another cookie (one a
    # related host could have planted), and not ours
    for name in ("__host-signet_session", "__HOST-SIGNET_SESSION",
                 "signet_session", "x" + COOKIE):
        assert me_status(inst, cookie=f"{name}={value}") == 401, name
    assert me_status(inst, cookie=f"other=1; {COOKIE}={value}") == 200
    assert me_status(inst, cookie=f"__host-signet_session=x; {COOKIE}={value}") == 200
    # logout clears it under the same name
    s = inst.session(cert=False)
    me = s.get(inst.api("/me"), headers={"Cookie": cookie}, timeout=30).json()
    r = s.delete(inst.api("/sessions/current"), timeout=30, headers={
        "Cookie": cookie, "X-CSRF-Token": me["csrfToken"],
        "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 204, r.text
    assert r.headers["Set-Cookie"].startswith(COOKIE + "=;")
    assert me_status(inst, cookie=cookie) == 401
