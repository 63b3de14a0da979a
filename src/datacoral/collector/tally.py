"""Counting events that come in bursts, and logging them at most once per interval.

A flood of refused connections must be visible in the log without flooding it:
the first event of a quiet period is logged at once, the ones that follow within
the interval are counted and logged together when it ends. :class:`BurstFilter`
does the same for the lines uvicorn writes per bad request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("datacoral.collector")


class Tally:
    """One kind of event, logged at most once per interval with how often it happened."""

    def __init__(self, level: int, message: str, interval: float = 1.0) -> None:
        self._level = level
        self._message = message  # %-format: the count first, then the arguments of add()
        self._interval = interval
        self._count = 0
        self._args: tuple[Any, ...] = ()
        self._quiet_until = -math.inf
        self._pending: asyncio.TimerHandle | None = None

    def add(self, loop: asyncio.AbstractEventLoop, *args: Any) -> None:
        """Count one event: logged now if the last line is an interval old, else later."""
        self._count += 1
        self._args = args
        if self._pending is not None:
            return
        delay = self._quiet_until - loop.time()
        if delay <= 0:
            self._flush(loop)
        else:
            self._pending = loop.call_later(delay, self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pending = None
        if self._count:
            logger.log(self._level, self._message, self._count, *self._args)
            self._count = 0
            self._quiet_until = loop.time() + self._interval


#: What uvicorn logs once per bad request a client sends: a flood of them must not
#: flood the log (the first of a second is logged, the rest counted into the next).
CLIENT_NOISE = frozenset(
    {
        "Invalid HTTP request received.",
        "Unsupported upgrade request.",
        "Invalid HTTP request",
    }
)


class BurstFilter(logging.Filter):
    """Let one record per message and ``interval`` through; count the rest.

    Only messages in ``messages`` (exactly, or starting with one of them) are
    limited; the record that ends a quiet interval says how many were left out.
    """

    def __init__(
        self,
        messages: frozenset[str] = CLIENT_NOISE,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._messages = messages
        self._interval = interval
        self._clock = clock
        self._next: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        key = next((m for m in self._messages if message.startswith(m)), None)
        if key is None:
            return True
        now = self._clock()
        if now < self._next.get(key, -math.inf):
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return False
        self._next[key] = now + self._interval
        skipped = self._skipped.pop(key, 0)
        if skipped:
            record.msg = f"{message} ({skipped} more like it since the last such line)"
            record.args = None
        return True
