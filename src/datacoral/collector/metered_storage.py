"""The storage as the routes see it when metrics are on: every commit timed and counted.

:class:`MeteredStorage` wraps the opened storage for :class:`~datacoral.collector.ingest.Ingest`
only; the lifespan still opens and closes the storage itself.
"""

from __future__ import annotations

import time

from datacoral.collector.metrics import CollectorMetrics
from datacoral.storage.base import (
    BadRow,
    CommitResult,
    EnvironmentRecord,
    GoodEvent,
    KeyRecord,
    Storage,
    StorageError,
)


class MeteredStorage:
    """``storage`` with its commits' latency, outcomes and failures counted in ``metrics``."""

    def __init__(self, storage: Storage, metrics: CollectorMetrics, *, target: str) -> None:
        self._storage = storage
        self._metrics = metrics
        self._target = target

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        started = time.perf_counter()
        try:
            result = await self._storage.commit(good, bad)
        except StorageError:
            self._metrics.storage_failed(self._target, "commit")
            raise
        self._metrics.committed(self._target, good, bad, result, time.perf_counter() - started)
        return result

    def open(self) -> None:
        self._storage.open()

    def close(self) -> None:
        self._storage.close()

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        return self._storage.lookup_key(key_hash)

    def environments(self) -> list[EnvironmentRecord]:
        return self._storage.environments()

    def is_ready(self) -> bool:
        return self._storage.is_ready()
