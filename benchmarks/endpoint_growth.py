"""Endpoint growth: batched POST throughput while the SQLite database grows to 5 M events.

``datacoral serve`` runs over a fresh SQLite file; the load generator
(``_endpoint_load.py``: wrk, else ``_pyload.py``) sends POST batches of 50
realistic events with fresh random event ids. Stored events per second are
sampled (counted in the database) when it holds 0, 20 %, 50 % and 100 % of
``--target-events`` (0, 1 M, 2.5 M, 5 M by default). Between samples the
database is filled as fast as possible by the same load generator driving the
same server (``--fill server``, the default), or, with ``--fill direct``, by
this process committing the same events through ``SQLiteStorage`` while the
server is stopped. Also reported: the database size per million events.

    python benchmarks/endpoint_growth.py [--target-events 5000000] [--sample-seconds 10]
                                         [--fill server|direct] [--smoke] [--strict]

Target: the stored events per second must not fall by more than a quarter
between the first sample and any later one. Exit status: 0 when every run
completed (``--strict``: and the target was met); 1 when something failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import _endpoint_load
from _endpoint_load import Load, LoadFailed, describe_generator, run
from _endpoint_payloads import BATCH_EVENTS, RequestTemplate, post_template
from _endpoint_servers import (
    Server,
    ServerFailed,
    bad_rows,
    create_database,
    database_bytes,
    datacoral_serve,
    settled_events,
)
from _report import machine_summary, number, table, verdict

SAMPLE_SHARES = (0.0, 0.2, 0.5, 1.0)
MAX_FALL = 0.25
#: Each fill run is at most this long, so that progress is printed regularly.
FILL_CHUNK_SECONDS = 30.0


@dataclass(frozen=True)
class Sample:
    """Throughput measured when the database held ``at_events``."""

    at_events: int
    stored: int
    seconds: float
    p99_ms: float
    errors: int
    database_bytes: int

    @property
    def events_per_second(self) -> float:
        return self.stored / self.seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-events", type=int, default=5_000_000)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--fill", choices=("server", "direct"), default="server")
    _endpoint_load.add_common_options(parser)
    args = parser.parse_args(argv)
    _endpoint_load.use_generator(args)
    if args.smoke:
        args.target_events, args.sample_seconds, args.connections = 20_000, 1.0, 4
    return args


class Growth:
    """One database, grown and sampled."""

    def __init__(self, args: argparse.Namespace, db: Path) -> None:
        self.args = args
        self.db = db
        self.key = create_database(db)
        self.template: RequestTemplate = post_template(self.key)
        self.started = time.monotonic()

    def progress(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.0f} s] {text}", flush=True)

    @contextmanager
    def server(self) -> Iterator[Server]:
        with datacoral_serve(self.db) as server:
            yield server

    def load(self, url: str, seconds: float) -> Load:
        return Load(url, self.template, self.args.connections, seconds)

    def sample(self, url: str) -> Sample:
        before = settled_events(self.db)
        result = run(self.load(url, self.args.sample_seconds))
        after = settled_events(self.db)
        return Sample(
            at_events=before,
            stored=after - before,
            seconds=result.duration,
            p99_ms=result.p99_ms,
            errors=result.errors,
            database_bytes=database_bytes(self.db),
        )

    def fill_by_server(self, url: str, target: int) -> None:
        count = settled_events(self.db)
        rate = 0.0
        while count < target:
            if rate > 0:
                seconds = min(FILL_CHUNK_SECONDS, max(1.0, (target - count) / rate))
            else:
                seconds = min(FILL_CHUNK_SECONDS, 5.0)
            result = run(self.load(url, seconds))
            now = settled_events(self.db)
            rate = (now - count) / result.duration if result.duration else 0.0
            if now == count:
                raise LoadFailed("the endpoint stored nothing while filling")
            count = now
            self.progress(f"filled to {count:,} events ({rate:,.0f} events/s)")

    def fill_directly(self, target: int) -> None:
        """Commit the benchmark's events through SQLiteStorage in this process."""
        from datacoral.collector.enrich import Arrival
        from datacoral.collector.events import sort_events
        from datacoral.collector.protocol import split_body
        from datacoral.storage.sqlite import SQLiteStorage

        count = settled_events(self.db)

        async def commit_all(storage: SQLiteStorage, requests: int) -> None:
            arrival = Arrival("dev", int(time.time() * 1000), "127.0.0.1", "benchmark")
            commits = []
            for _ in range(requests):
                good, bad = sort_events(split_body(self.template.fresh_body()), arrival, {})
                commits.append(storage.commit(good, bad))
            await asyncio.gather(*commits)

        with SQLiteStorage(self.db) as storage:
            while count < target:
                requests = min(200, -(-(target - count) // BATCH_EVENTS))
                asyncio.run(commit_all(storage, requests))
                count += requests * BATCH_EVENTS
                if count % 200_000 < requests * BATCH_EVENTS:
                    self.progress(f"filled directly to {count:,} events")
        self.progress(f"filled directly to {settled_events(self.db):,} events")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# Endpoint growth — {machine_summary()}")
    print(f"load generator: {describe_generator()}")
    print(
        f"POST batches of {BATCH_EVENTS} events, {args.connections} connections,"
        f" {args.sample_seconds:g} s per sample; fill: {args.fill}"
    )
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="datacoral-growth-") as directory:
        growth = Growth(args, Path(directory) / "events.sqlite")
        try:
            for share in SAMPLE_SHARES:
                target = round(args.target_events * share)
                if args.fill == "server" or share == 0:
                    with growth.server() as server:
                        if args.fill == "server":
                            growth.fill_by_server(server.url, target)
                        samples.append(growth.sample(server.url))
                else:
                    growth.fill_directly(target)
                    with growth.server() as server:
                        samples.append(growth.sample(server.url))
                last = samples[-1]
                growth.progress(
                    f"sample at {last.at_events:,} events: {last.events_per_second:,.0f}"
                    " stored events/s"
                )
        except (ServerFailed, LoadFailed) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        bad = bad_rows(growth.db)
        final_events = settled_events(growth.db)
        final_bytes = database_bytes(growth.db)
    return report(args, samples, bad, final_events, final_bytes)


def report(
    args: argparse.Namespace,
    samples: list[Sample],
    bad: int,
    final_events: int,
    final_bytes: int,
) -> int:
    first = samples[0].events_per_second
    rows = [
        [
            number(s.at_events, 0),
            number(s.events_per_second, 0),
            f"{s.events_per_second / first:.0%}" if first else "—",
            number(s.p99_ms, 1),
            str(s.errors),
            number(s.database_bytes / 2**20, 0),
            number(s.database_bytes / s.at_events * 1e6 / 2**20, 0) if s.at_events else "—",
        ]
        for s in samples
    ]
    print()
    print(
        table(
            [
                "events stored before",
                "stored events/s",
                "vs first",
                "p99 ms",
                "errors",
                "file MiB",
                "MiB per M events",
            ],
            rows,
        )
    )
    lowest = min(s.events_per_second for s in samples)
    fall = 1 - lowest / first if first else 1.0
    errors = sum(s.errors for s in samples)
    per_million = final_bytes / final_events * 1e6 / 2**20 if final_events else 0.0
    checks = [
        (
            "largest fall of stored events/s from the first sample",
            f"{fall:.0%}",
            f"<= {MAX_FALL:.0%}",
            fall <= MAX_FALL,
        ),
        ("errors and bad rows", f"{errors} + {bad} bad rows", "0", errors == 0 and bad == 0),
    ]
    print()
    print(
        table(
            ["check", "measured", "target", "verdict"],
            [[name, got, want, verdict(ok)] for name, got, want, ok in checks],
        )
    )
    print()
    print(
        f"database: {final_events:,} events in {final_bytes / 2**20:,.0f} MiB"
        f" (file and WAL): {per_million:,.0f} MiB per million events"
    )
    if args.smoke:
        print("(smoke size: the figures mean nothing)")
    if args.strict and not all(ok for *_, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
