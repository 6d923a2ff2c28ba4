"""Listing signing requests: newest first, paged with a cursor, filtered."""

import pytest


@pytest.fixture(scope="module")
def submitted(instance):
    """Three completed test-signing requests and one waiting release request,
    in submission order."""
    done = []
    for i in range(3):
        rid = instance.submit(f"artifact {i}".encode()).json()["id"]
        # Completing each before the next keeps createdAt strictly ordered.
        assert instance.wait_final(rid)["status"] == "Completed"
        done.append(rid)
    waiting = instance.submit(b"release", policy="release-signing",
                              fields=instance.origin()).json()["id"]
    return done, waiting


def page(instance, **params):
    r = instance.session().get(instance.api("/signing-requests"), params=params, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    assert set(body) >= {"items", "nextCursor"}, body
    return body


def test_paging_newest_first(instance, submitted):
    done, waiting = submitted
    newest_first = [waiting] + done[::-1]

    first = page(instance, pageSize=2)
    assert [i["id"] for i in first["items"]] == newest_first[:2]
    assert first["nextCursor"], first
    second = page(instance, pageSize=2, cursor=first["nextCursor"])
    assert [i["id"] for i in second["items"]] == newest_first[2:4]
    # Four requests in all: the second page may or may not say "more";
    # if it does, the next page is empty.
    if second["nextCursor"]:
        third = page(instance, pageSize=2, cursor=second["nextCursor"])
        assert third["items"] == [] and third["nextCursor"] is None

    # Items are whole requests, and their times do not go up.
    created = [i["createdAt"] for i in first["items"] + second["items"]]
    assert created == sorted(created, reverse=True)
    assert first["items"][0]["status"] == "WaitingForApproval"


def test_paging_walk_has_no_gaps_or_duplicates(instance, submitted):
    done, waiting = submitted
    all_ids = [i["id"] for i in page(instance, pageSize=200)["items"]]
    walked, cursor = [], None
    for _ in range(10):
        params = {"pageSize": 1}
        if cursor:
            params["cursor"] = cursor
        body = page(instance, **params)
        assert len(body["items"]) <= 1
        walked += [i["id"] for i in body["items"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert walked == all_ids
    assert walked == [waiting] + done[::-1]


def test_filter_by_status(instance, submitted):
    done, waiting = submitted
    completed = page(instance, status="Completed", pageSize=200)["items"]
    assert [i["id"] for i in completed] == done[::-1]
    assert all(i["status"] == "Completed" for i in completed)
    pending = page(instance, status="WaitingForApproval", pageSize=200)["items"]
    assert [i["id"] for i in pending] == [waiting]
    assert page(instance, status="Denied")["items"] == []


def test_filter_by_project_and_policy(instance, submitted):
    done, waiting = submitted
    mine = page(instance, projectSlug="demo-app", pageSize=200)["items"]
    assert [i["id"] for i in mine] == [waiting] + done[::-1]
    release = page(instance, projectSlug="demo-app", signingPolicySlug="release-signing",
                   pageSize=200)["items"]
    assert [i["id"] for i in release] == [waiting]
    test = page(instance, signingPolicySlug="test-signing", pageSize=200)["items"]
    assert [i["id"] for i in test] == done[::-1]


def test_filtered_paging(instance, submitted):
    done, _ = submitted
    first = page(instance, status="Completed", pageSize=2)
    assert [i["id"] for i in first["items"]] == done[::-1][:2]
    assert first["nextCursor"]
    second = page(instance, status="Completed", pageSize=2, cursor=first["nextCursor"])
    assert [i["id"] for i in second["items"]] == done[:1]
    assert second["nextCursor"] is None


@pytest.mark.parametrize("params", [
    {"status": "Sideways"},
    {"pageSize": "0"},
    {"pageSize": "many"},
    {"cursor": "!!not-a-cursor!!"},
])
def test_bad_list_parameters_are_400(instance, submitted, params):
    r = instance.session().get(instance.api("/signing-requests"), params=params, timeout=30)
    assert r.status_code == 400, (params, r.status_code, r.text)
    body = r.json()
    assert body["error"] and body["message"]
