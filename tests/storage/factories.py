"""Records for storage tests, built with just the fields a test cares about."""

from __future__ import annotations

import uuid

from datacoral.storage.base import BadRow, GoodEvent


def good_event(
    environment: str = "dev",
    *,
    event_id: str | None = None,
    fingerprint: bytes = b"content-a",
    **fields: object,
) -> GoodEvent:
    """A minimal self-describing good event; ``fields`` override any column."""
    values: dict[str, object] = {
        "platform": "srv",
        "event": "unstruct",
        "collector_tstamp": 1_700_000_000_000,
        "derived_tstamp": 1_700_000_000_000,
        "app_id": "app",
    }
    values.update(fields)
    return GoodEvent(
        event_id=event_id or str(uuid.uuid4()),
        environment=environment,
        fingerprint=fingerprint,
        **values,  # type: ignore[arg-type]
    )


def bad_row(environment: str | None = "dev", reason: str = "e: missing") -> BadRow:
    return BadRow(reason=reason, payload='{"e":""}', received_tstamp=1, environment=environment)
