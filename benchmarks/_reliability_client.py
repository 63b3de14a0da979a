"""The reliability run's clients: raw HTTP/1.1 over asyncio sockets, and what came back.

:class:`Results` gathers every answer: statuses per phase and case, answers that
were not among the right ones, and the :class:`~_reliability_ledger.Outcome`
each environment's store must show. Phase A (:func:`fuzz`) drives keep-alive
clients; :mod:`_reliability_phases` holds the slow-client and overload phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _reliability_ledger import Outcome
from _reliability_requests import Planner, Request

#: How long an answer may take before the request counts as unanswered (status 0).
ANSWER_TIMEOUT = 15.0
#: A kept-alive connection idle this long is not reused: the server may be closing it.
REUSE_IDLE = 1.0


@dataclass
class Answer:
    status: int  # 0: no answer
    headers: dict[bytes, bytes] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = True  # the server closes the connection after it


def _head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """The status and headers (names in lower case) of an answer's head; status -2 when it
    is not an HTTP/1.1 answer."""
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1]) if lines[0].startswith(b"HTTP/1.1 ") else -2
    except (IndexError, ValueError):
        status = -2
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_answer(reader: asyncio.StreamReader, head_only: bool) -> Answer:
    """One answer: its head, and its body by ``Content-Length`` or chunks."""
    status, headers = _head(await reader.readuntil(b"\r\n\r\n"))
    body = b""
    if head_only or status in (204, 304):
        pass
    elif b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.read()
    return Answer(status, headers, body, headers.get(b"connection", b"").lower() == b"close")


def parse_answer(data: bytes) -> Answer:
    """The answer at the start of all a server sent before closing (status 0: nothing)."""
    if not data:
        return Answer(0)
    head, _, body = data.partition(b"\r\n\r\n")
    return Answer(*_head(head), body)


class Connection:
    """One client connection (kept alive between requests until the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def exchange(self, request: Request) -> Answer:
        """Send ``request`` and read its answer; status 0 when none came."""
        try:
            if self.writer is None or time.monotonic() - self.used > REUSE_IDLE:
                await self.close()
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, limit=1 << 20
                )
            assert self.reader is not None and self.writer is not None
            self.writer.write(request.data)
            with contextlib.suppress(ConnectionError):  # refused early: the answer is there
                await self.writer.drain()
            answer = await asyncio.wait_for(read_answer(self.reader, request.head), ANSWER_TIMEOUT)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            ValueError,
            IndexError,
        ):
            answer = Answer(0)
        self.used = time.monotonic()
        if answer.closed or request.fresh:
            await self.close()
        return answer

    async def close(self) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@dataclass
class Results:
    """Everything the clients saw, and what the store must hold."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # per phase
    groups: Counter[str] = field(default_factory=Counter)  # phase A's requests per group
    cases: dict[str, Counter[int]] = field(default_factory=dict)
    wrong: Counter[tuple[str, int]] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    server_errors: Counter[str] = field(default_factory=Counter)  # 5xx by status and reason
    retry_after_missing: int = 0
    expected: dict[str, Outcome] = field(default_factory=dict)

    def record(self, phase: str, request: Request, answer: Answer) -> None:
        status = answer.status
        self.statuses.setdefault(phase, Counter())[status] += 1
        self.cases.setdefault(request.case, Counter())[status] += 1
        if request.group:
            self.groups[request.group] += 1
        if status not in request.expect:
            self.wrong[request.case, status] += 1
            if len(self.examples) < 10:
                shown = answer.body[:120].decode("utf-8", "replace").strip()
                self.examples.append(f"{request.case}: {status} {shown!r}, {request.data[:160]!r}")
        if status >= 500:
            reason = answer.body.decode("utf-8", "replace").strip()[:60]
            self.server_errors[f"{status} {reason}"] += 1
            if status == 503 and b"retry-after" not in answer.headers:
                self.retry_after_missing += 1
        if request.env is None:
            return
        stored = self.expected.setdefault(request.env, Outcome())
        if status == 200:
            stored.add(request.events)
        elif status == 400 and request.attributable and answer.body.startswith(b"400 "):
            stored.bad += 1  # the collector's 400 keeps the request as one bad row
        elif status == 413 and request.attributable:
            stored.size += 1


async def send_alone(host: str, port: int, request: Request) -> Answer:
    """``request`` on a connection of its own."""
    connection = Connection(host, port)
    try:
        return await connection.exchange(request)
    finally:
        await connection.close()


async def fuzz(host: str, port: int, planners: list[Planner], count: int, results: Results) -> None:
    """Phase A: ``count`` requests from one keep-alive client per planner."""
    shares = [count // len(planners) + (i < count % len(planners)) for i in range(len(planners))]

    async def client(planner: Planner, share: int) -> None:
        connection = Connection(host, port)
        for _ in range(share):
            request = planner.next()
            if request.fresh:
                answer = await send_alone(host, port, request)
            else:
                answer = await connection.exchange(request)
            results.record("A", request, answer)
            planner.answered(request, answer.status)
        await connection.close()

    await asyncio.gather(*(client(p, s) for p, s in zip(planners, shares, strict=True)))


def rss_kib(pid: int, name: str = "VmRSS") -> int:
    """A memory figure of process ``pid`` from ``/proc`` (KiB); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def sample_rss(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    """VmRSS every 100 ms until ``stop`` is set."""
    while not stop.is_set():
        samples.append(rss_kib(pid))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
