"""Group commit: one writer thread turns every waiting commit into one transaction.

Request handlers ``await`` :meth:`GroupCommitter.commit`; the thread takes all
jobs queued at that moment, hands them to ``write_batch`` (which stores them in
one transaction) and resolves each job's future on its own event loop. Under
load, many requests share one fsync; idle, a job is written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datacoral.storage.base import BadRow, CommitResult, GoodEvent, StorageError

log = logging.getLogger("datacoral.storage")


@dataclass(slots=True)
class CommitJob:
    """One ``commit()`` call waiting for the writer."""

    good: list[GoodEvent]
    bad: list[BadRow]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[CommitResult]


@dataclass(frozen=True, slots=True)
class GroupCommitStats:
    """Counters of a writer since it started."""

    commits: int  # commit() calls answered
    transactions: int  # transactions attempted
    failed_transactions: int
    largest_group: int  # most commit() calls answered by one transaction


#: Stores a batch; returns one result (or the error of that job alone) per job, in order.
#: Raising fails every job of the batch.
WriteBatch = Callable[[Sequence[CommitJob]], list[CommitResult | Exception]]

_STOP = object()


class GroupCommitter:
    """Owns the writer thread; ``write_batch`` and ``idle`` run only on it."""

    def __init__(
        self,
        write_batch: WriteBatch,
        *,
        idle: Callable[[], None] | None = None,
        idle_interval: float = 1.0,
        name: str = "datacoral-writer",
    ) -> None:
        self._write_batch = write_batch
        self._idle = idle
        self._idle_interval = idle_interval
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._state_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._commits = 0
        self._transactions = 0
        self._failed = 0
        self._largest = 0

    def start(self) -> None:
        self._thread.start()

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        """Queue one request's records and wait until their transaction committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommitResult] = loop.create_future()
        with self._state_lock:
            # Checked under the lock so no job can slip in behind the stop marker.
            if self._closed:
                raise StorageError("storage is closed")
            self._queue.put(CommitJob(good, bad, loop, future))
        return await future

    def stop(self, timeout: float | None = None) -> None:
        """Write every job queued so far, then end the thread."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stats(self) -> GroupCommitStats:
        return GroupCommitStats(
            commits=self._commits,
            transactions=self._transactions,
            failed_transactions=self._failed,
            largest_group=self._largest,
        )

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._idle_interval)
            except queue.Empty:
                self._call_idle()
                continue
            jobs: list[CommitJob] = []
            item = first
            while True:
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, CommitJob)
                jobs.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if jobs:
                self._write(jobs)
        self._call_idle()

    def _write(self, jobs: list[CommitJob]) -> None:
        self._transactions += 1
        try:
            results = self._write_batch(jobs)
        except BaseException as exc:
            self._failed += 1
            if not isinstance(exc, StorageError):
                log.exception("storage writer failed on an unexpected error")
            _resolve([(job, None, _waiter_error(exc)) for job in jobs])
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt / SystemExit on this thread: let it end
            return
        self._commits += len(jobs)
        self._largest = max(self._largest, len(jobs))
        _resolve(
            [
                (job, None, result) if isinstance(result, Exception) else (job, result, None)
                for job, result in zip(jobs, results, strict=True)
            ]
        )

    def _call_idle(self) -> None:
        if self._idle is None:
            return
        try:
            self._idle()
        except Exception:
            # Idle work is housekeeping (e.g. key last-used times); it retries later.
            log.warning("storage housekeeping failed; will retry", exc_info=True)


def _waiter_error(exc: BaseException) -> Exception:
    """The error one waiter sees: a fresh copy of storage errors, so the tracebacks
    of different requests do not pile up on one object."""
    if isinstance(exc, StorageError):
        copy = type(exc)(*exc.args)
        copy.__cause__ = exc.__cause__
        return copy
    if isinstance(exc, Exception):
        return exc
    return StorageError(f"storage writer stopped: {exc!r}")


_Outcome = tuple[CommitJob, CommitResult | None, BaseException | None]


def _resolve(outcomes: list[_Outcome]) -> None:
    """Settle each job's future on its own event loop: one wake-up per loop, not per job
    (every ``call_soon_threadsafe`` writes to the loop's wake-up pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, settled in by_loop.items():
        # A closed event loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, settled)


def _settle(outcomes: list[_Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.done():  # the request was cancelled meanwhile
            continue
        if error is not None:
            job.future.set_exception(error)
        elif result is not None:
            job.future.set_result(result)
