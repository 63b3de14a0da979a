"""The duplicate rule of PROTOCOL.md, the same for every backend.

An event's identity is (environment, event id). An event whose identity is
already stored with the same fingerprint is a resent copy: counted, not stored
again. With another fingerprint it is different content under a reused id: kept
as a ``duplicate_conflict`` bad row, never dropped. Backends decide which events
of a batch found their identity taken; this module judges them and says what each
commit did.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass

from datacoral.storage.base import BadRow, CommitResult, GoodEvent


@dataclass(slots=True)
class Tally:
    """What one commit call did so far."""

    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    bad_rows: int = 0

    def result(self) -> CommitResult:
        return CommitResult(self.stored, self.duplicates, self.conflicts, self.bad_rows)


def judge(
    tally: Tally, event: GoodEvent, stored_fingerprint: bytes, duplicates: dict[str, int]
) -> BadRow | None:
    """Count ``event``, whose identity is stored with ``stored_fingerprint``, as a
    duplicate (added to ``duplicates`` per environment), or return its conflict bad row."""
    if stored_fingerprint == event.fingerprint:
        tally.duplicates += 1
        duplicates[event.environment] = duplicates.get(event.environment, 0) + 1
        return None
    tally.conflicts += 1
    reason = (
        f"eid {event.event_id}: already stored in environment {event.environment!r}"
        f" with different content (stored fingerprint {stored_fingerprint.hex()},"
        f" this event {event.fingerprint.hex()})"
    )
    return event_bad_row(event, "duplicate_conflict", reason)


def not_a_uuid(event: GoodEvent) -> BadRow:
    """The bad row of an event whose id is not a UUID (the collector refuses those;
    should one slip through, it is kept rather than lost)."""
    return event_bad_row(
        event, "tracker_protocol_violation", f"eid: not a UUID: {event.event_id!r}"
    )


def event_bad_row(event: GoodEvent, kind: str, reason: str) -> BadRow:
    """A bad row keeping a good event's canonical fields as its payload."""
    return BadRow(
        reason=reason,
        payload=event_json(event),
        received_tstamp=event.collector_tstamp,
        environment=event.environment,
        event_id=event.event_id,
        kind=kind,
    )


def event_json(event: GoodEvent) -> str:
    """The event's canonical fields as JSON, used as the payload of its bad rows."""
    values = dataclasses.asdict(event)
    values["fingerprint"] = event.fingerprint.hex()
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def event_id_bytes(event_id: str) -> bytes:
    """The 16 bytes of a UUID event id; ValueError when it is not a UUID."""
    # The canonical 8-4-4-4-12 form (what the collector stores) without uuid.UUID();
    # fromhex skips spaces, hence the length check on its result.
    if len(event_id) == 36 and event_id[8] == event_id[13] == event_id[18] == event_id[23] == "-":
        try:
            raw = bytes.fromhex(
                event_id[:8] + event_id[9:13] + event_id[14:18] + event_id[19:23] + event_id[24:]
            )
        except ValueError:
            pass
        else:
            if len(raw) == 16:
                return raw
    return uuid.UUID(event_id).bytes
