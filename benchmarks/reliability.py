"""Reliability: ``datacoral serve`` under random and mutated requests, slow clients and overload.

Starts ``datacoral serve`` over a fresh SQLite file with keys for three environments
(``dev`` and ``prod``; ``stage`` takes the mutated and random events, whose fate is not
known beforehand) and short front-door limits, then runs three phases against it:

- **A, mutation fuzz**: ``--requests`` requests from ``--clients`` keep-alive
  clients, a seeded mix (``_reliability_cases.MIX``) of valid batches and pixels
  and the same events sent again (as they were, with a new ``stm``, with other
  content, in the other environment): about a quarter; issue 13's cases (lone
  surrogates, JSON nested 300-3000 deep, gzip/deflate bodies, zip bombs, ``br``,
  two keys, 36-character non-UUID ids, several faults in one batch, control
  characters, 431/414 heads) and other protocol cases; valid bodies and queries
  after random mutations, random bytes and random JSON. At the default size more
  than 100,000 of them are cases, mutated or random;
- **B, slow clients**: connections trickling heads or bodies, stalling bodies or
  staying idle, while a normal request is timed every 50 ms;
- **C, overload**: ``max_connections`` busy connections and more past them.

Every answer must be among the statuses right for its request; every 5xx must be
the documented 503 (with ``Retry-After``) of an overloaded front door; the server's
RSS is sampled throughout; and once the server has stopped (SIGTERM, exit 0), each
environment's good events, bad rows by kind and duplicates must match what the
200, 400 and 413 answers imply (see ``_reliability_ledger.py``).

    python benchmarks/reliability.py [--requests 140000] [--clients 8] [--seed 1] [--smoke]

Exit status: 0 when every check passes (the last line says PASS), else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _endpoint_servers import Server, ServerFailed, create_database, datacoral_serve
from _reliability_cases import MIX
from _reliability_client import Results, fuzz, rss_kib, sample_rss, send_alone
from _reliability_ledger import count_store
from _reliability_phases import overload, slow_clients
from _reliability_report import Run, report
from _reliability_requests import ALLOWED_ORIGIN, FUZZED, Planner, Request, message
from _report import machine_summary

from datacoral.storage.sqlite import SQLiteStorage

MAX_CONNECTIONS = 128
HEADER_TIMEOUT, BODY_TIMEOUT, KEEP_ALIVE_TIMEOUT = 1.0, 2.0, 2.0
SERVE_OPTIONS = [
    f"--max-connections={MAX_CONNECTIONS}",
    f"--header-timeout-seconds={HEADER_TIMEOUT:g}",
    f"--body-timeout-seconds={BODY_TIMEOUT:g}",
    f"--keep-alive-timeout-seconds={KEEP_ALIVE_TIMEOUT:g}",
]
#: What ends each kind of phase B connection.
LIMITS = {
    "head trickle": HEADER_TIMEOUT,
    "body stall": BODY_TIMEOUT,
    "body trickle": BODY_TIMEOUT,
    "idle, no request": KEEP_ALIVE_TIMEOUT,
    "idle after a request": KEEP_ALIVE_TIMEOUT,
}
#: Connections held in phase B (room is left for the normal requests and for connections
#: closing while others open), and sent past the bound in phase C (fewer than the 64
#: spare connections the server keeps for turning connections away).
HOLDERS, PAST_THE_BOUND = MAX_CONNECTIONS * 3 // 4, 48
#: Bound on the peak RSS over the RSS at the start: the SQLite writer's page cache
#: (64 MiB, storage/sqlite_writer.py) fills as the database grows, plus room for the rest.
RSS_GROWTH_MIB = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=140_000, help="phase A's requests")
    parser.add_argument("--clients", type=int, default=8, help="phase A's keep-alive clients")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="phase B's length")
    parser.add_argument("--overload-rounds", type=int, default=3, help="phase C's rounds")
    parser.add_argument("--smoke", action="store_true", help="3,000 requests, short phases (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.slow_seconds, args.overload_rounds = 3_000, 3.0, 1
    return args


def prepare(db: Path) -> dict[str, str]:
    """A fresh database: a key for ``dev``, ``prod`` and ``stage`` (mutated and random
    events), and an origin ``dev`` allows."""
    keys = {"dev": create_database(db)}
    with SQLiteStorage(db) as storage:
        for environment in ("prod", FUZZED):
            keys[environment] = storage.create_key(environment, "reliability")[1]
        storage.add_origin("dev", ALLOWED_ORIGIN)
    return keys


async def measure(server: Server, keys: dict[str, str], args: argparse.Namespace) -> Run:
    """The three phases against ``server``, its RSS sampled meanwhile."""
    url = urlsplit(server.url)
    host, port, pid = url.hostname or "127.0.0.1", url.port or 80, server.process.pid
    run = Run(Results(), LIMITS)
    health = Request("GET /health", message("GET", "/health"), frozenset({200}), fresh=True)
    run.results.record("start", health, await send_alone(host, port, health))
    run.rss["start"] = rss_kib(pid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, run.samples, stop))
    started = time.monotonic()

    def done(phase: str) -> None:
        nonlocal started
        run.seconds[phase], started = time.monotonic() - started, time.monotonic()
        run.rss[phase] = rss_kib(pid)
        print(f"phase {phase} done in {run.seconds[phase]:.1f} s", flush=True)

    planners = [Planner(f"{args.seed}-{i}", keys, MIX) for i in range(args.clients)]
    await fuzz(host, port, planners, args.requests, run.results)
    done("A")
    run.samples_in_a = len(run.samples)
    planner = Planner(f"{args.seed}-slow", keys)
    run.slow = await slow_clients(
        host, port, planner, keys["dev"], HOLDERS, args.slow_seconds, run.results
    )
    done("B")
    for _ in range(args.overload_rounds):
        run.recovery.append(
            await overload(
                host, port, planner, keys["dev"], MAX_CONNECTIONS, PAST_THE_BOUND, run.results
            )
        )
    done("C")
    run.alive = (await send_alone(host, port, health)).status
    stop.set()
    await sampler
    run.rss["peak"] = max([rss_kib(pid, "VmHWM"), *run.samples])
    return run


def stop_server(server: Server) -> int | None:
    """SIGTERM, and the exit code (None when it did not stop within 30 s)."""
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(30)
    except subprocess.TimeoutExpired:
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"# Reliability — {machine_summary()}")
    print(
        f"datacoral serve {' '.join(SERVE_OPTIONS)}; seed {args.seed}; phase A: "
        f"{args.requests:,} requests from {args.clients} keep-alive clients; phase B: "
        f"{HOLDERS} slow or idle connections for {args.slow_seconds:g} s; phase C: "
        f"{args.overload_rounds} round(s) of {MAX_CONNECTIONS} busy + {PAST_THE_BOUND} more",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="datacoral-reliability-") as directory:
        db = Path(directory) / "events.sqlite"
        keys = prepare(db)
        try:
            with datacoral_serve(db, options=SERVE_OPTIONS) as server:
                run = asyncio.run(measure(server, keys, args))
                run.exit_code = stop_server(server)
        except ServerFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
        stored = count_store(db)
    return report(run, stored, server.log(), RSS_GROWTH_MIB)


if __name__ == "__main__":
    sys.exit(main())
