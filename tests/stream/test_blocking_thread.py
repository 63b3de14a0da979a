"""BlockingThread: the loader's PostgreSQL calls, one at a time on a daemon thread.

Real threads and a real subprocess: calls run in order off the event loop, a call
given up on goes on while the next waits for it, a call cancelled before it
started never runs, and a process exits although a call never returns.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial

import pytest

from datacoral.loader.blocking import BlockingThread
from tests.support.subprocesses import ROOT

WAIT = 10.0  # seconds any real wait in these tests may take at most


def test_calls_run_in_order_on_one_thread_off_the_event_loop() -> None:
    ran: list[tuple[int, str]] = []

    def work(number: int) -> int:
        ran.append((number, threading.current_thread().name))
        return number * 2

    async def main() -> list[int]:
        database = BlockingThread("test-db")
        try:
            calls = [database.call(partial(work, number)) for number in range(5)]
            return list(await asyncio.gather(*calls))
        finally:
            database.stop()

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert ran == [(n, "test-db") for n in range(5)]


def test_an_error_reaches_the_caller_and_the_thread_goes_on() -> None:
    def fail() -> None:
        raise LookupError("no such row")

    async def main() -> str:
        database = BlockingThread("test-db")
        try:
            with pytest.raises(LookupError, match="no such row"):
                await database.call(fail)
            return await database.call(lambda: "next")
        finally:
            database.stop()

    assert asyncio.run(main()) == "next"


def test_a_call_given_up_goes_on_and_the_next_waits_for_it() -> None:
    gate = threading.Event()
    finished: list[tuple[str, bool]] = []

    def slow() -> None:
        assert gate.wait(WAIT)
        finished.append(("slow", gate.is_set()))

    async def main() -> None:
        database = BlockingThread("test-db")
        try:
            with pytest.raises(asyncio.TimeoutError):
                await database.call(slow, timeout=0.1)
            following = database.call(lambda: finished.append(("next", gate.is_set())))
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, gate.set)
            await asyncio.wait_for(following, WAIT)
        finally:
            database.stop()

    asyncio.run(main())
    assert finished == [("slow", True), ("next", True)]  # the next one waited for the gate


def test_a_call_cancelled_before_it_started_never_runs() -> None:
    entered, gate = threading.Event(), threading.Event()
    ran: list[str] = []

    def first_call() -> bool:
        entered.set()
        return gate.wait(WAIT)

    async def main() -> None:
        database = BlockingThread("test-db")
        try:
            first = asyncio.ensure_future(database.call(first_call))
            second = asyncio.ensure_future(database.call(lambda: ran.append("second")))
            assert await asyncio.to_thread(entered.wait, WAIT)  # the second is queued
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            gate.set()
            assert await first is True
            await database.call(lambda: ran.append("third"))
        finally:
            database.stop()

    asyncio.run(main())
    assert ran == ["third"]


def test_a_call_that_does_not_return_is_reported_while_it_is_waited_for() -> None:
    gate = threading.Event()
    reports: list[float] = []

    async def main() -> None:
        database = BlockingThread("test-db")
        try:
            call = asyncio.ensure_future(
                database.call(lambda: gate.wait(WAIT), waiting=reports.append, every=0.1)
            )
            deadline = time.monotonic() + WAIT
            while len(reports) < 3:  # polled, with a deadline
                assert not call.done() and time.monotonic() < deadline
                await asyncio.sleep(0.05)
            gate.set()
            assert await call is True
            after = len(reports)
            await asyncio.sleep(0.3)  # three reporting periods: none may come now
            assert len(reports) == after
        finally:
            database.stop()

    asyncio.run(main())
    assert reports == sorted(reports) and reports[0] >= 0.1


def test_stop_signals_go_to_the_main_thread_not_to_the_calls() -> None:
    async def main() -> set[int]:
        database = BlockingThread("test-db")
        try:
            return await database.call(lambda: signal.pthread_sigmask(signal.SIG_BLOCK, []))
        finally:
            database.stop()

    blocked = asyncio.run(main())
    assert {signal.SIGTERM, signal.SIGINT} <= blocked
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # not here


def test_a_process_exits_although_a_call_never_returns() -> None:
    code = """
        import asyncio, threading
        from datacoral.loader.blocking import BlockingThread

        async def main():
            database = BlockingThread("test-db")
            try:
                await database.call(threading.Event().wait, timeout=0.2)  # never set
            except asyncio.TimeoutError:
                print("given up", flush=True)
            database.stop()

        asyncio.run(main())
        print("returned", flush=True)
    """
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=WAIT + 20,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["given", "up", "returned"]
    assert time.monotonic() - started < WAIT
