"""``datacoral serve --workers N``: N processes on one port, under one supervisor.

Real processes over real sockets, over each backend (the supervisor's own
behaviour, which no backend changes, over SQLite only). Which worker answered is
read from the access log (tests/collector/workers.py). Nothing waits by sleeping:
every wait polls with a deadline. Measurements are printed (``pytest -s``).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.storage import open_storage
from datacoral.storage.target import Target, target_argument
from tests.collector.builders import event
from tests.collector.conftest import create_keys
from tests.collector.raw_http import header, pixel_head, read_one_answer, status
from tests.collector.workers import (
    Load,
    children,
    connections_to,
    gone,
    post_request,
    serving,
    wait_serving,
    wait_until,
)
from tests.support.server import RunningServer, running_server, serve_command

WORKERS = 3


@contextmanager
def supervised(
    db: Target, workers: int = WORKERS, **settings: object
) -> Iterator[tuple[RunningServer, dict[int, int]]]:
    """A server with ``workers`` workers and the access log on; its pid per slot."""
    with running_server(db, workers=workers, access_log=True, **settings) as server:

        def all_serving() -> dict[int, int] | None:
            found = serving(server)
            return found if sorted(found) == list(range(1, workers + 1)) else None

        yield server, wait_until(all_serving, 10, "every worker logged as serving", server)


@contextmanager
def held_connections(
    server: RunningServer, pids: list[int], per_worker: int = 1
) -> Iterator[dict[int, list[socket.socket]]]:
    held = connections_to(server, pids, per_worker)
    with ExitStack() as stack:
        for group in held.values():
            for sock in group:
                stack.enter_context(sock)
        yield held


def send_at_once(sockets: list[socket.socket], request: bytes) -> list[bytes]:
    """Send ``request`` on every socket at the same moment; the answers."""
    start = threading.Barrier(len(sockets))
    answers = [b""] * len(sockets)

    def send(index: int) -> None:
        start.wait(10)
        sockets[index].sendall(request)
        answers[index] = read_one_answer(sockets[index], 30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sockets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def counts(db: Target) -> tuple[int, int, int]:
    """(good, bad, duplicates) of the ``dev`` environment."""
    storage = open_storage(db)
    try:
        found = storage.count_events("dev")
    finally:
        storage.close()
    return (found[0].good, found[0].bad, found[0].duplicates) if found else (0, 0, 0)


def times_stored(db: Target, event_ids: list[str]) -> list[int]:
    storage = open_storage(db)
    try:
        return [len(storage.find_events(event_id)) for event_id in event_ids]
    finally:
        storage.close()


def test_every_worker_serves_one_port(db_path: Target) -> None:
    create_keys(db_path)
    with supervised(db_path) as (server, pids):
        assert children(server.process.pid) == set(pids.values())
        # Connections from one client reach every worker (found through the access log).
        with held_connections(server, list(pids.values())) as held:
            assert set(held) == set(pids.values())
        log = server.log()
    assert log.count("datacoral serve: listening on") == 1
    assert "in each of 3 workers" in log  # the limits, logged once by the supervisor
    for pid in pids.values():
        assert gone(pid)


def test_a_killed_worker_is_replaced_while_the_others_serve(db_path: Target) -> None:
    keys = create_keys(db_path)
    with supervised(db_path) as (server, pids), Load(server.port, keys["dev"]) as load:
        wait_until(lambda: len(load.acknowledged()) >= 50, 20, "load under way", server)
        victim = pids[2]
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        successor = wait_serving(server, 2, not_pid=victim)
        replaced_in = time.monotonic() - killed_at
        # The others kept answering meanwhile, and the successor serves too.
        now = time.monotonic()
        wait_until(
            lambda: sum(o.started > now for o in load.acknowledged()) >= 50,
            20,
            "load after the replacement",
            server,
        )
        survivors = [pids[1], pids[3], successor]
        with held_connections(server, survivors) as held:
            assert set(held) == set(survivors)
    outcomes = load.snapshot()
    print(
        f"\nworker replaced in {replaced_in * 1000:.0f} ms; {len(outcomes)} requests,"
        f" {len(load.failed())} failed (in flight on the killed worker)"
    )
    assert replaced_in < 5
    assert f"worker 2 (pid {victim}) was killed by SIGKILL: starting another" in server.log()
    assert f"worker 2 (pid {successor}) serving, in place of pid {victim}" in server.log()
    # No request was refused; only requests already under way when the worker was
    # killed failed, at most one per client thread.
    assert not load.refused()
    failed = load.failed()
    assert all(o.started < killed_at for o in failed), failed
    assert len(failed) <= load.threads
    # Every acknowledged event is stored once (a failed one may have been committed).
    acknowledged = [o.event_id for o in load.acknowledged()]
    good, _, duplicates = counts(db_path)
    assert len(acknowledged) <= good <= len(acknowledged) + len(failed)
    assert duplicates == 0
    assert times_stored(db_path, random.sample(acknowledged, 50)) == [1] * 50


def test_sigterm_drains_every_worker_and_loses_no_event(db_path: Target) -> None:
    keys = create_keys(db_path)
    in_flight: list[tuple[socket.socket, bytes]] = []
    in_flight_events: list[str] = []
    with (
        supervised(db_path) as (server, pids),
        held_connections(server, list(pids.values())) as held,
        Load(server.port, keys["dev"]) as load,
    ):
        # A request in flight at each worker: its head read ("100 Continue"), no body yet.
        for (sock,) in held.values():
            batch = [event() for _ in range(3)]
            in_flight_events += [sent["eid"] for sent in batch]
            head, body = post_request(keys["dev"], batch, "Expect: 100-continue").split(
                b"\r\n\r\n", 1
            )
            sock.sendall(head + b"\r\n\r\n")
            assert status(read_one_answer(sock, 10)) == 100
            in_flight.append((sock, body))
        wait_until(lambda: len(load.acknowledged()) >= 50, 20, "load under way", server)

        server.process.send_signal(signal.SIGTERM)
        wait_until(lambda: load.refused(), 10, "new connections refused", server)
        for sock, body in in_flight:
            sock.sendall(body)
        for sock, _ in in_flight:
            assert status(read_one_answer(sock, 10)) == 200
        assert server.terminate() == 0
    acknowledged = len(load.acknowledged()) + len(in_flight_events)
    print(f"\n{acknowledged} events acknowledged before and during the drain")
    for pid in pids.values():
        assert gone(pid)
    assert server.log().count("datacoral.collector[") >= WORKERS
    assert f"stopping {WORKERS} worker(s)" in server.log()
    # Events acknowledged = events stored: every answered request was committed, and
    # no request was committed without its answer.
    assert counts(db_path) == (acknowledged, 0, 0)
    assert times_stored(db_path, in_flight_events) == [1] * len(in_flight_events)


def test_the_same_batch_reaching_every_worker_at_once_is_stored_once(db_path: Target) -> None:
    keys = create_keys(db_path)
    per_worker = 4
    copies = WORKERS * per_worker
    batches = [[event() for _ in range(20)] for _ in range(3)]
    with (
        supervised(db_path) as (server, pids),
        held_connections(server, list(pids.values()), per_worker) as held,
    ):
        sockets = [sock for group in held.values() for sock in group]
        for batch in batches:
            answers = send_at_once(sockets, post_request(keys["dev"], batch))
            assert [status(answer) for answer in answers] == [200] * copies
    sent = sum(len(batch) for batch in batches)
    assert counts(db_path) == (sent, 0, sent * (copies - 1))
    event_ids = [e["eid"] for batch in batches for e in batch]
    assert times_stored(db_path, event_ids) == [1] * sent


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(db_path: Target) -> None:
    create_keys(db_path)
    storage = open_storage(db_path)
    try:
        info, key = storage.create_key("dev", "to revoke")
    finally:
        storage.close()
    with (
        supervised(db_path) as (server, pids),
        held_connections(server, list(pids.values())) as held,
    ):
        for (sock,) in held.values():  # each worker has the key in its cache
            sock.sendall(pixel_head(key) + b"\r\n")
            assert status(read_one_answer(sock, 10)) == 200
        revoke = ["key", "revoke", info.key_id, "--db", target_argument(db_path)]
        result = CliRunner().invoke(cli, revoke)
        revoked_at = time.monotonic()
        assert result.exit_code == 0, result.output
        refused_after: dict[int, float] = {}
        while len(refused_after) < len(held):
            for pid, (sock,) in held.items():
                if pid in refused_after:
                    continue
                sock.sendall(pixel_head(key) + b"\r\n")
                answer = read_one_answer(sock, 10)
                if status(answer) == 401:
                    refused_after[pid] = time.monotonic() - revoked_at
                else:
                    assert status(answer) == 200
            assert time.monotonic() - revoked_at < 5, f"still accepted: {refused_after}"
    shown = ", ".join(f"{seconds * 1000:.0f} ms" for seconds in sorted(refused_after.values()))
    print(f"\nrevocation refused by each worker after {shown}")
    assert max(refused_after.values()) < 1.0


def test_a_killed_supervisor_leaves_no_worker(db_path: Target) -> None:
    create_keys(db_path)
    with supervised(db_path, workers=2) as (server, pids):
        assert children(server.process.pid) == set(pids.values())
        killed_at = time.monotonic()
        server.process.kill()
        wait_until(lambda: all(gone(pid) for pid in pids.values()), 15, "workers exited", server)
        print(f"\nworkers gone {(time.monotonic() - killed_at) * 1000:.0f} ms after the supervisor")
        server.kill()  # reaps it and reads the rest of the log
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    # They stopped as on SIGTERM: drained, storage closed.
    assert server.log().count("the supervisor is gone: stopping") == 2
    assert server.log().count("datacoral.collector[") >= 2


@pytest.mark.sqlite_only  # several SQLite writers on one file
def test_a_locked_database_gives_503_from_every_worker_then_recovers(db_path: Path) -> None:
    keys = create_keys(db_path)
    settings = {"storage_busy_timeout_seconds": 0.2, "retry_after_seconds": 7}
    with (
        supervised(db_path, **settings) as (server, pids),
        held_connections(server, list(pids.values())) as held,
    ):
        other = sqlite3.connect(db_path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            for (sock,) in held.values():
                sock.sendall(post_request(keys["dev"], [event()]))
                answer = read_one_answer(sock, 10)
                assert (status(answer), header(answer, b"retry-after")) == (503, b"7")
        finally:
            other.execute("ROLLBACK")
            other.close()
        for (sock,) in held.values():
            deadline = time.monotonic() + 10
            while status(answer := _post(sock, keys["dev"])) != 200:
                assert status(answer) == 503
                assert time.monotonic() < deadline, "a worker did not recover"


def _post(sock: socket.socket, key: str) -> bytes:
    sock.sendall(post_request(key, [event()]))
    return read_one_answer(sock, 10)


# -- the supervisor itself: the same over any backend, so run over SQLite only ----------


def test_a_crash_loop_backs_off(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    create_keys(db)
    with supervised(db, workers=2) as (server, pids):
        pid, waited = pids[2], []
        for _ in range(3):
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            successor = wait_serving(server, 2, not_pid=pid)
            waited.append(time.monotonic() - killed_at)
            pid = successor
        with held_connections(server, [pids[1], pid]):
            pass  # both serve: the first worker throughout, the third successor now
    print("\nreplaced after " + ", ".join(f"{seconds * 1000:.0f} ms" for seconds in waited))
    log = server.log()
    assert "was killed by SIGKILL: starting another" in log
    assert "was killed by SIGKILL, 2 exits in a row: starting another in 0.5 s" in log
    assert "was killed by SIGKILL, 3 exits in a row: starting another in 1 s" in log
    assert waited[1] >= 0.5 and waited[2] >= 1.0


STARTED = re.compile(r"worker \d \(pid (\d+)\) started")


def start_and_kill_the_first_worker(db: Path) -> tuple[int, str]:
    """``serve --workers 2``, its first worker SIGKILLed as soon as it is started: the
    exit code and the log (None when every worker served first: the kill came late)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACORAL_")}
    env |= {"DATACORAL_WORKERS": "2", "DATACORAL_LOG_LEVEL": "debug", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        serve_command(db),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    server = RunningServer(process)
    first = wait_until(lambda: STARTED.search(server.log()), 30, "worker 1 started", server)
    os.kill(int(first[1]), signal.SIGKILL)
    wait_until(
        lambda: process.poll() is not None or "listening on" in server.log(),
        30,
        "the supervisor's exit",
        server,
    )
    return server.terminate(), server.log()


def test_a_worker_that_cannot_start_ends_the_start_with_one_error(tmp_path: Path) -> None:
    db = tmp_path / "events.sqlite"
    create_keys(db)
    for _attempt in range(3):
        code, log = start_and_kill_the_first_worker(db)
        if "listening on" not in log:
            break  # else both workers served before the kill arrived: try again
    assert code == 1, log
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert re.search(r"worker 1 \(pid \d+\) was killed by SIGKILL (before it|while)", errors[0])
    for pid in STARTED.findall(log):
        assert gone(int(pid))


@pytest.mark.parametrize(
    ("option", "env", "message"),
    [
        (["--workers", "0"], {}, "--workers must be 1-64, got 0"),
        ([], {"DATACORAL_WORKERS": "65"}, "DATACORAL_WORKERS must be 1-64, got 65"),
    ],
)
def test_workers_is_checked_before_anything_starts(
    tmp_path: Path, option: list[str], env: dict[str, str], message: str
) -> None:
    db = tmp_path / "x.sqlite"
    result = CliRunner().invoke(cli, ["serve", "--db", str(db), *option], env=env)
    assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
    assert not db.exists()
