"""Emitter (sends on the caller's thread); AsyncEmitter and AsyncioEmitter live in
:mod:`snowplow_tracker.async_emitter` and are importable from here too, as upstream's are.

All of them keep events in a bounded store, send them in batches, retry with backoff,
report what they give up, flush at exit and survive ``fork()``. Positional
orders are upstream 1.x's; Datacoral options (``api_key``, ``datacoral_env``,
``buffer_size``, ``post_path``, ``headers``) and delivery options are keyword-only.
"""

from __future__ import annotations

import threading
import time

import requests

# Upstream 1.x users import AsyncEmitter from this module.
from snowplow_tracker.async_emitter import AsyncEmitter, AsyncioEmitter
from snowplow_tracker.base_emitter import (
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_EVENT_AGE,
    BaseEmitter,
)
from snowplow_tracker.delivery import RoundOutcome
from snowplow_tracker.emitter_options import positive_float
from snowplow_tracker.event_store import EventStore
from snowplow_tracker.reports import DeliveryReport
from snowplow_tracker.typing import DropCallback, FailureCallback, PayloadDict, SuccessCallback

__all__ = ["AsyncEmitter", "AsyncioEmitter", "Emitter"]


class Emitter(BaseEmitter):
    """Sends on the calling thread once a batch is full, as upstream's Emitter does.

    A request is bounded by ``request_timeout`` (default 5 s connect, 15 s read).
    After a retryable failure the events stay queued and a one-shot timer retries
    after the backoff; ``track()`` never raises on delivery problems.
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
        self._timer_lock = threading.Lock()
        self._retry_timer: threading.Timer | None = None
        self._flush_timer: threading.Timer | None = None
        self._flush_interval: float | None = None

    def input(self, payload: PayloadDict) -> bool:
        """Queue one event; sends the batch inline once it is full.

        Returns False when the event was dropped (queue full or emitter closed).
        """
        if self._accept(payload) is None:
            return False
        if self.reached_limit():
            self.flush()
        return True

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Send what is queued now.

        Without ``timeout``: one pass; after a retryable failure the rest waits
        for the retry timer. With ``timeout``: keeps retrying (honouring the
        backoff) until everything is sent or the deadline passes.
        """
        self._pending_bytes = 0
        if timeout is not None:
            self._drain_inline(time.monotonic() + timeout)
        else:
            while True:
                outcome = self.delivery.send_round()
                if outcome is not RoundOutcome.SENT:
                    break
        if self.delivery.backoff_remaining() > 0 and self.delivery.pending() > 0:
            self._schedule_retry(self.delivery.backoff_remaining())
        return self.report()

    def sync_flush(self, timeout: float | None = DEFAULT_FLUSH_TIMEOUT) -> DeliveryReport:
        """Send everything, retrying until done or ``timeout`` seconds passed."""
        return self.flush(timeout=timeout)

    def async_flush(self) -> None:
        """Upstream's no-op on the sync emitter."""

    def close(self, timeout: float | None = DEFAULT_EXIT_TIMEOUT) -> DeliveryReport:
        """Flush within ``timeout`` and stop; idempotent. Returns the final report."""
        if self._final_report is not None:
            return self._final_report
        self.cancel_flush_timer()
        self.flush(timeout=timeout if timeout is not None else DEFAULT_EXIT_TIMEOUT)
        with self._timer_lock:
            if self._retry_timer is not None:
                self._retry_timer.cancel()
                self._retry_timer = None
        return self._finish_close()

    def _schedule_retry(self, delay: float) -> None:
        with self._timer_lock:
            if self._closed or self._retry_timer is not None:
                return
            timer = threading.Timer(delay, self._retry_now)
            timer.daemon = True
            self._retry_timer = timer
        try:
            timer.start()
        except RuntimeError:  # interpreter shutting down: the exit hook sends instead
            with self._timer_lock:
                self._retry_timer = None

    def _retry_now(self) -> None:
        with self._timer_lock:
            self._retry_timer = None
        if not self._closed:
            self.flush()

    def set_flush_timer(self, timeout: float) -> None:
        """Also flush every ``timeout`` seconds from a background timer."""
        interval = positive_float("timeout", timeout, allow_none=False)
        with self._timer_lock:
            self._flush_interval = interval
        self._arm_flush_timer()

    def _arm_flush_timer(self) -> None:
        with self._timer_lock:
            if self._flush_interval is None or self._closed:
                return
            timer = threading.Timer(self._flush_interval, self._periodic_flush)
            timer.daemon = True
            self._flush_timer = timer
        timer.start()

    def _periodic_flush(self) -> None:
        self.flush()
        self._arm_flush_timer()

    def cancel_flush_timer(self) -> None:
        """Stop the timer started by :meth:`set_flush_timer`."""
        with self._timer_lock:
            self._flush_interval = None
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._timer_lock = threading.Lock()
        self._retry_timer = None
        self._flush_timer = None
        self._flush_interval = None
