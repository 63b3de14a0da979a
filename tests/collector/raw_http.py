"""HTTP/1.1 over raw sockets, for the front-door tests: what clients that misbehave send."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable

from tests.support.server import RunningServer


def connect(server: RunningServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def pixel_head(key: str, *extra: str) -> bytes:
    """The head of a valid ``GET /i`` (one page view) without its final blank line."""
    lines = [
        f"GET /i?e=pv&p=pc&tv=py-1.0.0&eid={uuid.uuid4()} HTTP/1.1",
        "Host: test",
        f"X-Api-Key: {key}",
        *extra,
    ]
    return "".join(line + "\r\n" for line in lines).encode()


def read_answer(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends within ``timeout``, and whether it then closed.

    A reset after the answer counts as closed.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def read_one_answer(sock: socket.socket, timeout: float) -> bytes:
    """One answer (head and ``Content-Length`` body) on a connection that stays open."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        _, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = int(header(data, b"content-length") or 0)
            if len(body) >= length:
                return data
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before a whole answer: {data!r}")
        data += chunk


def status(answer: bytes) -> int:
    """The status code of an answer; 0 when there is none."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else 0


def header(answer: bytes, name: bytes) -> bytes | None:
    head = answer.partition(b"\r\n\r\n")[0]
    for line in head.split(b"\r\n")[1:]:
        field, _, value = line.partition(b":")
        if field.strip().lower() == name:
            return value.strip()
    return None


def send_in_background(sock: socket.socket, chunks: Callable[[], bytes | None]) -> threading.Thread:
    """Send ``chunks()`` until it returns None or the server stops reading; errors ignored."""

    def run() -> None:
        try:
            while (chunk := chunks()) is not None:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: what most of these tests expect

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for_log(server: RunningServer, text: str, timeout: float = 5) -> str:
    """The first log line holding ``text``; fails with the log after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log().splitlines():
            if text in line:
                return line
        time.sleep(0.02)
    raise AssertionError(f"no log line with {text!r}:\n{server.log()}")
