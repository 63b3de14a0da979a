"""Sizing from the scale-out benchmark: cores and machines of each role for 100k and 1M
events/s, from the CPU per event measured in the saturation phase, with every assumption
printed beside the table.

Collectors and loaders spread over as many machines as needed. nats-server spreads only
by streams (a stream's messages all pass through its leader; R3 puts each on three
servers). PostgreSQL does not spread: one primary per database, so it is sized as one
server and named as the bound.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from _endpoint_payloads import BATCH_EVENTS, post_template
from _report import machine_summary, number, table
from _scaleout_report import ConfigRun, median

SIZES = (100_000, 1_000_000)
#: Assumed, not measured: NATS CPU with three replicas per message instead of one.
R3_FACTOR = 3
#: Sizing roles: which measured components each is made of.
ROLES: dict[str, Callable[[str], bool]] = {
    "collector": lambda name: name == "collector",
    "nats-server": lambda name: name == "nats-server",
    "loader": lambda name: name.startswith("loader "),
    "postgres": lambda name: name.startswith("postgres "),
}
#: Configurations that are sized (a, SQLite, is one process and does not scale out).
SIZED = ("b1", "b2", "c")
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class RoleCost:
    """A role's median CPU µs per stored event in one configuration."""

    role: str
    fixed: float | None
    saturation: float | None


def role_costs(runs: list[ConfigRun]) -> list[RoleCost]:
    """Per role present in these runs: median CPU µs per event, fixed and saturation."""
    components = list(runs[0].phases[0].cpu)
    costs = []
    for role, belongs in ROLES.items():
        names = [c for c in components if belongs(c)]
        if names:
            fixed = median([r.phases[0].per_event_us(names) for r in runs])
            used = median([r.phases[-1].per_event_us(names) for r in runs])
            costs.append(RoleCost(role, fixed, used))
    return costs


def cores_for(events_per_second: int, us_per_event: float, utilisation: float) -> float:
    """Cores that keep ``events_per_second`` at the utilisation target."""
    return events_per_second * us_per_event * 1e-6 / utilisation


@dataclass(frozen=True)
class Need:
    """One row of the sizing: a role (at a replication factor) and its cost."""

    label: str
    role: str
    fixed: float | None
    used: float | None  # µs per event, the factor applied
    factor: int = 1

    def machines(self, cores: float, machine_cores: int) -> tuple[int, str]:
        """(machines, the cell that shows them) for ``cores`` of this role."""
        if self.role == "postgres":
            if cores <= machine_cores:
                return 1, "1"
            return 1, f"1 of ≥ {math.ceil(cores)} cores"
        if self.role == "nats-server":
            streams = max(1, math.ceil(cores / self.factor / machine_cores))
            plural = "s" if streams > 1 else ""
            return streams * self.factor, f"{streams * self.factor} ({streams} stream{plural})"
        count = max(1, math.ceil(cores / machine_cores))
        return count, str(count)


def needs(costs: list[RoleCost]) -> list[Need]:
    rows = []
    for cost in costs:
        used = cost.saturation
        if cost.role != "nats-server":
            rows.append(Need(cost.role, cost.role, cost.fixed, used))
            continue
        rows.append(Need("nats-server, R1", cost.role, cost.fixed, used))
        r3 = used * R3_FACTOR if used is not None else None
        label = f"nats-server, R3 (x{R3_FACTOR}, assumed)"
        rows.append(Need(label, cost.role, cost.fixed, r3, R3_FACTOR))
    return rows


def sizing(args: argparse.Namespace, runs: dict[str, list[ConfigRun]]) -> str:
    """The table: per configuration and role, cores and machines for each size."""
    head = ["configuration", "role", "CPU ms per 1k events, fixed rate", "at saturation (used)"]
    for size in SIZES:
        head += [f"cores for {size:,}/s", f"machines for {size:,}/s"]
    rows = []
    for name in SIZED:
        if name not in runs:
            continue
        rows_of_config = needs(role_costs(runs[name]))
        total_cores = [0.0 for _ in SIZES]
        total_machines = [0 for _ in SIZES]
        complete = True
        for need in rows_of_config:
            cells = [name, need.label, number(need.fixed, 1), number(need.used, 1)]
            if need.used is None:
                complete = False
                rows.append(cells + ["not measured", "—"] * len(SIZES))
                continue
            counted = need.label != "nats-server, R1"  # the total counts NATS at R3
            for index, size in enumerate(SIZES):
                cores = cores_for(size, need.used, args.utilisation)
                machines, shown = need.machines(cores, args.machine_cores)
                cells += [number(cores, 1), shown]
                if counted:
                    total_cores[index] += cores
                    total_machines[index] += machines
            rows.append(cells)
        label = (
            "all roles, NATS at R3" if any(n.factor > 1 for n in rows_of_config) else "all roles"
        )
        cells = [name, label, "", ""]
        for cores, machines in zip(total_cores, total_machines, strict=True):
            cells += [number(cores, 1), str(machines)] if complete else ["—", "—"]
        rows.append(cells)
    return table(head, rows) if rows else "(nothing to size: no PostgreSQL configuration ran)"


def _bytes_per_event(runs: dict[str, list[ConfigRun]], field: str) -> float | None:
    """The median over the saturation phases of every sized configuration that has it."""
    values: list[float | None] = []
    for name in SIZED:
        for run in runs.get(name, []):
            phase = run.phases[-1]
            values.append(phase.bytes_per_event(getattr(phase, field)))
    return median(values)


def _range(low: float, high: float) -> str:
    return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f} to {high:.1f}"


def _rates(per_event: float) -> str:
    return ", ".join(f"{per_event * size / 1e6:,.0f} MB/s at {size:,}/s" for size in SIZES)


def findings(args: argparse.Namespace, runs: dict[str, list[ConfigRun]]) -> list[str]:
    """Sentences drawn from the figures: the bound, and the bytes each size moves."""
    lines = []
    postgres = [
        (name, cost.saturation)
        for name in SIZED
        if name in runs
        for cost in role_costs(runs[name])
        if cost.role == "postgres" and cost.saturation is not None
    ]
    if postgres:
        low, high = min(used for _, used in postgres), max(used for _, used in postgres)
        configurations = ", ".join(name for name, _ in postgres)
        (small_low, small_high), (large_low, large_high) = (
            (cores_for(size, low, args.utilisation), cores_for(size, high, args.utilisation))
            for size in SIZES
        )
        verdict = (
            f"Past one {args.machine_cores}-core machine, that is one primary of that size (not"
            " measured here past two cores, where WAL and lock contention may bind before its"
            " CPU does) or the events split over several databases, each with its own"
            " collectors (and stream and loaders)."
            if large_high > args.machine_cores
            else f"Both fit one {args.machine_cores}-core machine."
        )
        lines.append(
            "The bound is PostgreSQL, the one role that does not spread over machines: at"
            f" {_range(low, high)} µs of its CPU per event ({configurations}), one"
            f" primary needs {_range(small_low, small_high)} cores for {SIZES[0]:,}/s and"
            f" {_range(large_low, large_high)} for {SIZES[1]:,}/s. {verdict}"
        )
    database = _bytes_per_event(runs, "database_bytes")
    if database is not None:
        per_day = ", ".join(
            f"{database * size * SECONDS_PER_DAY / 1e12:,.1f} TB a day at {size:,}/s"
            for size in SIZES
        )
        lines.append(
            f"PostgreSQL grew by {database:,.0f} bytes per event on disk (tables, TOAST,"
            f" indexes; the WAL writes at least as much again): {_rates(database)}; {per_day}."
            " How long the database keeps events decides its disks as much as its cores do."
        )
    nats = _bytes_per_event(runs, "nats_bytes")
    if nats is not None:
        lines.append(
            f"nats-server took in {nats:,.0f} bytes per event: {_rates(nats)} into a stream's"
            f" leader, which at R3 also sends each message to two followers (the same again"
            " to each, and out again to the loaders)."
        )
    return lines


def assumptions(args: argparse.Namespace) -> list[str]:
    cores = os.cpu_count() or 0
    event_bytes = post_template("key").body_bytes / BATCH_EVENTS
    return [
        f"ESTIMATE from this machine ({machine_summary()}). Every component, the load"
        f" generator and any other work on the machine shared its {cores} cores at once (see"
        " each configuration's last rows): the events/s above are what this box did, not what"
        " one component does alone; CPU per event is the figure sized with. A core elsewhere"
        f" is not one of these, and nothing here ran on more than {cores} cores.",
        f"cores = events/s x CPU seconds per event ÷ {args.utilisation:.0%} utilisation target"
        f" ({1 - args.utilisation:.0%} headroom for peaks; --utilisation); CPU per event from"
        " the saturation phase (medians over the rounds; in ms per 1,000 events, = µs per"
        " event), where batches are full as on a machine kept busy; the fixed-rate figure"
        " beside it adds what each process costs when it is mostly idle.",
        f"requests: POST tp2 with {BATCH_EVENTS} events each ({event_bytes:,.0f} bytes per"
        " event), plain HTTP on loopback. Single-event requests (GET /i from browsers) cost"
        " the collector about three times more per event (endpoint_throughput.py); TLS, a proxy"
        " and the network between roles are not included.",
        f"machines = cores ÷ {args.machine_cores} cores per machine (--machine-cores), rounded"
        " up, one role per machine. A collector or loader process uses about one core at most (one"
        " Python interpreter): run `serve --workers N` and N loaders per machine. No spare for"
        " failures: add at least one collector and one loader machine.",
        "nats-server: measured as one server, R1, default sync_interval (no fsync per"
        f" message). The R3 row multiplies its CPU by {R3_FACTOR} across the cluster (each"
        " message stored on three servers, the leader also sending it to two followers):"
        " ASSUMED, not measured. A stream's messages all pass through its leader, so a"
        " stream spreads over its three servers and no further: past one machine's cores,"
        " several streams (DATACORAL_STREAM_NAME per group of collectors and their loaders),"
        " three servers each at R3. The total counts NATS at R3.",
        "postgres: the benchmark database's backends plus the server's background processes"
        " (postmaster, WAL writer, checkpointer, background writer), which also served any"
        " other database on the server during the run. One primary, its settings as printed"
        " above, tables empty at the start: at these rates the duplicate index (random UUIDs)"
        " outgrows memory within hours, after which inserts read from disk, so its figure is"
        " a lower bound; no replica, vacuum, backups or queries of the stored events.",
        "not sized: the load generator (the trackers' side) and configuration a (SQLite: one"
        " process on one machine; its stored events/s above is its limit).",
    ]


def print_sizing(args: argparse.Namespace, runs: dict[str, list[ConfigRun]]) -> None:
    print(f"## Sizing for 100k and 1M events/s (an estimate from a {os.cpu_count()}-core box)")
    print()
    print(sizing(args, runs))
    print()
    for line in findings(args, runs):
        print(line)
        print()
    for line in assumptions(args):
        print(f"- {line}")
