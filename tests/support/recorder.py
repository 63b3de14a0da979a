"""A real HTTP server on 127.0.0.1 that records every request (for tracker tests).

It answers 200 by default; a test can queue other answers (status and headers)
to exercise retries. Requests are kept in order with method, path, query,
headers and body, and waiting for a number of them uses a condition with a
deadline, never a sleep.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client_port: int = 0
    received_at: float = 0.0  # time.monotonic() when the request arrived

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def events(self) -> list[dict[str, str]]:
        """The events this request carried (the POST body's data, or the GET query)."""
        if self.method == "GET":
            return [self.query]
        return list(self.json()["data"])


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow endpoint)


class Recorder:
    """The recording server's state; ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: deque[Answer] = deque()
        self.default = Answer()
        self.condition = threading.Condition()
        self.url = ""
        self.port = 0

    def answer_next(self, *answers: Answer) -> None:
        with self.condition:
            self.answers.extend(answers)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Wait until ``count`` requests arrived (AssertionError after ``timeout``)."""
        with self.condition:
            ok = self.condition.wait_for(lambda: len(self.requests) >= count, timeout)
            assert ok, f"expected {count} request(s), got {len(self.requests)}"
            return list(self.requests)

    def events(self) -> list[dict[str, str]]:
        with self.condition:
            return [event for request in self.requests for event in request.events()]

    def wait_for_events(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:
        with self.condition:
            ok = self.condition.wait_for(
                lambda: sum(len(r.events()) for r in self.requests) >= count, timeout
            )
            got = [e for r in self.requests for e in r.events()]
            assert ok, f"expected {count} event(s), got {len(got)}"
            return got

    def _record(self, request: Recorded) -> Answer:
        with self.condition:
            self.requests.append(request)
            answer = self.answers.popleft() if self.answers else self.default
            self.condition.notify_all()
            return answer


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k: v for k, v in self.headers.items()},
                body=body,
                client_port=self.client_address[1],
                received_at=time.monotonic(),
            )
            answer = recorder._record(request)
            if answer.delay:
                time.sleep(answer.delay)
            payload = b"ok"
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def recording_server(tls: ssl.SSLContext | None = None) -> Iterator[Recorder]:
    """Start a recording server on a free port; stopped when the block ends.

    With ``tls`` (a server context holding a certificate), it speaks HTTPS.
    """
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    recorder.port = server.server_address[1]
    scheme = "https" if tls is not None else "http"
    recorder.url = f"{scheme}://127.0.0.1:{recorder.port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def decode_b64_json(value: str) -> Any:
    """Decode a URL-safe base64 JSON field (``ue_px`` / ``cx``)."""
    padded = value + "=" * (-len(value) % 4)
    return json.loads(base64.urlsafe_b64decode(padded).decode("utf-8"))
