"""Emitter (sends on the caller's thread); AsyncEmitter and AsyncioEmitter live in
:mod:`snowplow_tracker.async_emitter` and are importable from here too, as upstream's are.

All of them keep events in a bounded store, send them in batches, retry with backoff,
report what they give up, flush at exit and survive ``fork()``. Positional
orders are upstream 1.x's; Datacoral options (``api_key``, ``datacoral_env``,
``buffer_size``, ``post_path``, ``headers``) and delivery options are keyword-only.
This module also has upstream's module-level names (``DEFAULT_MAX_LENGTH``,
``PAYLOAD_DATA_SCHEMA``, ``PROTOCOLS``, ``METHODS``, ``FlushTimer``, ``Requester``,
``logger``) and, for the 0.x call sites, ``RedisEmitter``.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

import logging
import time

import requests

from snowplow_tracker.base_emitter import (
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_EVENT_AGE,
    OWN_INPUTS,
    BaseEmitter,
)
from snowplow_tracker.constants import PAYLOAD_DATA_SCHEMA
from snowplow_tracker.contracts import one_of as one_of
from snowplow_tracker.delivery import RoundOutcome
from snowplow_tracker.emitter_options import positive_float
from snowplow_tracker.event_store import EventStore, InMemoryEventStore
from snowplow_tracker.flush_timer import FlushTimer
from snowplow_tracker.reports import DeliveryReport
from snowplow_tracker.self_describing_json import SelfDescribingJson as SelfDescribingJson
from snowplow_tracker.transport import Requester
from snowplow_tracker.typing import DropCallback, FailureCallback, PayloadDict, SuccessCallback
from snowplow_tracker.typing import EmitterProtocol as EmitterProtocol
from snowplow_tracker.typing import HttpProtocol as HttpProtocol
from snowplow_tracker.typing import Method as Method
from snowplow_tracker.typing import PayloadDictList as PayloadDictList

#: The package's logger (upstream's ``emitters.logger``); it has a NullHandler only.
logger = logging.getLogger("snowplow_tracker")

#: Upstream's default POST batch size.
DEFAULT_MAX_LENGTH = 10
PROTOCOLS = {"http", "https"}
METHODS = {"get", "post"}


class Emitter(BaseEmitter):
    """Sends on the calling thread once a batch is full, as upstream's Emitter does.

    A request is bounded by ``request_timeout`` (default 5 s connect, 15 s read).
    After a retryable failure the events stay queued and ``retry_timer`` flushes
    after the backoff; ``track()`` never raises on delivery problems.
    ``byte_limit`` is upstream's flush trigger; ``max_request_bytes`` (default
    900,000) caps the size of any one request body.
    """

    def __init__(
        self,
        endpoint: str,
        protocol: str = "https",
        port: int | None = None,
        method: str = "post",
        batch_size: int | None = None,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        byte_limit: int | None = None,
        request_timeout: float | tuple[float, float] | None = None,
        max_retry_delay_seconds: float = 60,
        buffer_capacity: int | None = None,
        custom_retry_codes: dict[int, bool] | None = None,
        event_store: EventStore | None = None,
        session: requests.Session | None = None,
        *,
        buffer_size: int | None = None,
        max_request_bytes: int | None = None,
        post_path: str | None = None,
        headers: dict[str, str] | None = None,
        api_key: str | list[str] | None = None,
        datacoral_env: str | None = None,
        on_drop: DropCallback | None = None,
        max_event_age: float | None = DEFAULT_MAX_EVENT_AGE,
        flush_at_exit: bool = True,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
    ) -> None:
        super().__init__(
            endpoint,
            protocol=protocol,
            port=port,
            method=method,
            batch_size=batch_size,
            buffer_size=buffer_size,
            on_success=on_success,
            on_failure=on_failure,
            on_drop=on_drop,
            byte_limit=byte_limit,
            max_request_bytes=max_request_bytes,
            request_timeout=request_timeout,
            max_retry_delay_seconds=max_retry_delay_seconds,
            buffer_capacity=buffer_capacity,
            custom_retry_codes=custom_retry_codes,
            event_store=event_store,
            session=session,
            pool_size=1,
            post_path=post_path,
            headers=headers,
            api_key=api_key,
            datacoral_env=datacoral_env,
            max_event_age=max_event_age,
            flush_at_exit=flush_at_exit,
            exit_timeout=exit_timeout,
        )
        self._init_timers()

    def _init_timers(self) -> None:
        #: Flushes every ``set_flush_timer`` seconds while active.
        self.timer = FlushTimer(self, repeating=True)
        #: Flushes once the backoff after a retryable failure is over.
        self.retry_timer = FlushTimer(self, repeating=False)

    def input(self, payload: PayloadDict) -> bool:
        """Queue one event; sends the batch inline once it is full.

        Returns False when the event was dropped (queue full or emitter closed).
        """
        if self._accept(payload) is None:
            return False
        if self.reached_limit():
            self.flush()
        return True

    def input_new_payload(self, payload: PayloadDict) -> bool:
        if self._accept(payload, new=True) is None:
            return False
        if self.reached_limit():
            self.flush()
        return True

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Send what is queued now, batch by batch through ``send_events``.

        Without ``timeout``: one pass; after a retryable failure the rest waits
        for ``retry_timer``. With ``timeout``: keeps retrying (honouring the
        backoff) until everything is sent or the deadline passes.
        """
        self._reset_bytes_queued()
        if timeout is not None:
            self._drain_inline(time.monotonic() + timeout)
        else:
            while self.delivery.send_round(self.send_events) is RoundOutcome.SENT:
                pass
        self._arm_retry()
        return self.report()

    def _drain_inline(self, deadline: float) -> None:
        """Send on this thread until nothing is pending or the deadline passes."""
        while self.delivery.pending() > 0:
            outcome = self.delivery.send_round(self.send_events)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if outcome is RoundOutcome.BACKOFF:
                time.sleep(min(self.delivery.backoff_remaining(), left))
            elif outcome is RoundOutcome.EMPTY and self.delivery.in_flight() > 0:
                time.sleep(min(0.01, left))

    def _after_send(self, outcome: RoundOutcome) -> None:
        if outcome is RoundOutcome.BACKOFF:
            self._arm_retry()

    def _arm_retry(self) -> None:
        if self._closed or self.delivery.pending() == 0:
            return
        wait = self.delivery.backoff_remaining()
        if wait > 0:
            self.retry_timer.start(wait)

    def sync_flush(self, timeout: float | None = DEFAULT_FLUSH_TIMEOUT) -> DeliveryReport:
        """Send everything, retrying until done or ``timeout`` seconds passed."""
        return self.flush(timeout=timeout)

    def async_flush(self) -> None:
        """Upstream's no-op on the sync emitter."""

    def close(self, timeout: float | None = DEFAULT_EXIT_TIMEOUT) -> DeliveryReport:
        """Flush within ``timeout`` and stop; idempotent. Returns the final report."""
        if self._final_report is not None:
            return self._final_report
        self.timer.cancel()
        self.flush(timeout=timeout if timeout is not None else DEFAULT_EXIT_TIMEOUT)
        self._closed = True
        self.retry_timer.cancel()
        return self._finish_close()

    def set_flush_timer(self, timeout: float) -> None:
        """Also flush every ``timeout`` seconds from a background timer."""
        interval = positive_float("timeout", timeout, allow_none=False)
        assert interval is not None
        self.timer.cancel()
        self.timer.start(interval)

    def cancel_flush_timer(self) -> None:
        """Stop the timer started by :meth:`set_flush_timer`."""
        self.timer.cancel()

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._init_timers()


OWN_INPUTS.add(Emitter.input)

# Upstream 1.x users import AsyncEmitter from this module.
from snowplow_tracker.async_emitter import AsyncEmitter, AsyncioEmitter  # noqa: E402


def __getattr__(name: str) -> object:
    # The 0.x RedisEmitter lived here; imported on first use (it needs the redis extra).
    if name == "RedisEmitter":
        from snowplow_tracker.redis_queue import RedisEmitter

        return RedisEmitter
    raise AttributeError(f"module 'snowplow_tracker.emitters' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_LENGTH",
    "METHODS",
    "PAYLOAD_DATA_SCHEMA",
    "PROTOCOLS",
    "AsyncEmitter",
    "AsyncioEmitter",
    "Emitter",
    "FlushTimer",
    "InMemoryEventStore",
    "Requester",
    "logger",
]
