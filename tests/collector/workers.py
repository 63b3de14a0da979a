"""Seeing the workers of ``datacoral serve --workers N`` from outside, for test_workers.py.

Which worker answered is read from the log, never from the answer: with
``DATACORAL_ACCESS_LOG=1`` every line names its process (``datacoral.access[4242]:
GET /probe/... 404``), and the supervisor logs ``worker 2 (pid 4242) serving``.
A keep-alive connection stays with the worker that accepted it, so a connection
probed once reaches that worker for as long as it stays open.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.collector.builders import TP2, envelope, event
from tests.collector.raw_http import connect, read_answer, read_one_answer, status
from tests.support.server import RunningServer

SERVING = re.compile(r"datacoral\.supervisor\[\d+\]: worker (\d+) \(pid (\d+)\) serving")
ANSWERED = re.compile(r"datacoral\.access\[(\d+)\]: GET /probe/([0-9a-f]+) 404")


def serving(server: RunningServer) -> dict[int, int]:
    """The pid serving each worker slot, as the supervisor last logged it."""
    pids: dict[int, int] = {}
    for found in SERVING.finditer(server.log()):
        pids[int(found[1])] = int(found[2])
    return pids


def wait_until(condition: Any, timeout: float, what: str, log: RunningServer) -> Any:
    """Poll ``condition()`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{log.log()}")
        time.sleep(0.01)


def wait_serving(server: RunningServer, slot: int, *, not_pid: int, timeout: float = 15) -> int:
    """The pid of the worker that took ``slot`` over from ``not_pid``, once it serves."""

    def replaced() -> int | None:
        pid = serving(server).get(slot)
        return pid if pid not in (None, not_pid) else None

    return int(wait_until(replaced, timeout, f"worker {slot} replaced", server))


def probe(server: RunningServer, sock: socket.socket, timeout: float = 10) -> int:
    """The pid of the worker holding ``sock``: a request it answers 404 and logs."""
    marker = uuid.uuid4().hex
    sock.sendall(f"GET /probe/{marker} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    assert status(read_one_answer(sock, timeout)) == 404

    def logged() -> int | None:
        for found in ANSWERED.finditer(server.log()):
            if found[2] == marker:
                return int(found[1])
        return None

    return int(wait_until(logged, timeout, "the probe's access log line", server))


def connections_to(
    server: RunningServer, pids: Iterable[int], per_worker: int = 1, timeout: float = 30
) -> dict[int, list[socket.socket]]:
    """``per_worker`` open keep-alive connections to each of ``pids``.

    New connections go to whichever worker accepts first; keep opening them until
    every worker holds enough (surplus ones are closed).
    """
    wanted = set(pids)
    held: dict[int, list[socket.socket]] = {pid: [] for pid in wanted}
    deadline = time.monotonic() + timeout
    while any(len(held[pid]) < per_worker for pid in wanted):
        assert time.monotonic() < deadline, f"connections reached only {held}\n{server.log()}"
        sock = connect(server)
        pid = probe(server, sock)
        if pid in wanted and len(held[pid]) < per_worker:
            held[pid].append(sock)
        else:
            sock.close()
    return held


def post_request(key: str, events: list[dict[str, str]], *extra: str) -> bytes:
    """A whole keep-alive ``POST tp2`` request carrying ``events``."""
    body = json.dumps(envelope(*events)).encode()
    head = [
        f"POST {TP2} HTTP/1.1",
        "Host: test",
        "Content-Type: application/json",
        f"X-Api-Key: {key}",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return "".join(line + "\r\n" for line in head).encode() + b"\r\n" + body


def gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (zombies included)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@dataclass
class Outcome:
    """One request of a :class:`Load`: when it started, and how it ended."""

    started: float
    event_id: str
    status: int = 0
    error: str = ""


class Load:
    """Threads that each POST one event per new connection, as fast as answers come.

    Every request is recorded: acknowledged (200), refused (the connection was
    refused), or failed (reset, closed without an answer, any other status).
    """

    def __init__(self, port: int, key: str, threads: int = 4) -> None:
        self.port = port
        self.key = key
        self.threads = threads
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._workers:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = event()
            outcome = Outcome(time.monotonic(), sent["eid"])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                    sock.sendall(post_request(self.key, [sent], "Connection: close"))
                    answer, _ = read_answer(sock, 30)
                outcome.status = status(answer)
            except ConnectionRefusedError:
                outcome.error = "refused"
            except OSError as exc:
                outcome.error = type(exc).__name__
            with self._lock:
                self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def acknowledged(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.status == 200]

    def refused(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.error == "refused"]

    def failed(self) -> list[Outcome]:
        return [o for o in self.snapshot() if o.status != 200 and o.error != "refused"]
