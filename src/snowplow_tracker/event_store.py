"""Where events wait until they are delivered.

:class:`EventStore` is upstream's four-method protocol, so users' own stores keep
working. :class:`InMemoryEventStore` is the default: bounded, thread-safe, and it
counts events in flight against its capacity so that a failed batch can always
be put back. The durable store lives in :mod:`snowplow_tracker.sqlite_event_store`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Protocol, runtime_checkable

from snowplow_tracker.typing import PayloadDict, PayloadDictList

DEFAULT_BUFFER_CAPACITY = 10_000


@runtime_checkable
class EventStore(Protocol):
    """Upstream's protocol: add, take a batch, give back or forget a batch, count."""

    def add_event(self, payload: PayloadDict) -> bool:
        """Keep ``payload``; False when the store is full (the event is dropped)."""
        ...

    def get_events_batch(self) -> PayloadDictList:
        """Take events to send; they count as in flight until ``cleanup``."""
        ...

    def cleanup(self, batch: PayloadDictList, need_retry: bool) -> None:
        """Forget ``batch`` (sent or dropped), or put it back to be sent again."""
        ...

    def size(self) -> int:
        """Events waiting (not in flight)."""
        ...


@runtime_checkable
class LimitedBatchStore(EventStore, Protocol):
    """A store whose ``get_events_batch`` can take at most ``max_events`` (ours do),
    so that one round never claims the whole queue."""

    supports_batch_limit: bool

    def get_events_batch(self, max_events: int | None = None) -> PayloadDictList:
        """Take at most ``max_events`` events (all without a limit)."""
        ...


class InMemoryEventStore:
    """A bounded FIFO in memory.

    ``buffer_capacity`` bounds waiting plus in-flight events; ``add_event``
    returns False when it is reached. A batch put back after a failure goes to the
    front, keeping the original order. ``get_events_batch(max_events)`` takes at
    most that many events (all of them without an argument, as upstream).
    """

    supports_batch_limit = True

    def __init__(
        self,
        logger: logging.Logger | None = None,
        buffer_capacity: int = DEFAULT_BUFFER_CAPACITY,
    ) -> None:
        if isinstance(buffer_capacity, bool) or not isinstance(buffer_capacity, int):
            raise TypeError("buffer_capacity must be an int")
        if buffer_capacity < 1:
            raise ValueError(f"buffer_capacity must be at least 1, got {buffer_capacity}")
        self.logger = logger or logging.getLogger("snowplow_tracker")
        self.buffer_capacity = buffer_capacity
        self._events: deque[PayloadDict] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def event_buffer(self) -> list[PayloadDict]:
        """A copy of the waiting events (upstream exposed the list itself)."""
        with self._lock:
            return list(self._events)

    def add_event(self, payload: PayloadDict) -> bool:
        with self._lock:
            if len(self._events) + self._in_flight >= self.buffer_capacity:
                return False
            self._events.append(payload)
            return True

    def get_events_batch(self, max_events: int | None = None) -> PayloadDictList:
        with self._lock:
            if max_events is None or max_events >= len(self._events):
                batch = list(self._events)
                self._events.clear()
            else:
                batch = [self._events.popleft() for _ in range(max_events)]
            self._in_flight += len(batch)
            return batch

    def cleanup(self, batch: PayloadDictList, need_retry: bool) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - len(batch))
            if need_retry:
                self._events.extendleft(reversed(batch))

    def size(self) -> int:
        return len(self._events)  # one atomic read: no lock needed

    def in_flight(self) -> int:
        """Events taken by a sender and not yet cleaned up."""
        with self._lock:
            return self._in_flight

    def reset_after_fork(self) -> None:
        """Start empty in a forked child: the parent sends its own events.

        Called with no other thread alive, so it replaces the lock instead of
        taking it (another thread may have held it at the moment of the fork).
        """
        self._lock = threading.Lock()
        self._events = deque()
        self._in_flight = 0
