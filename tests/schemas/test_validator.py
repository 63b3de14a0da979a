"""Verdicts and bad-row messages on real Iglu Central schemas and real failing data;
schemas that cannot be used; references; the event-loop mode (``cached_only``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from datacoral.schemas import (
    IgluSettings,
    InvalidSchemaUri,
    LocalFolder,
    SchemaInvalid,
    SchemaNotCached,
    SchemaNotFound,
    Validator,
)
from tests.schemas.registries import IGLU_CENTRAL

SP = "iglu:com.snowplowanalytics.snowplow"
LINK_CLICK = f"{SP}/link_click/jsonschema/1-0-1"
WEB_PAGE = f"{SP}/web_page/jsonschema/1-0-0"
SUBMIT_FORM = f"{SP}/submit_form/jsonschema/1-0-0"
ADD_TO_CART = f"{SP}/add_to_cart/jsonschema/1-0-0"
MOBILE_CONTEXT = f"{SP}/mobile_context/jsonschema/1-0-2"
UUID = "0b6ff2d8-1f3b-4a5c-9d8e-2f0a1b2c3d4e"


def acme(name: str, **body: Any) -> dict[str, Any]:
    """A self-describing schema ``iglu:com.acme/{name}/jsonschema/1-0-0``."""
    return {
        "$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
        "self": {"vendor": "com.acme", "name": name, "format": "jsonschema", "version": "1-0-0"},
        "type": "object",
        **body,
    }


def validator_over(tmp_path: Path, *schemas: dict[str, Any], **options: Any) -> Validator:
    """A validator over ``schemas`` (written to a folder, at the key their ``self`` names
    unless they carry ``_path``) and then the Iglu Central copy."""
    for schema in schemas:
        schema = dict(schema)
        path = schema.pop("_path", None)
        if path is None:
            s = schema["self"]
            path = f"{s['vendor']}/{s['name']}/{s['format']}/{s['version']}"
        target = tmp_path / "schemas" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema))
    sources = (LocalFolder(tmp_path), LocalFolder(IGLU_CENTRAL))
    return Validator(IgluSettings(sources=sources).build_resolver(), **options)


@pytest.fixture
def validator(tmp_path: Path, iglu_central_folder: str) -> Validator:
    return validator_over(tmp_path)


def test_valid_events_from_real_trackers_pass(validator: Validator) -> None:
    full = {
        "targetUrl": "https://example.com/a?b=c",
        "elementId": "nav",
        "elementClasses": ["a", "b"],
        "elementTarget": "_blank",
        "elementContent": "Click here ☕",
    }
    assert validator.check("event", LINK_CLICK, full) is None
    assert validator.check("event", LINK_CLICK, {"targetUrl": "/"}) is None
    assert validator.check("context[0]", WEB_PAGE, {"id": UUID}) is None
    form = {
        "formId": "f",
        "elements": [{"name": "email", "value": None, "nodeName": "INPUT", "type": "email"}],
    }
    assert validator.check("event", SUBMIT_FORM, form) is None
    mobile = {"osType": "ios", "osVersion": "17", "deviceManufacturer": "Apple", "deviceModel": "x"}
    assert validator.check("context[0]", MOBILE_CONTEXT, {**mobile, "batteryLevel": 40}) is None


def test_a_link_click_without_target_url_names_the_pointer_and_the_rule(
    validator: Validator,
) -> None:
    assert validator.check("event", LINK_CLICK, {"elementId": "nav"}) == (
        f"event {LINK_CLICK}: /data/targetUrl: required"
    )


@pytest.mark.parametrize(
    ("uri", "data", "expected"),
    [
        (LINK_CLICK, {"targetUrl": ""}, "/data/targetUrl: minLength 1"),
        (LINK_CLICK, {"targetUrl": 7}, '/data/targetUrl: type "string"'),
        (
            LINK_CLICK,
            {"targetUrl": "/", "elementClasses": ["a", 1, None]},
            '/data/elementClasses/1: type "string"; /data/elementClasses/2: type "string"',
        ),
        (LINK_CLICK, {"targetUrl": "/", "extra": 1}, "/data/extra: additionalProperties"),
        (WEB_PAGE, {"id": "nope"}, '/data/id: pattern "^[a-fA-F0-9]{8}-'),
        (WEB_PAGE, {}, "/data/id: required"),
        (WEB_PAGE, [], '/data: type "object"'),
        (
            SUBMIT_FORM,
            {"formId": "f", "elements": [{"name": "n", "value": "v", "nodeName": "DIV"}]},
            '/data/elements/0/nodeName: enum ["INPUT","TEXTAREA","SELECT"]',
        ),
        (
            SUBMIT_FORM,
            {"formId": "f", "elements": [{}, {"name": "n"}]},
            "/data/elements/0/name: required; /data/elements/0/value: required;"
            " /data/elements/0/nodeName: required; /data/elements/1/value: required;"
            " /data/elements/1/nodeName: required",
        ),
        (ADD_TO_CART, {"sku": "s", "quantity": "2"}, '/data/quantity: type "number"'),
        (
            MOBILE_CONTEXT,
            {
                "osType": "a",
                "osVersion": "1",
                "deviceManufacturer": "x",
                "deviceModel": "y",
                "batteryLevel": 101,
            },
            "/data/batteryLevel: maximum 100",
        ),
    ],
    ids=[
        "minLength",
        "type",
        "array items",
        "additionalProperties",
        "pattern",
        "required",
        "root type",
        "enum in an array",
        "every missing member",
        "number",
        "maximum",
    ],
)
def test_failures_of_real_data_against_real_schemas(
    validator: Validator, uri: str, data: Any, expected: str
) -> None:
    message = validator.check("event", uri, data)
    assert message is not None
    assert message.startswith(f"event {uri}: ")
    assert expected in message


def test_data_is_never_changed_by_validation(tmp_path: Path, iglu_central_folder: str) -> None:
    schema = acme("defaults", properties={"a": {"type": "string", "default": "filled"}})
    validator = validator_over(tmp_path, schema)
    data: dict[str, Any] = {"b": {"c": [1]}}
    before = copy.deepcopy(data)
    assert validator.check("event", "iglu:com.acme/defaults/jsonschema/1-0-0", data) is None
    assert data == before


def test_pointers_are_exact_for_keys_holding_dots_brackets_slashes_and_tildes(
    tmp_path: Path, iglu_central_folder: str
) -> None:
    schema = acme(
        "keys",
        properties={
            "a.b": {"type": "object", "properties": {"c[0]": {"type": "integer"}}},
            "a": {"type": "object", "properties": {"b": {"type": "object"}}},
        },
        additionalProperties={"type": "string"},
    )
    validator = validator_over(tmp_path, schema)
    data = {"a.b": {"c[0]": "x"}, "a": {"b": {}}, "x/y~z": 5, "q.r[1]": 1}
    message = validator.check("event", "iglu:com.acme/keys/jsonschema/1-0-0", data) or ""
    assert '/data/a.b/c[0]: type "integer"' in message
    assert '/data/x~1y~0z: type "string"' in message
    assert '/data/q.r[1]: type "string"' in message


def test_rules_read_with_their_schema_values(tmp_path: Path, iglu_central_folder: str) -> None:
    schema = acme(
        "rules",
        properties={
            "n": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "email": {"type": "string", "format": "email"},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "maxItems": 1, "uniqueItems": True},
            "kind": {"type": ["string", "null"]},
        },
        dependencies={"n": ["email"]},
    )
    validator = validator_over(tmp_path, schema)
    uri = "iglu:com.acme/rules/jsonschema/1-0-0"
    message = validator.check(
        "event",
        uri,
        {"n": 0, "email": "a..b@c", "when": "yesterday", "tags": [1, 1], "kind": 3},
    )
    assert message is not None
    for part in [
        "/data/n: minimum 0 (exclusive)",
        '/data/email: format "email"',
        '/data/when: format "date-time"',
        "/data/tags: maxItems 1",
        '/data/kind: type ["string","null"]',
    ]:
        assert part in message
    assert (
        validator.check("event", uri, {"email": "a.b@example.com", "when": "2025-01-02T03:04:05Z"})
        is None
    )


def test_messages_are_capped_and_say_when_failures_were_left_out(
    tmp_path: Path, iglu_central_folder: str
) -> None:
    schema = acme("many", additionalProperties=False)
    validator = validator_over(tmp_path, schema, max_message_chars=200, max_failures=5)
    uri = "iglu:com.acme/many/jsonschema/1-0-0"
    message = validator.check("event", uri, {f"field{i}": i for i in range(100)}) or ""
    assert len(message) <= 200
    assert message.endswith("; …")
    assert message.count("additionalProperties") <= 5
    long_label = validator.check("x" * 1000, uri, {"a": 1}) or ""
    assert len(long_label) <= 200 and long_label.startswith("x" * 39 + "…")


def test_check_event_labels_the_event_and_each_context(validator: Validator) -> None:
    verdict = validator.check_event(
        {"schema": LINK_CLICK, "data": {}},
        [
            {"schema": WEB_PAGE, "data": {"id": UUID}},
            {"schema": WEB_PAGE, "data": {}},
            {"schema": "test", "data": {"foo": "bar"}},
            {"schema": "iglu:com.acme/nowhere/jsonschema/1-0-0", "data": {}},
            "not an entity",
        ],
    )
    assert verdict.failures == (
        f"event {LINK_CLICK}: /data/targetUrl: required",
        f"context[1] {WEB_PAGE}: /data/id: required",
    )
    assert [(u.label, u.kind) for u in verdict.unresolved] == [
        ("context[2]", "not_iglu"),
        ("context[3]", "not_found"),
        ("context[4]", "not_iglu"),
    ]
    assert not verdict.valid and not verdict.unavailable
    lenient = verdict.reason(strict=False) or ""
    strict = verdict.reason(strict=True) or ""
    assert "context[1]" in lenient and "context[2]" not in lenient
    assert "context[2] 'test': schema: not an Iglu URI" in strict
    assert validator.check_event(None, None).valid
    good = validator.check_event({"schema": LINK_CLICK, "data": {"targetUrl": "/"}}, [])
    assert good.valid and good.reason(strict=True) is None


def test_the_seed_snippet_schema_is_unresolved_not_failed(validator: Validator) -> None:
    with pytest.raises(InvalidSchemaUri) as refused:
        validator.check("event", "test", {"foo": "bar", "metadata": {"sub": "data"}})
    assert refused.value.kind == "not_iglu"
    with pytest.raises(SchemaNotFound):
        validator.check("event", "iglu:com.acme/nowhere/jsonschema/1-0-0", {})


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({**acme("wrong"), "_path": "com.acme/other/jsonschema/1-0-0"}, "its self names"),
        (acme("meta", type="strin"), "fails the self-describing meta-schema"),
        (acme("regex", properties={"a": {"pattern": "(?<=a+)b"}}), "pattern must be a valid regex"),
        (acme("local_ref", properties={"a": {"$ref": "#/definitions/none"}}), "does not compile"),
        (acme("ref_file", properties={"a": {"$ref": "file:///etc/passwd"}}), "only Iglu schemas"),
        (
            acme("ref_host", properties={"a": {"$ref": "http://127.0.0.1:9/x.json"}}),
            "only Iglu schemas",
        ),
        (
            acme("ref_missing", properties={"a": {"$ref": "iglu:com.acme/gone/jsonschema/1-0-0"}}),
            "its $ref iglu:com.acme/gone/jsonschema/1-0-0 is not found",
        ),
    ],
    ids=["self", "meta-schema", "regex", "local ref", "file ref", "other host ref", "missing ref"],
)
def test_schemas_that_cannot_be_used_are_refused_by_name(
    tmp_path: Path, iglu_central_folder: str, schema: dict[str, Any], says: str
) -> None:
    path = schema.get("_path") or f"com.acme/{schema['self']['name']}/jsonschema/1-0-0"
    validator = validator_over(tmp_path, schema)
    for _ in range(2):  # remembered: the second time too
        with pytest.raises(SchemaInvalid) as refused:
            validator.check("event", f"iglu:{path}", {"a": "b"})
        assert says in refused.value.reason
        assert refused.value.kind == "invalid_schema"
    with pytest.raises(SchemaInvalid):
        validator.prepare(f"iglu:{path}")


def test_references_resolve_through_the_sources_never_their_host(
    tmp_path: Path, iglu_central_folder: str
) -> None:
    # Sauna's command schema $refs instance-iglu-only at http://iglucentral.com/...: found
    # in the embedded set, with no request anywhere.
    validator = validator_over(tmp_path)
    command = "iglu:com.snowplowanalytics.sauna.commands/command/jsonschema/1-0-0"
    entity = {"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": {}}
    assert validator.check("event", command, {"envelope": entity, "command": entity}) is None
    message = validator.check("event", command, {"envelope": {"schema": "x"}, "command": entity})
    assert "/data/envelope/schema: pattern" in (message or "")
    assert "/data/envelope/data: required" in (message or "")
    # An iglu: reference to a schema of a configured folder.
    item = acme("item", properties={"sku": {"type": "string"}}, required=["sku"])
    cart = acme(
        "cart",
        properties={
            "items": {"type": "array", "items": {"$ref": "iglu:com.acme/item/jsonschema/1-0-0"}}
        },
    )
    validator = validator_over(tmp_path, item, cart)
    assert (
        validator.check("event", "iglu:com.acme/cart/jsonschema/1-0-0", {"items": [{"sku": "a"}]})
        is None
    )
    message = validator.check(
        "event", "iglu:com.acme/cart/jsonschema/1-0-0", {"items": [{"sku": "a"}, {}]}
    )
    assert message == "event iglu:com.acme/cart/jsonschema/1-0-0: /data/items/1/sku: required"


def test_on_an_event_loop_cached_only_never_fetches_nor_compiles(validator: Validator) -> None:
    with pytest.raises(SchemaNotCached):
        validator.check("event", LINK_CLICK, {"targetUrl": "/"}, cached_only=True)
    with pytest.raises(SchemaNotCached):
        validator.check_event({"schema": LINK_CLICK, "data": {}}, None, cached_only=True)
    validator.resolver.resolve(validator_key(LINK_CLICK))  # fetched, not compiled yet
    with pytest.raises(SchemaNotCached):
        validator.check("event", LINK_CLICK, {"targetUrl": "/"}, cached_only=True)
    validator.prepare(LINK_CLICK)  # in a worker thread, or at start-up
    assert validator.check("event", LINK_CLICK, {"targetUrl": "/"}, cached_only=True) is None
    assert validator.check("event", LINK_CLICK, {}, cached_only=True) is not None


def validator_key(uri: str) -> Any:
    from datacoral.schemas import parse_schema_uri

    return parse_schema_uri(uri)


def test_threads_share_one_validator_and_compile_each_schema_once(validator: Validator) -> None:
    import threading

    compiled: list[str] = []
    compile_schema = validator._compiler.compile

    def counting(key: Any, schema: Any) -> Any:
        compiled.append(key.uri)
        return compile_schema(key, schema)

    validator._compiler.compile = counting  # type: ignore[method-assign]
    answers: list[tuple[bool, int]] = []

    def work() -> None:
        for i in range(100):
            verdict = validator.check_event(
                {"schema": LINK_CLICK, "data": {"targetUrl": "/"} if i % 2 else {}},
                [{"schema": WEB_PAGE, "data": {"id": UUID}}],
            )
            answers.append((verdict.valid, len(verdict.failures)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(compiled) == [LINK_CLICK, WEB_PAGE]
    assert answers.count((True, 0)) == answers.count((False, 1)) == 400
