"""A 2xx means stored: no answer leaves while the commit is still held back.

The SIGKILL durability test cannot see an answer that goes out a moment before
its commit: the commit almost always follows before the kill. Here the commit is
held for as long as the test wants: the endpoint runs in this process (uvicorn on
a loopback socket) over the backend's storage, whose ``commit`` waits for the
test's signal before it commits.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import requests
import uvicorn

from datacoral.collector.app import CollectorApp
from datacoral.config import Settings
from datacoral.storage import open_storage
from datacoral.storage.base import (
    BadRow,
    CommitResult,
    EnvironmentRecord,
    GoodEvent,
    KeyRecord,
)
from datacoral.storage.target import Target
from tests.collector.builders import TP2, envelope, event
from tests.collector.conftest import create_keys

WAIT = 10.0  # seconds: a deadline for things that happen at once unless the code is broken


class HeldCommits:
    """The backend's storage, whose commits wait until the test releases them."""

    def __init__(self, db: Target) -> None:
        self.db = db
        self._storage = open_storage(db)
        self.waiting = threading.Event()
        self.release = threading.Event()

    def open(self) -> None:
        self._storage.open()

    def close(self) -> None:
        self._storage.close()

    def lookup_key(self, key_hash: bytes) -> KeyRecord | None:
        return self._storage.lookup_key(key_hash)

    def environments(self) -> list[EnvironmentRecord]:
        return self._storage.environments()

    def is_ready(self) -> bool:
        return self._storage.is_ready()

    async def commit(self, good: list[GoodEvent], bad: list[BadRow]) -> CommitResult:
        self.waiting.set()
        await asyncio.to_thread(self.release.wait, WAIT * 3)
        return await self._storage.commit(good, bad)


class _Server(uvicorn.Server):
    """uvicorn in a thread of the test, telling when it serves."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.serving = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.serving.set()


@contextmanager
def serving(storage: HeldCommits) -> Iterator[int]:
    """The endpoint over ``storage`` on a free loopback port; yields the port."""
    settings = Settings(db=storage.db, port=0)
    app = CollectorApp(settings, storage_factory=lambda _: storage)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, ws="none")
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.serving.wait(WAIT), "the endpoint did not start"
        yield sock.getsockname()[1]
    finally:
        storage.release.set()
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
    assert not thread.is_alive(), "the endpoint did not stop"


def request_bytes(method: str, key: str, batch: list[dict[str, str]]) -> bytes:
    if method == "POST":
        body = json.dumps(envelope(*batch)).encode()
        head = (
            f"POST {TP2} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"X-Api-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body
    (single,) = batch
    return f"GET /i?{urlencode(single)} HTTP/1.1\r\nHost: test\r\nX-Api-Key: {key}\r\n\r\n".encode()


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + WAIT
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_no_answer_leaves_before_the_commit(db_path: Target, method: str) -> None:
    keys = create_keys(db_path)
    batch = [event(p="web")] if method == "GET" else [event() for _ in range(3)]
    storage = HeldCommits(db_path)
    with serving(storage) as port, socket.create_connection(("127.0.0.1", port), WAIT) as sock:
        sock.sendall(request_bytes(method, keys["dev"], batch))
        assert storage.waiting.wait(WAIT), "the request never reached the commit"
        # Another request answered proves the event loop ran on since the commit began:
        # an answer sent before the commit would already be in this socket.
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=WAIT)
        assert health.status_code == 200
        readable, _, _ = select.select([sock], [], [], 0)
        assert not readable, f"answered before the commit: {sock.recv(200)!r}"

        storage.release.set()
        assert read_answer(sock).startswith(b"HTTP/1.1 200 OK\r\n")

    reader = open_storage(db_path)
    try:
        assert [len(reader.find_events(e["eid"])) for e in batch] == [1] * len(batch)
    finally:
        reader.close()
