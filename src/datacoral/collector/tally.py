"""Counting events that come in bursts, and logging them at most once per interval.

A flood of refused connections must be visible in the log without flooding it:
the first event of a quiet period is logged at once, the ones that follow within
the interval are counted and logged together when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
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
