"""FlushTimer: calls an emitter's ``flush()`` later, once or repeatedly (upstream's helper).

Emitters expose two, as upstream's do: ``timer`` (repeating, started by
``set_flush_timer``) and ``retry_timer`` (one shot, started after a retryable
failure of the sync ``Emitter``). ``is_active()`` says whether one is scheduled.
"""

from __future__ import annotations

import threading
from typing import Any

from snowplow_tracker._internal import logger


class FlushTimer:
    """Schedules ``emitter.flush()`` on a daemon thread after ``timeout`` seconds."""

    def __init__(self, emitter: Any, repeating: bool) -> None:
        self.emitter = emitter
        self.repeating = repeating
        self.timer: threading.Timer | None = None
        self.lock = threading.RLock()

    def start(self, timeout: float) -> bool:
        """Schedule a flush; False (and nothing changes) when one is already scheduled."""
        with self.lock:
            if self.timer is not None:
                return False
            self._schedule(timeout)
            return True

    def cancel(self) -> None:
        """Unschedule; a flush already running finishes."""
        with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

    def is_active(self) -> bool:
        """True while a flush is scheduled."""
        with self.lock:
            return self.timer is not None

    def _fire(self, timeout: float) -> None:
        with self.lock:
            if self.repeating:
                self._schedule(timeout)
            else:
                self.timer = None
        try:
            self.emitter.flush()
        except Exception:  # a replaced flush() that raises must not end the timer thread loudly
            logger.exception("flush() called by a timer raised")

    def _schedule(self, timeout: float) -> None:
        timer = threading.Timer(timeout, self._fire, [timeout])
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError:  # interpreter shutting down: the exit hook sends instead
            self.timer = None
            return
        self.timer = timer

    def reset_after_fork(self) -> None:
        """In a forked child: nothing is scheduled (the parent's timer thread is gone)."""
        self.lock = threading.RLock()
        self.timer = None

    def __repr__(self) -> str:
        kind = "repeating" if self.repeating else "one-shot"
        return f"FlushTimer({kind}, active={self.is_active()})"


__all__ = ["FlushTimer"]
