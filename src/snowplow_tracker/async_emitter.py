"""AsyncEmitter (sends from background threads) and AsyncioEmitter (the same for asyncio).

``input()`` queues and returns; sender threads batch, send, retry with backoff
and report what they give up. Re-exported by :mod:`snowplow_tracker.emitters`,
where upstream 1.x has ``AsyncEmitter``; as upstream's, it is an ``Emitter``.
"""

from __future__ import annotations

import queue
import threading
import time

import requests

from snowplow_tracker._internal import report_internal_error
from snowplow_tracker.base_emitter import (
    DEFAULT_EXIT_TIMEOUT,
    DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_MAX_EVENT_AGE,
    OWN_INPUTS,
    BaseEmitter,
)
from snowplow_tracker.delivery import RoundOutcome
from snowplow_tracker.emitter_options import positive_float, positive_int
from snowplow_tracker.emitters import Emitter
from snowplow_tracker.event_store import EventStore
from snowplow_tracker.reports import DeliveryReport
from snowplow_tracker.typing import DropCallback, FailureCallback, PayloadDict, SuccessCallback


class AsyncEmitter(Emitter):
    """Sends from ``thread_count`` background threads; ``input()`` never touches the network.

    A full batch (``batch_size`` events, or ``byte_limit``) wakes a sender thread
    (a replaced ``flush()`` is called instead, as upstream calls it); ``flush()``
    hands all that waits to the sender threads through ``queue`` and returns.
    Partial batches go out ``flush_interval`` seconds (default 1) after the first of
    them was queued. ``flush(timeout=...)`` and ``sync_flush()`` wait until
    everything is delivered or the deadline passes. An exit hook closes the emitter
    within ``exit_timeout``.
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
        max_request_bytes: int | None = None,
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
        BaseEmitter.__init__(
            self,
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
            pool_size=self.thread_count,
            post_path=post_path,
            headers=headers,
            api_key=api_key,
            datacoral_env=datacoral_env,
            max_event_age=max_event_age,
            flush_at_exit=flush_at_exit,
            exit_timeout=exit_timeout,
        )
        self._init_timers()
        self._yield_above = self.buffer_capacity // 2
        self._init_threading()

    def _init_threading(self) -> None:
        #: Flush requests for the sender threads (upstream's ``queue``); ``join()``
        #: returns once every request so far was handled.
        self.queue: queue.Queue[None] = queue.Queue()
        self._progress = threading.Condition()
        self._start_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._flush_wanted = False
        self._batch_requested = False
        self._stopping = False
        # When the oldest event of a partial batch was queued (None: nothing waits).
        self._waiting_since: float | None = None

    # -- input -----------------------------------------------------------------------------

    def input(self, payload: PayloadDict) -> bool:
        """Queue one event and return at once; a full batch calls ``flush()``.

        Returns False when the event was dropped (queue full or emitter closed).
        """
        return self._queued(self._accept(payload) is not None)

    def input_new_payload(self, payload: PayloadDict) -> bool:
        return self._queued(self._accept(payload, new=True) is not None)

    def _queued(self, accepted: bool) -> bool:
        if not accepted:
            return False
        if not self._workers:
            self._start_workers()
        waiting = int(self.event_store.size())
        if self._waiting_since is None:
            self._waiting_since = time.monotonic()
        if self.reached_limit():
            if getattr(self.flush, "__func__", None) is not _FLUSH:
                self.flush()  # replaced (a test, a subclass): called at every full batch
            elif not self._batch_requested:
                # Our flush() would drain partial batches too; a full batch needs only
                # a sender thread awake.
                self._batch_requested = True
                self._reset_bytes_queued()
                self._wake()
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
                threading.Thread(target=self.consume, name=f"snowplow-sender-{i}", daemon=True)
                for i in range(self.thread_count)
            ]
            try:
                for worker in workers:
                    worker.start()
            except RuntimeError:  # interpreter shutting down: close() sends inline
                return
            self._workers = workers

    def _wake(self, threads: int = 1) -> None:
        for _ in range(max(0, min(threads, self.thread_count) - self.queue.qsize())):
            self.queue.put(None)

    # -- the sender threads ----------------------------------------------------------------

    def consume(self) -> None:
        """What each sender thread runs: take flush requests, send, until closed."""
        while True:
            try:
                self.queue.get(timeout=self._wait_time())
                requested = True
            except queue.Empty:
                requested = False
            self._batch_requested = False
            try:
                if self._closed or (self._stopping and self.delivery.pending() == 0):
                    return
                self._send_while_due()
            finally:
                if requested:
                    self.queue.task_done()
                self._notify_progress()

    def _send_while_due(self) -> None:
        while self._should_send():
            try:
                outcome = self.delivery.send_round(self.send_events)
            except Exception as exc:  # our own bug: keep the thread alive, slow down
                report_internal_error("sending events", exc)
                time.sleep(1.0)
                return
            if self.event_store.size() == 0:
                self._waiting_since = None
            if outcome is RoundOutcome.EMPTY:
                self._flush_wanted = False
                if self.reached_limit():  # an input() raced the reset: keep going
                    self._flush_wanted = True
                    continue
                return
            if outcome is RoundOutcome.BACKOFF:
                return
            self._notify_progress()

    def _should_send(self) -> bool:
        if self.delivery.backoff_remaining() > 0 or self.event_store.size() == 0:
            return False
        if self._flush_wanted or self._stopping or self.reached_limit():
            return True
        interval = self.flush_interval
        if interval is None:
            return False
        since = self._waiting_since
        if since is None:  # an input() raced a reset: count from now
            self._waiting_since = time.monotonic()
            return False
        return time.monotonic() - since >= interval

    def _wait_time(self) -> float | None:
        backoff = self.delivery.backoff_remaining()
        if backoff > 0:
            return backoff
        interval = self.flush_interval
        if interval is not None:
            since = self._waiting_since
            if since is None:
                return interval
            return max(0.01, interval - (time.monotonic() - since))
        if self._flush_wanted and self.event_store.size() > 0:
            return 0.05  # a flush was asked for while another thread held the events
        return None

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def _after_send(self, outcome: RoundOutcome) -> None:
        if outcome is RoundOutcome.BACKOFF:
            self._flush_wanted = True  # send what came back once the backoff is over

    # -- flush and close -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Ask the sender threads to send everything; wait up to ``timeout`` if given."""
        self._flush_wanted = True
        self._reset_bytes_queued()
        if not self._workers:
            self._start_workers()
        self._wake(self.thread_count)
        if timeout is not None:
            self._wait_until_sent(time.monotonic() + timeout)
        return self.report()

    def sync_flush(self, timeout: float | None = DEFAULT_FLUSH_TIMEOUT) -> DeliveryReport:
        """Send everything and wait until done or ``timeout`` seconds passed."""
        return self.flush(timeout=timeout if timeout is not None else DEFAULT_FLUSH_TIMEOUT)

    def async_flush(self) -> None:
        """Ask the sender threads to send everything, without waiting."""
        self.flush()

    def _wait_until_sent(self, deadline: float) -> None:
        if not self._workers:  # no thread could start: send here
            self._drain_inline(deadline)
            return
        with self._progress:
            while self.delivery.pending() > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._wake()
                self._progress.wait(min(left, 0.05))

    def close(self, timeout: float | None = DEFAULT_EXIT_TIMEOUT) -> DeliveryReport:
        """Deliver what is queued within ``timeout`` seconds, stop the threads; idempotent."""
        if self._final_report is not None:
            return self._final_report
        deadline = time.monotonic() + (timeout if timeout is not None else DEFAULT_EXIT_TIMEOUT)
        self.timer.cancel()
        self._stopping = True
        self._wait_until_sent(deadline)
        self._closed = True
        self._wake(self.thread_count)
        for worker in self._workers:
            worker.join(max(0.0, min(1.0, deadline - time.monotonic())))
        return self._finish_close()

    def set_flush_timer(self, timeout: float) -> None:
        """Send partial batches every ``timeout`` seconds (sets ``flush_interval``)."""
        self.flush_interval = positive_float("timeout", timeout, allow_none=False)
        self._wake()

    def cancel_flush_timer(self) -> None:
        """Send partial batches only on ``flush()`` and at exit."""
        self.flush_interval = None

    def _after_fork_in_child(self) -> None:
        super()._after_fork_in_child()
        self._closed = False
        self._final_report = None
        self._init_threading()


OWN_INPUTS.add(AsyncEmitter.input)
_FLUSH = AsyncEmitter.flush


class AsyncioEmitter(AsyncEmitter):
    """The AsyncEmitter for asyncio applications (FastAPI, aiohttp, ...).

    ``track()`` stays a plain call that never blocks the event loop; sending
    runs on a background thread, so no request handler waits on the network.
    Use ``await emitter.aflush()`` and ``await emitter.aclose()`` from coroutines.
    It can be created before or inside a running loop, and works across loops.
    """
