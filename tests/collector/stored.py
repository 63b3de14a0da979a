"""Reading back what a test's requests stored, through a second handle on the database."""

from __future__ import annotations

from datacoral.storage.base import BadRow
from tests.collector.conftest import Endpoint


def last_bad_row(endpoint: Endpoint, environment: str = "dev") -> int:
    """The position of the latest bad row in ``environment`` (0 when there is none)."""
    storage = endpoint.storage()
    try:
        latest = storage.latest_bad_rows(environment, 1)
    finally:
        storage.close()
    return latest[0].position if latest else 0


def bad_rows_after(endpoint: Endpoint, position: int, environment: str = "dev") -> list[BadRow]:
    """The bad rows stored in ``environment`` after ``position``, oldest first."""
    storage = endpoint.storage()
    try:
        return [stored.row for stored in storage.bad_rows_after(environment, position)]
    finally:
        storage.close()


def times_stored(endpoint: Endpoint, *event_ids: str) -> list[int]:
    """How many good events each id has (1 each when every event was stored once)."""
    storage = endpoint.storage()
    try:
        return [len(storage.find_events(event_id)) for event_id in event_ids]
    finally:
        storage.close()
