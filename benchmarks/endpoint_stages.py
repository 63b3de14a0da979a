"""Endpoint stages: the CPU each step of a batched POST costs on its own, per event.

Runs in this process, on one thread, without a server: the request body of
``endpoint_throughput.py`` (50 events, fresh ids per request) through each stage
of the collector's path, then the storage writer into a new SQLite file. It
shows where the endpoint's time goes and what SQLite alone costs, which is the
floor any endpoint that stores one row per event with the duplicate index pays:

- parse only: ``orjson.loads`` of the body, what the ceiling app does per event;
- ``split_body``: parse and check the ``payload_data`` envelope;
- ``sort_events``: validate and enrich every event (``build_good_event``);
- ``good_row``: the row tuples the writer binds;
- writer: ``SQLiteEventWriter.write_batch`` (rows, the multi-row INSERT, the commit),
  4 requests per transaction, ``synchronous=FULL`` (the default) and ``NORMAL``;
- INSERT alone: a plain multi-row INSERT of prepared rows into a new file (FULL), the same
  without the unique (environment, event id) index, and into an in-memory table without
  constraints; with ``--held N``, also into a file that already holds N events (the
  index's cost grows with it: ``endpoint_growth.py`` shows the whole server's fall).

    python benchmarks/endpoint_stages.py [--requests 400] [--held 1000000] [--smoke]

Figures are the lowest of 3 repeats (process CPU time, µs per event).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import orjson
from _endpoint_payloads import BATCH_EVENTS, post_template
from _report import machine_summary, number, table

from datacoral.collector.enrich import Arrival
from datacoral.collector.events import sort_events
from datacoral.collector.protocol import split_body
from datacoral.storage import sqlite_rows as rows
from datacoral.storage.base import GoodEvent
from datacoral.storage.sqlite import SQLiteStorage, Synchronous
from datacoral.storage.sqlite_upkeep import KeyUsage
from datacoral.storage.sqlite_writer import SQLiteEventWriter

REQUESTS_PER_TRANSACTION = 4
REPEATS = 3
ARRIVAL = Arrival("dev", 1_764_150_000_000, "127.0.0.1", "Mozilla/5.0 (benchmark)")


class _Job:
    """What the writer reads of a commit: its good events and bad rows."""

    def __init__(self, good: list[GoodEvent]) -> None:
        self.good = good
        self.bad: list[Any] = []


def cpu_per_event(work: Callable[[], object], events: int) -> float:
    """µs of process CPU per event of ``work``, the lowest of :data:`REPEATS` runs."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best / events * 1e6


def new_database(folder: Path, name: str, synchronous: Synchronous) -> SQLiteStorage:
    """A new endpoint database (schema, WAL) in ``folder``; its ``_connect`` opens write
    connections exactly as the endpoint's writer gets them. Close it after use."""
    storage = SQLiteStorage(folder / f"{name}.sqlite", synchronous=synchronous)
    storage.environments()  # creates the file and the schema
    return storage


def writer_cost(folder: Path, synchronous: Synchronous, goods: list[list[GoodEvent]]) -> float:
    """The storage writer's CPU per event: rows, INSERT and commit, 4 requests per
    transaction, into a new file each repeat (the events' ids are new to it)."""
    best = float("inf")
    for repeat in range(REPEATS):
        storage = new_database(folder, f"writer-{synchronous}-{repeat}", synchronous)
        writer = SQLiteEventWriter(storage._connect, KeyUsage(3600.0))
        start = time.process_time()
        for first in range(0, len(goods), REQUESTS_PER_TRANSACTION):
            group = goods[first : first + REQUESTS_PER_TRANSACTION]
            writer.write_batch([_Job(g) for g in group])
        best = min(best, time.process_time() - start)
        writer.close()
        storage.close()
    return best / sum(len(g) for g in goods) * 1e6


def _plain_insert() -> str:
    """A multi-row INSERT of one request's lean rows."""
    columns = rows.GOOD_COLUMNS[: rows.LEAN_WIDTH]
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO good_events ({', '.join(columns)}) VALUES " + ", ".join(
        [row] * BATCH_EVENTS
    )


def fresh_rows(goods: list[list[GoodEvent]]) -> list[list[rows.GoodRow]]:
    """Lean row tuples of ``goods``, each with a new random event id."""
    return [[(bytearray(os.urandom(16)), *rows.good_row(e, b"")[1:]) for e in g] for g in goods]


def statement_cost(conn: sqlite3.Connection, row_sets: list[list[rows.GoodRow]]) -> float:
    """CPU per event of a plain multi-row INSERT of lean rows, one statement (and, in
    autocommit, one transaction) per request."""
    statement = _plain_insert()
    start = time.process_time()
    for chunk in row_sets:
        conn.execute(statement, list(chain.from_iterable(chunk)))
    return (time.process_time() - start) / (len(row_sets) * BATCH_EVENTS) * 1e6


def fill(conn: sqlite3.Connection, goods: list[list[GoodEvent]], events: int) -> None:
    """Insert ``events`` events with new ids, :data:`REQUESTS_PER_TRANSACTION` requests
    per transaction, printing progress to stderr."""
    statement = _plain_insert()
    done = 0
    started = time.monotonic()
    while done < events:
        chunks = fresh_rows(goods[:REQUESTS_PER_TRANSACTION])
        conn.execute("BEGIN")
        for chunk in chunks:
            conn.execute(statement, list(chain.from_iterable(chunk)))
        conn.execute("COMMIT")
        added = sum(len(chunk) for chunk in chunks)
        done += added
        if done % 100_000 < added:
            elapsed = time.monotonic() - started
            print(f"  filled {done:,} of {events:,} events ({elapsed:.0f} s)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="POST bodies per stage")
    parser.add_argument(
        "--held",
        type=int,
        default=0,
        metavar="N",
        help="also time the INSERT into a file that already holds N events",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run that checks it works (--held 2000)"
    )
    args = parser.parse_args(argv)
    requests = 8 if args.smoke else args.requests
    held = 2_000 if args.smoke else args.held  # the smoke run checks this path too
    events = requests * BATCH_EVENTS
    print(machine_summary())
    print(f"{requests} POST bodies of {BATCH_EVENTS} events, one thread, lowest of {REPEATS} runs")

    template = post_template("unused")
    posts = [template.fresh_body() for _ in range(requests)]
    raws = [split_body(b) for b in posts]
    goods = [sort_events([dict(e) for e in r], ARRIVAL, {})[0] for r in raws]

    def parse_only() -> object:
        return [orjson.loads(b) for b in posts]

    def split() -> object:
        return [split_body(b) for b in posts]

    def validate() -> object:
        return [sort_events([dict(e) for e in r], ARRIVAL, {}) for r in raws]

    def row_tuples() -> object:
        return [[rows.good_row(e, rows.event_id_bytes(e.event_id)) for e in g] for g in goods]

    figures: list[tuple[str, float]] = [
        ("parse only (orjson.loads: the ceiling's work)", cpu_per_event(parse_only, events)),
        ("split_body (parse, check the envelope)", cpu_per_event(split, events)),
        ("sort_events (validate, enrich)", cpu_per_event(validate, events)),
        ("good_row (row tuples)", cpu_per_event(row_tuples, events)),
    ]
    with tempfile.TemporaryDirectory(prefix="datacoral-stages-") as tmp:
        folder = Path(tmp)
        synchronous: Synchronous
        for synchronous in ("FULL", "NORMAL"):
            label = f"writer: rows + INSERT + commit, synchronous={synchronous}"
            figures.append((label, writer_cost(folder, synchronous, goods)))
        variants = ("file", "file, without the unique index", "memory, no constraints")
        for variant in variants:
            costs = []
            for repeat in range(REPEATS):
                row_sets = fresh_rows(goods)
                storage = None
                if variant.startswith("file"):
                    storage = new_database(folder, f"plain-{len(variant)}-{repeat}", "FULL")
                    conn = storage._connect()
                    if variant != "file":
                        conn.execute("DROP INDEX good_events_identity")
                else:
                    conn = sqlite3.connect(":memory:", isolation_level=None)
                    conn.execute(f"CREATE TABLE good_events ({', '.join(rows.GOOD_COLUMNS)})")
                costs.append(statement_cost(conn, row_sets))
                conn.close()
                if storage is not None:
                    storage.close()
            figures.append((f"INSERT alone: {variant}", min(costs)))
        if held:
            storage = new_database(folder, "held", "FULL")
            conn = storage._connect()
            fill(conn, goods, held)
            cost = min(statement_cost(conn, fresh_rows(goods)) for _ in range(REPEATS))
            figures.append((f"INSERT alone: file holding {held:,} events", cost))
            conn.close()
            storage.close()

    parse = figures[0][1]
    print()
    print(
        table(
            ["stage", "CPU µs/event", "x parse only"],
            [[name, number(cost, 2), number(cost / parse, 1)] for name, cost in figures],
        )
    )
    print()
    print("stages run alone; in the server they add up, plus HTTP and the event loop's own work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
