"""Moving events from a store to the endpoint: batching, splitting, retry and reports.

One :class:`Delivery` belongs to one emitter. :meth:`Delivery.send_round` takes one
claim of events from the store and sends it as one or more requests. It is called
on the caller's thread by the sync ``Emitter`` and on background threads by the
async emitters; several rounds may run at once (each has its own claim).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any

from snowplow_tracker.payload import materialize
from snowplow_tracker.reports import Counters
from snowplow_tracker.retry import RetryPolicy
from snowplow_tracker.transport import SendResult, Transport, encode_event_sent_at, post_body
from snowplow_tracker.typing import PayloadDict, PayloadDictList

#: A request body is never built above this size unless ``byte_limit`` says otherwise.
DEFAULT_MAX_REQUEST_BYTES = 900_000
_ENVELOPE_OVERHEAD = 120


class RoundOutcome(Enum):
    EMPTY = "empty"  # nothing was waiting
    SENT = "sent"  # the claim was delivered or given up for good
    BACKOFF = "backoff"  # a retryable failure: the rest is back in the store


@dataclass(frozen=True)
class BatchLimits:
    """How many events and bytes one request may carry."""

    batch_size: int
    max_request_bytes: int
    claim_size: int


class Delivery:
    """Sends claims of events with the emitter's transport, policy and counters."""

    def __init__(
        self,
        *,
        transport: Transport,
        store: Any,
        method: str,
        limits: BatchLimits,
        policy: RetryPolicy,
        counters: Counters,
        max_event_age: float | None,
    ) -> None:
        self.transport = transport
        self.store = store
        self.method = method
        self.limits = limits
        self.policy = policy
        self.counters = counters
        self.max_event_age = max_event_age
        self._claim_takes_limit = bool(getattr(store, "supports_batch_limit", False))
        self.reset()

    def reset(self) -> None:
        """Fresh state and lock (also used in a forked child)."""
        self._lock = threading.Lock()
        #: Set when the emitter closed over a queue that dies with it: a batch that
        #: fails after that is reported as dropped instead of put back unseen.
        self.give_up_on_retry = False
        self._in_flight = 0
        self._failures = 0
        self._backoff_until = 0.0

    # -- state ---------------------------------------------------------------------------

    def backoff_remaining(self) -> float:
        """Seconds until the next attempt is allowed (0 when not backing off)."""
        return max(0.0, self._backoff_until - time.monotonic())

    def in_flight(self) -> int:
        return self._in_flight

    def pending(self) -> int:
        """Events waiting or in flight."""
        return int(self.store.size()) + self._in_flight

    # -- one round -----------------------------------------------------------------------

    def send_round(self) -> RoundOutcome:
        """Claim waiting events and send them; never raises on delivery problems."""
        if self.backoff_remaining() > 0:
            return RoundOutcome.BACKOFF
        batch = self._claim()
        if not batch:
            return RoundOutcome.EMPTY
        with self._lock:
            self._in_flight += len(batch)
        try:
            return self._send_claim(batch)
        finally:
            with self._lock:
                self._in_flight -= len(batch)

    def _claim(self) -> PayloadDictList:
        if self._claim_takes_limit:
            batch: PayloadDictList = self.store.get_events_batch(self.limits.claim_size)
        else:
            batch = self.store.get_events_batch()
        return batch

    def _send_claim(self, batch: PayloadDictList) -> RoundOutcome:
        batch = self._drop_expired(batch)
        if not batch:
            return RoundOutcome.SENT
        stm = str(time.time_ns() // 1_000_000)
        if self.method == "get":
            chunks: deque[tuple[PayloadDictList, list[bytes]]] = deque(
                ([event], []) for event in batch
            )
        else:
            chunks = deque(self._split(batch, stm))
        sent_here = 0
        while chunks:
            events, encoded = chunks.popleft()
            self.counters.attempt()
            if self.method == "get":
                result = self.transport.get({**materialize(events[0]), "stm": stm})
            else:
                result = self.transport.post(post_body(encoded))
            if result.ok:
                self.store.cleanup(events, False)
                sent_here += len(events)
                self._failures = 0
                self.counters.succeeded(events)
                continue
            error = result.error or f"HTTP {result.status}"
            self.counters.failed_attempt(sent_here, events, error)
            if result.status in (413, 414):
                if len(events) > 1 and self.method == "post":
                    middle = len(events) // 2
                    chunks.appendleft((events[middle:], encoded[middle:]))
                    chunks.appendleft((events[:middle], encoded[:middle]))
                    continue
                self.store.cleanup(events, False)
                self.counters.drop("too_large", events, error)
                continue
            if not self.policy.should_retry(result.status):
                self.store.cleanup(events, False)
                self.counters.drop("rejected", events, error)
                continue
            rest = list(events)
            for more, _ in chunks:
                rest.extend(more)
            if self.give_up_on_retry:
                self.store.cleanup(rest, False)
                self.counters.drop("shutdown", rest, error)
                return RoundOutcome.SENT
            self._enter_backoff(result)
            self.counters.will_retry(len(rest))
            self.store.cleanup(rest, True)
            return RoundOutcome.BACKOFF
        return RoundOutcome.SENT

    def _enter_backoff(self, result: SendResult) -> None:
        with self._lock:
            self._failures += 1
            delay = self.policy.delay(self._failures, result.retry_after)
            self._backoff_until = max(self._backoff_until, time.monotonic() + delay)

    def _drop_expired(self, batch: PayloadDictList) -> PayloadDictList:
        if self.max_event_age is None:
            return batch
        oldest_allowed = (time.time() - self.max_event_age) * 1000
        fresh: PayloadDictList = []
        expired: PayloadDictList = []
        for event in batch:
            (expired if _created_ms(event) < oldest_allowed else fresh).append(event)
        if expired:
            self.store.cleanup(expired, False)
            self.counters.drop("expired", expired, "older than max_event_age")
        return fresh

    def _split(self, batch: PayloadDictList, stm: str) -> list[tuple[PayloadDictList, list[bytes]]]:
        """Cut a claim into request-sized chunks by count and by encoded bytes."""
        limit_count = self.limits.batch_size
        limit_bytes = self.limits.max_request_bytes - _ENVELOPE_OVERHEAD
        stm_bytes = stm.encode("ascii")
        chunks: list[tuple[PayloadDictList, list[bytes]]] = []
        events: PayloadDictList = []
        encoded: list[bytes] = []
        size = 0
        for event in batch:
            data = encode_event_sent_at(event, stm_bytes)
            if events and (len(events) >= limit_count or size + len(data) + 1 > limit_bytes):
                chunks.append((events, encoded))
                events, encoded, size = [], [], 0
            events.append(event)
            encoded.append(data)
            size += len(data) + 1
        if events:
            chunks.append((events, encoded))
        return chunks


def _created_ms(event: PayloadDict) -> float:
    try:
        return float(event.get("dtm") or event.get("ttm") or "inf")
    except (TypeError, ValueError):
        return float("inf")
