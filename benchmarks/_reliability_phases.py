"""Phases B and C of the reliability run: slow clients and idle connections, then overload.

Phase B holds connections that trickle a head, stall or trickle a body, or stay
idle (with or without a request before), each again as soon as the server ends
it, while a normal GET /i on a new connection is timed every 50 ms. Phase C fills
``max_connections`` with connections in the middle of a body, sends more
requests past the bound (503 with ``Retry-After``), waits for the busy ones to
time out (408) and checks a normal request is served again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from _endpoint_payloads import TP2
from _reliability_client import Answer, Results, parse_answer, read_answer, send_alone
from _reliability_requests import Planner, Request, message

#: How late a deadline may act: the sweeper's tick and a loaded machine.
SLACK = 1.5
#: Misbehaviours of phase B, each with the answer it must get: a 408, or a close without one.
KINDS = ("head trickle", "body stall", "body trickle", "idle, no request", "idle after a request")


@dataclass(frozen=True)
class Held:
    """One slow or idle connection of phase B: what ended it, and after how long."""

    kind: str
    status: int  # 0: closed without an answer
    closed: bool
    seconds: float  # from the start of the misbehaviour to the answer or the close


@dataclass
class SlowReport:
    held: list[Held] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)  # seconds per normal request


def stalled_post(key: str, *more: tuple[str, str]) -> bytes:
    """The head of a POST and the first bytes of a body that never comes."""
    headers = [("X-Api-Key", key), ("Content-Type", "application/json"), *more]
    return message("POST", TP2, headers, b" " * 2000)[:-1990]


async def _until_closed(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, bool, float]:
    """What the server sends until it closes: the data, whether it closed, and when the
    first byte (or the close) came."""
    data, first = b"", 0.0
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
        except (asyncio.TimeoutError, ValueError):
            return data, False, first or time.monotonic()
        except ConnectionError:
            chunk = b""
        first = first or time.monotonic()
        if not chunk:
            return data, True, first
        data += chunk


async def _first_head(reader: asyncio.StreamReader) -> bytes:
    """The head of the first answer on a connection, or nothing if it closes first."""
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return b""


async def _trickle(writer: asyncio.StreamWriter, byte: bytes) -> None:
    """A byte every 200 ms until the server closes."""
    with contextlib.suppress(ConnectionError):
        while not writer.is_closing():
            await asyncio.sleep(0.2)
            writer.write(byte)
            await writer.drain()


async def hold(
    host: str, port: int, kind: str, planner: Planner, results: Results, key: str
) -> Held:
    """One connection misbehaving as ``kind`` until the server ends it."""
    expect = frozenset({0 if kind.startswith("idle") else 408})
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        results.record("B", Request(f"slow: {kind}", b"", expect), Answer(-1))
        return Held(kind, -1, False, 0.0)
    trickler = None
    try:
        if kind == "head trickle":
            writer.write(b"GET /i HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            trickler = asyncio.create_task(_trickle(writer, b"z"))
        elif kind.startswith("body"):
            writer.write(stalled_post(key))
            if kind == "body trickle":
                trickler = asyncio.create_task(_trickle(writer, b" "))
        elif kind == "idle after a request":
            request = planner.probe()
            writer.write(request.data)
            try:
                answer = await asyncio.wait_for(read_answer(reader, False), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                answer = Answer(0)
            results.record("B", request, answer)
        started = time.monotonic()
        data, closed, ended = await _until_closed(reader, 10)
    finally:
        if trickler is not None:
            trickler.cancel()
        writer.close()
    answer = parse_answer(data)
    results.record("B", Request(f"slow: {kind}", b"", expect), answer)
    return Held(kind, answer.status, closed, ended - started)


async def slow_clients(
    host: str, port: int, planner: Planner, key: str, holders: int, seconds: float, results: Results
) -> SlowReport:
    """Phase B: ``holders`` slow or idle connections for ``seconds``, normal requests timed."""
    report = SlowReport()
    deadline = time.monotonic() + seconds

    async def holder(index: int) -> None:
        kind = KINDS[index % len(KINDS)]
        while time.monotonic() < deadline:
            # Spread out, so that old connections closing and new ones opening never meet
            # at the bound (where the longest-idle connection would be closed for room).
            await asyncio.sleep(planner.rng.random() * 0.2)
            report.held.append(await hold(host, port, kind, planner, results, key))

    async def prober() -> None:
        await asyncio.sleep(0.5)  # the holders are in place
        while time.monotonic() < deadline:
            request = planner.probe()
            started = time.monotonic()
            answer = await send_alone(host, port, request)
            report.probes.append(time.monotonic() - started)
            results.record("B", request, answer)
            await asyncio.sleep(0.05)

    await asyncio.gather(prober(), *(holder(i) for i in range(holders)))
    return report


async def overload(
    host: str,
    port: int,
    planner: Planner,
    key: str,
    max_connections: int,
    extra: int,
    results: Results,
) -> float:
    """Phase C, one round: ``max_connections`` busy, ``extra`` more turned away (503), the
    busy ones timed out (408); returns the seconds a normal request then took."""
    busy = [await asyncio.open_connection(host, port) for _ in range(max_connections)]
    for _, writer in busy:
        writer.write(stalled_post(key, ("Expect", "100-continue")))
    # "100 Continue": the server is reading the body, the connection is busy (not idle).
    heads = [await _first_head(reader) for reader, _ in busy]

    async def turned_away() -> None:
        request = planner.probe()
        request.case, request.expect = "GET /i past max_connections", frozenset({503})
        results.record("C", request, await send_alone(host, port, request))

    await asyncio.gather(*(turned_away() for _ in range(extra)))
    for (reader, writer), head in zip(busy, heads, strict=True):
        data, _, _ = await _until_closed(reader, 10)
        writer.close()
        if not head.startswith(b"HTTP/1.1 100 "):  # turned away itself
            data = head + data
        busy_request = Request("POST busy, body stalls", b"", frozenset({408, 503}))
        results.record("C", busy_request, parse_answer(data))
    request = planner.probe()
    started = time.monotonic()
    results.record("C", request, await send_alone(host, port, request))
    return time.monotonic() - started
