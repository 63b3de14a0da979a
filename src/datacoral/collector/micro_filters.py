"""The filter bodies of ``POST /micro/good`` and ``POST /micro/bad``, checked.

Good events (Micro's fields): ``event_type`` (the stored ``event``, e.g. ``page_view``
or ``unstruct``; a tracker code such as ``pv`` is taken too), ``schema`` (the event's
schema as ``/micro/good`` shows it), ``contexts`` (schema URIs the event must *all*
carry; written with or without ``iglu:``) and ``limit`` (the newest n). Ours, beyond
Micro: ``event_id`` (one UUID or a list), ``app_id``, and ``since`` / ``until`` (ISO
8601 times; ``collector_tstamp >= since`` and ``< until``; without a zone, UTC). Bad rows:
``vendor``, ``version`` and ``limit``. A ``null`` value is no filter. Anything else (an
unknown field, a wrong type, a body that is not a JSON object) is refused with 400 and
the reason, rather than silently matching everything.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from datacoral.collector.errors import MalformedRequest, shown
from datacoral.collector.fields import EVENT_NAMES
from datacoral.collector.micro_views import API, EVENT_SCHEMAS, SchemaParts
from datacoral.schemas import InvalidSchemaUri, parse_schema_uri
from datacoral.storage.base import MAX_QUERY_LIMIT, EventQuery

#: The largest filter body read.
MAX_BODY_BYTES = 64 * 1024
MAX_EVENT_IDS = 1000
MAX_CONTEXTS = 100
GOOD_FIELDS = ("event_type", "schema", "contexts", "limit", "event_id", "app_id", "since", "until")
BAD_FIELDS = ("vendor", "version", "limit")
_EVENT_TYPES_OF_SCHEMAS = {parts: event for event, parts in EVENT_SCHEMAS.items()}


class FilterRefused(MalformedRequest):
    """A filter body that cannot be used (400); the reason names the field."""


@dataclass(frozen=True, slots=True)
class BadFilters:
    """Which bad rows ``POST /micro/bad`` asks for: none when ``vendor`` / ``version`` name
    another protocol than the one every bad row here came by."""

    limit: int = MAX_QUERY_LIMIT
    none: bool = False


def _document(body: bytes, fields: tuple[str, ...]) -> dict[str, Any]:
    """The body's JSON object without its null values; an empty body is no filter."""
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FilterRefused(f"body: not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise FilterRefused(f"body: must be a JSON object of filters, got {shown(document)}")
    unknown = sorted(name for name in document if name not in fields)
    if unknown:
        raise FilterRefused(f"unknown filter {shown(unknown[0])}: use {', '.join(fields)}")
    return {name: value for name, value in document.items() if value is not None}


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FilterRefused(f"{name}: must be a string, got {shown(value)}")
    return value


def _limit(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FilterRefused(f"limit: must be an integer, got {shown(value)}")
    if not 0 <= value <= MAX_QUERY_LIMIT:
        raise FilterRefused(f"limit: must be 0-{MAX_QUERY_LIMIT}, got {value}")
    return value


def _schema(name: str, value: Any) -> SchemaParts:
    text = _text(name, value)
    try:
        return parse_schema_uri(text if text.startswith("iglu:") else "iglu:" + text)
    except InvalidSchemaUri:
        raise FilterRefused(
            f"{name}: not a schema URI iglu:vendor/name/format/M-R-A: {shown(text)}"
        ) from None


def _strings(name: str, value: Any, most: int) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FilterRefused(f"{name}: must be a string or a list of strings, got {shown(value)}")
    if len(value) > most:
        raise FilterRefused(f"{name}: at most {most} values, got {len(value)}")
    return value


def _event_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise FilterRefused(f"event_id: not a UUID: {shown(value)}") from None


def parse_instant(name: str, value: Any) -> int:
    """An ISO 8601 time (``2026-01-31T12:00:00Z``, ``...+02:00``, ``2026-01-31``; no zone
    means UTC) as epoch milliseconds."""
    text = _text(name, value)
    try:
        moment = datetime.datetime.fromisoformat(
            text[:-1] + "+00:00" if text[-1:] in "Zz" else text
        )
    except ValueError:
        raise FilterRefused(
            f"{name}: not an ISO 8601 time like 2026-01-31T12:00:00Z: {shown(text)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (moment - epoch) // datetime.timedelta(milliseconds=1)


def good_filters(body: bytes) -> EventQuery | None:
    """The query a ``POST /micro/good`` body asks for; None when it can match nothing (a
    ``schema`` of one event type with an ``event_type`` of another)."""
    found = _document(body, GOOD_FIELDS)
    event = None
    if "event_type" in found:
        event_type = _text("event_type", found["event_type"])
        event = EVENT_NAMES.get(event_type, event_type)
    schema = None
    if "schema" in found:
        schema = _schema("schema", found["schema"])
        typed = _EVENT_TYPES_OF_SCHEMAS.get(schema)
        if typed is not None:  # Enrich's schema of that event type, not a stored column
            if event is not None and event != typed:
                return None
            event, schema = typed, None
    contexts = tuple(
        "iglu:" + "/".join(_schema("contexts", item))
        for item in _strings("contexts", found.get("contexts", []), MAX_CONTEXTS)
    )
    event_ids = tuple(
        _event_id(item) for item in _strings("event_id", found.get("event_id", []), MAX_EVENT_IDS)
    )
    return EventQuery(
        event=event,
        schema=schema,
        context_schemas=contexts,
        event_ids=event_ids,
        app_id=_text("app_id", found["app_id"]) if "app_id" in found else None,
        since=parse_instant("since", found["since"]) if "since" in found else None,
        until=parse_instant("until", found["until"]) if "until" in found else None,
        limit=_limit(found["limit"]) if "limit" in found else MAX_QUERY_LIMIT,
    )


def bad_filters(body: bytes) -> BadFilters:
    """What a ``POST /micro/bad`` body asks for."""
    found = _document(body, BAD_FIELDS)
    limit = _limit(found["limit"]) if "limit" in found else MAX_QUERY_LIMIT
    none = any(
        name in found and _text(name, found[name]) != API[name] for name in ("vendor", "version")
    )
    return BadFilters(limit=limit, none=none)
