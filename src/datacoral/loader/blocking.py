"""The loader's blocking calls (PostgreSQL's), off its event loop, on a daemon thread.

The event loop must never wait for PostgreSQL itself: a loop blocked in a database
call neither pulls, nor logs its progress, nor hears SIGTERM. ``asyncio.to_thread``
keeps the loop free, but its threads are joined when ``asyncio.run`` and the
interpreter end, so a call that never returns (a database behind a dead network, a
bug) would still keep the process from exiting after SIGTERM. Here the calls run one
at a time, in order (the loader has one connection), on a daemon thread; waiting for
one can be given up (a timeout, a cancellation) while it goes on, and the process can
exit with it still running. The thread blocks SIGTERM and SIGINT, so that the kernel
delivers them to the main thread, where Python runs signal handlers (see :mod:`.signals`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from datacoral.loader.signals import STOP_SIGNALS

T = TypeVar("T")

_Call = tuple["concurrent.futures.Future[Any]", Callable[[], Any]]


class BlockingThread:
    """A daemon thread running blocking calls for an event loop, one after another."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def call(
        self,
        work: Callable[[], T],
        *,
        timeout: float | None = None,
        waiting: Callable[[float], None] | None = None,
        every: float = 10.0,
    ) -> T:
        """``work()``'s result, computed on the thread; :class:`asyncio.TimeoutError`
        after ``timeout`` seconds (the call goes on, and the next waits for it).
        ``waiting(seconds)`` is told every ``every`` seconds until then (to log a
        database that stopped answering)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._start()
        self._calls.put((future, work))
        reporter = None if waiting is None else asyncio.ensure_future(_report(waiting, every))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        finally:
            if reporter is not None:
                reporter.cancel()

    def stop(self) -> None:
        """Let the thread end after the calls already asked for; does not wait for it."""
        with self._lock:
            if self._thread is not None:
                self._calls.put(None)
                self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        while (call := self._calls.get()) is not None:
            future, work = call
            if not future.set_running_or_notify_cancel():
                continue  # given up before it started
            try:
                result = work()
            except BaseException as exc:  # handed to the awaiting coroutine
                future.set_exception(exc)
            else:
                future.set_result(result)


async def _report(waiting: Callable[[float], None], every: float) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        waiting(time.monotonic() - started)
