"""Moving events from a store to the endpoint: batching, splitting, retry and reports.

One :class:`Delivery` belongs to one emitter. :meth:`Delivery.send_round` claims
events from the store and hands them to the emitter's ``send_events`` (upstream's
seam: a test that patches it sees every batch), which comes back to
:meth:`Delivery.send_batch`. Requests go out through the emitter's ``http_post`` /
``http_get`` seams (see :class:`Sender`). Rounds run on the caller's thread for the
sync ``Emitter`` and on background threads for the async emitters; several may run
at once (each has its own claim).

As upstream: every event of a round gets ``stm`` set in place just before it is
sent, and the user's callbacks are called once per round, ``on_success`` with the
events delivered and ``on_failure`` with the number delivered and the events not
delivered (whether they wait for a retry or were given up).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from snowplow_tracker.event_store import EventStore, LimitedBatchStore
from snowplow_tracker.reports import Counters
from snowplow_tracker.retry import RetryPolicy
from snowplow_tracker.transport import SendResult, encode_event, post_body
from snowplow_tracker.typing import PayloadDict, PayloadDictList

#: A request body is never built above this size unless ``max_request_bytes`` says otherwise.
DEFAULT_MAX_REQUEST_BYTES = 900_000
_ENVELOPE_OVERHEAD = 120


class RoundOutcome(Enum):
    EMPTY = "empty"  # nothing was waiting
    SENT = "sent"  # the claim was delivered or given up for good
    BACKOFF = "backoff"  # a retryable failure: the rest waits in the store


class Sender(Protocol):
    """How a round's requests go out: the emitter, through its upstream seams."""

    def send_post(self, body: bytes) -> SendResult: ...

    def send_get(self, event: PayloadDict) -> SendResult: ...


@dataclass(frozen=True)
class BatchLimits:
    """How many events and bytes one request may carry, and how many one round claims."""

    batch_size: int
    max_request_bytes: int
    claim_size: int


class Delivery:
    """Sends claims of events with the emitter's seams, policy and counters."""

    def __init__(
        self,
        *,
        sender: Sender,
        store: EventStore,
        method: str,
        limits: BatchLimits,
        policy: RetryPolicy,
        counters: Counters,
        max_event_age: float | None,
    ) -> None:
        self.sender = sender
        self.store = store
        self.method = method
        self.limits = limits
        self.policy = policy
        self.counters = counters
        self.max_event_age = max_event_age
        self._limited: LimitedBatchStore | None = (
            store if isinstance(store, LimitedBatchStore) and store.supports_batch_limit else None
        )
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
        #: The wait chosen after the last failure (0 after a success): upstream's retry_delay.
        self.last_delay = 0.0
        # Claimed batches being sent, by id() of the list, with their outcome once known.
        self._claims: dict[int, RoundOutcome | None] = {}

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

    def send_round(
        self, send_events: Callable[[PayloadDictList], object] | None = None
    ) -> RoundOutcome:
        """Claim waiting events and send them through ``send_events`` (default:
        :meth:`send_batch`); never raises on delivery problems."""
        if self.backoff_remaining() > 0:
            return RoundOutcome.BACKOFF
        batch = self._claim()
        if not batch:
            return RoundOutcome.EMPTY
        key = id(batch)
        self._claims[key] = None
        with self._lock:
            self._in_flight += len(batch)
        try:
            try:
                (send_events or self.send_batch)(batch)
            except BaseException:
                if self._claims.get(key) is None:  # not sent: back for a later round
                    self.store.cleanup(batch, True)
                raise
            outcome = self._claims.get(key)
            if outcome is None:
                # A replaced send_events that did not come back here handled the batch.
                self.store.cleanup(batch, False)
                outcome = RoundOutcome.SENT
            return outcome
        finally:
            self._claims.pop(key, None)
            with self._lock:
                self._in_flight -= len(batch)

    def send_batch(self, events: PayloadDictList) -> RoundOutcome:
        """Send ``events``: a claim of this delivery's, or events from a caller of
        ``send_events`` (those are queued for the retry if they fail)."""
        claimed = id(events) in self._claims
        outcome = self._send(events, claimed)
        if claimed:
            self._claims[id(events)] = outcome
        return outcome

    def _claim(self) -> PayloadDictList:
        if self._limited is not None:
            return self._limited.get_events_batch(self.limits.claim_size)
        return self.store.get_events_batch()

    def _send(self, events: PayloadDictList, claimed: bool) -> RoundOutcome:
        events = self._drop_expired(events, claimed)
        if not events:
            return RoundOutcome.SENT
        stm = str(int(time.time() * 1000))
        for event in events:
            event["stm"] = stm
        round_ = _Round(self, claimed)
        if self.method == "get":
            self._send_each(events, round_)
        else:
            self._send_batches(events, round_)
        self.counters.report_round(round_.delivered, round_.undelivered)
        return RoundOutcome.BACKOFF if round_.backing_off else RoundOutcome.SENT

    def _send_batches(self, events: PayloadDictList, round_: _Round) -> None:
        chunks = deque(self._split(events))
        while chunks:
            chunk, encoded = chunks.popleft()
            self.counters.attempt()
            result = self.sender.send_post(post_body(encoded))
            if result.ok:
                round_.delivered_ok(chunk)
                continue
            error = result.error or f"HTTP {result.status}"
            self.counters.failed_attempt(len(chunk), error)
            if result.status in (413, 414) and len(chunk) > 1:
                middle = len(chunk) // 2
                chunks.appendleft((chunk[middle:], encoded[middle:]))
                chunks.appendleft((chunk[:middle], encoded[:middle]))
                continue
            if round_.give_up_unless_retryable(chunk, result, error):
                continue
            rest = list(chunk)
            for more, _ in chunks:
                rest.extend(more)
            round_.retry_later(rest, result, error)
            return

    def _send_each(self, events: PayloadDictList, round_: _Round) -> None:
        """One GET per event, as upstream: each event is tried even after another failed,
        unless the endpoint gave no answer or asked for a pause (Retry-After); then
        the rest wait for the retry without being tried."""
        retry: PayloadDictList = []
        last_failure: tuple[SendResult, str] | None = None
        for index, event in enumerate(events):
            self.counters.attempt()
            result = self.sender.send_get(event)
            if result.ok:
                round_.delivered_ok([event])
                continue
            error = result.error or f"HTTP {result.status}"
            self.counters.failed_attempt(1, error)
            if round_.give_up_unless_retryable([event], result, error):
                continue
            retry.append(event)
            last_failure = (result, error)
            if result.status == -1 or result.retry_after is not None:
                retry.extend(events[index + 1 :])
                break
        if last_failure is not None:
            round_.retry_later(retry, *last_failure)

    def _enter_backoff(self, result: SendResult) -> None:
        with self._lock:
            self._failures += 1
            delay = self.policy.delay(self._failures, result.retry_after)
            self.last_delay = delay
            self._backoff_until = max(self._backoff_until, time.monotonic() + delay)

    def _succeeded(self) -> None:
        self._failures = 0
        self.last_delay = 0.0

    def _drop_expired(self, batch: PayloadDictList, claimed: bool) -> PayloadDictList:
        if self.max_event_age is None:
            return batch
        oldest_allowed = (time.time() - self.max_event_age) * 1000
        fresh: PayloadDictList = []
        expired: PayloadDictList = []
        for event in batch:
            (expired if _created_ms(event) < oldest_allowed else fresh).append(event)
        if not expired:
            return batch
        if claimed:
            self.store.cleanup(expired, False)
        self.counters.drop("expired", expired, "older than max_event_age")
        return fresh

    def _split(self, batch: PayloadDictList) -> list[tuple[PayloadDictList, list[bytes]]]:
        """Cut events into request-sized chunks by count and by encoded bytes."""
        limit_count = self.limits.batch_size
        limit_bytes = self.limits.max_request_bytes - _ENVELOPE_OVERHEAD
        chunks: list[tuple[PayloadDictList, list[bytes]]] = []
        events: PayloadDictList = []
        encoded: list[bytes] = []
        size = 0
        for event in batch:
            data = encode_event(event)
            if events and (len(events) >= limit_count or size + len(data) + 1 > limit_bytes):
                chunks.append((events, encoded))
                events, encoded, size = [], [], 0
            events.append(event)
            encoded.append(data)
            size += len(data) + 1
        if events:
            chunks.append((events, encoded))
        return chunks


class _Round:
    """What one round delivered and did not, and where the undelivered events go."""

    __slots__ = ("backing_off", "claimed", "delivered", "delivery", "undelivered")

    def __init__(self, delivery: Delivery, claimed: bool) -> None:
        self.delivery = delivery
        self.claimed = claimed
        self.delivered: PayloadDictList = []
        self.undelivered: PayloadDictList = []
        self.backing_off = False

    def delivered_ok(self, events: PayloadDictList) -> None:
        delivery = self.delivery
        if self.claimed:
            delivery.store.cleanup(events, False)
        delivery._succeeded()
        delivery.counters.succeeded(len(events))
        self.delivered.extend(events)

    def _forget(self, events: PayloadDictList, reason: str, error: str) -> None:
        if self.claimed:
            self.delivery.store.cleanup(events, False)
        self.delivery.counters.drop(reason, events, error)
        self.undelivered.extend(events)

    def give_up_unless_retryable(
        self, events: PayloadDictList, result: SendResult, error: str
    ) -> bool:
        """Drop ``events`` (and return True) when their answer is final."""
        if result.status in (413, 414):
            self._forget(events, "too_large", error)
            return True
        if not self.delivery.policy.should_retry(result.status):
            self._forget(events, "rejected", error)
            return True
        return False

    def retry_later(self, events: PayloadDictList, result: SendResult, error: str) -> None:
        delivery = self.delivery
        if delivery.give_up_on_retry:
            self._forget(events, "shutdown", error)
            return
        delivery._enter_backoff(result)
        delivery.counters.will_retry(len(events))
        self.undelivered.extend(events)
        self.backing_off = True
        if self.claimed:
            delivery.store.cleanup(events, True)
            return
        refused = [event for event in events if not delivery.store.add_event(event)]
        if refused:
            delivery.counters.drop("queue_full", refused, "no room to keep events for a retry")


def _created_ms(event: PayloadDict) -> float:
    try:
        return float(event.get("dtm") or event.get("ttm") or "inf")
    except (TypeError, ValueError):
        return float("inf")
