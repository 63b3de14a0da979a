"""Scale-out: stored events/s and CPU per event of each component, for each way to deploy.

Configurations, measured one after the other in one run, with the same load:

- ``a``  SQLite, one ``datacoral serve`` process;
- ``b1`` PostgreSQL direct: ``datacoral serve --db postgresql://...``, 1 worker;
- ``b2`` the same with ``--workers 2``;
- ``c``  JetStream: ``datacoral serve --stream`` (1 worker) publishing to a nats-server of
  our own (JetStream on files, R1), and ``--loaders`` ``datacoral load`` processes writing
  into PostgreSQL.

Each configuration run starts from nothing (a new SQLite file or PostgreSQL database, a
new nats-server), creates a ``dev`` key with ``datacoral key create`` against its store,
warms up, and then measures two phases with POST ``tp2`` batches of 50 events
(``_endpoint_payloads.py``, fresh random event ids) from the load generator of
``_endpoint_load.py`` (wrk, else ``_pyload.py``):

- ``fixed``: ``--rate`` requests/s offered (below every configuration's saturation);
- ``saturation``: ``--connections`` keep-alive connections as fast as answers come.

Stored events are counted in the store once it stops growing (for ``c``, once the loaders
drained the stream: the drain time is from the end of the load to the last new row).
CPU seconds of every process of every component (``_scaleout_cpu.py``: collector
processes, nats-server, each loader, this database's PostgreSQL backends and the
cluster's background processes) are read from ``/proc`` over the load and the drain; the
load generator's from ``RUSAGE_CHILDREN``; the rest of the machine's busy time (this
script, other work on a shared box) from ``/proc/stat``. Bytes: what nats-server took in
(its ``/varz``) and how much the PostgreSQL database grew on disk. Reported per
configuration: stored events/s and, per component, cores busy and CPU ms per 1,000 stored
events (µs per event), medians over ``--rounds``; then cores and machines of each role for
100k and 1M events/s from the saturation phase's costs (``_scaleout_sizing.py``), with its
assumptions.

    python benchmarks/scaleout.py [--duration 10] [--rounds 3] [--configs a,b1,b2,c]
                                  [--rate 100] [--connections 32] [--loaders 2]
                                  [--utilisation 0.7] [--machine-cores 8]
                                  [--postgres URL] [--generator auto|wrk|python] [--smoke]

Without PostgreSQL (or nats-server) the configurations needing it are skipped with the
reason; under ``DATACORAL_REQUIRE_SERVICES=1`` a missing service exits 1. Exit status 1
also when a server, loader or the load generator failed, or an accepted event was not
stored, or any request failed.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import _endpoint_load
from _endpoint_load import Load, LoadFailed, describe_generator, run
from _endpoint_payloads import BATCH_EVENTS, RequestTemplate, post_template
from _endpoint_servers import ServerFailed, bad_rows, datacoral_serve, stored_events
from _report import machine_summary
from _scaleout_cpu import CpuMeter, Finder, children_cpu, descendants, wait_idle
from _scaleout_report import CLIENT, CONFIGS, ELSEWHERE, Config, ConfigRun, Phase, report
from _scaleout_services import (
    DEFAULT_POSTGRES,
    BenchDatabase,
    Loader,
    NatsServer,
    ServiceMissing,
    bench_database,
    create_key,
    loaders,
    nats_binary,
    nats_missing,
    nats_server,
    postgres_describe,
    postgres_missing,
    stream_state,
)
from _scaleout_sizing import print_sizing

#: Seconds without a new stored event after which a drain is given up (more than the
#: loaders' 30 s ack wait, after which a stuck loader's messages go to another).
STALL_SECONDS = 45.0
#: Seconds the count must stay unchanged, once it reached the accepted events.
SETTLE_SECONDS = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=3, help="times each configuration runs")
    parser.add_argument("--configs", default="a,b1,b2,c", help="which of a,b1,b2,c, in order")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="requests/s of the fixed phase (50 events each)"
    )
    parser.add_argument("--connections", type=int, default=32, help="for the saturation phase")
    parser.add_argument("--loaders", type=int, default=2, help="datacoral load processes in c")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin URL of the server")
    parser.add_argument("--utilisation", type=float, default=0.7, help="sizing: target per core")
    parser.add_argument("--machine-cores", type=int, default=8, help="sizing: cores per machine")
    parser.add_argument(
        "--generator", choices=("auto", "wrk", "python"), default="auto", help="load generator"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run that checks it works")
    args = parser.parse_args(argv)
    _endpoint_load.use_generator(args)
    args.configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in args.configs if name not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}: choose from a,b1,b2,c")
    if args.smoke:
        args.duration, args.rounds, args.rate, args.connections = 1.0, 1, 20.0, 4
    return args


def _pids(process: subprocess.Popen[str]) -> list[int]:
    return [process.pid]


class Store:
    """What a configuration writes into: counts and a cheap progress figure."""

    def __init__(self, sqlite: Path | None, database: BenchDatabase | None) -> None:
        self.sqlite, self.database = sqlite, database

    def stored(self) -> int:
        if self.database is not None:
            return self.database.stored()
        assert self.sqlite is not None
        return stored_events(self.sqlite)

    def progress(self) -> int:
        return self.database.progress() if self.database is not None else self.stored()

    def bad_rows(self) -> int:
        if self.database is not None:
            return self.database.bad_rows()
        assert self.sqlite is not None
        return bad_rows(self.sqlite)


def wait_drained(
    store: Store, target: int, load_end: float, check: Callable[[], None]
) -> tuple[float, bool]:
    """Wait until ``store.progress()`` reached ``target`` and stopped changing; the seconds
    from ``load_end`` to its last change, and whether it reached the target."""
    last, last_change = store.progress(), load_end
    while True:
        time.sleep(0.1)
        check()
        now, value = time.monotonic(), store.progress()
        if value != last:
            last, last_change = value, now
        if value >= target and now - last_change >= SETTLE_SECONDS:
            return max(0.0, last_change - load_end), True
        if now - last_change >= STALL_SECONDS:
            return max(0.0, last_change - load_end), False


class Bench:
    """One configuration's servers, its store and its meters, for one round."""

    def __init__(self, args: argparse.Namespace, config: Config, stack: ExitStack) -> None:
        self.args, self.config = args, config
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scaleout-")))
        self.finders: dict[str, Finder] = {}
        self.loaders: list[Loader] = []
        self.nats: NatsServer | None = None
        database: BenchDatabase | None = None
        if config.storage == "sqlite":
            target = str(directory / "events.sqlite")
            self.store = Store(Path(target), None)
            key = create_key(target)
        else:
            database = stack.enter_context(bench_database(args.postgres))
            self.store = Store(None, database)
            target = database.url("scaleout_collector")
            key = create_key(database.url("scaleout_cli"))
        options = ["--workers", str(config.workers)]
        if config.stream:
            nats = stack.enter_context(nats_server(directory))
            self.nats = nats
            options += ["--stream", nats.url]
        # datacoral_serve puts str(db) on the command line, so a URL serves as well as a path.
        server = stack.enter_context(datacoral_serve(target, options=options))  # type: ignore[arg-type]
        self.url = server.url
        self.finders["collector"] = lambda: descendants(server.process.pid)
        if config.stream:
            self.finders["nats-server"] = lambda: [nats.process.pid]
            assert database is not None
            self.loaders = stack.enter_context(
                loaders(database.url("scaleout_loader"), nats.url, args.loaders, directory)
            )
            for number, loader in enumerate(self.loaders, 1):
                self.finders[f"loader {number}"] = functools.partial(_pids, loader.process)
            wait_idle([loader.process.pid for loader in self.loaders])
            self.check()
        if database is not None:
            self.finders["postgres backends"] = database.backends
            self.finders["postgres background"] = database.background
        self.database = database
        self.template: RequestTemplate = post_template(key)

    def check(self) -> None:
        for loader in self.loaders:
            loader.check()

    def load(self, duration: float, rate: float, connections: int) -> Load:
        return Load(self.url, self.template, connections, duration, rate=rate)

    def measure(self, name: str, load: Load) -> Phase:
        before, progress = self.store.stored(), self.store.progress()
        size = self.database.size() if self.database is not None else 0
        nats_in = self.nats.bytes_in() if self.nats is not None else 0
        refresh = self.database.refresh if self.database is not None else None
        meter = CpuMeter(self.finders, refresh)
        meter.start()
        client_before = children_cpu()
        result = run(load)
        client = children_cpu() - client_before
        load_end = time.monotonic()
        accepted = (result.requests - result.status_errors) * BATCH_EVENTS
        drain, complete = wait_drained(self.store, progress + accepted, load_end, self.check)
        cpu = meter.stop()
        self.check()
        cpu[CLIENT] = client
        cpu[ELSEWHERE] = max(0.0, meter.machine_seconds - sum(cpu.values()))
        visible = self.database is None or self.database.visible
        return Phase(
            name=name,
            rate=load.rate,
            load=result,
            accepted=accepted,
            stored=self.store.stored() - before,
            drain=drain,
            cpu=cpu,
            drained=complete,
            postgres_visible=visible,
            database_bytes=self.database.size() - size if self.database is not None else None,
            nats_bytes=self.nats.bytes_in() - nats_in if self.nats is not None else None,
        )

    def warm_up(self) -> None:
        rate = self.args.rate
        self.measure("warm-up", self.load(2.0, rate, min(8, self.args.connections)))


def run_config(args: argparse.Namespace, config: Config) -> ConfigRun:
    with ExitStack() as stack:
        bench = Bench(args, config, stack)
        if not args.smoke:
            bench.warm_up()
        fixed = bench.measure("fixed", bench.load(args.duration, args.rate, args.connections))
        saturation = bench.measure("saturation", bench.load(args.duration, 0.0, args.connections))
        held = stream_state(bench.nats.url)[1] if bench.nats is not None else 0
        return ConfigRun(config, [fixed, saturation], bench.store.bad_rows(), held)


def missing_service(config: Config, admin_url: str) -> str | None:
    if config.storage == "postgres" and (reason := postgres_missing(admin_url)):
        return reason
    if config.stream and (reason := nats_missing()):
        return reason
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    required = os.environ.get("DATACORAL_REQUIRE_SERVICES", "") not in ("", "0")
    print(f"# Scale-out: stored events/s and CPU per event by component — {machine_summary()}")
    print(f"load generator: {describe_generator()}")
    print(
        f"{args.rounds} round(s); per configuration and round: {args.duration:g} s at a fixed"
        f" {args.rate:g} requests/s ({args.rate * BATCH_EVENTS:,.0f} events/s offered), then"
        f" {args.duration:g} s as fast as {args.connections} keep-alive connections go;"
        f" POST tp2, {BATCH_EVENTS} events per request"
    )
    configs = [CONFIGS[name] for name in args.configs]
    skipped: dict[str, str] = {}
    for config in configs:
        reason = missing_service(config, args.postgres)
        if reason is not None:
            skipped[config.name] = reason
    if skipped and required:
        for name, reason in skipped.items():
            print(
                f"FAILED: {name}: required service missing (DATACORAL_REQUIRE_SERVICES=1):"
                f" {reason}",
                file=sys.stderr,
            )
        return 1
    if any(c.storage == "postgres" and c.name not in skipped for c in configs):
        print(f"{postgres_describe(args.postgres)}; a new database per configuration run")
    if any(c.stream and c.name not in skipped for c in configs):
        found = nats_binary()
        print(
            f"NATS: nats-server {found[1] if found else '?'} of our own, JetStream on files in"
            f" a temporary directory, stream R1, default sync_interval; {args.loaders} loader(s)"
        )
    runs: dict[str, list[ConfigRun]] = {}
    started = time.monotonic()
    try:
        for round_number in range(1, args.rounds + 1):
            for config in configs:
                if config.name in skipped:
                    continue
                runs.setdefault(config.name, []).append(run_config(args, config))
            print(
                f"round {round_number}/{args.rounds} done ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    except (ServerFailed, LoadFailed, ServiceMissing) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    status = report(args, configs, runs, skipped)
    print()
    print_sizing(args, runs)
    if args.smoke:
        print("\n(smoke size: the figures mean nothing)")
    return status


if __name__ == "__main__":
    sys.exit(main())
