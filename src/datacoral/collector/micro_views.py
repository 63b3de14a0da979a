"""Stored events in the shapes of Snowplow Micro's REST API, so that code written against
Micro reads them unchanged.

A good event is Micro's ``GoodEvent``: ``rawEvent`` (the tracker fields, rebuilt from
what was stored, with the collector's view of the request), ``eventType`` (the stored
``event``: ``page_view``, ``unstruct``, ...), ``schema`` (the self-describing event's,
or the one Snowplow Enrich gives events of that type), ``contexts`` (their schema
URIs), ``event`` (the stored event in the Analytics SDK's JSON shape: Snowplow atomic
field names, ISO 8601 timestamps, the self-describing event and contexts in their
``unstruct_event`` / ``contexts`` wrappers) and ``incomplete`` (always false: a failed
event is a bad row, never also a good one). A bad row is Micro's ``BadEvent``:
``collectorPayload``, ``rawEvent`` (when the stored payload is one event) and
``errors``, whose one entry names the kind and the reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

import orjson

from datacoral.collector.fields import (
    DECIMAL_COLUMNS,
    EVENT_NAMES,
    INTEGER_COLUMNS,
    TEXT_COLUMNS,
    TIMESTAMPS,
)
from datacoral.storage.base import GoodEvent, StoredBadRow, StoredEvent

#: Every payload we accept speaks the Snowplow tracker protocol (we keep no record of
#: whether an event came by POST or GET, so every one is ``tp2``).
API = {"vendor": "com.snowplowanalytics.snowplow", "version": "tp2"}
_SOURCE = {"name": "datacoral", "encoding": "UTF-8", "hostname": None}
UNSTRUCT_WRAPPER = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS_WRAPPER = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0"

SchemaParts = tuple[str, str, str, str]
_SNOWPLOW = "com.snowplowanalytics.snowplow"
#: The schema Snowplow Enrich gives each event type that is not self-describing.
EVENT_SCHEMAS: dict[str, SchemaParts] = {
    "page_view": (_SNOWPLOW, "page_view", "jsonschema", "1-0-0"),
    "page_ping": (_SNOWPLOW, "page_ping", "jsonschema", "1-0-0"),
    "struct": ("com.google.analytics", "event", "jsonschema", "1-0-0"),
    "transaction": (_SNOWPLOW, "transaction", "jsonschema", "1-0-0"),
    "transaction_item": (_SNOWPLOW, "transaction_item", "jsonschema", "1-0-0"),
}

_FIELDS = tuple(
    f.name for f in dataclasses.fields(GoodEvent) if f.name not in ("fingerprint", "extra")
)
_SCHEMA_FIELDS = ("event_vendor", "event_name", "event_format", "event_version")


def _first_keys(mapping: dict[str, str]) -> dict[str, str]:
    """Column -> the first payload key that fills it (``se_ca`` rather than ``ev_ca``)."""
    found: dict[str, str] = {}
    for key, column in mapping.items():
        found.setdefault(column, key)
    return found


_EVENT_CODES = _first_keys(EVENT_NAMES)
_TEXT_KEYS = _first_keys(TEXT_COLUMNS)
_NUMBER_KEYS = {**_first_keys(DECIMAL_COLUMNS), **_first_keys(INTEGER_COLUMNS)}
_TIMESTAMP_KEYS = _first_keys(TIMESTAMPS)


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC, the way Micro writes them: ``...T12:01:05.787Z``."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def schema_uri(parts: SchemaParts | None) -> str | None:
    return None if parts is None else "iglu:" + "/".join(parts)


def event_schema(event: GoodEvent) -> SchemaParts | None:
    """The self-describing event's schema, else the one Enrich gives the event's type."""
    vendor, name, format_, version = (
        event.event_vendor,
        event.event_name,
        event.event_format,
        event.event_version,
    )
    if vendor is None or name is None or format_ is None or version is None:
        return EVENT_SCHEMAS.get(event.event)
    return vendor, name, format_, version


def _decoded(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _parameters(event: GoodEvent, unstruct: Any, contexts: Any) -> dict[str, str]:
    """The tracker fields of ``event``, rebuilt from the stored columns and ``extra``."""
    found = {"e": _EVENT_CODES.get(event.event, event.event), "p": event.platform}
    found["eid"] = event.event_id
    for column, key in _TEXT_KEYS.items():
        value = getattr(event, column)
        if value is not None:
            found[key] = value
    for column, key in _NUMBER_KEYS.items():
        value = getattr(event, column)
        if value is not None:
            found[key] = _number(value)
    for column, key in _TIMESTAMP_KEYS.items():
        value = getattr(event, column)
        if value is not None:
            found[key] = str(value)
    if unstruct is not None:
        found["ue_pr"] = _text({"schema": UNSTRUCT_WRAPPER, "data": unstruct})
    if contexts is not None:
        found["co"] = _text({"schema": CONTEXTS_WRAPPER, "data": contexts})
    found.update(event.extra)
    return found


def _request_context(
    tstamp: int, ip: str | None = None, useragent: str | None = None, user: str | None = None
) -> dict[str, Any]:
    return {
        "timestamp": iso(tstamp),
        "ipAddress": ip,
        "useragent": useragent,
        "refererUri": None,
        "headers": [],
        "userId": user,
    }


def _canonical(
    event: GoodEvent, schema: SchemaParts | None, unstruct: Any, contexts: Any
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(event, name)
        if name.endswith("_tstamp"):
            value = iso(value)
        found[name] = value
    found["unstruct_event"] = (
        None if unstruct is None else {"schema": UNSTRUCT_WRAPPER, "data": unstruct}
    )
    # The Analytics SDK writes an event without contexts as an empty object.
    found["contexts"] = {} if not contexts else {"schema": CONTEXTS_WRAPPER, "data": contexts}
    if schema is not None:
        found.update(zip(_SCHEMA_FIELDS, schema, strict=True))
    return found


def good_event_json(stored: StoredEvent) -> dict[str, Any]:
    """A stored good event as Micro's ``GoodEvent`` (see the module's docstring)."""
    event = stored.event
    unstruct = _decoded(event.unstruct_event)
    contexts = _decoded(event.contexts)
    schema = event_schema(event)
    context_uris = [
        entity["schema"]
        for entity in (contexts if isinstance(contexts, list) else ())
        if isinstance(entity, dict) and isinstance(entity.get("schema"), str)
    ]
    raw = {
        "api": API,
        "parameters": _parameters(event, unstruct, contexts),
        "contentType": None,
        "source": _SOURCE,
        "context": _request_context(
            event.collector_tstamp, event.user_ipaddress, event.useragent, event.network_userid
        ),
    }
    return {
        "rawEvent": raw,
        "eventType": event.event,
        "schema": schema_uri(schema),
        "contexts": context_uris,
        "event": _canonical(event, schema, unstruct, contexts),
        "incomplete": False,
    }


def bad_row_json(stored: StoredBadRow) -> dict[str, Any]:
    """A stored bad row as Micro's ``BadEvent`` (see the module's docstring)."""
    row = stored.row
    context = _request_context(row.received_tstamp)
    payload = _decoded(row.payload)
    raw = None
    if isinstance(payload, dict):
        parameters = {
            str(name): value if isinstance(value, str) else _text(value)
            for name, value in payload.items()
        }
        raw = {
            "api": API,
            "parameters": parameters,
            "contentType": None,
            "source": _SOURCE,
            "context": context,
        }
    return {
        "collectorPayload": {
            "api": API,
            "querystring": [],
            "contentType": None,
            "body": row.payload,
            "source": _SOURCE,
            "context": context,
        },
        "rawEvent": raw,
        "errors": [f"{row.kind}: {row.reason}"],
    }


def _text(value: Any) -> str:
    return json_bytes(value).decode()


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON. Text that orjson refuses (a lone surrogate kept in a
    bad row's payload) is escaped by the standard encoder instead."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
