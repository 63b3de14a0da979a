"""Endpoint throughput: ``datacoral serve`` against the bare-parse ceiling, in one run.

Starts ``datacoral serve`` over a fresh SQLite file (with a ``dev`` key) and the
ceiling (``_ceiling.py``: uvicorn + uvloop + httptools, read the body, parse it
with orjson, answer ``ok``), each in its own process, and drives both from a
separate load-generator process (wrk, else ``_pyload.py``) with keep-alive
connections:

- POST ``tp2`` batches of 50 realistic events (``e=ue`` with a base64 ``ue_px``
  and a ``cx`` context, a fresh random event id each);
- GET ``/i`` with one such event in the query string.

Rounds alternate ceiling and endpoint (C E C E ...) so that drift on a shared
machine hits both; the table shows medians, the ratios are the medians of the
per-round ratios. Stored events are counted in the
database after each run, never taken from answers. Then each endpoint workload
runs once more at a fixed rate of half its measured maximum, for the p99 target.

    python benchmarks/endpoint_throughput.py [--duration 10] [--connections 32] [--rounds 3]
                                             [--workers 1] [--smoke] [--strict]

``--workers N`` runs ``datacoral serve --workers N`` (N processes on one port); the
ceiling stays one process, so its ratios then compare N processes with one.

Exit status: 0 when every run completed (targets are reported as PASS/MISS;
``--strict`` makes a MISS exit 1); 1 when a server or the load generator failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _endpoint_load
from _endpoint_load import Load, LoadFailed, LoadResult, describe_generator, run
from _endpoint_payloads import RequestTemplate, get_template, post_template
from _endpoint_servers import (
    ServerFailed,
    bad_rows,
    ceiling,
    create_database,
    datacoral_serve,
    settled_events,
)
from _report import machine_summary, number, table, verdict

POST_TARGET = 0.15  # stored events/s, as a share of the ceiling's parsed events/s
GET_TARGET = 0.30  # answered requests/s, as a share of the ceiling's
P99_TARGET_MS = 100.0  # at half of the measured maximum load


@dataclass(frozen=True)
class Measured:
    """One load run and, for the endpoint, what the database gained meanwhile."""

    load: LoadResult
    events_per_request: int
    stored: int | None  # None for the ceiling, which stores nothing

    @property
    def events_per_second(self) -> float:
        if self.stored is None:
            return self.load.requests_per_second * self.events_per_request
        return self.stored / self.load.duration


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=3, help="ceiling/endpoint pairs")
    parser.add_argument(
        "--workers", type=int, default=1, help="datacoral serve --workers (processes)"
    )
    _endpoint_load.add_common_options(parser)
    args = parser.parse_args(argv)
    _endpoint_load.use_generator(args)
    if args.smoke:
        args.duration, args.connections, args.rounds = 1.0, 4, 1
    return args


class Bench:
    """The two servers, the key, and the database the endpoint writes."""

    def __init__(self, args: argparse.Namespace, db: Path, key: str) -> None:
        self.args = args
        self.db = db
        self.templates = {"POST": post_template(key), "GET": get_template(key)}

    def load(self, url: str, template: RequestTemplate, rate: float = 0.0) -> Load:
        return Load(
            url=url,
            template=template,
            connections=self.args.connections,
            duration=self.args.duration,
            rate=rate,
            threads=self.args.threads,
        )

    def on_ceiling(self, url: str, kind: str) -> Measured:
        template = self.templates[kind]
        return Measured(run(self.load(url, template)), template.events_per_request, None)

    def on_endpoint(self, url: str, kind: str, rate: float = 0.0) -> Measured:
        template = self.templates[kind]
        before = settled_events(self.db)
        result = run(self.load(url, template, rate))
        stored = settled_events(self.db) - before
        return Measured(result, template.events_per_request, stored)

    def warm_up(self, url: str) -> None:
        for template in self.templates.values():
            run(
                Load(
                    url=url,
                    template=template,
                    connections=min(4, self.args.connections),
                    duration=1.0,
                    threads=1,
                )
            )


def median_of(runs: list[Measured], value: Callable[[Measured], float]) -> float:
    return statistics.median(value(r) for r in runs)


def row(label: str, server: str, runs: list[Measured]) -> list[str]:
    stored = [r.stored for r in runs]
    return [
        label,
        server,
        number(median_of(runs, lambda r: r.load.requests_per_second), 0),
        number(median_of(runs, lambda r: r.events_per_second), 0)
        + ("" if stored[0] is not None else " (parsed)"),
        number(median_of(runs, lambda r: r.load.p50_ms), 1),
        number(median_of(runs, lambda r: r.load.p99_ms), 1),
        number(max(r.load.max_ms for r in runs), 1),
        str(sum(r.load.errors for r in runs)),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# Endpoint throughput — {machine_summary()}")
    print(f"load generator: {describe_generator()}")
    print(
        f"{args.rounds} round(s) of {args.duration:g} s per run, {args.connections} keep-alive"
        f" connections, {args.threads} generator thread(s);"
        f" datacoral serve --workers {args.workers}"
    )
    with tempfile.TemporaryDirectory(prefix="datacoral-throughput-") as directory:
        db = Path(directory) / "events.sqlite"
        bench = Bench(args, db, create_database(db))
        post_body = bench.templates["POST"].body_bytes
        print(
            f"POST body: 50 events, {post_body:,} bytes ({post_body / 50:.0f} bytes per event);"
            f" GET /i path: {len(bench.templates['GET'].example()[0]):,} bytes"
        )
        try:
            runs, half, log = measure(bench)
        except (ServerFailed, LoadFailed) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        bad = bad_rows(db)
    return report(args, runs, half, bad, log)


def measure(
    bench: Bench,
) -> tuple[dict[tuple[str, str], list[Measured]], dict[str, tuple[float, Measured]], str]:
    runs: dict[tuple[str, str], list[Measured]] = {}
    half: dict[str, tuple[float, Measured]] = {}
    options = ["--workers", str(bench.args.workers)]
    with ceiling() as top, datacoral_serve(bench.db, options=options) as endpoint:
        if not bench.args.smoke:
            bench.warm_up(top.url)
            bench.warm_up(endpoint.url)
        for round_number in range(1, bench.args.rounds + 1):
            for kind in ("POST", "GET"):
                runs.setdefault(("ceiling", kind), []).append(bench.on_ceiling(top.url, kind))
                runs.setdefault(("datacoral", kind), []).append(
                    bench.on_endpoint(endpoint.url, kind)
                )
            print(f"round {round_number}/{bench.args.rounds} done", flush=True)
        for kind in ("POST", "GET"):
            maximum = median_of(runs["datacoral", kind], lambda r: r.load.requests_per_second)
            rate = max(1.0, maximum / 2)
            half[kind] = (rate, bench.on_endpoint(endpoint.url, kind, rate=rate))
        time.sleep(0.2)
        log = endpoint.log()
    return runs, half, log


def report(
    args: argparse.Namespace,
    runs: dict[tuple[str, str], list[Measured]],
    half: dict[str, tuple[float, Measured]],
    bad: int,
    log: str,
) -> int:
    print()
    headers = [
        "workload",
        "server",
        "requests/s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
    ]
    rows = []
    for kind, label in (("POST", "POST tp2, 50 events"), ("GET", "GET /i, 1 event")):
        rows.append(row(label, "ceiling", runs["ceiling", kind]))
        rows.append(row(label, "datacoral serve", runs["datacoral", kind]))
        rate, paced = half[kind]
        rows.append(row(f"{label}, fixed {rate:,.0f} req/s", "datacoral serve", [paced]))
    print(table(headers, rows))

    def share(kind: str, value: Callable[[Measured], float]) -> tuple[float, list[float]]:
        """The median of the per-round ratios (each round's two runs are back to back)."""
        ours, theirs = runs["datacoral", kind], runs["ceiling", kind]
        per_round = [
            value(o) / value(c) if value(c) else 0.0 for o, c in zip(ours, theirs, strict=True)
        ]
        return statistics.median(per_round), per_round

    post_share, post_rounds = share("POST", lambda r: r.events_per_second)
    get_share, get_rounds = share("GET", lambda r: r.load.requests_per_second)
    errors = sum(r.load.errors for group in runs.values() for r in group)
    errors += sum(m.load.errors for _, m in half.values())
    internal = log.count("internal error")
    worst_p99 = max(m.load.p99_ms for _, m in half.values())
    checks = [
        (
            "POST stored events/s ÷ ceiling's parsed events/s",
            f"{post_share:.1%} (rounds: {', '.join(f'{s:.1%}' for s in post_rounds)})",
            f">= {POST_TARGET:.0%}",
            post_share >= POST_TARGET,
        ),
        (
            "GET /i requests/s ÷ ceiling's requests/s",
            f"{get_share:.1%} (rounds: {', '.join(f'{s:.1%}' for s in get_rounds)})",
            f">= {GET_TARGET:.0%}",
            get_share >= GET_TARGET,
        ),
        (
            "errors (socket, non-2xx, bad rows, internal)",
            f"{errors} + {bad} bad rows + {internal} internal",
            "0",
            errors == 0 and bad == 0 and internal == 0,
        ),
        (
            "p99 latency at half the maximum load (POST, GET)",
            f"{half['POST'][1].load.p99_ms:.1f} ms, {half['GET'][1].load.p99_ms:.1f} ms",
            f"< {P99_TARGET_MS:.0f} ms",
            worst_p99 < P99_TARGET_MS,
        ),
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
        "Half load: a fixed request rate (wrk: a Lua delay() schedule per thread; Python:"
        " paced slots, latency from the slot) of half the median maximum requests/s;"
        " its p99 counts from each request's send time."
    )
    if args.smoke:
        print("(smoke size: the figures mean nothing)")
    if args.strict and not all(ok for *_, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
