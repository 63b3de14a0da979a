"""Registries on loopback ports for the schema tests.

- :func:`static_registry`: ``shared/iglu-central`` (or any folder) served by the standard
  library's file server: a real static Iglu registry. ``registry.down = True`` makes it
  answer 503 to everything (an outage that still accepts connections); stopping it is
  the outage that refuses them.
- :func:`iglu_server`: a small fake of Iglu Server (a program we do not own), only what
  the resolver uses: ``GET /api/schemas/{vendor}/{name}/{format}/{version}`` with an
  ``apikey`` header check (401 without the right key, 404 for an unknown schema), and
  ``/redirect/...`` for the redirect test.
- :func:`scripted_registry`: answers each path with a status, body and delay set by the
  test (timeouts, 5xx, non-JSON, oversized bodies).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.iglu import iglu_central_dir

#: The copy of Iglu Central (shared/iglu-central/README.md; tests/support/iglu.py).
IGLU_CENTRAL = iglu_central_dir()
IGLU_CENTRAL_SCHEMAS = 679


def iglu_central_keys() -> list[str]:
    """``vendor/name/format/version`` of every schema in the Iglu Central copy."""
    schemas = IGLU_CENTRAL / "schemas"
    return sorted(str(p.relative_to(schemas)) for p in schemas.glob("*/*/*/*") if p.is_file())


class LoopbackServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 with counters the tests read."""

    daemon_threads = True

    def __init__(self, handler: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.down = False
        self.requests: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self.script: dict[str, tuple[int, bytes, float]] = {}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Quiet:
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _StaticHandler(_Quiet, SimpleHTTPRequestHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.server.down:
            self.send_error(503, "down for the test")
            return
        super().do_GET()


class _IgluServerHandler(_Quiet, BaseHTTPRequestHandler):
    server: LoopbackServer
    apikey = ""
    folder = IGLU_CENTRAL / "schemas"

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        self.server.headers_seen.append(dict(self.headers.items()))
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect"))
            self.end_headers()
            return
        if self.headers.get("apikey") != self.apikey:
            self._answer(401, b'{"message":"Not authorized"}')
            return
        parts = self.path.split("/")
        if len(parts) != 7 or parts[1:3] != ["api", "schemas"] or ".." in parts:
            self._answer(404, b'{"message":"The schema is not found"}')
            return
        path = self.folder.joinpath(*parts[3:])
        if not path.is_file():
            self._answer(404, b'{"message":"The schema is not found"}')
            return
        self._answer(200, path.read_bytes())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ScriptedHandler(_Quiet, BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        status, body, delay = self.server.script.get(self.path, (404, b"{}", 0.0))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout test)


@contextlib.contextmanager
def _running(server: LoopbackServer) -> Iterator[LoopbackServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def static_registry(folder: Path = IGLU_CENTRAL) -> contextlib.AbstractContextManager[Any]:
    """``folder`` (which holds ``schemas/``) served as a static Iglu registry."""
    return _running(LoopbackServer(partial(_StaticHandler, directory=str(folder))))


def iglu_server(apikey: str) -> contextlib.AbstractContextManager[Any]:
    """A fake Iglu Server over the Iglu Central copy that requires ``apikey``."""
    handler = type("Handler", (_IgluServerHandler,), {"apikey": apikey})
    return _running(LoopbackServer(handler))


def scripted_registry() -> contextlib.AbstractContextManager[Any]:
    """A registry answering ``server.script[path] = (status, body, delay)``; 404 otherwise."""
    return _running(LoopbackServer(_ScriptedHandler))


class FakeClock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
