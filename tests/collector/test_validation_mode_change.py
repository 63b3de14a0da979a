"""A validation mode changed with ``datacoral env set`` reaches running collectors within
a second (README, "Schemas (Iglu)"; datacoral/collector/environments.py).

Two collectors over one store (a SQLite file, or a PostgreSQL schema, where the change
travels by NOTIFY to each collector's copy of the environments). The change is made by
the real command line in a subprocess (then undone with the storage API) while each
collector is polled without pause with the seed snippet's ``schema="test"`` event,
whose fate tells the mode apart without a registry: stored unvalidated when lenient, a
bad row when strict, stored again when off. Polling keeps each collector's cached copy
of the environments fresh, so the change lands at a random point of its lifetime, as
it does under traffic.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import requests

from datacoral.admin.environments import ValidationMode
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from datacoral.storage.target import Target, target_argument
from tests.collector import schema_events as se
from tests.collector.builders import TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.support.server import RunningServer, running_server

#: The promise: a mode change reaches every running collector within this many seconds.
WITHIN = 1.0
#: How long the poll goes on before it reports a collector that never changed.
POLL_DEADLINE = 10.0
POLL_INTERVAL = 0.02


@pytest.fixture
def collectors(db_path: Target) -> Iterator[list[RunningServer]]:
    with ExitStack() as stack:
        yield [stack.enter_context(running_server(db_path)) for _ in range(2)]


@pytest.fixture
def reader(db_path: Target) -> Iterator[AdminStorage]:
    storage = open_storage(db_path)
    try:
        yield storage
    finally:
        storage.close()


def _set_mode_command(db: Target, mode: str) -> subprocess.Popen[str]:
    """``datacoral env set dev --validation MODE``, started in a subprocess."""
    command = ["env", "set", "dev", "--validation", mode, "--db", target_argument(db)]
    return subprocess.Popen(
        [sys.executable, "-m", "datacoral", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _send(server: RunningServer, key: str) -> str:
    event = se.not_iglu()
    answer = requests.post(server.url + TP2, json=envelope(event), headers=headers(key), timeout=10)
    assert answer.status_code == 200
    return event["eid"]


def _seconds_until(
    servers: list[RunningServer],
    key: str,
    changed: Callable[[], float | None],
    applied: Callable[[str], bool],
) -> list[float]:
    """Per collector, the seconds from the change (``changed()``: when it was made, None
    while it is under way) to the first event the collector treated in the new mode
    (``applied(event_id)``). Every collector is kept busy meanwhile, so none holds a
    copy of the environments older than its cache allows when the change lands."""
    sent_at: dict[int, float] = {}
    made: float | None = None
    deadline = time.monotonic() + POLL_DEADLINE
    while made is None or len(sent_at) < len(servers):
        made = changed() if made is None else made
        for index, server in enumerate(servers):
            started = time.monotonic()
            if index not in sent_at and applied(_send(server, key)):
                sent_at[index] = started
        assert time.monotonic() < deadline, f"changed at {made}, collectors done: {sent_at}"
        time.sleep(POLL_INTERVAL)
    return [max(0.0, sent_at[index] - made) for index in range(len(servers))]


def test_a_mode_change_reaches_every_running_collector_within_a_second(
    db_path: Target, collectors: list[RunningServer], reader: AdminStorage
) -> None:
    key = create_keys(db_path)["dev"]

    def stored_unvalidated(event_id: str) -> bool:
        return any(
            e.event.event_id == event_id and not e.event.schema_validated
            for e in reader.latest_events("dev", 5)
        )

    def refused(event_id: str) -> bool:
        return any(r.row.event_id == event_id for r in reader.latest_bad_rows("dev", 5))

    # lenient (the default) before any change, in both collectors
    assert all(stored_unvalidated(_send(server, key)) for server in collectors)

    # The command line: timed from its exit (its commit comes a little before).
    command = _set_mode_command(db_path, "strict")

    def command_exited() -> float | None:
        return None if command.poll() is None else time.monotonic()

    to_strict = _seconds_until(collectors, key, command_exited, refused)
    stdout, stderr = command.communicate(timeout=60)
    assert (command.returncode, stdout) == (0, "environment 'dev': validation strict\n"), stderr
    assert max(to_strict) < WITHIN, to_strict

    # The storage API: timed from the commit itself.
    committed: list[float] = []

    def set_off() -> float:
        if not committed:
            reader.set_validation("dev", ValidationMode.OFF)
            committed.append(time.monotonic())
        return committed[0]

    to_off = _seconds_until(collectors, key, set_off, stored_unvalidated)
    assert max(to_off) < WITHIN, to_off
