"""Iglu validation of good events, as each environment's mode says.

After the protocol checks (events.py), every good event of an environment whose mode
is not ``off`` has its self-describing event and each context checked against their
schemas (:class:`~datacoral.schemas.Validator`), reusing the objects the protocol
checks decoded. What follows, by the check's answer (README, "Schemas (Iglu)"):

============================================  ===============================  ===============
answer                                        strict                           lenient
============================================  ===============================  ===============
every entity validates (or there is none)     stored, ``schema_validated``     the same
an entity fails its schema                    ``schema_violation`` bad row     the same
a schema not Iglu, not found, or unusable     ``schema_violation`` bad row     stored unvalidated
a schema unavailable (registry outage, no     503 + Retry-After for the whole  stored unvalidated
copy cached)                                  request, nothing stored
============================================  ===============================  ===============

An outage is no verdict on the data: a strict environment makes no bad row of it, and
its trackers resend the request once the registry is back (schemas seen before stay
in use meanwhile, see :mod:`datacoral.schemas.resolver`). An event with a definite
problem (a failure, or a schema that is not Iglu, not found or unusable) is a bad row
even when another of its schemas is unavailable.

The event loop never waits for a registry: each event is checked with
``cached_only=True``; the events whose schemas are not cached (or not compiled) yet
are checked again, together, on a small pool of threads, and the request waits for
that while the loop serves others.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from datacoral.admin.environments import ValidationMode
from datacoral.collector.enrich import Arrival
from datacoral.collector.errors import SchemasUnavailable
from datacoral.collector.events import Decoded, bad_row
from datacoral.schemas import EventCheck, SchemaNotCached, SchemaUnavailable, Unresolved, Validator
from datacoral.schemas.failures import cut
from datacoral.schemas.validator import DEFAULT_MAX_MESSAGE
from datacoral.storage.base import BadRow, GoodEvent

logger = logging.getLogger("datacoral.collector")

#: The bad-row kind of an event refused by its schemas (Snowplow: schema_violations).
SCHEMA_VIOLATION = "schema_violation"
#: Threads that fetch and compile schemas not cached yet (each fetch may block for the
#: registry's timeout; the resolver lets one thread per schema ask, the others wait).
FETCH_THREADS = 4
#: The longest bad-row reason: two entities' full messages.
MAX_REASON = 2 * DEFAULT_MAX_MESSAGE
#: Outage refusals are logged at most this often.
_LOG_INTERVAL = 5.0
_VALID = EventCheck()


def unresolved_text(unresolved: Unresolved) -> str:
    """How a bad row names an entity whose schema cannot be used."""
    if unresolved.kind == "not_found":
        return f"{unresolved.label} {unresolved.uri}: not found ({unresolved.reason})"
    if unresolved.kind == "invalid_schema":
        return f"{unresolved.label} {unresolved.uri}: unusable schema ({unresolved.reason})"
    return str(unresolved)  # the reasons of the other kinds say what they are


def reason(check: EventCheck, *, strict: bool) -> str:
    """The bad-row reason: the failures, and in strict mode the unresolved entities."""
    parts = list(check.failures)
    if strict:
        parts.extend(unresolved_text(u) for u in check.unresolved)
    return cut("; ".join(parts), MAX_REASON)


def _definite(check: EventCheck) -> bool:
    """Whether some entity's schema cannot be used for a reason a retry will not change."""
    return any(u.kind != SchemaUnavailable.kind for u in check.unresolved)


class SchemaValidation:
    """Applies the environments' validation modes with one :class:`Validator`.

    ``retry_after`` is the Retry-After (seconds) of a strict environment's 503 during a
    registry outage: at least the resolver's ``failure_ttl``, before which it would not
    ask the registry again anyway.
    """

    def __init__(
        self, validator: Validator, *, retry_after: int, threads: int = FETCH_THREADS
    ) -> None:
        self.validator = validator
        self._retry_after = max(retry_after, math.ceil(validator.resolver.failure_ttl))
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="datacoral-iglu")
        self._logged_at = 0.0

    def close(self) -> None:
        """Stop the fetching threads (fetches under way end at their timeout)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def apply(
        self,
        mode: ValidationMode,
        good: list[GoodEvent],
        decoded: Sequence[Decoded],
        arrival: Arrival,
    ) -> tuple[list[GoodEvent], list[BadRow]]:
        """The events that stay good (``schema_validated`` set on those that validated) and
        the bad rows of those refused. Raises :class:`SchemasUnavailable` when ``mode`` is
        strict and an event's only problem is a schema unavailable now."""
        checks = await self._checks(decoded)
        strict = mode is ValidationMode.STRICT
        kept: list[GoodEvent] = []
        refused: list[BadRow] = []
        waiting: EventCheck | None = None
        for event, entities, check in zip(good, decoded, checks, strict=True):
            if check is _VALID or check.valid:
                event.schema_validated = True
                kept.append(event)
            elif check.failures or (strict and _definite(check)):
                text = reason(check, strict=strict)
                refused.append(bad_row(entities.raw, text, arrival, SCHEMA_VIOLATION))
            elif strict:
                waiting = check  # only unavailable schemas: no verdict
            else:
                kept.append(event)  # lenient: stored with schema_validated false
        if waiting is not None:
            raise self._unavailable(arrival.environment, waiting)
        return kept, refused

    async def _checks(self, decoded: Sequence[Decoded]) -> list[EventCheck]:
        """Each event's check: on the loop from the caches, else on the threads."""
        check_event = self.validator.check_event
        checks: list[EventCheck] = []
        later: list[int] = []
        for index, entities in enumerate(decoded):
            unstruct, contexts = entities.unstruct, entities.contexts
            if unstruct is None and not contexts:
                checks.append(_VALID)  # nothing self-describing to check
                continue
            try:
                checks.append(check_event(unstruct, contexts, cached_only=True))
            except SchemaNotCached:
                checks.append(_VALID)  # replaced below
                later.append(index)
        if later:
            loop = asyncio.get_running_loop()
            fetched = await loop.run_in_executor(
                self._executor, self._check_all, [decoded[index] for index in later]
            )
            for index, check in zip(later, fetched, strict=True):
                checks[index] = check
        return checks

    def _check_all(self, decoded: list[Decoded]) -> list[EventCheck]:
        """On a fetching thread: may ask registries and compile schemas."""
        check_event = self.validator.check_event
        return [check_event(entities.unstruct, entities.contexts) for entities in decoded]

    def _unavailable(self, environment: str, check: EventCheck) -> SchemasUnavailable:
        missing = ", ".join(u.uri for u in check.unresolved if u.kind == SchemaUnavailable.kind)
        now = time.monotonic()
        if now - self._logged_at >= _LOG_INTERVAL:
            # The resolver logs which registry failed; the URIs come from clients.
            self._logged_at = now
            logger.warning(
                "strict environment %r: answering 503, a schema registry is unavailable",
                environment,
            )
        return SchemasUnavailable(
            f"schema registry unavailable for {cut(missing, 200)}; retry later",
            retry_after=self._retry_after,
        )
