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
"""

from __future__ import annotations

import binascii
import json
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
    return text.encode("utf-8")


def _event_value(value: Any) -> Any:
    if value.__class__ is bytes:
        return urlsafe_base64(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_STDLIB_EVENT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_event_value)


def dumps_event(event: Mapping[str, Any]) -> bytes:
    """One queued event as compact UTF-8 JSON; ``bytes`` values (JSON the tracker left
    for the sender to encode) are written as their URL-safe base64 text."""
    if _fast is not None:
        try:
            return _fast(event, _event_value, _OPTIONS)
        except _FAST_ERROR:
            pass
    return _STDLIB_EVENT.encode(event).encode("utf-8")


def dumps_text(value: Any, json_encoder: JsonEncoderFunction | None = None) -> str:
    """:func:`dumps` as text."""
    return dumps(value, json_encoder).decode("utf-8")


def accelerated() -> bool:
    """True when orjson does the encoding."""
    return _fast is not None


__all__ = ["accelerated", "dumps", "dumps_event", "dumps_text", "urlsafe_base64"]
