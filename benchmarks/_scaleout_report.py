"""The scale-out benchmark's configurations, results, tables and sizing."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from _endpoint_load import LoadResult
from _report import machine_summary, number, table


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
#: Sizing roles: which measured components each is made of.
ROLES: dict[str, Callable[[str], bool]] = {
    "collector": lambda name: name == "collector",
    "nats-server": lambda name: name == "nats-server",
    "loader": lambda name: name.startswith("loader "),
    "postgres": lambda name: name.startswith("postgres "),
}
SIZES = (100_000, 1_000_000)
#: Assumed, not measured: NATS CPU with three replicas per message instead of one.
R3_FACTOR = 3


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


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _rows_of(config: Config, components: list[str]) -> list[tuple[str, list[str]]]:
    """The component table's rows: label and the components it sums."""
    loaders = [c for c in components if c.startswith("loader ")]
    servers = [c for c in components if c != CLIENT]
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
                number(first.rate * 50, 0) if first.rate else "as answered",
                number(_median([p.accepted / p.load.duration for p in group]), 0),
                number(_median([p.stored_per_second for p in group]), 0),
                number(_median([p.drain for p in group]), 1),
                number(_median([p.load.p50_ms for p in group]), 1),
                number(_median([p.load.p99_ms for p in group]), 1),
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
            cells.append(number(_median([p.cores(names) for p in group]), 2))
            cells.append(number(_median([p.per_event_us(names) for p in group]), 1))
        rows.append(cells)
    parts.append(table(head, rows))
    return "\n\n".join(parts)


def role_costs(runs: list[ConfigRun]) -> dict[str, tuple[float | None, float | None]]:
    """Per sizing role: median CPU µs per event in the fixed and in the saturation phase."""
    components = list(runs[0].phases[0].cpu)
    costs = {}
    for role, belongs in ROLES.items():
        names = [c for c in components if belongs(c)]
        if names:
            costs[role] = (
                _median([r.phases[0].per_event_us(names) for r in runs]),
                _median([r.phases[-1].per_event_us(names) for r in runs]),
            )
    return costs


def sizing(args: argparse.Namespace, runs: dict[str, list[ConfigRun]]) -> str:
    head = [
        "configuration",
        "role",
        "CPU ms per 1k events, fixed rate",
        "at saturation (used)",
    ]
    for size in SIZES:
        head += [f"cores for {size:,}/s", f"machines for {size:,}/s"]
    rows = []
    for name in ("b1", "b2", "c"):
        if name not in runs:
            continue
        for role, (fixed, used) in role_costs(runs[name]).items():
            factors = [(role, 1)]
            if role == "nats-server":
                r3 = f"nats-server, R3 (x{R3_FACTOR}, assumed)"
                factors = [("nats-server, R1", 1), (r3, R3_FACTOR)]
            for label, factor in factors:
                cells = [name, label, number(fixed, 1)]
                cells.append(number(used * factor, 1) if used is not None else "not measured")
                for size in SIZES:
                    if used is None:
                        cells += ["—", "—"]
                        continue
                    cores = size * used * factor * 1e-6 / args.utilisation
                    cells += [number(cores, 1), str(max(1, math.ceil(cores / args.machine_cores)))]
                rows.append(cells)
    return table(head, rows) if rows else "(nothing to size: no PostgreSQL configuration ran)"


def assumptions(args: argparse.Namespace) -> list[str]:
    return [
        f"ESTIMATE from this machine ({machine_summary()}); a core elsewhere is not one of"
        " these, and nothing here ran past two cores.",
        f"cores = events/s x CPU seconds per event ÷ {args.utilisation:.0%} utilisation target;"
        " CPU per event from the saturation phase (medians over the rounds; in ms per 1,000"
        " events, = µs per event), where batches are full as on a machine kept busy; the"
        " fixed-rate figure beside it adds what each process costs when it is mostly idle.",
        f"machines = cores ÷ {args.machine_cores} cores per machine (--machine-cores), rounded"
        " up, one role per machine; no spare for failures (add one collector and one loader"
        " machine, and NATS runs 3 servers for R3).",
        "postgres: the backends of the benchmark's database plus the server's background"
        " processes (postmaster, WAL writer, checkpointer, background writer); one primary, its"
        " settings as printed above, tables empty at the start (no index growth), no"
        " replication, vacuum or backups. Its cores cannot be spread over machines without"
        " partitioning the events: past one large server the estimate is a lower bound.",
        "nats-server: one server, R1, default sync_interval (no fsync per message); the R3"
        f" row multiplies by {R3_FACTOR} (each message stored on three servers) — assumed, not"
        " measured.",
        "the load generator is the trackers' side and is not sized.",
    ]


def report(
    args: argparse.Namespace,
    configs: list[Config],
    runs: dict[str, list[ConfigRun]],
    skipped: dict[str, str],
) -> int:
    checks = []
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
        checks.append([config.name, "every accepted event stored", f"{lost:,} missing", lost == 0])
        errors = sum(p.load.errors for p in phases)
        bad = sum(run.bad_rows for run in done)
        checks.append(
            [
                config.name,
                "errors (socket, non-2xx) + bad rows",
                f"{errors} + {bad}",
                errors == 0 and bad == 0,
            ]
        )
        if config.stream:
            held = sum(run.stream_held for run in done)
            checks.append([config.name, "stream empty after the drain", f"{held} held", held == 0])
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
    print()
    print("## Sizing for 100k and 1M events/s (an estimate from a 2-core box)")
    print()
    print(sizing(args, runs))
    print()
    for line in assumptions(args):
        print(f"- {line}")
    if args.smoke:
        print("\n(smoke size: the figures mean nothing)")
    return 0 if all(ok for *_, ok in checks) else 1
