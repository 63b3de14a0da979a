"""JSON encoding for everything the tracker sends: compact UTF-8, orjson when it can.

orjson is a dependency of the tracker on CPython and encodes an event in a fraction
of the standard library's time. Whatever it refuses goes through the standard
library instead, with the caller's ``json_encoder`` as ``default``, so what upstream
could encode is still encoded (integers beyond 64 bits, a ``default`` returning
types orjson does not know), and what upstream refused still raises the same
``TypeError`` / ``ValueError`` at the call (datetimes and dataclasses without a
``json_encoder``, circular references).

Differences from the standard library, all on values upstream sends as invalid
JSON or refuses: NaN and infinities are written as ``null`` (the standard library
writes ``NaN``, which collectors reject), and ``uuid.UUID`` values and enum
members are written as their string / value.

Text that is not valid Unicode (a lone surrogate such as ``"\\ud83d"``, what a cut
emoji becomes) is never an error: such a value is written with ``\\uXXXX`` escapes,
as the standard library's ``ensure_ascii`` output writes it, so one bad string
costs nothing but its own escaping.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from snowplow_tracker.typing import JsonEncoderFunction

_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def urlsafe_base64(data: bytes) -> str:
    """URL-safe base64 with padding, as upstream sends it."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).decode("ascii")


_STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_fast: Callable[..., bytes] | None
try:
    import orjson
except ImportError:  # PyPy, or a platform without an orjson wheel
    _fast = None
    _FAST_ERROR: type[Exception] = TypeError
    _OPTIONS = 0
else:
    _fast = orjson.dumps
    _FAST_ERROR = orjson.JSONEncodeError
    # Datetimes and dataclasses go to ``default`` (and so to the standard library),
    # as they always did; dict keys that are not strings are converted as json does.
    _OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
    _OPTIONS |= orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    raise TypeError


def dumps(value: Any, json_encoder: JsonEncoderFunction | None = None) -> bytes:
    """``value`` as compact UTF-8 JSON bytes; ``json_encoder`` handles unknown types."""
    if _fast is not None:
        try:
            return _fast(value, json_encoder or _refuse, _OPTIONS)
        except _FAST_ERROR:
            pass
    if json_encoder is None:
        text = _STDLIB.encode(value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_encoder)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it, as ensure_ascii does
        return json.dumps(
            value, ensure_ascii=True, separators=(",", ":"), default=json_encoder
        ).encode("ascii")


def _event_value(value: Any) -> Any:
    # What upstream's str() of a value gives, for anything a custom store hands back.
    return str(value)


_STDLIB_EVENT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_event_value)
_STDLIB_EVENT_ASCII = json.JSONEncoder(separators=(",", ":"), default=_event_value)


def dumps_event(event: Mapping[str, Any]) -> bytes:
    """One queued event as compact UTF-8 JSON, as it appears inside a POST body.

    A value holding a lone surrogate makes only this event fall back to
    ``\\uXXXX`` escapes; it never raises."""
    if _fast is not None:
        try:
            return _fast(event, _event_value, _OPTIONS)
        except _FAST_ERROR:
            pass
    try:
        return _STDLIB_EVENT.encode(event).encode("utf-8")
    except UnicodeEncodeError:
        return _STDLIB_EVENT_ASCII.encode(event).encode("ascii")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def ascii_json(body: bytes) -> str:
    """UTF-8 JSON ``body`` as text with every non-ASCII character written as ``\\uXXXX``.

    This is the request body upstream hands to ``http_post`` and to ``requests``
    (``json.dumps`` with ``ensure_ascii``): a ``str`` that any HTTP library can send
    as it is. Outside JSON strings there is no non-ASCII text, so escaping every
    such character keeps the JSON's meaning.
    """
    text = body.decode("utf-8", "surrogatepass")
    if text.isascii():
        return text
    return _NON_ASCII.sub(_escape_char, text)


def dumps_text(value: Any, json_encoder: JsonEncoderFunction | None = None) -> str:
    """:func:`dumps` as text."""
    return dumps(value, json_encoder).decode("utf-8")


def accelerated() -> bool:
    """True when orjson does the encoding."""
    return _fast is not None


__all__ = ["accelerated", "ascii_json", "dumps", "dumps_event", "dumps_text", "urlsafe_base64"]
