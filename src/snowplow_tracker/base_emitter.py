"""What every emitter shares: configuration, the store, delivery, reports, fork and exit."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
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
from snowplow_tracker.emitter_seams import UpstreamSeams
from snowplow_tracker.endpoint import parse_endpoint
from snowplow_tracker.event_store import DEFAULT_BUFFER_CAPACITY, EventStore, InMemoryEventStore
from snowplow_tracker.reports import Counters, DeliveryReport, EmitterStats
from snowplow_tracker.retry import RetryPolicy
from snowplow_tracker.transport import Transport, private_session
from snowplow_tracker.typing import (
    DropCallback,
    FailureCallback,
    PayloadDict,
    QueuedEvent,
    SuccessCallback,
)

logger = logging.getLogger("snowplow_tracker")

DEFAULT_MAX_EVENT_AGE = 3600.0
DEFAULT_EXIT_TIMEOUT = 10.0
DEFAULT_FLUSH_TIMEOUT = 30.0


def stringify(payload: PayloadDict) -> dict[str, Any]:
    """A new dict with every value as a string, as a POST carries it (upstream's ``str(v)``)."""
    return {k: v if v.__class__ is str else str(v) for k, v in payload.items()}


def _stringify_in_place(payload: PayloadDict) -> PayloadDict:
    for name, value in payload.items():
        if value.__class__ is not str:
            payload[name] = str(value)
    return payload


class BaseEmitter(UpstreamSeams):
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
        max_request_bytes: int | None,
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
        #: Where events go (``scheme://host[:port]`` and the paths); ``endpoint`` is the URL.
        self.parsed_endpoint = parse_endpoint(endpoint, protocol, port, post_path)
        #: The URL of this emitter's method, as upstream's ``endpoint``.
        self.endpoint = (
            self.parsed_endpoint.get_url if self.method == "get" else self.parsed_endpoint.post_url
        )
        capacity = positive_int("buffer_capacity", buffer_capacity)
        self.buffer_capacity = capacity if capacity is not None else DEFAULT_BUFFER_CAPACITY
        size = resolve_batch_size(self.method, batch_size, buffer_size)
        self.batch_size = min(size, capacity) if capacity is not None else size
        #: Upstream's flush trigger: ``len(str(event))`` summed over queued events.
        self.byte_limit = positive_int("byte_limit", byte_limit)
        self.bytes_queued: int | None = None if self.byte_limit is None else 0
        #: No request body is built above this many bytes (a larger batch is split).
        self.max_request_bytes = (
            positive_int("max_request_bytes", max_request_bytes) or DEFAULT_MAX_REQUEST_BYTES
        )
        if event_store is not None and not isinstance(event_store, EventStore):
            raise TypeError("event_store must implement the EventStore protocol")
        self.event_store: EventStore = event_store or InMemoryEventStore(
            logger, self.buffer_capacity
        )
        #: As given; None means the default (5 s to connect, 15 s to read).
        self.request_timeout = request_timeout
        timeout = resolve_timeout(request_timeout)
        self.max_event_age = positive_float("max_event_age", max_event_age)
        self.exit_timeout = float(
            positive_float("exit_timeout", exit_timeout, allow_none=False) or 0
        )
        self.flush_at_exit = bool(flush_at_exit)
        self.max_retry_delay_seconds = max_retry_delay_seconds
        self.custom_retry_codes = dict(custom_retry_codes or {})
        self.retry_policy = RetryPolicy(self.custom_retry_codes, max_delay=max_retry_delay_seconds)
        self._own_session = session is None
        self._pool_size = pool_size
        self.session = session if session is not None else private_session(pool_size)
        self.counters = Counters(on_success, on_failure, on_drop)
        self.transport = Transport(
            self.parsed_endpoint,
            self.session,
            timeout,
            resolve_headers(headers),
            private=self._own_session,
            pool_size=pool_size,
        )
        self._results = threading.local()
        #: Upstream's lock; here it guards the timers.
        self.lock = threading.RLock()
        self.api_key: str | None = None
        self.datacoral_env: str | None = None
        self.set_credentials(api_key=api_key, datacoral_env=datacoral_env)
        self.delivery = Delivery(
            sender=self,
            store=self.event_store,
            method=self.method,
            limits=BatchLimits(
                self.batch_size,
                self.max_request_bytes,
                claim_size=max(self.batch_size * 4, 100),
            ),
            policy=self.retry_policy,
            counters=self.counters,
            max_event_age=self.max_event_age,
        )
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

    def input_is_own(self) -> bool:
        """True while ``input`` is one of our emitters' own (not patched or overridden)."""
        return getattr(self.input, "__func__", None) in OWN_INPUTS

    def input(self, payload: PayloadDict) -> bool:  # pragma: no cover - per subclass
        raise NotImplementedError

    def input_new_payload(self, payload: PayloadDict) -> bool:
        """:meth:`input` for a dict the tracker just made for this emitter alone: it is
        kept without a copy."""
        return self.input(payload)

    def _accept(self, payload: PayloadDict, *, new: bool = False) -> QueuedEvent | None:
        """Queue one event as upstream does (POST: every value as text; GET: the dict as
        it came); returns it, or None when it was dropped (and reported)."""
        if self.bytes_queued is not None:
            self.bytes_queued += len(str(payload))
        if self.method == "post":
            event = _stringify_in_place(payload) if new else stringify(payload)
        else:
            event = payload
        if self._closed:
            self.counters.drop("closed", [event], "emitter is closed")
            return None
        if not self.event_store.add_event(event):
            self.counters.drop(
                "queue_full", [event], f"buffer_capacity {self.buffer_capacity} reached"
            )
            return None
        return event

    def reached_limit(self) -> bool:
        """True when a batch is due: ``batch_size`` events, or ``byte_limit`` reached."""
        limit, queued = self.byte_limit, self.bytes_queued
        if limit is not None and queued is not None and queued >= limit:
            return True
        return int(self.event_store.size()) >= self.batch_size

    def _reset_bytes_queued(self) -> None:
        if self.bytes_queued is not None:
            self.bytes_queued = 0

    @property
    def buffer(self) -> list[PayloadDict]:
        """The events waiting (a copy), by the 0.x name; ``event_store`` holds them."""
        events = getattr(self.event_store, "event_buffer", None)
        return list(events) if events is not None else []

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
                f"to {self.parsed_endpoint.base} (last error: {self.counters.last_error})",
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
        self._reset_bytes_queued()
        self._results = threading.local()
        self.lock = threading.RLock()
        if self._own_session:
            self.session = private_session(self._pool_size)
            self.transport.replace_session(self.session)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.endpoint!r}, method={self.method!r}, "
            f"batch_size={self.batch_size})"
        )


#: Our emitter classes' own ``input`` functions (each module adds the ones it defines).
OWN_INPUTS: set[Any] = set()
