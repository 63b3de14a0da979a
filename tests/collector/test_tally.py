"""Tally: a burst of events is one log line at once, then one line with the count."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from datacoral.collector.tally import Tally


class Clock:
    """The two things Tally asks of its event loop, with time moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[..., None], tuple[Any, ...]]] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> object:
        self.timers.append((self.now + delay, callback, args))
        return object()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [timer for timer in self.timers if timer[0] <= self.now]
        self.timers = [timer for timer in self.timers if timer[0] > self.now]
        for _, callback, args in due:
            callback(*args)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    caplog.set_level(logging.WARNING, logger="datacoral.collector")
    logger = logging.getLogger("datacoral")
    propagate, logger.propagate = logger.propagate, True  # the server's config stops it
    yield lambda: [record.getMessage() for record in caplog.records]
    logger.propagate = propagate


def test_a_burst_is_logged_once_at_once_and_once_with_its_count(
    lines: Callable[[], list[str]],
) -> None:
    clock = Clock()
    loop = cast(asyncio.AbstractEventLoop, clock)
    tally = Tally(logging.WARNING, "refused %d connection(s), limit %d", interval=1.0)
    for _ in range(5):
        tally.add(loop, 10)
        clock.advance(0.1)
    assert lines() == ["refused 1 connection(s), limit 10"]
    clock.advance(0.6)  # the second ends: what was counted meanwhile is logged
    assert lines()[1:] == ["refused 4 connection(s), limit 10"]
    clock.advance(5)
    assert len(lines()) == 2  # nothing more to say
    tally.add(loop, 11)  # quiet for a while: logged at once
    assert lines()[2:] == ["refused 1 connection(s), limit 11"]


def test_client_noise_is_let_through_once_a_second_with_a_count() -> None:
    from datacoral.collector.tally import BurstFilter

    now = [100.0]
    burst = BurstFilter(clock=lambda: now[0])

    def passes(message: str) -> str | None:
        record = logging.LogRecord("uvicorn.error", logging.WARNING, "x", 1, message, None, None)
        return record.getMessage() if burst.filter(record) else None

    assert passes("Invalid HTTP request received.") == "Invalid HTTP request received."
    assert [passes("Invalid HTTP request received.") for _ in range(50)] == [None] * 50
    assert passes("Application startup complete.") == "Application startup complete."
    now[0] += 1.0
    assert passes("Invalid HTTP request received.") == (
        "Invalid HTTP request received. (50 more like it since the last such line)"
    )
    assert passes("Unsupported upgrade request.") == "Unsupported upgrade request."
