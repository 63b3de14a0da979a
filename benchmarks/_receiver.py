"""A small, fast HTTP/1.1 keep-alive receiver on 127.0.0.1 that counts tracked events.

It runs an asyncio server (uvloop when installed) on a background thread of the
benchmark's parent process. It answers every request ``200 ok`` at once, parses
POST bodies (``payload_data`` JSON) and GET ``/i`` query strings, and tallies
events per run by their ``aid`` (each run tracks with its own app id), keeping
the distinct event ids so a run can prove every event arrived exactly once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

_loads: Callable[[bytes], Any]
try:  # orjson parses the bodies several times faster; the stdlib is the fallback
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
GET_PATHS = ("/i", "/ice.png")
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class RunTally:
    """What arrived for one run (one ``aid``)."""

    events: int = 0
    event_ids: set[str] = field(default_factory=set)
    malformed: int = 0


@dataclass(frozen=True)
class RunCount:
    """The receiver's verdict on one run."""

    events: int
    distinct_ids: int
    malformed: int
    requests: int

    def complete(self, expected: int) -> bool:
        return self.events == expected and self.distinct_ids == expected and not self.malformed


class Tally:
    """Counts per run; written by the server thread, read by the benchmark thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunTally] = {}
        self._requests: dict[str, int] = {}
        self.bad_requests = 0

    def record(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            seen_runs: set[str] = set()
            for event in events:
                run_id = str(event.get("aid", ""))
                run = self._runs.get(run_id)
                if run is None:
                    run = self._runs[run_id] = RunTally()
                seen_runs.add(run_id)
                run.events += 1
                event_id = event.get("eid")
                if isinstance(event_id, str) and "ue_px" in event and "cx" in event:
                    run.event_ids.add(event_id)
                else:
                    run.malformed += 1
            for run_id in seen_runs:
                self._requests[run_id] = self._requests.get(run_id, 0) + 1

    def bad_request(self) -> None:
        with self._lock:
            self.bad_requests += 1

    def take(self, run_id: str) -> RunCount:
        """The count for ``run_id``, forgetting it (each run id is used once)."""
        with self._lock:
            run = self._runs.pop(run_id, RunTally())
            requests = self._requests.pop(run_id, 0)
        return RunCount(run.events, len(run.event_ids), run.malformed, requests)


def events_of(method: str, target: str, body: bytes) -> list[dict[str, Any]] | None:
    """The events one request carries, or None when it is not a tracker request."""
    path, _, query = target.partition("?")
    if method == "POST" and path == POST_PATH:
        data = _loads(body).get("data")
        return data if isinstance(data, list) else None
    if method == "GET" and path in GET_PATHS:
        return [dict(parse_qsl(query))]
    return None


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parses pipelined requests with minimal HTTP rules."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._handle_one():
            pass

    def _handle_one(self) -> bool:
        """Answer one complete request from the buffer; False when more bytes are needed."""
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
        length, close, chunked = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                chunked = True
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return False
        body = bytes(self.buffer[head_end + 4 : end])
        del self.buffer[:end]
        parts = lines[0].split(" ")
        events = None
        if len(parts) == 3 and not chunked:
            try:
                events = events_of(parts[0], parts[1], body)
            except ValueError:
                events = None
        assert self.transport is not None
        if events is None:
            self.tally.bad_request()
            self.transport.write(_BAD)
            self.transport.close()
            return False
        self.tally.record(events)
        self.transport.write(_OK)
        if close:
            self.transport.close()
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - depends on the environment
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class Receiver:
    """The server on its own thread: ``with Receiver() as r: ... r.port ... r.tally``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.tally = Tally()
        self._loop = _new_loop()
        self._ready = threading.Event()
        self._stop: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._serve, name="receiver", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Connection(self.tally), self.host, 0, backlog=1024)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def __enter__(self) -> Receiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the receiver did not start within 10 s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
