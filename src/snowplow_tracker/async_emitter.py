"""AsyncEmitter (sends from background threads) and AsyncioEmitter (the same for asyncio).

``input()`` queues and returns; sender threads batch, send, retry with backoff
and report what they give up. Re-exported by :mod:`snowplow_tracker.emitters`,
where upstream 1.x has ``AsyncEmitter``.
"""

from __future__ import annotations

import threading
import time

import requests

from snowplow_tracker._internal import report_internal_error
from snowplow_tracker.base_emitter import (
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_EVENT_AGE,
    BaseEmitter,
)
from snowplow_tracker.delivery import RoundOutcome
from snowplow_tracker.emitter_options import positive_float, positive_int
from snowplow_tracker.event_store import EventStore
from snowplow_tracker.reports import DeliveryReport
from snowplow_tracker.typing import DropCallback, FailureCallback, PayloadDict, SuccessCallback


class AsyncEmitter(BaseEmitter):
    """Sends from ``thread_count`` background threads; ``input()`` never touches the network.

    Partial batches go out after ``flush_interval`` seconds (default 1). ``flush()``
    without a timeout only asks the threads to send (upstream behaviour); with a
    timeout, or through ``sync_flush()``, it waits until everything is delivered
    or the deadline passes. An exit hook closes the emitter within ``exit_timeout``.
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
        thread_count: int = 1,
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
        flush_interval: float | None = 1.0,
        flush_at_exit: bool = True,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT,
    ) -> None:
        self.thread_count = positive_int("thread_count", thread_count, allow_none=False) or 1
        self.flush_interval = positive_float("flush_interval", flush_interval)
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
            pool_size=self.thread_count,
            post_path=post_path,
            headers=headers,
            api_key=api_key,
            datacoral_env=datacoral_env,
            max_event_age=max_event_age,
            flush_at_exit=flush_at_exit,
            exit_timeout=exit_timeout,
        )
        self._yield_above = self.buffer_capacity // 2
        self._init_threading()

    def _init_threading(self) -> None:
        self._kick = threading.Event()
        self._progress = threading.Condition()
        self._start_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._flush_wanted = False
        self._stopping = False
        self._last_send = time.monotonic()

    # -- input -----------------------------------------------------------------------------

    def input(self, payload: PayloadDict) -> bool:
        """Queue one event and return at once; a full batch wakes a sender thread.

        Returns False when the event was dropped (queue full or emitter closed).
        """
        if self._accept(payload) is None:
            return False
        if not self._workers:
            self._start_workers()
        waiting = int(self.event_store.size())
        if not self._kick.is_set() and (
            waiting >= self.batch_size
            or (self.byte_limit is not None and self._pending_bytes >= self.byte_limit)
        ):
            self._kick.set()
        if waiting > self._yield_above and self.delivery.backoff_remaining() == 0:
            # A burst is outrunning a healthy endpoint: hand the GIL to the sender
            # threads for a moment instead of filling the queue until it drops events.
            time.sleep(0)
        return True

    def _start_workers(self) -> None:
        with self._start_lock:
            if self._workers or self._closed:
                return
            workers = [
                threading.Thread(target=self._run, name=f"snowplow-sender-{i}", daemon=True)
                for i in range(self.thread_count)
            ]
            try:
                for worker in workers:
                    worker.start()
            except RuntimeError:  # interpreter shutting down: close() sends inline
                return
            self._workers = workers

    # -- the sender threads ----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._kick.wait(self._wait_time())
            self._kick.clear()
            if self._stopping and self.delivery.pending() == 0:
                self._notify_progress()
                return
            while self._should_send():
                try:
                    outcome = self.delivery.send_round()
                except Exception as exc:  # our own bug: keep the thread alive, slow down
                    report_internal_error("sending events", exc)
                    self._kick.wait(1.0)
                    break
                if outcome is not RoundOutcome.SENT:
                    if outcome is RoundOutcome.EMPTY:
                        self._flush_wanted = False
                    break
                self._last_send = time.monotonic()
                self._notify_progress()
            self._notify_progress()

    def _should_send(self) -> bool:
        if self.delivery.backoff_remaining() > 0 or self.event_store.size() == 0:
            return False
        if self._flush_wanted or self._stopping or self.reached_limit():
            return True
        interval = self.flush_interval
        return interval is not None and time.monotonic() - self._last_send >= interval

    def _wait_time(self) -> float | None:
        backoff = self.delivery.backoff_remaining()
        if backoff > 0:
            return backoff
        if self.flush_interval is not None:
            return max(0.01, self.flush_interval - (time.monotonic() - self._last_send))
        return None

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    # -- flush and close -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Ask the sender threads to send everything; wait up to ``timeout`` if given."""
        self._flush_wanted = True
        self._pending_bytes = 0
        if not self._workers:
            self._start_workers()
        self._kick.set()
        if timeout is not None:
            self._wait_until_sent(time.monotonic() + timeout)
        return self.report()

    def sync_flush(self, timeout: float | None = DEFAULT_FLUSH_TIMEOUT) -> DeliveryReport:
        """Send everything and wait until done or ``timeout`` seconds passed."""
        return self.flush(timeout=timeout if timeout is not None else DEFAULT_FLUSH_TIMEOUT)

    def _wait_until_sent(self, deadline: float) -> None:
        if not self._workers:  # no thread could start: send here
            self._drain_inline(deadline)
            return
        with self._progress:
            while self.delivery.pending() > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._kick.set()
                self._progress.wait(min(left, 0.05))

    def close(self, timeout: float | None = DEFAULT_EXIT_TIMEOUT) -> DeliveryReport:
        """Deliver what is queued within ``timeout`` seconds, stop the threads; idempotent."""
        if self._final_report is not None:
            return self._final_report
        deadline = time.monotonic() + (timeout if timeout is not None else DEFAULT_EXIT_TIMEOUT)
        self._stopping = True
        self._wait_until_sent(deadline)
        self._closed = True
        self._kick.set()
        for worker in self._workers:
            worker.join(max(0.0, min(1.0, deadline - time.monotonic())))
        return self._finish_close()

    def set_flush_timer(self, timeout: float) -> None:
        """Send partial batches every ``timeout`` seconds (sets ``flush_interval``)."""
        self.flush_interval = positive_float("timeout", timeout, allow_none=False)
        self._kick.set()

    def cancel_flush_timer(self) -> None:
        """Send partial batches only on ``flush()`` and at exit."""
        self.flush_interval = None

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._closed = False
        self._final_report = None
        self._init_threading()


class AsyncioEmitter(AsyncEmitter):
    """The AsyncEmitter for asyncio applications (FastAPI, aiohttp, ...).

    ``track()`` stays a plain call that never blocks the event loop; sending
    runs on a background thread, so no request handler waits on the network.
    Use ``await emitter.aflush()`` and ``await emitter.aclose()`` from coroutines.
    It can be created before or inside a running loop, and works across loops.
    """
