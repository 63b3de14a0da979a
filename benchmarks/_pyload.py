"""The Python load generator, used when wrk is not installed: ``python _pyload.py SPEC.json``.

Runs in its own process with keep-alive HTTP/1.1 connections over raw asyncio
sockets (uvloop when available). Every request gets fresh random UUID v4 event
ids. Unpaced, each connection sends its next request as soon as the answer
arrives; paced (``rate`` > 0), requests take slots of one fixed schedule and
latency counts from the slot, so a server that falls behind shows it (no
coordinated omission). Prints one ``BENCH_RESULT {json}`` line.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any
from urllib.parse import urlsplit

RESULT_MARK = "BENCH_RESULT "


def uuid4(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class Generator:
    """Builds requests and gathers what came back."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.rng = random.Random(spec["seed"])
        url = urlsplit(spec["url"])
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.method: str = spec["method"]
        self.path_parts: list[str] = spec["path_parts"]
        self.body_parts: list[str] = spec["body_parts"]
        head = "".join(f"{name}: {value}\r\n" for name, value in spec["headers"])
        self.head = f"Host: {self.host}:{self.port}\r\n{head}"
        self.latencies: list[float] = []
        self.status_errors = 0
        self.socket_errors = 0
        self.rate: float = spec["rate"]
        self.next_slot = 0.0

    def _fill(self, parts: list[str]) -> str:
        if len(parts) <= 1:
            return parts[0] if parts else ""
        pieces = [parts[0]]
        for part in parts[1:]:
            pieces.append(uuid4(self.rng))
            pieces.append(part)
        return "".join(pieces)

    def request(self) -> bytes:
        path = self._fill(self.path_parts)
        if not self.body_parts:
            return f"{self.method} {path} HTTP/1.1\r\n{self.head}\r\n".encode()
        body = self._fill(self.body_parts).encode()
        return (
            f"{self.method} {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def connection(self, deadline: float) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while True:
                now = time.perf_counter()
                if now >= deadline:
                    return
                started = now
                if self.rate > 0:
                    slot = self.next_slot
                    self.next_slot += 1.0 / self.rate
                    if slot >= deadline:
                        return
                    if slot > now:
                        await asyncio.sleep(slot - now)
                    started = slot
                writer.write(self.request())
                status = await _read_answer(reader)
                self.latencies.append(time.perf_counter() - started)
                if not 200 <= status < 300:
                    self.status_errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.socket_errors += 1
        finally:
            writer.close()

    async def run(self) -> dict[str, float]:
        duration: float = self.spec["duration"]
        start = time.perf_counter()
        self.next_slot = start
        deadline = start + duration
        await asyncio.gather(*(self.connection(deadline) for _ in range(self.spec["connections"])))
        elapsed = time.perf_counter() - start
        ordered = sorted(self.latencies) or [0.0]

        def percentile(share: float) -> float:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e6

        return {
            "requests": len(self.latencies),
            "duration_us": elapsed * 1e6,
            "socket_errors": self.socket_errors,
            "status": self.status_errors,
            "p50_us": percentile(0.50),
            "p99_us": percentile(0.99),
            "max_us": ordered[-1] * 1e6,
        }


async def _read_answer(reader: asyncio.StreamReader) -> int:
    """Read one whole answer; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(Generator(spec).run())
    else:
        result = uvloop.run(Generator(spec).run())
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
