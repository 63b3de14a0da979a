"""Last-used times of API keys, gathered in memory and written in batches."""

from __future__ import annotations

import threading
import time


class KeyUsage:
    """Last-used times of API keys, gathered in memory and written in batches.

    Marking is a dict store (any thread); the writer takes the marks at most once
    per ``interval`` seconds, so a busy endpoint never writes once per request.
    """

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._marks: dict[str, int] = {}
        self._last_taken = time.monotonic()

    def mark(self, key_id: str, when_ms: int) -> None:
        with self._lock:
            self._marks[key_id] = when_ms

    def take(self, *, force: bool = False) -> dict[str, int]:
        """The marks to write now (empty unless due or ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not self._marks or (not force and now - self._last_taken < self._interval):
                return {}
            marks, self._marks = self._marks, {}
            self._last_taken = now
            return marks

    def put_back(self, marks: dict[str, int]) -> None:
        """Return marks whose write failed, keeping any newer ones."""
        with self._lock:
            for key_id, when in marks.items():
                if self._marks.get(key_id, 0) < when:
                    self._marks[key_id] = when
