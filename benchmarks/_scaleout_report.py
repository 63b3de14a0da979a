"""The scale-out benchmark's configurations, results, tables and checks."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass

from _endpoint_load import LoadResult
from _endpoint_payloads import BATCH_EVENTS
from _report import number, table


@dataclass(frozen=True)
class Config:
    name: str
    title: str
    storage: str  # "sqlite" or "postgres"
    workers: int
    stream: bool


CONFIGS = {
    "a": Config("a", "SQLite, 1 process", "sqlite", 1, False),
    "b1": Config("b1", "PostgreSQL direct, 1 worker", "postgres", 1, False),
    "b2": Config("b2", "PostgreSQL direct, 2 workers", "postgres", 2, False),
    "c": Config("c", "JetStream + loaders", "postgres", 1, True),
}
CLIENT = "load generator (client)"
#: The machine's busy time that no measured process accounts for: this script, its
#: PostgreSQL connections, and whatever else runs on a shared machine.
ELSEWHERE = "rest of the machine (this script, other work)"


@dataclass(frozen=True, kw_only=True)
class Phase:
    """One measured phase of one configuration run."""

    name: str
    rate: float  # requests/s offered; 0 for saturation
    load: LoadResult
    accepted: int  # events in requests answered 2xx
    stored: int  # events counted in the store after the drain
    drain: float  # seconds from the end of the load to the last new stored event
    cpu: dict[str, float]  # component -> CPU seconds over the load and the drain
    drained: bool  # the store reached the accepted events
    postgres_visible: bool  # the PostgreSQL processes could be read here
    database_bytes: int | None = None  # growth of the PostgreSQL database on disk
    nats_bytes: int | None = None  # bytes nats-server received (publishes, fetches, acks)

    @property
    def window(self) -> float:
        return self.load.duration + self.drain

    @property
    def stored_per_second(self) -> float:
        return self.stored / self.window if self.window else 0.0

    def per_event_us(self, names: list[str]) -> float | None:
        """CPU µs per stored event (= CPU ms per 1,000) of these components together."""
        if not self.stored or not names or self._hidden(names):
            return None
        return sum(self.cpu[n] for n in names) / self.stored * 1e6

    def bytes_per_event(self, grown: int | None) -> float | None:
        return grown / self.stored if grown is not None and self.stored else None

    def cores(self, names: list[str]) -> float | None:
        if not self.window or not names or self._hidden(names):
            return None
        return sum(self.cpu[n] for n in names) / self.window

    def _hidden(self, names: list[str]) -> bool:
        return not self.postgres_visible and any(n.startswith("postgres") for n in names)


@dataclass(frozen=True)
class ConfigRun:
    config: Config
    phases: list[Phase]
    bad_rows: int
    stream_held: int  # messages still in the stream at the end (c)


def median(values: list[float | None]) -> float | None:
    """The median of the values present, or None when there is none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _rows_of(config: Config, components: list[str]) -> list[tuple[str, list[str]]]:
    """The component table's rows: label and the components it sums."""
    loaders = [c for c in components if c.startswith("loader ")]
    servers = [c for c in components if c not in (CLIENT, ELSEWHERE)]
    collector = "collector (1 process)"
    if config.workers > 1:
        collector = f"collector (supervisor + {config.workers} workers)"
    rows = [(collector, ["collector"])]
    if "nats-server" in components:
        rows.append(("nats-server", ["nats-server"]))
    rows += [(name, [name]) for name in loaders]
    if len(loaders) > 1:
        rows.append((f"loaders, {len(loaders)} together", loaders))
    if "postgres backends" in components:
        rows.append(("postgres: this database's backends", ["postgres backends"]))
        rows.append(("postgres: background (postmaster, WAL writer, …)", ["postgres background"]))
        rows.append(("postgres together", ["postgres backends", "postgres background"]))
    rows.append(("servers together", servers))
    rows.append((CLIENT, [CLIENT]))
    if ELSEWHERE in components:
        rows.append((ELSEWHERE, [ELSEWHERE]))
    return rows


def _phase_label(phase: Phase, connections: int) -> str:
    if phase.rate:
        return f"fixed {phase.rate:,.0f} req/s"
    return f"saturation, {connections} connections"


def config_tables(args: argparse.Namespace, runs: list[ConfigRun]) -> str:
    config = runs[0].config
    phases = [[run.phases[i] for run in runs] for i in range(len(runs[0].phases))]
    head = [
        "phase",
        "offered events/s",
        "accepted events/s",
        "stored events/s",
        "drain s",
        "p50 ms",
        "p99 ms",
        "errors",
    ]
    rows = []
    for group in phases:
        first = group[0]
        rows.append(
            [
                _phase_label(first, args.connections),
                number(first.rate * BATCH_EVENTS, 0) if first.rate else "as answered",
                number(median([p.accepted / p.load.duration for p in group]), 0),
                number(median([p.stored_per_second for p in group]), 0),
                number(median([p.drain for p in group]), 1),
                number(median([p.load.p50_ms for p in group]), 1),
                number(median([p.load.p99_ms for p in group]), 1),
                str(sum(p.load.errors for p in group)),
            ]
        )
    parts = [table(head, rows)]
    head = ["component"]
    for group in phases:
        label = "fixed" if group[0].rate else "saturation"
        head += [f"{label}: cores busy", f"{label}: CPU ms per 1k events"]
    rows = []
    for label, names in _rows_of(config, list(phases[0][0].cpu)):
        cells = [label]
        for group in phases:
            cells.append(number(median([p.cores(names) for p in group]), 2))
            # Other work on the machine does not scale with our events: no per-event figure.
            per_event = (
                None if names == [ELSEWHERE] else median([p.per_event_us(names) for p in group])
            )
            cells.append(number(per_event, 1))
        rows.append(cells)
    parts.append(table(head, rows))
    measured = [
        (label, grown)
        for label, grown in (
            ("PostgreSQL database growth on disk (tables, TOAST, indexes)", "database_bytes"),
            ("into nats-server (publishes, fetches, acks)", "nats_bytes"),
        )
        if getattr(phases[0][0], grown) is not None
    ]
    if measured:
        head = ["bytes per stored event"] + [
            "fixed" if group[0].rate else "saturation" for group in phases
        ]
        rows = [
            [label]
            + [
                number(median([p.bytes_per_event(getattr(p, grown)) for p in group]), 0)
                for group in phases
            ]
            for label, grown in measured
        ]
        parts.append(table(head, rows))
    return "\n\n".join(parts)


def report(
    args: argparse.Namespace,
    configs: list[Config],
    runs: dict[str, list[ConfigRun]],
    skipped: dict[str, str],
) -> int:
    checks: list[tuple[str, str, str, bool]] = []
    for config in configs:
        print()
        print(f"## {config.name}: {config.title}")
        print()
        if config.name in skipped:
            print(f"skipped: {skipped[config.name]}")
            continue
        done = runs[config.name]
        print(f"(medians over {len(done)} round(s))")
        print(config_tables(args, done))
        phases = [p for run in done for p in run.phases]
        lost = sum(max(0, p.accepted - p.stored) for p in phases)
        checks.append((config.name, "every accepted event stored", f"{lost:,} missing", lost == 0))
        errors = sum(p.load.errors for p in phases)
        bad = sum(run.bad_rows for run in done)
        checks.append(
            (
                config.name,
                "errors (socket, non-2xx) + bad rows",
                f"{errors} + {bad}",
                errors == 0 and bad == 0,
            )
        )
        if config.stream:
            held = sum(run.stream_held for run in done)
            checks.append((config.name, "stream empty after the drain", f"{held} held", held == 0))
        if not all(p.postgres_visible for p in phases):
            print("PostgreSQL's processes are not visible on this machine: its CPU not measured")
    print()
    print("## Checks")
    print()
    print(
        table(
            ["configuration", "check", "measured", "verdict"],
            [[c, name, got, "PASS" if ok else "FAIL"] for c, name, got, ok in checks],
        )
        if checks
        else "(nothing ran)"
    )
    return 0 if all(ok for *_, ok in checks) else 1
