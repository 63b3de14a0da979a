"""The metrics' own work per request, measured alone in this process (no server, no I/O).

A do-nothing ASGI app (reads the body, answers ``ok``) is called many times bare and
wrapped in :class:`~datacoral.collector.middleware.MetricsMiddleware`; for POST a
commit of 50 events also goes through
:class:`~datacoral.collector.metered_storage.MeteredStorage` around a storage that
commits nothing. The difference in CPU time per call is what metrics add to a
request, whatever the machine is doing otherwise (the best of several repeats).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from datacoral.collector.metered_storage import MeteredStorage
from datacoral.collector.metrics import CollectorMetrics
from datacoral.collector.middleware import MetricsMiddleware
from datacoral.storage.base import BadRow, CommitResult, GoodEvent

CALLS = 20_000
REPEATS = 5
_EVENTS = [
    GoodEvent(
        event_id="00000000-0000-4000-8000-000000000000",
        environment="dev",
        fingerprint=b"",
        platform="web",
        event="unstruct",
        collector_tstamp=0,
        derived_tstamp=0,
    )
] * 50


class _NoStorage:
    """Commits nothing, at once."""

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        return CommitResult(stored=len(good), duplicates=0, conflicts=0, bad_rows=len(bad))


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["method"] == "POST":
        await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _scope(method: str) -> dict[str, Any]:
    path = "/com.snowplowanalytics.snowplow/tp2" if method == "POST" else "/i"
    return {"type": "http", "method": method, "path": path, "headers": []}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"x" * 35_000, "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _calls(method: str, metrics: CollectorMetrics | None, calls: int) -> float:
    """CPU seconds per call of the app (and, for POST, one commit of 50 events)."""
    scope = _scope(method)
    app: Any = _app if metrics is None else MetricsMiddleware(_app, metrics=metrics)
    storage: Any = _NoStorage()
    if metrics is not None:
        storage = MeteredStorage(storage, metrics, target="sqlite")
    started = time.process_time()
    for _ in range(calls):
        await app(scope, _receive, _send)
        if method == "POST":
            await storage.commit(_EVENTS, [])
    return (time.process_time() - started) / calls


def added_microseconds(method: str, calls: int = CALLS) -> float:
    """What metrics add to one request of ``method`` (GET or POST), in µs of CPU."""
    metrics = CollectorMetrics()

    async def measure() -> float:
        bare = min([await _calls(method, None, calls) for _ in range(REPEATS)])
        metered = min([await _calls(method, metrics, calls) for _ in range(REPEATS)])
        return (metered - bare) * 1e6

    return asyncio.run(measure())
