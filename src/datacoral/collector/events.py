"""One raw tracker event in, one :class:`GoodEvent` or :class:`BadRow` out.

The checks run in a single pass over the event's fields (this is the hot path);
the first broken rule becomes the bad row's reason. Rules that need a closer look
(lone surrogates, JSON nesting) are judged only when the fast encoder or decoder
refused something, so a well-formed event pays nothing for them.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any, NamedTuple

import orjson

from datacoral.collector import json_rules, protocol
from datacoral.collector.enrich import (
    Arrival,
    SchemaParts,
    derived_tstamp,
    event_ip,
    fingerprint,
    split_schema_uri,
)
from datacoral.collector.errors import EventRejected
from datacoral.collector.fields import (
    DECIMAL,
    EVENT_NAMES,
    FIELD_RULES,
    INTEGER,
    INTEGER_EXTRA,
    PLATFORMS,
    REQUIRED,
    SPECIAL_FIELD,
    TEXT,
    TIMESTAMP,
)
from datacoral.storage.base import BadRow, GoodEvent

logger = logging.getLogger("datacoral.collector")

#: GoodEvent is built from one list of its fields' values, in field order, passed
#: positionally: a positional call skips matching ~30 keyword names against 55
#: parameters (1.5 µs instead of 4.4 per event). ``_BLANK`` holds the defaults.
_FIELDS = tuple(f.name for f in dataclasses.fields(GoodEvent))
_POSITION = {name: index for index, name in enumerate(_FIELDS)}
_BLANK: list[Any] = [
    None if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(GoodEvent)
]
_EVENT_ID = _POSITION["event_id"]
_ENVIRONMENT = _POSITION["environment"]
_FINGERPRINT = _POSITION["fingerprint"]
_PLATFORM = _POSITION["platform"]
_EVENT = _POSITION["event"]
_COLLECTOR_TSTAMP = _POSITION["collector_tstamp"]
_DERIVED_TSTAMP = _POSITION["derived_tstamp"]
_DVCE_CREATED_TSTAMP = _POSITION["dvce_created_tstamp"]
_DVCE_SENT_TSTAMP = _POSITION["dvce_sent_tstamp"]
_TRUE_TSTAMP = _POSITION["true_tstamp"]
_NETWORK_USERID = _POSITION["network_userid"]
_USER_IPADDRESS = _POSITION["user_ipaddress"]
_USERAGENT = _POSITION["useragent"]
_UNSTRUCT_EVENT = _POSITION["unstruct_event"]
_CONTEXTS = _POSITION["contexts"]
_EXTRA = _POSITION["extra"]
#: Vendor, name, format and version of the schema: four consecutive fields.
_SCHEMA_PARTS = slice(_POSITION["event_vendor"], _POSITION["event_version"] + 1)
assert len(_FIELDS[_SCHEMA_PARTS]) == 4

#: FIELD_RULES split for the field loop: text columns (most fields, by position),
#: the fields whose values are checked, and the ones read by dedicated rules after
#: the loop.
_TEXT_POSITIONS = {
    name: _POSITION[column] for name, (kind, column) in FIELD_RULES.items() if kind == TEXT
}
_TYPED_RULES = {
    name: (kind, _POSITION.get(column, -1))
    for name, (kind, column) in FIELD_RULES.items()
    if kind not in (TEXT, SPECIAL_FIELD)
}
_SPECIAL = frozenset(name for name, (kind, _) in FIELD_RULES.items() if kind == SPECIAL_FIELD)


class Decoded(NamedTuple):
    """A good event's raw fields and its decoded self-describing entities, for the schema
    check (``collector/validation.py``) to reuse rather than parse the stored JSON again."""

    raw: dict[str, Any]
    unstruct: dict[str, Any] | None  # the inner {"schema": ..., "data": ...}
    contexts: list[Any] | None


def _unstruct(
    event: dict[str, str], max_depth: int
) -> tuple[str | None, SchemaParts | None, dict[str, Any] | None]:
    """The decoded self-describing event as JSON text, its schema's parts, and itself."""
    name = "ue_px" if "ue_px" in event else "ue_pr" if "ue_pr" in event else None
    if name is None:
        if event["e"] == "ue":
            raise EventRejected(
                "ue_px: missing: a self-describing event (e=ue) needs ue_px or ue_pr"
            )
        return None, None, None
    document = protocol.decode_json_field(
        name, event[name], base64=name == "ue_px", max_depth=max_depth
    )
    inner = protocol.unstruct_event(name, document)
    text = json_rules.stored_json(name, inner, max_depth)
    return text, split_schema_uri(inner["schema"]), inner


def _contexts(event: dict[str, str], max_depth: int) -> tuple[str | None, list[Any] | None]:
    """The decoded list of contexts as JSON text, and the list itself."""
    name = "cx" if "cx" in event else "co" if "co" in event else None
    if name is None:
        return None, None
    document = protocol.decode_json_field(
        name, event[name], base64=name == "cx", max_depth=max_depth
    )
    contexts = protocol.contexts(name, document)
    return json_rules.stored_json(name, contexts, max_depth), contexts


def build_good_event(
    event: dict[str, Any],
    arrival: Arrival,
    max_json_depth: int = json_rules.MAX_JSON_DEPTH,
    decoded: list[Decoded] | None = None,
) -> GoodEvent:
    """Validate and enrich one event; raises :class:`EventRejected` on the first broken rule.

    ``max_json_depth`` bounds the nesting of the stored self-describing event and contexts.
    With ``decoded``, the event's :class:`Decoded` entities are appended to it.
    """
    values = _BLANK.copy()
    extra: dict[str, str] = {}
    text_positions, typed_rules = _TEXT_POSITIONS, _TYPED_RULES
    for name, value in event.items():
        if type(value) is not str:
            if value is None:
                raise EventRejected(f"{name}: value cannot be null")
            raise EventRejected(f"{name}: value is not a string: {protocol.shown(value)}")
        position = text_positions.get(name)
        if position is not None:  # most fields: one look-up
            values[position] = value
            continue
        rule = typed_rules.get(name)
        if rule is None:
            if name not in _SPECIAL:
                extra[name] = value
            continue
        kind, position = rule
        if kind == TIMESTAMP:
            values[position] = protocol.parse_timestamp(name, value)
        elif kind == DECIMAL:
            values[position] = protocol.parse_decimal(name, value)
        elif kind == INTEGER:
            values[position] = protocol.parse_integer(name, value)
        elif kind == INTEGER_EXTRA:
            protocol.parse_integer(name, value)
            extra[name] = value
    for name in REQUIRED:
        if name not in event:
            raise EventRejected(f"{name}: missing required field")
    event_name = EVENT_NAMES.get(event["e"])
    if event_name is None:
        raise EventRejected(f"e: unknown event type: {protocol.shown(event['e'])}")
    platform = event["p"]
    if platform not in PLATFORMS:
        raise EventRejected(f"p: unknown platform: {protocol.shown(platform)}")
    eid = event.get("eid")
    values[_EVENT_ID] = str(uuid.uuid4()) if eid is None else protocol.parse_uuid("eid", eid)
    unstruct = contexts = None
    if "ue_px" in event or "ue_pr" in event or event_name == "unstruct":
        values[_UNSTRUCT_EVENT], schema_parts, unstruct = _unstruct(event, max_json_depth)
        if schema_parts is not None:
            values[_SCHEMA_PARTS] = schema_parts
    if "cx" in event or "co" in event:
        values[_CONTEXTS], contexts = _contexts(event, max_json_depth)
    ip = event.get("ip")
    collector = arrival.collector_tstamp
    values[_ENVIRONMENT] = arrival.environment
    try:
        values[_FINGERPRINT] = fingerprint(event)
    except orjson.JSONEncodeError:
        # Every name and value is a string here, so only a lone surrogate (kept by the
        # lenient parse of a body orjson refused) fails to encode; every stored text
        # passed through this encoding.
        reason = json_rules.unencodable(event)
        if reason is None:
            raise
        raise EventRejected(reason) from None
    values[_PLATFORM] = platform
    values[_EVENT] = event_name
    values[_COLLECTOR_TSTAMP] = collector
    values[_DERIVED_TSTAMP] = derived_tstamp(
        collector, values[_DVCE_CREATED_TSTAMP], values[_DVCE_SENT_TSTAMP], values[_TRUE_TSTAMP]
    )
    values[_USER_IPADDRESS] = arrival.ip if ip is None or arrival.anonymous else event_ip(ip)
    values[_USERAGENT] = event.get("ua", arrival.useragent)
    values[_NETWORK_USERID] = event.get("tnuid", event.get("nuid", arrival.network_userid))
    values[_EXTRA] = extra
    if decoded is not None:
        decoded.append(Decoded(event, unstruct, contexts))
    return GoodEvent(*values)


def bad_row(
    event: object, reason: str, arrival: Arrival, kind: str = "tracker_protocol_violation"
) -> BadRow:
    """A bad row keeping the raw event (as JSON) with the reason it was refused."""
    event_id: str | None = None
    if isinstance(event, dict):
        eid = event.get("eid")
        if isinstance(eid, str):
            try:
                event_id = protocol.parse_uuid("eid", eid)
            except EventRejected:
                event_id = None
    return BadRow(
        reason=reason,
        payload=json_rules.event_json(event),
        received_tstamp=arrival.collector_tstamp,
        environment=arrival.environment,
        event_id=event_id,
        kind=kind,
    )


def sort_events(
    events: list[Any],
    arrival: Arrival,
    merged: dict[str, str],
    *,
    max_json_depth: int = json_rules.MAX_JSON_DEPTH,
    decoded: list[Decoded] | None = None,
) -> tuple[list[GoodEvent], list[BadRow]]:
    """Good events and bad rows for a request's events; ``merged`` (the query string's
    event fields) is added to every event and wins on a clash. With ``decoded``, each
    good event's :class:`Decoded` entities are appended to it, in the same order."""
    good: list[GoodEvent] = []
    bad: list[BadRow] = []
    failures = 0
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            bad.append(bad_row(event, f"data[{index}]: not a JSON object", arrival))
            continue
        if merged:
            event.update(merged)
        try:
            good.append(build_good_event(event, arrival, max_json_depth, decoded))
        except EventRejected as exc:
            bad.append(bad_row(event, exc.reason, arrival))
        except Exception as exc:
            # A bug of ours must not lose the event: keep it as a bad row and say so.
            # One traceback per request: a batch of alike events would repeat it.
            if not failures:
                logger.exception("internal error while processing an event")
            failures += 1
            reason = f"internal: the event could not be processed ({type(exc).__name__})"
            bad.append(bad_row(event, reason, arrival))
    if failures > 1:
        logger.error("internal error: %d events of one request could not be processed", failures)
    return good, bad
