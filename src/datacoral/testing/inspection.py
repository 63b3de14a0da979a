"""What the endpoint stored, read through the storage API (no SQL of its own), and
waiting for it.

The endpoint answers a tracker only after the request's events are committed, so what a
synchronous emitter sent is readable as soon as ``track()`` returns; ``wait_for_events``
is for senders that deliver later (``AsyncEmitter``, another thread or process). It
waits on the endpoint's answers, with a deadline, and never sleeps blindly; when the
deadline passes it says what arrived instead: other events, bad rows, refusals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from datacoral.storage.sqlite import SQLiteStorage
from datacoral.testing import records
from datacoral.testing.server import Activity, Refusal

#: Seconds the ``wait_for_*`` helpers wait by default.
DEFAULT_TIMEOUT = 5.0
_PAGE = 1000
_SHOWN_BAD_ROWS = 5
_SHOWN_REFUSALS = 5


class EventsNotFound(AssertionError):
    """A ``wait_for_*`` deadline passed; the message says what the endpoint got instead."""


class Clock:
    # A class attribute, not a module-level name: freezegun replaces the time functions
    # it finds in modules, and a test's frozen clock must not stop a deadline.
    now = staticmethod(time.monotonic)


class StoredEvents:
    """The reading helpers of :class:`~datacoral.testing.endpoint.Endpoint`."""

    _admin: SQLiteStorage
    _activity: Activity

    @property
    def url(self) -> str:  # pragma: no cover - provided by Endpoint
        raise NotImplementedError

    @property
    def environments(self) -> tuple[str, ...]:  # pragma: no cover - provided by Endpoint
        raise NotImplementedError

    def _environment(self, env: str | None) -> str:  # pragma: no cover - provided by Endpoint
        raise NotImplementedError

    def good_events(
        self,
        env: str | None = None,
        *,
        event_type: str | None = None,
        schema: str | None = None,
        context: str | None = None,
    ) -> list[dict[str, Any]]:
        """The good events of ``env`` (default: ``env``), oldest first, as dicts of
        Snowplow field names; only those of ``event_type`` (``page_view``, ``struct``,
        ``unstruct``, ... or a code like ``pv``), self-describing ``schema`` (an
        ``iglu:`` URI) or with a ``context`` of that schema, when given."""
        chosen = records.EventFilter.of(event_type, schema, context)
        return [e for e in self._all_events(self._environment(env)) if chosen.matches(e)]

    def _all_events(self, environment: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        position = 0
        while page := self._admin.events_after(environment, position, _PAGE):
            found += [records.good_event(stored) for stored in page]
            position = page[-1].position
        return found

    def bad_rows(self, env: str | None = None) -> list[dict[str, Any]]:
        """The bad rows of ``env``, oldest first: ``reason``, ``kind``, ``payload``, ..."""
        environment = self._environment(env)
        found: list[dict[str, Any]] = []
        position = 0
        while page := self._admin.bad_rows_after(environment, position, _PAGE):
            found += [records.bad_row(stored) for stored in page]
            position = page[-1].position
        return found

    def refusals(self) -> list[Refusal]:
        """The endpoint's answers of 400 or more since the last reset (the newest 50):
        status, text and path, e.g. ``401 'unknown API key' to POST /com.../tp2``."""
        return self._activity.refusals()

    def wait_for_events(
        self,
        n: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        event_type: str | None = None,
        schema: str | None = None,
        context: str | None = None,
        env: str | None = None,
    ) -> list[dict[str, Any]]:
        """Wait until at least ``n`` good events match (filters as in :meth:`good_events`)
        and return every match; :class:`EventsNotFound` after ``timeout`` seconds."""
        chosen = records.EventFilter.of(event_type, schema, context)
        environment = self._environment(env)

        def matching() -> list[dict[str, Any]]:
            return [e for e in self._all_events(environment) if chosen.matches(e)]

        found = self._wait(matching, n, timeout)
        if len(found) < n:
            raise EventsNotFound(self._explain(f"{n} {chosen}", found, environment, timeout))
        return found

    def wait_for_bad_rows(
        self, n: int = 1, timeout: float = DEFAULT_TIMEOUT, *, env: str | None = None
    ) -> list[dict[str, Any]]:
        """Wait until ``env`` holds at least ``n`` bad rows and return them all."""
        environment = self._environment(env)
        found = self._wait(lambda: self.bad_rows(environment), n, timeout)
        if len(found) < n:
            raise EventsNotFound(self._explain(f"{n} bad row(s)", found, environment, timeout))
        return found

    def _wait(
        self, read: Callable[[], list[dict[str, Any]]], n: int, timeout: float
    ) -> list[dict[str, Any]]:
        deadline = Clock.now() + timeout
        while True:
            found = read()
            remaining = deadline - Clock.now()
            if len(found) >= n or remaining <= 0:
                return found
            # Woken by the endpoint's next answer; the short bound covers other writers.
            self._activity.wait(min(remaining, 0.05))

    def _explain(
        self, wanted: str, found: list[dict[str, Any]], environment: str, timeout: float
    ) -> str:
        lines = [f"expected {wanted} in {environment!r} within {timeout} s, found {len(found)}"]
        events = self._all_events(environment)
        if events:
            lines.append(f"good events there: {records.summary(events)}")
        bad = self.bad_rows(environment)
        if bad:
            lines.append(f"bad rows there ({len(bad)}), the newest:")
            lines += [f"  {row['kind']}: {row['reason']}" for row in bad[-_SHOWN_BAD_ROWS:]]
        refused = self.refusals()
        if refused:
            lines.append(f"the endpoint refused {len(refused)} request(s), the newest:")
            lines += [f"  {refusal}" for refusal in refused[-_SHOWN_REFUSALS:]]
        if not events and not bad and not refused:
            lines.append(f"nothing reached {self.url} (is the sender pointed at it?)")
        return "\n".join(lines)

    def reset(self, env: str | None = None) -> None:
        """Delete the stored events and bad rows of ``env`` (None: of every environment),
        and forget the refusals seen; keys, origins and validation modes stay."""
        names = self.environments if env is None else (self._environment(env),)
        for name in names:
            self._admin.delete_events(name)
        self._activity.forget_refusals()
