"""One raw tracker event in, one :class:`GoodEvent` or :class:`BadRow` out.

The checks run in a single pass over the event's fields (this is the hot path);
the first broken rule becomes the bad row's reason.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson

from datacoral.collector import protocol
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

#: FIELD_RULES split for the field loop: text columns (most fields), the fields
#: whose values are checked, and the ones read by dedicated rules after the loop.
_TEXT_COLUMNS = {name: column for name, (kind, column) in FIELD_RULES.items() if kind == TEXT}
_TYPED_RULES = {
    name: rule for name, rule in FIELD_RULES.items() if rule[0] not in (TEXT, SPECIAL_FIELD)
}
_SPECIAL = frozenset(name for name, (kind, _) in FIELD_RULES.items() if kind == SPECIAL_FIELD)


def _unstruct(event: dict[str, str]) -> tuple[str | None, SchemaParts | None]:
    """The decoded self-describing event as JSON text, and its schema's parts."""
    name = "ue_px" if "ue_px" in event else "ue_pr" if "ue_pr" in event else None
    if name is None:
        if event["e"] == "ue":
            raise EventRejected(
                "ue_px: missing: a self-describing event (e=ue) needs ue_px or ue_pr"
            )
        return None, None
    document = protocol.decode_json_field(name, event[name], base64=name == "ue_px")
    inner = protocol.unstruct_event(name, document)
    return orjson.dumps(inner).decode(), split_schema_uri(inner["schema"])


def _contexts(event: dict[str, str]) -> str | None:
    """The decoded list of contexts as JSON text."""
    name = "cx" if "cx" in event else "co" if "co" in event else None
    if name is None:
        return None
    document = protocol.decode_json_field(name, event[name], base64=name == "cx")
    return orjson.dumps(protocol.contexts(name, document)).decode()


def build_good_event(event: dict[str, Any], arrival: Arrival) -> GoodEvent:
    """Validate and enrich one event; raises :class:`EventRejected` on the first broken rule."""
    columns: dict[str, Any] = {}
    extra: dict[str, str] = {}
    text_columns, typed_rules = _TEXT_COLUMNS, _TYPED_RULES
    for name, value in event.items():
        if type(value) is not str:
            if value is None:
                raise EventRejected(f"{name}: value cannot be null")
            raise EventRejected(f"{name}: value is not a string: {protocol.shown(value)}")
        column = text_columns.get(name)
        if column is not None:  # most fields: one look-up
            columns[column] = value
            continue
        rule = typed_rules.get(name)
        if rule is None:
            if name not in _SPECIAL:
                extra[name] = value
            continue
        kind, column = rule
        if kind == TIMESTAMP:
            columns[column] = protocol.parse_timestamp(name, value)
        elif kind == DECIMAL:
            columns[column] = protocol.parse_decimal(name, value)
        elif kind == INTEGER:
            columns[column] = protocol.parse_integer(name, value)
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
    event_id = str(uuid.uuid4()) if eid is None else protocol.parse_uuid("eid", eid)
    if "ue_px" in event or "ue_pr" in event or event_name == "unstruct":
        unstruct, schema_parts = _unstruct(event)
        columns["unstruct_event"] = unstruct
        if schema_parts is not None:
            (
                columns["event_vendor"],
                columns["event_name"],
                columns["event_format"],
                columns["event_version"],
            ) = schema_parts
    if "cx" in event or "co" in event:
        columns["contexts"] = _contexts(event)
    ip = event.get("ip")
    collector = arrival.collector_tstamp
    return GoodEvent(
        event_id=event_id,
        environment=arrival.environment,
        fingerprint=fingerprint(event),
        platform=platform,
        event=event_name,
        collector_tstamp=collector,
        derived_tstamp=derived_tstamp(
            collector,
            columns.get("dvce_created_tstamp"),
            columns.get("dvce_sent_tstamp"),
            columns.get("true_tstamp"),
        ),
        user_ipaddress=arrival.ip if ip is None or arrival.anonymous else event_ip(ip),
        useragent=event.get("ua", arrival.useragent),
        network_userid=event.get("tnuid", event.get("nuid", arrival.network_userid)),
        extra=extra,
        **columns,
    )


def bad_row(event: object, reason: str, arrival: Arrival) -> BadRow:
    """A bad row keeping the raw event (as JSON) with the reason it was refused."""
    event_id: str | None = None
    if isinstance(event, dict):
        eid = event.get("eid")
        if isinstance(eid, str):
            try:
                event_id = protocol.parse_uuid("eid", eid)
            except EventRejected:
                event_id = None
    try:
        payload = orjson.dumps(event).decode()
    except TypeError:
        payload = repr(event)
    return BadRow(
        reason=reason,
        payload=payload,
        received_tstamp=arrival.collector_tstamp,
        environment=arrival.environment,
        event_id=event_id,
    )


def sort_events(
    events: list[Any], arrival: Arrival, merged: dict[str, str]
) -> tuple[list[GoodEvent], list[BadRow]]:
    """Good events and bad rows for a request's events; ``merged`` (the query string's
    event fields) is added to every event and wins on a clash."""
    good: list[GoodEvent] = []
    bad: list[BadRow] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            bad.append(bad_row(event, f"data[{index}]: not a JSON object", arrival))
            continue
        if merged:
            event.update(merged)
        try:
            good.append(build_good_event(event, arrival))
        except EventRejected as exc:
            bad.append(bad_row(event, exc.reason, arrival))
        except Exception as exc:
            # A bug of ours must not lose the event: keep it as a bad row and say so.
            logger.exception("internal error while processing an event")
            reason = f"internal: the event could not be processed ({type(exc).__name__})"
            bad.append(bad_row(event, reason, arrival))
    return good, bad
