"""`signet admin` over every catalog resource: list, show, create, update
and delete of projects, policies, users and CI identities, with the paths
the catalog's table of kinds gives them, and the refusals in between."""

import json

from test_admin import admin_token, cli


def js(instance, tok, *args):
    return json.loads(cli(instance, tok, "--json", *args).stdout)


def names(items, key="name"):
    return [i[key] for i in items["items"]]


def test_every_resource_verb(instance):
    tok = admin_token(instance)
    certs = js(instance, tok, "certificates", "list")["items"]
    cert = next(c["name"] for c in certs if c["purpose"] == "test")
    assert cert in cli(instance, tok, "certificates", "list").stdout
    assert js(instance, tok, "certificates", "show", cert)["name"] == cert

    cli(instance, tok, "projects", "create", "--slug", "tbl", "--name", "T")
    assert "tbl" in names(js(instance, tok, "projects", "list"), "slug")
    cli(instance, tok, "projects", "update", "tbl", "--name", "Table")
    assert js(instance, tok, "projects", "show", "tbl")["name"] == "Table"

    cli(instance, tok, "users", "create", "--name", "tbl-user", "--role",
        "security-officer")
    assert "tbl-user" in names(js(instance, tok, "users", "list"))
    cli(instance, tok, "users", "update", "tbl-user", "--email",
        "tbl@example.test")
    assert js(instance, tok, "users", "show", "tbl-user")["email"] == \
        "tbl@example.test"

    cli(instance, tok, "identities", "create", "--name", "tbl-ci",
        "--subject", "CN=tbl-ci,O=T", "--issuer", "CN=T CA,O=T")
    assert "tbl-ci" in names(js(instance, tok, "identities", "list"))
    cli(instance, tok, "identities", "update", "tbl-ci", "--fingerprint",
        "ab" * 32)
    assert js(instance, tok, "identities", "show", "tbl-ci")[
        "sha256Fingerprint"] == "ab" * 32

    cli(instance, tok, "policies", "create", "tbl", "--slug", "pol",
        "--name", "Pol", "--certificate", cert, "--submitter", "tbl-ci",
        "--approver", "tbl-user", "--approvals", "1")
    assert "pol" in names(js(instance, tok, "policies", "list", "tbl"),
                          "slug")
    assert "pol" in cli(instance, tok, "policies", "list", "tbl").stdout
    cli(instance, tok, "policies", "update", "tbl", "pol", "--name", "P2")
    pol = js(instance, tok, "policies", "show", "tbl", "pol")
    assert pol["name"] == "P2" and pol["approvers"] == ["tbl-user"]

    # what a policy names stays while it does
    for res, name in (("users", "tbl-user"), ("identities", "tbl-ci"),
                      ("projects", "tbl")):
        p = cli(instance, tok, res, "delete", name, check=False)
        assert p.returncode == 3 and "tbl/pol" in p.stderr, (res, p.stderr)
    cli(instance, tok, "policies", "delete", "tbl", "pol")
    p = cli(instance, tok, "policies", "show", "tbl", "pol", check=False)
    assert p.returncode == 3
    for res, name in (("users", "tbl-user"), ("identities", "tbl-ci"),
                      ("projects", "tbl")):
        cli(instance, tok, res, "delete", name)
        p = cli(instance, tok, res, "show", name, check=False)
        assert p.returncode == 3, (res, p.stdout)


def test_usage_refusals(instance):
    tok = admin_token(instance)
    # a policy is named by its project and its slug
    p = cli(instance, tok, "policies", "show", "tbl", check=False)
    assert p.returncode == 2 and "PROJECT SLUG" in p.stderr
    p = cli(instance, tok, "users", "list", "extra", check=False)
    assert p.returncode == 2
    # a build system's name goes into the path only when it is one
    for verb in ("show", "delete"):
        p = cli(instance, tok, "build-systems", verb, "a/b", check=False)
        assert p.returncode == 2
        assert "'a/b' is not a build system name" in p.stderr
    p = cli(instance, tok, "certificates", "create", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
