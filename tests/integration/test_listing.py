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


# ---- server-side filters: submitter and originalSigningRequestId ----

def login(instance, user):
    return instance.login(user)


@pytest.fixture(scope="module")
def related(instance, submitted):
    """On top of `submitted` (all by CI identity ci-runner): one request by
    the person dev, two resubmissions of the oldest completed request and
    one of the next."""
    done, _ = submitted
    dev = login(instance, "dev")
    by_dev = instance.submit(b"by a person", session=dev).json()["id"]
    ci = instance.session()

    def resubmit(rid):
        r = ci.post(instance.api(f"/signing-requests/{rid}/resubmit"),
                    json={"signingPolicySlug": "test-signing"}, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    first, second = resubmit(done[0]), resubmit(done[0])
    other = resubmit(done[1])
    return {"dev": dev, "by_dev": by_dev, "of_oldest": [second, first],
            "of_next": [other]}


def ids(items):
    return [i["id"] for i in items]


def test_filter_by_submitter(instance, submitted, related):
    everything = ids(instance.list_all())
    assert ids(instance.list_all(submitter="dev")) == [related["by_dev"]]
    assert ids(instance.list_all(submitter="ci-runner")) == [
        i for i in everything if i != related["by_dev"]]
    assert instance.list_all(submitter="nobody") == []
    # with the other filters, and as the person sees it
    _, waiting = submitted
    assert ids(instance.list_all(submitter="ci-runner",
                                 signingPolicySlug="release-signing")) == [waiting]
    assert ids(instance.list_all(submitter="ci-runner", status="WaitingForApproval")) == [waiting]
    r = related["dev"].get(instance.api("/signing-requests"),
                           params={"submitter": "dev"}, timeout=30)
    assert r.status_code == 200 and ids(r.json()["items"]) == [related["by_dev"]]
    for it in instance.list_all(submitter="ci-runner"):
        assert it["submitter"] == {"type": "client-certificate", "name": "ci-runner"}


def test_filter_by_original(instance, submitted, related):
    done, waiting = submitted
    assert ids(instance.list_all(originalSigningRequestId=done[0])) == related["of_oldest"]
    assert ids(instance.list_all(originalSigningRequestId=done[1])) == related["of_next"]
    assert instance.list_all(originalSigningRequestId=done[2]) == []
    assert instance.list_all(originalSigningRequestId=waiting) == []
    # a well-formed id nobody has is no error, just nothing
    assert instance.list_all(
        originalSigningRequestId="00000000-0000-4000-8000-000000000000") == []
    # paged: one at a time, newest first, then the end
    first = page(instance, originalSigningRequestId=done[0], pageSize=1)
    assert ids(first["items"]) == related["of_oldest"][:1] and first["nextCursor"]
    second = page(instance, originalSigningRequestId=done[0], pageSize=1,
                  cursor=first["nextCursor"])
    assert ids(second["items"]) == related["of_oldest"][1:]
    assert second["nextCursor"] is None
    # both filters at once
    assert ids(instance.list_all(originalSigningRequestId=done[0],
                                 submitter="ci-runner")) == related["of_oldest"]
    assert instance.list_all(originalSigningRequestId=done[0], submitter="dev") == []


@pytest.mark.parametrize("params", [
    {"submitter": ""},
    {"submitter": "ci-runner (CI)"},
    {"submitter": "a b"},
    {"submitter": "../admin"},
    {"submitter": "x" * 65},
    {"submitter": "x" * 300},
    {"submitter": "caf\u00e9"},
    {"originalSigningRequestId": ""},
    {"originalSigningRequestId": "not-a-uuid"},
    {"originalSigningRequestId": "0F8FAD5B-D9CB-469F-A165-70867728950E"},
    {"originalSigningRequestId": "0f8fad5b-d9cb-469f-a165-70867728950e0"},
    {"originalSigningRequestId": "0f8fad5bd9cb469fa16570867728950e"},
])
def test_bad_filters_are_400(instance, submitted, params):
    r = instance.session().get(instance.api("/signing-requests"), params=params, timeout=30)
    assert r.status_code == 400, (params, r.status_code, r.text)
    body = r.json()
    assert body["error"] == "invalid_query" and body["message"]
    assert list(params)[0] in body["message"]
