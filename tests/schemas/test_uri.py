"""Iglu URIs: what parses, what is refused and how the refusal reads; references."""

from __future__ import annotations

import pytest

from datacoral.schemas import InvalidSchemaUri, SchemaKey, parse_schema_uri
from datacoral.schemas.uri import (
    MAX_URI_LENGTH,
    cached_schema_key,
    key_from_reference,
    key_from_self,
)

LINK_CLICK = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"


def test_a_uri_parses_into_its_four_parts_and_formats_back() -> None:
    key = parse_schema_uri(LINK_CLICK)
    assert key == SchemaKey("com.snowplowanalytics.snowplow", "link_click", "jsonschema", "1-0-1")
    assert key.uri == str(key) == LINK_CLICK
    assert key.path == "com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
    assert parse_schema_uri("iglu:a_b-c.d/N-1_x/jsonschema/10-20-300").version == "10-20-300"


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("test", "not an Iglu URI"),
        ("", "not an Iglu URI"),
        ("iglu:com.acme/event/jsonschema/1-0", "not an Iglu URI"),
        ("iglu:com.acme/event/jsonschema/1.0.0", "not an Iglu URI"),
        ("iglu:com.acme/event/jsonschema/1-0-0/", "not an Iglu URI"),
        ("iglu:com.acme/ev ent/jsonschema/1-0-0", "not an Iglu URI"),
        ("iglu:com.acme/a/b/jsonschema/1-0-0", "not an Iglu URI"),
        (" iglu:com.acme/event/jsonschema/1-0-0", "not an Iglu URI"),
        ("iglu:com.acme/event/jsonschema/1-0-0\n", "not an Iglu URI"),
        ("http://iglucentral.com/schemas/com.acme/event/jsonschema/1-0-0", "not an Iglu URI"),
        ("iglu:../event/jsonschema/1-0-0", "not an Iglu URI"),  # would climb out of schemas/
        ("iglu:./event/jsonschema/1-0-0", "not an Iglu URI"),
        (None, "not a string"),
        (42, "not a string"),
        (["iglu:com.acme/event/jsonschema/1-0-0"], "not a string"),
        ("iglu:" + "a" * MAX_URI_LENGTH + "/e/jsonschema/1-0-0", "longer than 512"),
    ],
)
def test_what_is_not_an_iglu_uri_is_refused_with_a_short_reason(uri: object, says: str) -> None:
    with pytest.raises(InvalidSchemaUri) as refused:
        parse_schema_uri(uri)
    assert says in refused.value.reason
    assert refused.value.kind == "not_iglu"
    assert len(str(refused.value)) < 200  # the URI is shown cut, never whole
    with pytest.raises(InvalidSchemaUri):
        cached_schema_key(uri)


def test_the_cache_returns_the_same_key_and_stays_bounded() -> None:
    assert cached_schema_key(LINK_CLICK) is cached_schema_key(LINK_CLICK)
    for i in range(5000):
        cached_schema_key(f"iglu:com.acme/e{i}/jsonschema/1-0-0")
    from datacoral.schemas import uri

    assert len(uri._parsed) <= uri._PARSED_ENTRIES


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        (
            "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/"
            "instance-iglu-only/jsonschema/1-0-0#",
            "iglu:com.snowplowanalytics.self-desc/instance-iglu-only/jsonschema/1-0-0",
        ),
        (
            "https://iglu.acme.com/prefix/schemas/com.acme/order/jsonschema/2-0-1",
            "iglu:com.acme/order/jsonschema/2-0-1",
        ),
        (
            "iglu:com.acme/order/jsonschema/2-0-1#/definitions/x",
            "iglu:com.acme/order/jsonschema/2-0-1",
        ),
        ("http://json-schema.org/draft-04/schema#", None),
        ("file:///etc/schemas/com.acme/order/jsonschema/1-0-0", None),
        ("http://evil.example/schemas/../x/jsonschema/1-0-0", None),
        ("http://iglucentral.com/schemas/com.acme/order/jsonschema/1-0-0?x=1", None),
        ("other.json", None),
    ],
)
def test_references_name_iglu_keys_whatever_their_host(
    reference: str, expected: str | None
) -> None:
    key = key_from_reference(reference)
    assert (key.uri if key else None) == expected


def test_a_self_block_gives_the_declared_key() -> None:
    block = {"vendor": "com.acme", "name": "order", "format": "jsonschema", "version": "1-0-0"}
    assert key_from_self({"self": block}) == SchemaKey("com.acme", "order", "jsonschema", "1-0-0")
    assert key_from_self({}) is None
    assert key_from_self({"self": {**block, "version": "1.0.0"}}) is None
    assert key_from_self({"self": {**block, "vendor": ".."}}) is None
    assert key_from_self({"self": {**block, "name": 3}}) is None
