"""Stored events as the plain dicts tests assert on, and the filters that pick them.

A good event is a dict keyed by Snowplow's canonical field names (``event_id``,
``event``, ``app_id``, ``platform``, ``page_url``, ``se_action``, ``user_id``,
``collector_tstamp``, ...), as ``datacoral events show --json`` prints them:
``unstruct_event`` is the self-describing event's own ``{"schema", "data"}`` and
``contexts`` the list of contexts, both decoded; fields the protocol does not name
are in ``extra``. A bad row is a dict with ``reason``, ``kind``, ``payload`` (the event
as sent, JSON text), ``environment``, ``event_id`` and ``received_tstamp``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
from typing import Any

from datacoral.collector.fields import EVENT_NAMES
from datacoral.storage.base import StoredBadRow, StoredEvent

#: What ``event_type=`` takes: a stored name, a tracker-protocol code (``e``) or an alias.
EVENT_TYPES: dict[str, str] = {
    **{name: name for name in EVENT_NAMES.values()},
    **EVENT_NAMES,
    "self_describing": "unstruct",
    "structured": "struct",
}


def event_type_name(event_type: str) -> str:
    """The stored name (``page_view``, ``struct``, ``unstruct``, ...) of ``event_type``."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ValueError(f"unknown event_type {event_type!r}: use one of {known}") from None


def good_event(stored: StoredEvent) -> dict[str, Any]:
    """A stored good event as a dict (see the module's docstring)."""
    values = dataclasses.asdict(stored.event)
    del values["fingerprint"]
    for name in ("unstruct_event", "contexts"):
        text = values[name]
        if text is not None:
            with contextlib.suppress(ValueError):  # kept as stored when it is not JSON
                values[name] = json.loads(text)
    return values


def bad_row(stored: StoredBadRow) -> dict[str, Any]:
    """A stored bad row as a dict (see the module's docstring)."""
    return dataclasses.asdict(stored.row)


def event_schema(event: dict[str, Any]) -> str | None:
    """The schema URI of a self-describing event, else None."""
    inner = event.get("unstruct_event")
    schema = inner.get("schema") if isinstance(inner, dict) else None
    return schema if isinstance(schema, str) else None


def context_schemas(event: dict[str, Any]) -> list[str]:
    """The schema URIs of the event's contexts, in order."""
    found = event.get("contexts")
    if not isinstance(found, list):
        return []
    return [c["schema"] for c in found if isinstance(c, dict) and isinstance(c.get("schema"), str)]


@dataclasses.dataclass(frozen=True)
class EventFilter:
    """Which good events a helper looks at; every condition given must hold."""

    event_type: str | None = None  # a stored name (see event_type_name)
    schema: str | None = None  # the self-describing event's schema URI
    context: str | None = None  # the schema URI of one of its contexts

    @classmethod
    def of(cls, event_type: str | None, schema: str | None, context: str | None) -> EventFilter:
        name = None if event_type is None else event_type_name(event_type)
        return cls(name, schema, context)

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            (self.event_type is None or event["event"] == self.event_type)
            and (self.schema is None or event_schema(event) == self.schema)
            and (self.context is None or self.context in context_schemas(event))
        )

    def __str__(self) -> str:
        said = f"{self.event_type} event(s)" if self.event_type else "event(s)"
        if self.schema:
            said += f" of schema {self.schema}"
        if self.context:
            said += f" with a context {self.context}"
        return said


def summary(events: list[dict[str, Any]]) -> str:
    """``2 page_view, 1 unstruct (iglu:com.acme/checkout/jsonschema/1-0-0)``."""
    kinds: collections.Counter[str] = collections.Counter()
    for event in events:
        schema = event_schema(event)
        kinds[f"{event['event']} ({schema})" if schema else str(event["event"])] += 1
    return ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
