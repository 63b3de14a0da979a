"""``datacoral load --metrics-port``: the loader's progress and lag as Prometheus metrics.

Read from the loader's own counters (:class:`~datacoral.loader.progress.Progress`)
and its last look at the consumer's backlog at each scrape; nothing is counted
twice and the loading path does no extra work.

=================================================  ======================================
series                                             what
=================================================  ======================================
``datacoral_loader_messages_total``                messages (requests) written
``datacoral_loader_events_total{outcome}``         ``good`` (stored), ``duplicate`` (not
                                                   stored again), ``bad`` (bad rows, with
                                                   id conflicts)
``datacoral_loader_bad_rows_total{kind}``          the bad rows written, by their ``kind``
                                                   (id conflicts: ``duplicate_conflict``)
``datacoral_loader_redelivered_total``             messages delivered again after their
                                                   commit, and skipped
``datacoral_loader_fetches_total``                 pulls that brought messages
``datacoral_loader_failed_commits_total``          commits PostgreSQL refused (retried)
``datacoral_loader_undecodable_messages_total``    messages left for a newer loader
``datacoral_loader_lag_messages{state}``           the consumer's backlog when last asked:
                                                   ``waiting`` (not delivered yet),
                                                   ``in_flight`` (delivered, not acknowledged)
=================================================  ======================================

The lag is asked for after each batch and every ``load_report_interval_seconds``; it
is absent until the loader first asked.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

from datacoral.loader.loader import Loader
from datacoral.loader.progress import Lag, Progress


class LoaderMetrics:
    """A prometheus_client collector over one loader (the one :meth:`watch` names)."""

    def __init__(self) -> None:
        self._loader: Loader | None = None

    def watch(self, loader: Loader) -> None:
        """Report ``loader`` from now on."""
        self._loader = loader

    def registry(self) -> CollectorRegistry:
        """A registry with these metrics and the process's own (CPU, memory, open files)."""
        registry = CollectorRegistry()
        registry.register(self)
        ProcessCollector(registry=registry)
        return registry

    def describe(self) -> Iterator[Metric]:
        return self._families(Progress(), None)

    def collect(self) -> Iterator[Metric]:
        loader = self._loader
        if loader is None:
            return self._families(Progress(), None)
        return self._families(loader.progress, loader.last_lag)

    def _families(self, progress: Progress, lag: Lag | None) -> Iterator[Metric]:
        def counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
            return CounterMetricFamily(f"datacoral_loader_{name}", documentation, value=value)

        yield counter("messages", "Messages (requests) written into PostgreSQL.", progress.messages)
        events = CounterMetricFamily(
            "datacoral_loader_events",
            "Events written: good, duplicate (not stored again), bad (bad rows).",
            labels=["outcome"],
        )
        events.add_metric(["good"], progress.stored)
        events.add_metric(["duplicate"], progress.duplicates)
        events.add_metric(["bad"], progress.bad_rows + progress.conflicts)
        yield events
        bad_rows = CounterMetricFamily(
            "datacoral_loader_bad_rows", "Bad rows written, by kind.", labels=["kind"]
        )
        # A copy: the loader may add a kind meanwhile, on its own thread.
        for kind, count in sorted(progress.bad_kinds.copy().items()):
            bad_rows.add_metric([kind], count)
        yield bad_rows
        yield counter(
            "redelivered",
            "Messages delivered again after their commit, and skipped.",
            progress.skipped,
        )
        yield counter("fetches", "Pulls that brought messages.", progress.fetches)
        yield counter(
            "failed_commits", "Commits PostgreSQL refused (retried).", progress.failed_commits
        )
        yield counter(
            "undecodable_messages",
            "Messages of a format this loader does not read, left in the stream.",
            progress.undecodable,
        )
        backlog = GaugeMetricFamily(
            "datacoral_loader_lag_messages",
            "The consumer's backlog when the loader last asked.",
            labels=["state"],
        )
        if lag is not None:
            backlog.add_metric(["waiting"], lag.waiting)
            backlog.add_metric(["in_flight"], lag.in_flight)
        yield backlog
