"""The admin API's JSON as the records storage returns (:mod:`datacoral.cli.remote`), so
that a command prints from them what it prints with ``--db``."""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import json
from typing import Any

from datacoral.admin.environments import ValidationMode
from datacoral.admin.rate_limits import RateLimit, parse_rate_limit
from datacoral.export.records import JSON_TEXT_FIELDS
from datacoral.storage.base import (
    AdminTokenInfo,
    BadRow,
    EnvironmentRecord,
    GoodEvent,
    KeyInfo,
    StoredBadRow,
    StoredEvent,
)


def ms(text: str | None) -> int | None:
    """``2026-11-26T12:00:00.123Z`` as milliseconds since the epoch, exactly."""
    if text is None:
        return None
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(moment.timetuple()) * 1000 + moment.microsecond // 1000


def created(text: str) -> int:
    found = ms(text)
    assert found is not None
    return found


def rate_limit(found: dict[str, Any] | None) -> RateLimit | None:
    return None if found is None else parse_rate_limit(found["rate"], found["burst"])


def limit_body(limit: RateLimit | None) -> dict[str, Any] | None:
    return None if limit is None else {"rate": limit.rate, "burst": limit.burst}


def environment(found: dict[str, Any]) -> EnvironmentRecord:
    return EnvironmentRecord(
        name=found["name"],
        origins=tuple(found["origins"]),
        validation=ValidationMode(found["validation"]),
        rate_limit=rate_limit(found["rate_limit"]),
    )


def key(found: dict[str, Any]) -> KeyInfo:
    return KeyInfo(
        key_id=found["key_id"],
        environment=found["environment"],
        label=found["label"],
        prefix=found["prefix"],
        created_at=created(found["created_at"]),
        last_used_at=ms(found["last_used_at"]),
        revoked_at=ms(found["revoked_at"]),
        rate_limit=rate_limit(found["rate_limit"]),
    )


def token(found: dict[str, Any]) -> AdminTokenInfo:
    return AdminTokenInfo(
        token_id=found["token_id"],
        environment=found["environment"],
        label=found["label"],
        prefix=found["prefix"],
        created_at=created(found["created_at"]),
        revoked_at=ms(found["revoked_at"]),
    )


def event(found: dict[str, Any]) -> StoredEvent:
    """An event as the admin API gives it (``event_json``'s object), as stored: the
    self-describing JSON as text again (any text the store held reads back the same
    through ``event_json``), the fingerprint as bytes."""
    fields = dict(found)
    position = int(fields.pop("position"))
    fields["fingerprint"] = bytes.fromhex(fields["fingerprint"])
    for name in JSON_TEXT_FIELDS:
        if fields[name] is not None:
            fields[name] = json.dumps(fields[name], ensure_ascii=False)
    return StoredEvent(position, GoodEvent(**fields))


def bad_row(found: dict[str, Any]) -> StoredBadRow:
    fields = dict(found)
    position = int(fields.pop("position"))
    return StoredBadRow(position, BadRow(**fields))


_EVENT_FIELDS = frozenset(field.name for field in dataclasses.fields(GoodEvent))
_BAD_ROW_FIELDS = frozenset(field.name for field in dataclasses.fields(BadRow))


def exported_event(found: dict[str, Any]) -> StoredEvent:
    """A row of an export stream as stored: its fields were sent as the store holds them
    (the JSON texts as text), so the record is the one ``--db`` reads. Fields this
    version does not know are left out, as its own store would not have them."""
    fields = {name: value for name, value in found.items() if name in _EVENT_FIELDS}
    fields["fingerprint"] = bytes.fromhex(fields["fingerprint"])
    return StoredEvent(int(found["position"]), GoodEvent(**fields))


def exported_bad_row(found: dict[str, Any]) -> StoredBadRow:
    """A bad row of an export stream, as stored."""
    fields = {name: value for name, value in found.items() if name in _BAD_ROW_FIELDS}
    return StoredBadRow(int(found["position"]), BadRow(**fields))
