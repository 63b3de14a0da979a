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
                                             [--workers 1] [--validation off[,strict]]
                                             [--iglu DIR] [--smoke] [--strict]

``--workers N`` runs ``datacoral serve --workers N`` (N processes on one port); the
ceiling stays one process, so its ratios then compare N processes with one.

``--validation MODE[,MODE...]`` (default ``off``): the environments' Iglu validation
modes to measure, each in its own environment of the one server, every mode in every
round (C E_off E_strict C E_off E_strict ...). The events' schemas (``com.acme/step``
and ``com.acme/user``) are in ``benchmarks/iglu`` (``--iglu`` names another folder or
registry), so strict and lenient validate every event; the run checks that every event
stored in a validating environment has ``schema_validated`` set. With more than one
mode, each validating mode's events/s is compared with ``off``'s (issue 15: validation
must not halve the throughput).

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
    datacoral_serve,
    settled_events,
)
from _report import machine_summary, number, table, verdict

from datacoral.admin.environments import ValidationMode, parse_validation_mode
from datacoral.storage.sqlite import SQLiteStorage

POST_TARGET = 0.15  # stored events/s, as a share of the ceiling's parsed events/s
GET_TARGET = 0.30  # answered requests/s, as a share of the ceiling's
P99_TARGET_MS = 100.0  # at half of the measured maximum load
VALIDATION_TARGET = 0.5  # events/s with validation on ÷ off (issue 15: must not halve)
HERE = Path(__file__).resolve().parent
#: The Iglu schemas of the benchmark's events (a local folder in the static layout).
BENCHMARK_IGLU = HERE / "iglu"


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
    parser.add_argument(
        "--validation",
        default="off",
        help="validation modes to measure, comma-separated (off, lenient, strict)",
    )
    parser.add_argument(
        "--iglu", default=str(BENCHMARK_IGLU), help="datacoral serve --iglu (folder or URL)"
    )
    _endpoint_load.add_common_options(parser)
    args = parser.parse_args(argv)
    try:
        args.modes = list(
            dict.fromkeys(parse_validation_mode(m.strip()) for m in args.validation.split(","))
        )
    except ValueError as exc:
        parser.error(str(exc))
    _endpoint_load.use_generator(args)
    if args.smoke:
        args.duration, args.connections, args.rounds = 1.0, 4, 1
    return args


def environment_name(mode: ValidationMode) -> str:
    return f"bench-{mode.value}"


def create_database(path: Path, modes: list[ValidationMode]) -> dict[ValidationMode, str]:
    """A new SQLite endpoint database with an environment and a key per mode."""
    keys = {}
    with SQLiteStorage(path) as storage:
        for mode in modes:
            storage.create_environment(environment_name(mode), validation=mode)
            _, keys[mode] = storage.create_key(environment_name(mode), "benchmark")
    return keys


def unvalidated_in_validating_modes(path: Path, modes: list[ValidationMode]) -> int:
    """Good events stored with schema_validated false where the mode validates."""
    with SQLiteStorage(path) as storage:
        counts = {c.environment: c.unvalidated for c in storage.count_events()}
    return sum(counts[environment_name(m)] for m in modes if m is not ValidationMode.OFF)


class Bench:
    """The two servers, the keys, and the database the endpoint writes."""

    def __init__(self, args: argparse.Namespace, db: Path, keys: dict[ValidationMode, str]):
        self.args = args
        self.db = db
        self.modes: list[ValidationMode] = args.modes
        self.templates = {
            mode: {"POST": post_template(key), "GET": get_template(key)}
            for mode, key in keys.items()
        }

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
        template = self.templates[self.modes[0]][kind]
        return Measured(run(self.load(url, template)), template.events_per_request, None)

    def on_endpoint(self, url: str, mode: ValidationMode, kind: str, rate: float = 0.0) -> Measured:
        template = self.templates[mode][kind]
        before = settled_events(self.db)
        result = run(self.load(url, template, rate))
        stored = settled_events(self.db) - before
        return Measured(result, template.events_per_request, stored)

    def warm_up(self, url: str) -> None:
        for by_kind in self.templates.values():
            for template in by_kind.values():
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


def server_label(mode: ValidationMode) -> str:
    return f"datacoral serve, validation {mode.value}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# Endpoint throughput — {machine_summary()}")
    print(f"load generator: {describe_generator()}")
    print(
        f"{args.rounds} round(s) of {args.duration:g} s per run, {args.connections} keep-alive"
        f" connections, {args.threads} generator thread(s);"
        f" datacoral serve --workers {args.workers} --iglu {args.iglu};"
        f" validation: {', '.join(m.value for m in args.modes)}"
    )
    with tempfile.TemporaryDirectory(prefix="datacoral-throughput-") as directory:
        db = Path(directory) / "events.sqlite"
        bench = Bench(args, db, create_database(db, args.modes))
        first = bench.templates[args.modes[0]]
        post_body = first["POST"].body_bytes
        print(
            f"POST body: 50 events, {post_body:,} bytes ({post_body / 50:.0f} bytes per event);"
            f" GET /i path: {len(first['GET'].example()[0]):,} bytes"
        )
        try:
            runs, half, log = measure(bench)
        except (ServerFailed, LoadFailed) as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        bad = bad_rows(db)
        unvalidated = unvalidated_in_validating_modes(db, args.modes)
    return report(args, runs, half, bad, unvalidated, log)


Runs = dict[tuple[str, str], list[Measured]]
Half = dict[tuple[str, str], tuple[float, Measured]]


def measure(bench: Bench) -> tuple[Runs, Half, str]:
    runs: Runs = {}
    half: Half = {}
    options = ["--workers", str(bench.args.workers), "--iglu", bench.args.iglu]
    with ceiling() as top, datacoral_serve(bench.db, options=options) as endpoint:
        if not bench.args.smoke:
            bench.warm_up(top.url)
            bench.warm_up(endpoint.url)
        for round_number in range(1, bench.args.rounds + 1):
            for kind in ("POST", "GET"):
                runs.setdefault(("ceiling", kind), []).append(bench.on_ceiling(top.url, kind))
                for mode in bench.modes:
                    runs.setdefault((server_label(mode), kind), []).append(
                        bench.on_endpoint(endpoint.url, mode, kind)
                    )
            print(f"round {round_number}/{bench.args.rounds} done", flush=True)
        for mode in bench.modes:
            label = server_label(mode)
            for kind in ("POST", "GET"):
                maximum = median_of(runs[label, kind], lambda r: r.load.requests_per_second)
                rate = max(1.0, maximum / 2)
                half[label, kind] = (rate, bench.on_endpoint(endpoint.url, mode, kind, rate=rate))
        time.sleep(0.2)
        log = endpoint.log()
    return runs, half, log


def per_round(
    ours: list[Measured], theirs: list[Measured], value: Callable[[Measured], float]
) -> tuple[float, list[float]]:
    """The median of the per-round ratios (each round's runs are back to back)."""
    ratios = [value(o) / value(t) if value(t) else 0.0 for o, t in zip(ours, theirs, strict=True)]
    return statistics.median(ratios), ratios


def rounds_text(share: float, ratios: list[float], percent: bool = True) -> str:
    shown = (lambda v: f"{v:.1%}") if percent else (lambda v: f"{v:.2f}")
    return f"{shown(share)} (rounds: {', '.join(shown(r) for r in ratios)})"


def report(
    args: argparse.Namespace,
    runs: Runs,
    half: Half,
    bad: int,
    unvalidated: int,
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
    modes: list[ValidationMode] = args.modes
    rows = []
    for kind, label in (("POST", "POST tp2, 50 events"), ("GET", "GET /i, 1 event")):
        rows.append(row(label, "ceiling", runs["ceiling", kind]))
        for mode in modes:
            rows.append(row(label, server_label(mode), runs[server_label(mode), kind]))
        for mode in modes:
            rate, paced = half[server_label(mode), kind]
            rows.append(row(f"{label}, fixed {rate:,.0f} req/s", server_label(mode), [paced]))
    print(table(headers, rows))

    def events(r: Measured) -> float:
        return r.events_per_second

    def requests(r: Measured) -> float:
        return r.load.requests_per_second

    checks = []
    for mode in modes:
        label = server_label(mode)
        suffix = f" (validation {mode.value})" if len(modes) > 1 else ""
        post_share, post_rounds = per_round(runs[label, "POST"], runs["ceiling", "POST"], events)
        get_share, get_rounds = per_round(runs[label, "GET"], runs["ceiling", "GET"], requests)
        checks += [
            (
                f"POST stored events/s ÷ ceiling's parsed events/s{suffix}",
                rounds_text(post_share, post_rounds),
                f">= {POST_TARGET:.0%}",
                post_share >= POST_TARGET,
            ),
            (
                f"GET /i requests/s ÷ ceiling's requests/s{suffix}",
                rounds_text(get_share, get_rounds),
                f">= {GET_TARGET:.0%}",
                get_share >= GET_TARGET,
            ),
        ]
    off = server_label(ValidationMode.OFF)
    for mode in modes:
        if mode is ValidationMode.OFF or (off, "POST") not in runs:
            continue
        label = server_label(mode)
        for kind, value in (("POST", events), ("GET", requests)):
            kept, ratios = per_round(runs[label, kind], runs[off, kind], value)
            unit = "stored events/s" if kind == "POST" else "requests/s"
            checks.append(
                (
                    f"{kind} {unit}, validation {mode.value} ÷ off",
                    rounds_text(kept, ratios, percent=False),
                    f">= {VALIDATION_TARGET}",
                    kept >= VALIDATION_TARGET,
                )
            )
    errors = sum(r.load.errors for group in runs.values() for r in group)
    errors += sum(m.load.errors for _, m in half.values())
    internal = log.count("internal error")
    checks.append(
        (
            "errors (socket, non-2xx, bad rows, internal)",
            f"{errors} + {bad} bad rows + {internal} internal",
            "0",
            errors == 0 and bad == 0 and internal == 0,
        )
    )
    if any(mode is not ValidationMode.OFF for mode in modes):
        checks.append(
            (
                "events stored unvalidated where the mode validates",
                str(unvalidated),
                "0",
                unvalidated == 0,
            )
        )
    worst_p99 = max(m.load.p99_ms for _, m in half.values())
    p99s = ", ".join(
        f"{half[server_label(mode), kind][1].load.p99_ms:.1f} ms"
        for mode in modes
        for kind in ("POST", "GET")
    )
    checks.append(
        (
            "p99 latency at half the maximum load (POST, GET"
            + (" per mode)" if len(modes) > 1 else ")"),
            p99s,
            f"< {P99_TARGET_MS:.0f} ms",
            worst_p99 < P99_TARGET_MS,
        )
    )
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
