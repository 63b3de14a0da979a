"""The tracker's JSON encoding: orjson where it can, the standard library's rules otherwise."""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snowplow_tracker import json_text
from tests.support.subprocesses import run_python

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_decodes_to_what_the_standard_library_encodes(value: Any) -> None:
    data = json_text.dumps(value)
    assert json.loads(data) == json.loads(json.dumps(value))
    assert b"\n" not in data


def test_compact_utf8_keeps_key_order_and_non_ascii() -> None:
    assert json_text.dumps({"b": 1, "a": "é ✓", "n": None}) == '{"b":1,"a":"é ✓","n":null}'.encode()
    assert json_text.dumps_text({"k": [1, 2.5, True]}) == '{"k":[1,2.5,true]}'


def test_non_string_keys_are_converted_as_json_does() -> None:
    assert json.loads(json_text.dumps({1: "a", None: "b", 2.5: "c"})) == {
        "1": "a",
        "null": "b",
        "2.5": "c",
    }


def test_integers_beyond_64_bits_are_kept_exactly() -> None:
    assert json_text.dumps({"big": 2**80}) == b'{"big":1208925819614629174706176}'


def test_datetimes_and_dataclasses_still_refused_without_an_encoder() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    for value in (datetime.datetime(2026, 1, 2), datetime.date(2026, 1, 2), Point(1)):
        with pytest.raises(TypeError, match="not JSON serializable"):
            json_text.dumps({"v": value})


def test_the_callers_encoder_decides_unknown_types() -> None:
    def encoder(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return value.strftime("%Y")
        raise TypeError(f"no {type(value).__name__}")

    assert json_text.dumps({"d": datetime.datetime(2026, 1, 2)}, encoder) == b'{"d":"2026"}'
    with pytest.raises(TypeError, match="no object"):
        json_text.dumps({"o": object()}, encoder)


def test_circular_reference_is_a_value_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        json_text.dumps(loop)


def test_lone_surrogate_is_escaped_not_an_error() -> None:
    # What the standard library's ensure_ascii writes: valid JSON that reads back as sent.
    data = json_text.dumps({"s": "cut \ud800", "t": "caf\u00e9"})
    assert json.loads(data) == {"s": "cut \ud800", "t": "caf\u00e9"}
    assert b"\\ud800" in data
    event = json_text.dumps_event({"se_ca": "cat\ud83d", "se_ac": "ok"})
    assert json.loads(event) == {"se_ca": "cat\ud83d", "se_ac": "ok"}


@pytest.mark.skipif(not json_text.accelerated(), reason="orjson is not installed here")
def test_accelerated_differences_are_the_documented_ones() -> None:
    assert json_text.dumps({"x": float("nan"), "y": float("inf")}) == b'{"x":null,"y":null}'
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json_text.dumps(value) == b'"12345678-1234-5678-1234-567812345678"'


def test_without_orjson_the_standard_library_gives_the_same_bytes() -> None:
    out = run_python(
        """
        import sys
        sys.modules['orjson'] = None
        from snowplow_tracker import json_text
        assert not json_text.accelerated()
        print(json_text.dumps({'b': 1, 'a': 'é', 'l': [1.5, None, True], 2: 'k'}).decode())
        """
    )
    assert out.returncode == 0, out.stderr
    value = {"b": 1, "a": "é", "l": [1.5, None, True], 2: "k"}
    assert out.stdout.strip() == json_text.dumps(value).decode()
