"""What an emitter tells its user: counters, delivery reports and guarded callbacks."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snowplow_tracker.typing import DropCallback, FailureCallback, PayloadDictList, SuccessCallback

logger = logging.getLogger("snowplow_tracker")

#: Seconds between two log lines about dropped events.
DROP_LOG_INTERVAL = 1.0

#: Why an event was given up (keys of ``dropped``).
DROP_REASONS = (
    "queue_full",
    "rejected",
    "too_large",
    "expired",
    "shutdown",
    "closed",
    "redis_unavailable",
)


@dataclass(frozen=True)
class DeliveryReport:
    """Totals since the emitter was made: sent, still pending, dropped by reason."""

    sent: int
    pending: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def complete(self) -> bool:
        """True when nothing is pending."""
        return self.pending == 0


@dataclass(frozen=True)
class EmitterStats:
    """A snapshot of an emitter's counters (``emitter.stats()``)."""

    queued: int
    in_flight: int
    sent: int
    retried: int
    failed: int
    attempts: int
    dropped: dict[str, int]
    last_error: str | None


class Counters:
    """Thread-safe delivery counters and the user's callbacks, called safely."""

    def __init__(
        self,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        on_drop: DropCallback | None = None,
    ) -> None:
        self.on_success = on_success
        self.on_failure = on_failure
        self.on_drop = on_drop
        self.reset()

    def reset(self) -> None:
        """Fresh counters and lock (also used in a forked child)."""
        self._lock = threading.Lock()
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.attempts = 0
        self.dropped: dict[str, int] = {}
        self.last_error: str | None = None
        self._unlogged: dict[str, int] = {}
        self._last_drop_log = float("-inf")

    def attempt(self) -> None:
        with self._lock:
            self.attempts += 1

    def succeeded(self, count: int) -> None:
        with self._lock:
            self.sent += count

    def failed_attempt(self, count: int, error: str) -> None:
        with self._lock:
            self.failed += count
            self.last_error = error

    def report_round(self, delivered: PayloadDictList, undelivered: PayloadDictList) -> None:
        """Tell the user's callbacks about one round, as upstream does once per flush:
        ``on_success(delivered)``, then ``on_failure(len(delivered), undelivered)``."""
        if delivered and self.on_success is not None:
            call_guarded(self.on_success, delivered)
        if undelivered and self.on_failure is not None:
            call_guarded(self.on_failure, len(delivered), undelivered)

    def will_retry(self, count: int) -> None:
        with self._lock:
            self.retried += count

    def drop(self, reason: str, events: PayloadDictList, error: str | None = None) -> None:
        if not events:
            return
        now = time.monotonic()
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + len(events)
            if error is not None:
                self.last_error = error
            self._unlogged[reason] = self._unlogged.get(reason, 0) + len(events)
            if now - self._last_drop_log < DROP_LOG_INTERVAL:
                unlogged = None
            else:
                unlogged, self._unlogged = self._unlogged, {}
                self._last_drop_log = now
        if unlogged:
            # At most one line per interval: a full queue must not flood the log.
            summary = ", ".join(f"{count} {why}" for why, count in sorted(unlogged.items()))
            logger.warning("dropped event(s): %s%s", summary, f" (last: {error})" if error else "")
        if self.on_drop is not None:
            call_guarded(self.on_drop, reason, events)

    def dropped_copy(self) -> dict[str, int]:
        with self._lock:
            return dict(self.dropped)


def call_guarded(callback: Callable[..., Any], *args: Any) -> None:
    """Call a user's callback; an exception is logged and never stops delivery."""
    try:
        callback(*args)
    except Exception:
        logger.exception("callback %r raised; delivery goes on", callback)
