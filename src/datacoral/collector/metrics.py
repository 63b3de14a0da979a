"""The collector's Prometheus metrics: what they are, how requests feed them, how they leave.

Requests feed them on the event loop through cheap tallies
(:mod:`datacoral.metrics.tallies`); :meth:`CollectorMetrics.flush` hands the
tallies to prometheus_client. One process serving (``datacoral serve``): every
scrape flushes first, so a scrape is exact. Workers of ``serve --workers N``: each
flushes every second into prometheus_client's multiprocess files, and the
supervisor's scrape sums them, so a scrape may lag the answers by a second.

==============================================  ==========================================
series                                          what
==============================================  ==========================================
``datacoral_requests_total{route,status}``      answered requests; ``route`` is ``events``
                                                (POST tp2), ``pixel`` (GET /i), ``health``,
                                                ``ready``, ``preflight`` (OPTIONS),
                                                ``admin`` (/admin/v1), ``micro`` (/micro),
                                                ``unmatched``, or ``front_door`` for what
                                                the front door refused before the routes
                                                saw it (503, 408, 414, 431, 400);
                                                ``status`` is ``none`` when the client left
                                                before an answer
``datacoral_request_seconds{route}``            from the request's head to its last byte
``datacoral_request_body_bytes{route}``         bodies as received (before decoding)
``datacoral_events_total{environment,outcome}`` ``good`` (stored; with ``--stream``:
                                                published), ``bad`` (stored as bad rows),
                                                ``duplicate`` (resent, not stored again)
``datacoral_bad_rows_total{environment,kind}``  bad rows by their ``kind``
``datacoral_commit_seconds{target}``            one request's commit (``sqlite``,
                                                ``postgres``; ``stream``: publish and
                                                acknowledgement), group commit wait included
``datacoral_storage_failures_total``            failed storage calls (``operation``:
``{target,operation}``                          ``commit``, or ``read`` of keys and
                                                environments); each answered 503
``datacoral_rate_limited_events_total``         events of requests refused (429) by a rate
``{environment,limit}``                         limit; ``limit`` is ``key`` or ``environment``
``datacoral_open_connections``                  connections open now (all workers)
==============================================  ==========================================
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector

from datacoral.config import Settings
from datacoral.metrics.tallies import CounterTally, HistogramTally
from datacoral.storage.base import BadRow, CommitResult, GoodEvent

#: Bucket bounds of the latency histograms, in seconds.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Bucket bounds of the body size histogram, in bytes (the default body limit is 1 MiB).
BYTES_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
#: Seconds between two flushes in a worker of ``serve --workers N``.
WORKER_FLUSH_SECONDS = 1.0
#: The ``kind`` of bad rows that storage made of events handed to it as good: ids it
#: would not store (the collector refuses those first) and values it cannot hold.
STORAGE_KIND = "storage_violation"
DUPLICATE_CONFLICT = "duplicate_conflict"
#: The ``route`` of answers the front door wrote itself, to requests the routes never saw.
FRONT_DOOR_ROUTE = "front_door"


def storage_target(settings: Settings) -> str:
    """What commits go to: ``stream``, ``sqlite`` or ``postgres`` (the ``target`` label)."""
    if settings.stream:
        return "stream"
    return "sqlite" if isinstance(settings.db, Path) else "postgres"


class CollectorMetrics:
    """Every metric of one collector process, the hot path's methods and the flush."""

    def __init__(self) -> None:
        requests = Counter(
            "datacoral_requests", "Requests answered.", ["route", "status"], registry=None
        )
        request_seconds = Histogram(
            "datacoral_request_seconds",
            "Seconds from a request's head to the end of its answer.",
            ["route"],
            buckets=SECONDS_BUCKETS,
            registry=None,
        )
        body_bytes = Histogram(
            "datacoral_request_body_bytes",
            "Bytes of request bodies as received.",
            ["route"],
            buckets=BYTES_BUCKETS,
            registry=None,
        )
        events = Counter(
            "datacoral_events",
            "Events committed: good, bad (stored as bad rows) or duplicate (not stored again).",
            ["environment", "outcome"],
            registry=None,
        )
        bad_rows = Counter(
            "datacoral_bad_rows",
            "Bad rows stored, by kind.",
            ["environment", "kind"],
            registry=None,
        )
        commit_seconds = Histogram(
            "datacoral_commit_seconds",
            "Seconds one request's records took to commit (with --stream: to be acknowledged).",
            ["target"],
            buckets=SECONDS_BUCKETS,
            registry=None,
        )
        failures = Counter(
            "datacoral_storage_failures",
            "Storage calls that failed (the request was answered 503).",
            ["target", "operation"],
            registry=None,
        )
        rate_limited = Counter(
            "datacoral_rate_limited_events",
            "Events of requests refused (429) by the rate limit of their key or environment.",
            ["environment", "limit"],
            registry=None,
        )
        self._open = Gauge(
            "datacoral_open_connections",
            "Connections open now.",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._metrics: list[MetricWrapperBase] = [
            requests,
            request_seconds,
            body_bytes,
            events,
            bad_rows,
            commit_seconds,
            failures,
            rate_limited,
            self._open,
        ]
        self.requests = CounterTally(requests)
        self.request_seconds = HistogramTally(request_seconds, SECONDS_BUCKETS)
        self.body_bytes = HistogramTally(body_bytes, BYTES_BUCKETS)
        self.events = CounterTally(events)
        self.bad_rows = CounterTally(bad_rows)
        self.commit_seconds = HistogramTally(commit_seconds, SECONDS_BUCKETS)
        self.failures = CounterTally(failures)
        self.rate_limited_events = CounterTally(rate_limited)
        self._tallies = (
            self.requests,
            self.request_seconds,
            self.body_bytes,
            self.events,
            self.bad_rows,
            self.commit_seconds,
            self.failures,
            self.rate_limited_events,
        )
        self._open_connections: Callable[[], int] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- the hot path (the event loop's thread) ---------------------------------------

    def request(self, route: str, status: int, seconds: float, body_bytes: int | None) -> None:
        """One answered request (``status`` 0: the client left before the answer)."""
        totals = self.requests.totals
        key = (route, status or "none")
        totals[key] = totals.get(key, 0) + 1
        self.request_seconds.observe((route,), seconds)
        if body_bytes is not None:
            self.body_bytes.observe((route,), body_bytes)

    def committed(
        self,
        target: str,
        good: list[GoodEvent],
        bad: list[BadRow],
        result: CommitResult,
        seconds: float,
    ) -> None:
        """One request's records committed, as ``result`` counts them."""
        self.commit_seconds.observe((target,), seconds)
        # One request's records belong to one environment (its key's).
        environment = good[0].environment if good else bad[0].environment if bad else None
        if environment is None:
            return
        events = self.events.totals
        for outcome, count in (
            ("good", result.stored),
            ("duplicate", result.duplicates),
            ("bad", result.bad_rows + result.conflicts),
        ):
            if count:
                key = (environment, outcome)
                events[key] = events.get(key, 0) + count
        if result.bad_rows or result.conflicts:
            kinds = self.bad_rows.totals
            for row in bad:
                key = (row.environment or environment, row.kind)
                kinds[key] = kinds.get(key, 0) + 1
            for kind, count in (
                (DUPLICATE_CONFLICT, result.conflicts),
                (STORAGE_KIND, result.bad_rows - len(bad)),
            ):
                if count > 0:
                    key = (environment, kind)
                    kinds[key] = kinds.get(key, 0) + count

    def front_door_answered(self, status: int) -> None:
        """An answer the front door wrote itself (a connection turned away, a head too
        large or too slow, a request that does not parse): ``route="front_door"``."""
        self.requests.add((FRONT_DOOR_ROUTE, status))

    def storage_failed(self, target: str, operation: str) -> None:
        """A storage call failed: ``operation`` is ``commit`` or ``read``."""
        self.failures.add((target, operation))

    def rate_limited(self, environment: str, limit: str, events: int) -> None:
        """A request of ``events`` events refused (429) by a rate limit (``key`` or
        ``environment``)."""
        self.rate_limited_events.add((environment, limit), events)

    def watch_connections(self, count: Callable[[], int]) -> None:
        """Where the open connections are counted (read at each flush)."""
        self._open_connections = count

    # -- publishing -------------------------------------------------------------------

    def flush(self) -> None:
        """Hand everything counted since the last flush to prometheus_client."""
        with self._lock:
            for tally in self._tallies:
                tally.flush()
            if self._open_connections is not None:
                self._open.set(self._open_connections())

    def registry(self) -> CollectorRegistry:
        """A registry for one serving process: flushes at each scrape; the process's
        own figures (CPU, memory, open files) beside ours."""
        registry = CollectorRegistry()
        registry.register(_FlushedFirst(self._metrics, self.flush))
        ProcessCollector(registry=registry)
        return registry

    def start_flushing(self, interval: float = WORKER_FLUSH_SECONDS) -> None:
        """Flush every ``interval`` seconds on a thread of its own (a worker's metrics)."""
        if self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(interval,), name="datacoral-metrics", daemon=True
        )
        self._flusher.start()

    def stop_flushing(self) -> None:
        """Stop the thread, then flush what is left."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            self._stop.set()
            flusher.join(5)
        self.flush()

    def _flush_every(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.flush()


class _FlushedFirst:
    """Our metrics as one prometheus_client collector that flushes before it is read."""

    def __init__(self, metrics: Iterable[MetricWrapperBase], flush: Callable[[], None]) -> None:
        self._metrics = list(metrics)
        self._flush = flush

    def describe(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield from metric.describe()

    def collect(self) -> Iterator[Metric]:
        self._flush()
        for metric in self._metrics:
            yield from metric.collect()
