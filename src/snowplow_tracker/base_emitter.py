"""What every emitter shares: configuration, the store, delivery, reports, fork and exit."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from itertools import repeat
from typing import Any

import requests

from snowplow_tracker import lifecycle
from snowplow_tracker._call_styles import normalize_api_key, validate_datacoral_env
from snowplow_tracker.constants import API_KEY_HEADER, ENVIRONMENT_HEADER
from snowplow_tracker.delivery import DEFAULT_MAX_REQUEST_BYTES, BatchLimits, Delivery
from snowplow_tracker.emitter_options import (
    positive_float,
    positive_int,
    resolve_batch_size,
    resolve_headers,
    resolve_method,
    resolve_timeout,
)
from snowplow_tracker.endpoint import parse_endpoint
from snowplow_tracker.event_store import DEFAULT_BUFFER_CAPACITY, EventStore, InMemoryEventStore
from snowplow_tracker.payload import BuiltPayload, materialize
from snowplow_tracker.reports import Counters, DeliveryReport, EmitterStats
from snowplow_tracker.retry import RetryPolicy
from snowplow_tracker.transport import Transport, encode_event, private_session
from snowplow_tracker.typing import (
    DropCallback,
    FailureCallback,
    PayloadDict,
    SuccessCallback,
)

logger = logging.getLogger("snowplow_tracker")

DEFAULT_MAX_EVENT_AGE = 3600.0
DEFAULT_EXIT_TIMEOUT = 10.0
DEFAULT_FLUSH_TIMEOUT = 30.0


_QUEUED_AS_IS = (str, bytes)


def stringify(payload: PayloadDict, keep: tuple[type, ...] = (str,)) -> dict[str, Any]:
    """Every value as a string, as the protocol wants, except values of the ``keep``
    types (a new dict; the caller's is untouched)."""
    if all(map(isinstance, payload.values(), repeat(keep))):
        return dict(payload)
    return {k: v if isinstance(v, keep) else str(v) for k, v in payload.items()}


class BaseEmitter:
    """Configuration and shared behaviour; :class:`Emitter` and ``AsyncEmitter`` build on it."""

    def __init__(
        self,
        endpoint: str,
        *,
        protocol: str,
        port: int | None,
        method: str,
        batch_size: int | None,
        buffer_size: int | None,
        on_success: SuccessCallback | None,
        on_failure: FailureCallback | None,
        on_drop: DropCallback | None,
        byte_limit: int | None,
        request_timeout: float | tuple[float, float] | None,
        max_retry_delay_seconds: float,
        buffer_capacity: int | None,
        custom_retry_codes: dict[int, bool] | None,
        event_store: EventStore | None,
        session: requests.Session | None,
        pool_size: int,
        post_path: str | None,
        headers: dict[str, str] | None,
        api_key: str | list[str] | None,
        datacoral_env: str | None,
        max_event_age: float | None,
        flush_at_exit: bool,
        exit_timeout: float,
    ) -> None:
        self.method = resolve_method(method)
        self.endpoint = parse_endpoint(endpoint, protocol, port, post_path)
        self.batch_size = resolve_batch_size(self.method, batch_size, buffer_size)
        self.byte_limit = positive_int("byte_limit", byte_limit)
        capacity = positive_int("buffer_capacity", buffer_capacity)
        self.buffer_capacity = capacity if capacity is not None else DEFAULT_BUFFER_CAPACITY
        if event_store is not None and not isinstance(event_store, EventStore):
            raise TypeError("event_store must implement the EventStore protocol")
        self.event_store: Any = event_store or InMemoryEventStore(logger, self.buffer_capacity)
        self._in_memory = type(self.event_store) is InMemoryEventStore
        self.request_timeout = resolve_timeout(request_timeout)
        self.max_event_age = positive_float("max_event_age", max_event_age)
        self.exit_timeout = float(
            positive_float("exit_timeout", exit_timeout, allow_none=False) or 0
        )
        self.flush_at_exit = bool(flush_at_exit)
        self.custom_retry_codes = dict(custom_retry_codes or {})
        self.retry_policy = RetryPolicy(self.custom_retry_codes, max_delay=max_retry_delay_seconds)
        self._own_session = session is None
        self._pool_size = pool_size
        self.session = session if session is not None else private_session(pool_size)
        self.counters = Counters(on_success, on_failure, on_drop)
        self.transport = Transport(
            self.endpoint,
            self.session,
            self.request_timeout,
            resolve_headers(headers),
            private=self._own_session,
            pool_size=pool_size,
        )
        self.api_key: str | None = None
        self.datacoral_env: str | None = None
        self.set_credentials(api_key=api_key, datacoral_env=datacoral_env)
        max_bytes = self.byte_limit or DEFAULT_MAX_REQUEST_BYTES
        self.delivery = Delivery(
            transport=self.transport,
            store=self.event_store,
            method=self.method,
            limits=BatchLimits(
                self.batch_size, max_bytes, claim_size=max(self.batch_size * 4, 100)
            ),
            policy=self.retry_policy,
            counters=self.counters,
            max_event_age=self.max_event_age,
        )
        self._pending_bytes = 0
        self._closed = False
        self._final_report: DeliveryReport | None = None
        self._pid = os.getpid()
        lifecycle.register(self)

    # -- credentials -----------------------------------------------------------------------

    def set_credentials(
        self, *, api_key: str | list[str] | None = None, datacoral_env: str | None = None
    ) -> None:
        """Send ``X-Api-Key`` / ``X-Datacoral-Environment`` on every request from now on.

        Raises ValueError when this emitter already sends a different key or
        environment (one emitter cannot serve two environments).
        """
        key = normalize_api_key(api_key)
        env = validate_datacoral_env(datacoral_env)
        for name, old, new in (
            ("api_key", self.api_key, key),
            ("datacoral_env", self.datacoral_env, env),
        ):
            if new is not None and old is not None and new != old:
                raise ValueError(
                    f"this emitter already sends another {name}; use one emitter per key"
                )
        if key is not None:
            self.api_key = key
            self.transport.set_header(API_KEY_HEADER, key)
        if env is not None:
            self.datacoral_env = env
            self.transport.set_header(ENVIRONMENT_HEADER, env)

    # -- input -----------------------------------------------------------------------------

    #: ``Tracker.track`` may hand this emitter a :class:`BuiltPayload` without copying it.
    accepts_built_payload = True

    def _accept(self, payload: PayloadDict) -> PayloadDict | None:
        """Store one event; returns it, or None when it was dropped (and reported)."""
        event: PayloadDict
        if payload.__class__ is not BuiltPayload:
            event = stringify(payload)
        elif not self._in_memory:  # a durable store writes text
            event = stringify(materialize(payload))
        elif all(map(isinstance, payload.values(), repeat(_QUEUED_AS_IS))):
            # The tracker's own new dict, seen by nobody else: queued as it is, and its
            # base64 fields are made on the sender thread.
            event = payload
        else:
            event = stringify(payload, _QUEUED_AS_IS)
        if self._closed:
            self.counters.drop("closed", [event], "emitter is closed")
            return None
        if not self.event_store.add_event(event):
            self.counters.drop(
                "queue_full", [event], f"buffer_capacity {self.buffer_capacity} reached"
            )
            return None
        if self.byte_limit is not None:
            self._pending_bytes += len(encode_event(event)) + 1
        return event

    def reached_limit(self) -> bool:
        """True when a full batch (by count or by bytes) is waiting."""
        if self.byte_limit is not None and self._pending_bytes >= self.byte_limit:
            return True
        return int(self.event_store.size()) >= self.batch_size

    # -- reports ---------------------------------------------------------------------------

    def stats(self) -> EmitterStats:
        """Counters: queued, in flight, sent, retried, failed, attempts, dropped, last error."""
        c = self.counters
        return EmitterStats(
            queued=int(self.event_store.size()),
            in_flight=self.delivery.in_flight(),
            sent=c.sent,
            retried=c.retried,
            failed=c.failed,
            attempts=c.attempts,
            dropped=c.dropped_copy(),
            last_error=c.last_error,
        )

    def report(self) -> DeliveryReport:
        """Totals so far: sent, pending now, dropped by reason."""
        return DeliveryReport(
            sent=self.counters.sent,
            pending=self.delivery.pending(),
            dropped=self.counters.dropped_copy(),
        )

    # -- closing ---------------------------------------------------------------------------

    def _drain_inline(self, deadline: float) -> None:
        """Send on this thread until nothing is pending or the deadline passes."""
        while self.delivery.pending() > 0:
            outcome = self.delivery.send_round()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if outcome.value == "backoff":
                time.sleep(min(self.delivery.backoff_remaining(), left))
            elif outcome.value == "empty" and self.delivery.in_flight() > 0:
                time.sleep(min(0.01, left))

    def _finish_close(self) -> DeliveryReport:
        """Mark closed and give up what an in-memory queue still holds."""
        self._closed = True
        if isinstance(self.event_store, InMemoryEventStore):
            self.delivery.give_up_on_retry = True
            leftover = self.event_store.get_events_batch()
            self.event_store.cleanup(leftover, False)
            self.counters.drop("shutdown", leftover)
        if self._own_session:
            self.transport.close()
        self._final_report = self.report()
        return self._final_report

    def _close_at_exit(self, deadline: float) -> None:
        if self._closed or self._pid != os.getpid():
            return
        report = self.close(timeout=max(0.0, deadline - time.monotonic()))
        lost = report.dropped.get("shutdown", 0)
        if lost or report.pending:
            print(
                f"snowplow_tracker: {lost + report.pending} event(s) not delivered at exit "
                f"to {self.endpoint.base} (last error: {self.counters.last_error})",
                file=sys.stderr,
            )

    def close(self, timeout: float | None = None) -> DeliveryReport:  # pragma: no cover
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> DeliveryReport:  # pragma: no cover
        raise NotImplementedError

    async def aflush(self, timeout: float | None = None) -> DeliveryReport:
        """``flush(timeout)`` without blocking the event loop."""
        return await asyncio.to_thread(self.flush, timeout)

    async def aclose(self, timeout: float | None = None) -> DeliveryReport:
        """``close(timeout)`` without blocking the event loop."""
        return await asyncio.to_thread(self.close, timeout)

    # -- fork ------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Start afresh: empty queue (the parent sends its own), new locks and session."""
        self._pid = os.getpid()
        reset = getattr(self.event_store, "reset_after_fork", None)
        if reset is not None:
            reset()
        self.counters.reset()
        self.delivery.reset()
        self._pending_bytes = 0
        if self._own_session:
            self.session = private_session(self._pool_size)
            self.transport.replace_session(self.session)

    # -- upstream compatibility ------------------------------------------------------------

    @staticmethod
    def is_good_status_code(status_code: int) -> bool:
        return 200 <= status_code < 300

    @staticmethod
    def attach_sent_timestamp(events: list[PayloadDict]) -> None:
        """Set ``stm`` (now, in milliseconds) on every event."""
        stm = str(int(time.time() * 1000))
        for event in events:
            event["stm"] = stm

    @staticmethod
    def as_collector_uri(
        endpoint: str, protocol: str = "https", port: int | None = None, method: str = "post"
    ) -> str:
        """The URL events go to for this endpoint and method."""
        parsed = parse_endpoint(endpoint, protocol, port)
        return parsed.get_url if resolve_method(method) == "get" else parsed.post_url

    def send_events(self, evts: list[PayloadDict]) -> None:
        """Queue ``evts`` and send everything now (upstream's explicit send)."""
        for event in evts:
            self._accept(event)
        self.flush()

    def http_post(self, data: str) -> int:
        """POST a ready body; returns the status, or -1 when no answer came."""
        return self.transport.post(data.encode("utf-8")).status

    def http_get(self, payload: PayloadDict) -> int:
        """GET one event; returns the status, or -1 when no answer came."""
        return self.transport.get(stringify(payload)).status

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint.base!r}, method={self.method!r}, "
            f"batch_size={self.batch_size})"
        )
