"""The tracker protocol's shapes and scalar rules.

Splits a request into raw events (the ``payload_data`` envelope of a POST, the
query string of a GET) and parses the typed fields inside one event. Every
failure names the field and the rule it broke; a request-level failure raises
:class:`MalformedRequest`, a field-level one :class:`EventRejected`.

JSON that orjson refuses is looked at again by :mod:`.json_rules`, which names
the rule (lone surrogates, nesting depth).
"""

from __future__ import annotations

import binascii
import math
import re
import sys
from base64 import b64decode
from typing import Any
from urllib.parse import unquote

import orjson

from datacoral.collector.errors import EventRejected, MalformedRequest
from datacoral.collector.errors import shown as shown  # where callers have found it
from datacoral.collector.fields import (
    CONTEXTS_WRAPPER_PREFIX,
    PAYLOAD_DATA_PREFIX,
    UNSTRUCT_WRAPPER_PREFIX,
)
from datacoral.collector.json_rules import MAX_JSON_DEPTH, lenient_loads, why_not_json

#: Media types a POST body may declare: JSON, and text/plain as sent by ``sendBeacon``.
ACCEPTED_CONTENT_TYPES = frozenset(("application/json", "text/plain"))
#: More query parameters than this is not a tracker talking.
MAX_QUERY_PARAMETERS = 1000
#: The latest millisecond of year 9999: later timestamps cannot be formatted.
MAX_TIMESTAMP_MS = 253_402_300_799_999
_INT64 = 2**63

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")

if sys.version_info >= (3, 11):

    def _strict_b64decode(data: bytes) -> bytes:
        return binascii.a2b_base64(data, strict_mode=True)

else:  # 3.10 has no strict decoder in C: validate with a regular expression

    def _strict_b64decode(data: bytes) -> bytes:
        return b64decode(data, validate=True)


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def check_content_type(content_type: str | None) -> None:
    """Refuse POST bodies that declare a media type other than JSON or text/plain."""
    if content_type is None:
        return  # some HTTP clients send none; the body must still be the JSON envelope
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise MalformedRequest(
            f"content-type: not accepted: {shown(content_type)}; send application/json"
        )


def split_body(body: bytes) -> list[Any]:
    """The raw events of a POST body in the ``payload_data`` 1-0-* envelope.

    A body orjson refuses is read again by :func:`~.json_rules.lenient_loads`: an
    event holding a lone surrogate is returned as sent, to become its own bad row
    (:func:`~.json_rules.unencodable`), and the rest of the batch is kept.
    """
    if not body.strip():
        raise MalformedRequest("body: empty; expected a payload_data JSON envelope")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            document = lenient_loads(body)
        except (ValueError, RecursionError):
            raise MalformedRequest(f"body: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedRequest("envelope: not a JSON object with schema and data")
    schema = document.get("schema")
    if not isinstance(schema, str) or not schema.startswith(PAYLOAD_DATA_PREFIX):
        raise MalformedRequest(f"envelope: schema is not {PAYLOAD_DATA_PREFIX}*: {shown(schema)}")
    data = document.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedRequest(f"envelope: data is not a non-empty list: {shown(data)}")
    return data


def parse_query(query_string: bytes) -> dict[str, str]:
    """Query parameters as a dict (the last of repeated names wins).

    The same result as ``dict(parse_qsl(..., keep_blank_values=True))`` with the
    query decoded as UTF-8 (bad bytes replaced), in a third of the time: a
    tracker's GET carries ~20 parameters and most need no unquoting.
    """
    if not query_string:
        return {}
    text = query_string.decode("utf-8", "replace")
    if text.count("&") >= MAX_QUERY_PARAMETERS:
        raise MalformedRequest(f"query string: more than {MAX_QUERY_PARAMETERS} parameters")
    parameters: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="replace")
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors="replace")
        parameters[name] = value
    return parameters


def parse_uuid(name: str, value: str) -> str:
    """A UUID in its canonical lowercase 8-4-4-4-12 form."""
    if len(value) != 36 or _UUID.fullmatch(value) is None:
        raise EventRejected(f"{name}: not a UUID: {shown(value)}")
    return value.lower()


def parse_timestamp(name: str, value: str) -> int | None:
    """Milliseconds since the epoch; an empty value counts as absent."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise EventRejected(f"{name}: not a timestamp in milliseconds: {shown(value)}")
    millis = int(value)
    if millis > MAX_TIMESTAMP_MS:
        raise EventRejected(f"{name}: timestamp after year 9999: {shown(value)}")
    return millis


def parse_decimal(name: str, value: str) -> float | None:
    """A finite decimal number; an empty value counts as absent."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise EventRejected(f"{name}: not a number: {shown(value)}") from None
    if not math.isfinite(number):
        raise EventRejected(f"{name}: not a finite number: {shown(value)}")
    return number


def parse_integer(name: str, value: str) -> int | None:
    """A 64-bit integer, also written as an integral decimal (``"3.0"``); empty is absent."""
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            raise EventRejected(f"{name}: not an integer: {shown(value)}") from None
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise EventRejected(f"{name}: not an integer: {shown(value)}") from None
        number = int(as_float)
    if not -_INT64 <= number < _INT64:
        raise EventRejected(f"{name}: integer out of range: {shown(value)}")
    return number


def decode_base64(name: str, value: str) -> bytes:
    """Base64 in the URL-safe or the standard alphabet, with or without padding."""
    try:
        data = value.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(value) % 4)
        return _strict_b64decode(data)
    except (binascii.Error, ValueError):
        raise EventRejected(f"{name}: not valid base64") from None


def decode_json_field(
    name: str, value: str, *, base64: bool, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The JSON document in ``ue_px``/``cx`` (base64) or ``ue_pr``/``co`` (plain)."""
    text: str | bytes = decode_base64(name, value) if base64 else value
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise EventRejected(why_not_json(name, text, max_depth)) from None


def _is_self_describing(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("schema"), str) and "data" in value


def unstruct_event(name: str, document: Any) -> dict[str, Any]:
    """The inner ``{schema, data}`` of an ``unstruct_event`` wrapper."""
    if not _is_self_describing(document):
        raise EventRejected(f"{name}: not an unstruct_event wrapper {{schema, data}}")
    if not document["schema"].startswith(UNSTRUCT_WRAPPER_PREFIX):
        raise EventRejected(f"{name}: schema is not unstruct_event: {shown(document['schema'])}")
    inner = document["data"]
    if not _is_self_describing(inner):
        raise EventRejected(f"{name}: data is not a self-describing {{schema, data}} object")
    result: dict[str, Any] = inner
    return result


def contexts(name: str, document: Any) -> list[Any]:
    """The list of ``{schema, data}`` entries of a ``contexts`` wrapper."""
    if not _is_self_describing(document):
        raise EventRejected(f"{name}: not a contexts wrapper {{schema, data}}")
    if not document["schema"].startswith(CONTEXTS_WRAPPER_PREFIX):
        raise EventRejected(f"{name}: schema is not contexts: {shown(document['schema'])}")
    entries = document["data"]
    if not isinstance(entries, list):
        raise EventRejected(f"{name}: data is not a list of contexts")
    for index, entry in enumerate(entries):
        if not _is_self_describing(entry):
            raise EventRejected(
                f"{name}: context {index} is not a self-describing {{schema, data}} object"
            )
    return entries
