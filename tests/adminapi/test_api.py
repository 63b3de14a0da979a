"""The admin API over a real endpoint: what each operation does to the store, and what
it refuses (401 without a valid token, 403 outside the token's scope, JSON errors)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import jsonschema

from datacoral.admin.keys import hash_key
from datacoral.admin.tokens import hash_token
from datacoral.adminapi.openapi import build_document
from datacoral.adminapi.operations import OPERATIONS, PREFIX
from datacoral.export.records import bad_row_json, event_json
from tests.adminapi.conftest import AdminServer, fresh_name, make_token
from tests.collector.builders import CONTEXTS, b64, event, unstruct

CHALLENGE = 'Bearer realm="datacoral"'
_ANY_PATH = re.compile(r"\{[a-z_]+\}")


def _concrete(path: str) -> str:
    return _ANY_PATH.sub("x", path)


def _error(answer: Any, status: int, kind: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    found = answer.json()
    assert set(found) == {"error", "detail"} and found["error"] == kind
    return str(found["detail"])


def test_every_operation_refuses_a_missing_unknown_or_revoked_token(admin: AdminServer) -> None:
    token_id, revoked = make_token(admin.db, "dev")
    admin.ok("POST", f"/tokens/{token_id}/revoke")
    deadline = time.monotonic() + 5  # endpoints refuse a revoked token within a second
    while admin.call("GET", "/environments", token=revoked).status_code != 401:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
    refusals = {
        None: "missing admin token",
        "dcat_" + "x" * 43: "unknown admin token",
        revoked: "revoked admin token",
    }
    for operation in OPERATIONS:
        for token, reason in refusals.items():
            answer = admin.call(operation.method, _concrete(operation.path), token=token, json={})
            assert reason in _error(answer, 401, "unauthorized"), operation.operation_id
            assert answer.headers["www-authenticate"] == CHALLENGE
    # An unknown path says nothing before the token is checked.
    assert "missing" in _error(admin.call("GET", "/nothing", token=None), 401, "unauthorized")
    key = admin.ok("POST", "/keys", 201, json={"environment": "dev"})["key"]
    assert "API key" in _error(admin.call("GET", "/keys", token=key), 401, "unauthorized")


def test_the_openapi_document_is_served_and_written_from_the_operations(
    admin: AdminServer,
) -> None:
    answer = admin.call("GET", "/openapi.json", token=None)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document == build_document()
    assert document["openapi"] == "3.1.0"
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert served == {(op.method, PREFIX + op.path) for op in OPERATIONS}


def test_an_environment_from_creation_to_deletion(admin: AdminServer) -> None:
    name = fresh_name()
    created = admin.ok(
        "POST", "/environments", 201, json={"name": name, "origins": ["https://a.example.com"]}
    )
    assert created == {
        "name": name,
        "validation": "lenient",
        "origins": ["https://a.example.com"],
        "rate_limit": None,
    }
    assert admin.ok("GET", f"/environments/{name}") == created
    assert name in [found["name"] for found in admin.ok("GET", "/environments")]
    detail = _error(admin.call("POST", "/environments", json={"name": name}), 409, "conflict")
    assert detail == f"environment {name!r} already exists"

    assert admin.ok("PUT", f"/environments/{name}/validation", json={"validation": "strict"})[
        "validation"
    ] == ("strict")
    limited = admin.ok(
        "PUT", f"/environments/{name}/rate_limit", json={"rate_limit": {"rate": "5/s", "burst": 9}}
    )
    assert limited["rate_limit"] == {"rate": "5/s", "burst": 9}
    admin.ok("POST", f"/environments/{name}/origins", json={"origin": "https://b.example.com/"})
    removed = admin.ok(
        "DELETE", f"/environments/{name}/origins", params={"origin": "https://a.example.com"}
    )
    assert removed["origins"] == ["https://b.example.com"]
    store = admin.storage()
    try:
        record = store.get_environment(name)
        assert record is not None
        assert (record.validation.value, str(record.rate_limit), record.origins) == (
            "strict",
            "5/s burst 9",
            ("https://b.example.com",),
        )
        store.create_key(name)
    finally:
        store.close()
    refused = _error(admin.call("DELETE", f"/environments/{name}"), 409, "conflict")
    assert "still has 1 key" in refused
    assert (
        admin.call("DELETE", f"/environments/{name}", params={"force": "true"}).status_code == 204
    )
    detail = _error(admin.call("GET", f"/environments/{name}"), 404, "not_found")
    assert detail == f"no environment {name!r}"
    invalid = _error(
        admin.call("POST", "/environments", json={"name": "Bad"}), 400, "invalid_request"
    )
    assert invalid.startswith("invalid environment name 'Bad'")


def test_a_key_is_shown_once_limited_and_revoked(admin: AdminServer) -> None:
    created = admin.ok(
        "POST",
        "/keys",
        201,
        json={"environment": "stage", "label": "ci", "rate_limit": {"rate": "60/min", "burst": 5}},
    )
    key, key_id = created.pop("key"), created["key_id"]
    assert key.startswith("dck_") and created["prefix"] == key[:8]
    assert created["rate_limit"] == {"rate": "60/min", "burst": 5}
    listed = admin.ok("GET", "/keys", params={"environment": "stage"})
    assert created in listed and key not in str(listed)
    match = admin.ok("POST", "/keys/lookup", json={"key_sha256": hash_key(key).hex()})
    assert match == {"key_id": key_id, "environment": "stage", "revoked": False}

    unlimited = admin.ok("PUT", f"/keys/{key_id}/rate_limit", json={"rate_limit": None})
    assert unlimited["rate_limit"] is None
    revoked = admin.ok("POST", f"/keys/{key_id}/revoke")
    assert revoked["revoked_at"] is not None
    assert admin.ok("POST", f"/keys/{key_id}/revoke")["revoked_at"] == revoked["revoked_at"]
    store = admin.storage()
    try:
        record = store.lookup_key(hash_key(key))
    finally:
        store.close()
    assert record is not None and record.revoked and record.rate_limit is None
    assert _error(admin.call("POST", "/keys/key_nope/revoke"), 404, "not_found") == (
        "no key 'key_nope'"
    )


def test_tokens_are_managed_with_a_server_wide_token(admin: AdminServer) -> None:
    created = admin.ok("POST", "/tokens", 201, json={"environment": "prod", "label": "ops"})
    token = created.pop("token")
    assert token.startswith("dcat_") and created["environment"] == "prod"
    assert created in admin.ok("GET", "/tokens", params={"environment": "prod"})
    match = admin.ok("POST", "/tokens/lookup", json={"token_sha256": hash_token(token).hex()})
    assert match == {"token_id": created["token_id"], "environment": "prod", "revoked": False}
    everywhere = admin.ok("POST", "/tokens", 201, json={"environment": "*"})
    assert everywhere["environment"] == "*"
    # The new server-wide token administers, the prod one does not manage tokens.
    assert admin.call("GET", "/tokens", token=everywhere["token"]).status_code == 200
    refused = _error(admin.call("GET", "/tokens", token=token), 403, "forbidden")
    assert "server-wide admin token" in refused
    assert admin.ok("POST", f"/tokens/{created['token_id']}/revoke")["revoked_at"] is not None


def test_a_token_of_one_environment_sees_and_administers_only_it(admin: AdminServer) -> None:
    mine, other = fresh_name("mine"), fresh_name("other")
    for name in (mine, other):
        admin.ok("POST", "/environments", 201, json={"name": name})
    other_key = admin.ok("POST", "/keys", 201, json={"environment": other})
    _, token = make_token(admin.db, mine)

    def as_mine(method: str, path: str, **options: Any) -> Any:
        return admin.call(method, path, token=token, **options)

    assert [e["name"] for e in as_mine("GET", "/environments").json()] == [mine]
    assert [c["environment"] for c in as_mine("GET", "/counts").json()] == [mine]
    assert as_mine("GET", "/keys").json() == []
    created = as_mine("POST", "/keys", json={"environment": mine})
    assert created.status_code == 201
    assert as_mine("PUT", f"/environments/{mine}/validation", json={"validation": "off"}).ok
    forbidden = [
        as_mine("GET", f"/environments/{other}"),
        as_mine("GET", "/keys", params={"environment": other}),
        as_mine("POST", "/keys", json={"environment": other}),
        as_mine("POST", f"/keys/{other_key['key_id']}/revoke"),
        as_mine("GET", f"/environments/{other}/events"),
        as_mine("POST", f"/environments/{other}/origins", json={"origin": "https://x.example"}),
        as_mine("POST", "/environments", json={"name": fresh_name()}),
        as_mine("DELETE", f"/environments/{mine}"),
        as_mine("GET", "/tokens"),
    ]
    for answer in forbidden:
        _error(answer, 403, "forbidden")
    # A digest of another environment's key is not found, rather than shown.
    lookup = as_mine("POST", "/keys/lookup", json={"key_sha256": hash_key(other_key["key"]).hex()})
    _error(lookup, 404, "not_found")
    store = admin.storage()
    try:
        assert not any(i.revoked for i in store.list_keys(other))
    finally:
        store.close()


def test_events_bad_rows_and_counts_read_as_the_store_holds_them(admin: AdminServer) -> None:
    name = fresh_name("ev")
    admin.ok("POST", "/environments", 201, json={"name": name})
    key = admin.ok("POST", "/keys", 201, json={"environment": name})["key"]
    thing = unstruct("iglu:com.example/thing/jsonschema/1-0-0", {"n": 1.5, "s": "é"})
    context = {"schema": CONTEXTS, "data": [{"schema": "test", "data": {"a": [1, None]}}]}
    sent = [
        event(aid="a1", url="https://a.example.com/x"),
        event(e="ue", ue_px=b64(thing), cx=b64(context)),
        event(e="se", se_ca="c", se_ac="a", se_va="2.5"),
    ]
    admin.send(key, *sent, event(eid="not-a-uuid"))
    store = admin.storage()
    try:
        stored = [event_json(s) for s in store.latest_events(name, 10)]
        bad = [bad_row_json(s) for s in store.latest_bad_rows(name, 10)]
    finally:
        store.close()
    assert len(stored) == 3 and len(bad) == 1
    # What the store holds fits the document's schemas (schemathesis sees few events).
    components = build_document()["components"]
    for model, rows in (("Event", stored), ("BadRowEntry", bad)):
        schema = {"components": components, "items": {"$ref": f"#/components/schemas/{model}"}}
        jsonschema.Draft202012Validator(schema).validate(rows)
    assert admin.ok("GET", f"/environments/{name}/events") == stored
    assert admin.ok("GET", f"/environments/{name}/events", params={"limit": 2}) == stored[1:]
    after = {"after": stored[0]["position"]}
    assert admin.ok("GET", f"/environments/{name}/events", params=after) == stored[1:]
    assert admin.ok("GET", f"/environments/{name}/bad_rows") == bad
    assert admin.ok("GET", f"/events/{sent[1]['eid']}") == [stored[1]]
    assert admin.ok("GET", f"/events/{uuid.uuid4()}") == []
    counts = admin.ok("GET", "/counts", params={"environment": name})
    # The self-describing event's schema is on no registry: stored unvalidated (lenient).
    assert counts == [{"environment": name, "good": 3, "bad": 1, "duplicates": 0, "unvalidated": 1}]


def test_requests_the_api_cannot_take_get_json_errors(admin: AdminServer) -> None:
    answer = admin.call("POST", "/environments", data=b"{not json", token=None)
    _error(answer, 401, "unauthorized")  # the token first, always
    assert "not valid JSON" in _error(
        admin.call("POST", "/environments", data=b"{not json"), 400, "invalid_request"
    )
    unknown = admin.call("POST", "/environments", json={"name": "x", "colour": "red"})
    assert "body.colour: unknown field" in _error(unknown, 400, "invalid_request")
    wrong = admin.call("POST", "/keys", json={"environment": 7})
    assert _error(wrong, 400, "invalid_request") == "body.environment: must be a string"
    nul = admin.call("POST", "/keys", json={"environment": "dev", "label": "a\x00b"})
    assert "NUL" in _error(nul, 400, "invalid_request")
    big = admin.call("POST", "/environments", data=b"{" + b" " * 70_000 + b"}")
    _error(big, 413, "payload_too_large")
    limit = admin.call("GET", "/environments/dev/events", params={"limit": "-1"})
    assert "at least 0" in _error(limit, 400, "invalid_request")
    method = admin.call("PATCH", "/environments")
    _error(method, 405, "method_not_allowed")
    assert method.headers["allow"] == "GET, POST"
    _error(admin.call("GET", "/nothing/here"), 404, "not_found")
    _error(admin.call("GET", "/environments/"), 404, "not_found")
    # A name holding a slash is one path segment, not another route.
    slashed = admin.call("GET", "/environments/a%2Fb")
    assert _error(slashed, 404, "not_found") == "no environment 'a/b'"


def test_the_inspection_api_refuses_a_server_wide_token(admin: AdminServer) -> None:
    # /micro reads one environment, which a server-wide token does not name.
    answer = admin.session.get(
        admin.url + "/micro/all", headers={"Authorization": f"Bearer {admin.token}"}, timeout=30
    )
    assert answer.status_code == 403
    assert "server-wide admin token names no environment" in answer.text
    _, token = make_token(admin.db, "dev")
    mine = admin.session.get(
        admin.url + "/micro/all", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert mine.status_code == 200 and set(mine.json()) == {"total", "good", "bad"}
