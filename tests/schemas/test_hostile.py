"""Hostile data stays bounded in time and in message size: deep nesting, huge strings
against every format and real patterns, huge keys, many failures, huge arrays."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastjsonschema.draft04 import CodeGeneratorDraft04

from datacoral.schemas import InvalidSchemaUri, Validator
from datacoral.schemas.compiler import is_email
from tests.schemas.test_validator import LINK_CLICK, WEB_PAGE, acme, validator_over

MAX = 1024
#: Generous for a 2-core CI machine; each case takes milliseconds when it is linear.
SECONDS = 1.0


def timed(work: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def nested(depth: int, leaf: Any = "x") -> Any:
    node: Any = leaf
    for _ in range(depth):
        node = {"child": node}
    return node


@pytest.fixture
def hostile(tmp_path: Path, iglu_central_folder: str) -> Validator:
    tree = acme(
        "tree",
        definitions={
            "node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/definitions/node"}},
                "additionalProperties": False,
            }
        },
        properties={"child": {"$ref": "#/definitions/node"}},
    )
    formats = acme(
        "formats",
        properties={f: {"type": "string", "format": f} for f in CodeGeneratorDraft04.FORMAT_REGEXS},
    )
    unique = acme("unique", properties={"items": {"type": "array", "uniqueItems": True}})
    return validator_over(tmp_path, tree, formats, unique, max_message_chars=MAX)


@pytest.mark.parametrize("depth", [254, 2000])
def test_deep_nesting_against_a_recursive_schema(hostile: Validator, depth: int) -> None:
    uri = "iglu:com.acme/tree/jsonschema/1-0-0"
    valid, seconds = timed(lambda: hostile.check("event", uri, nested(depth, {})))
    assert seconds < SECONDS
    failing, seconds = timed(lambda: hostile.check("event", uri, nested(depth, {"x": 1})))
    assert seconds < SECONDS
    if depth <= 254:  # what the collector lets through (max_json_depth)
        assert valid is None
        assert failing is not None and failing.endswith("/child/x: additionalProperties")
    else:  # deeper than Python's recursion: a bounded failure, not a crash
        assert valid == failing == f"event {uri}: /data: nested too deeply to validate"


def test_deep_nesting_where_the_schema_does_not_look(hostile: Validator) -> None:
    data = {"targetUrl": "/", "elementId": nested(254)}
    message, seconds = timed(lambda: hostile.check("event", LINK_CLICK, data))
    assert seconds < SECONDS
    assert message == f'event {LINK_CLICK}: /data/elementId: type "string"'


@pytest.mark.parametrize(
    "text",
    [
        "a.." * 350_000,  # the email regex's quadratic case
        "a" * 1_000_000,
        "1." * 500_000,
        "0:" * 500_000,
        "a-" * 500_000 + "!",
        "2020-01-01T" + "0" * 1_000_000,
        "@" * 1_000_000,
    ],
    ids=["dots", "letters", "digits-dots", "colons", "hyphens", "date-like", "ats"],
)
def test_megabyte_strings_against_every_format_and_a_real_pattern(
    hostile: Validator, text: str
) -> None:
    uri = "iglu:com.acme/formats/jsonschema/1-0-0"
    data = dict.fromkeys(CodeGeneratorDraft04.FORMAT_REGEXS, text)
    message, seconds = timed(lambda: hostile.check("event", uri, data))
    assert seconds < SECONDS
    assert message is None or len(message) <= MAX
    message, seconds = timed(lambda: hostile.check("context[0]", WEB_PAGE, {"id": text}))
    assert seconds < SECONDS
    assert message is not None and len(message) <= MAX
    assert text[:100] not in message  # data values are never echoed


def test_the_email_rule_is_linear_and_agrees_with_fastjsonschema_s() -> None:
    import re

    library = re.compile(CodeGeneratorDraft04.FORMAT_REGEXS["email"])
    samples = [
        "a@b.c", "a.b@c.d", "a..b@c.d", ".a@b.c", "a.@b.c", "a@b", "a@.bc", "a@bc.", "a@b@c.d",
        "@b.c", "a@b..c", "a b@c.d", "ä@ö.ü", "a@b.c\n", "", "a", "a@", "a@b.c.d", "x@y.zz",
    ]  # fmt: skip
    for sample in samples:
        assert is_email(sample) == bool(library.search(sample)), sample
    _, seconds = timed(lambda: is_email("a.." * 1_000_000 + "@b.c"))
    assert seconds < 0.1


def test_huge_keys_and_many_failures_give_a_bounded_message(hostile: Validator) -> None:
    data = {"k" * 100_000 + str(i): i for i in range(200)}
    data["targetUrl"] = "/"
    message, seconds = timed(lambda: hostile.check("event", LINK_CLICK, data))
    assert seconds < SECONDS
    assert message is not None and len(message) <= MAX and message.endswith("; …")


def test_a_huge_failing_array_is_explained_by_its_first_failure(hostile: Validator) -> None:
    data = {"targetUrl": "/", "elementClasses": [1] * 300_000}
    message, seconds = timed(lambda: hostile.check("event", LINK_CLICK, data))
    assert seconds < SECONDS
    assert message == f'event {LINK_CLICK}: /data/elementClasses/0: type "string"; …'


def test_unique_items_of_a_large_array_stays_fast(hostile: Validator) -> None:
    uri = "iglu:com.acme/unique/jsonschema/1-0-0"
    data = {"items": [{"a": i} for i in range(4000)]}
    assert timed(lambda: hostile.check("event", uri, data))[1] < SECONDS
    data["items"].append({"a": 0})
    message, seconds = timed(lambda: hostile.check("event", uri, data))
    assert seconds < SECONDS and message == f"event {uri}: /data/items: uniqueItems true"


def test_hostile_schema_uris_are_refused_in_short(hostile: Validator) -> None:
    for uri in ["iglu:" + "a" * 1_000_000, "x" * 1_000_000, {"schema": "iglu:..."}]:
        with pytest.raises(InvalidSchemaUri) as refused:
            hostile.check("event", uri, {})
        assert len(str(refused.value)) < 200
