"""The Events endpoint on a thread of the test process, over one SQLite file.

:class:`ServerThread` runs what ``datacoral serve`` runs (the collector's ASGI app
behind the front door, under uvicorn) on an event loop of its own, on a socket bound
to a free loopback port. The loop is uvloop's when it is installed: its clock is
libuv's, so a test that freezes time (freezegun) does not stop the server's timers.

:class:`Activity` sees every answer and every time the collector reloads its
environments: it wakes threads that wait for events, keeps the refusals (so a test
that waits in vain can be told the endpoint answered 401), and tells when a change
of origins or validation modes has reached the running collector.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import re
import socket
import threading
from pathlib import Path
from typing import NamedTuple

import uvicorn

from datacoral.collector.app import CollectorApp
from datacoral.collector.asgi import ASGIApp, Message, Receive, Scope, Send
from datacoral.collector.connection_limits import ConnectionLimits, open_files_limit
from datacoral.collector.front_door import FrontDoor, protocol_class
from datacoral.collector.server import BACKLOG, bind
from datacoral.config import Settings
from datacoral.storage.base import EnvironmentRecord
from datacoral.storage.sqlite import SQLiteStorage

#: Refusals kept (the newest), and the characters of each answer's text kept.
MAX_REFUSALS = 50
_MAX_REASON = 200
_KEY_IN_PATH = re.compile(r"^/k/[^/]*/")
#: Header of the fixture's own requests (reload probes), whose refusals are not kept.
PROBE_HEADER = "x-datacoral-testing-probe"
_PROBE = PROBE_HEADER.encode()


class EndpointNotStarted(RuntimeError):
    """The endpoint could not start; the message says why (from its log)."""


class Refusal(NamedTuple):
    """An answer of 400 or more: what was asked, and what the endpoint said."""

    method: str
    path: str  # a key in a /k/{key}/ path is shown as /k/.../
    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.status} {self.reason!r} to {self.method} {self.path}"


class Activity:
    """What the running endpoint did, for the threads of the test that wait on it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=MAX_REFUSALS)
        self._loads_begun = 0
        self._loads_done = 0

    def answered(self, refusal: Refusal | None) -> None:
        """A request was answered (after its events were committed)."""
        with self._changed:
            if refusal is not None:
                self._refusals.append(refusal)
            self._changed.notify_all()

    def refusals(self) -> list[Refusal]:
        with self._changed:
            return list(self._refusals)

    def forget_refusals(self) -> None:
        with self._changed:
            self._refusals.clear()

    def load_begins(self) -> int:
        """The collector starts reading environments; returns this load's number."""
        with self._changed:
            self._loads_begun += 1
            return self._loads_begun

    def load_done(self, number: int) -> None:
        with self._changed:
            self._loads_done = max(self._loads_done, number)
            self._changed.notify_all()

    @property
    def loads_begun(self) -> int:
        with self._changed:
            return self._loads_begun

    def loaded_after(self, number: int) -> bool:
        """Whether a load that began after load ``number`` has finished."""
        with self._changed:
            return self._loads_done > number

    def wait(self, timeout: float) -> None:
        """Return after the next answer or load, or after ``timeout`` seconds."""
        with self._changed:
            self._changed.wait(timeout)


class ActivityMiddleware:
    """Tells :class:`Activity` about every answer, once it is sent."""

    def __init__(self, app: ASGIApp, activity: Activity) -> None:
        self._app = app
        self._activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 0
        text = bytearray()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400:
                text.extend(message.get("body", b"")[: _MAX_REASON - len(text)])
            await send(message)

        try:
            await self._app(scope, receive, watched)
        finally:
            refusal = None
            probe = any(name == _PROBE for name, _ in scope.get("headers", ()))
            if status >= 400 and not probe:
                path = _KEY_IN_PATH.sub("/k/.../", str(scope.get("path", "")))
                reason = text.decode("utf-8", "replace").strip()
                reason = reason.removeprefix(f"{status} ")  # the endpoint's answers say it
                refusal = Refusal(str(scope.get("method", "")), path, status, reason)
            self._activity.answered(refusal)


class ObservedStorage(SQLiteStorage):
    """The server's storage: SQLite without an fsync per commit (a test's data need not
    survive a power cut), telling :class:`Activity` when environments are reloaded."""

    def __init__(self, path: Path, activity: Activity) -> None:
        super().__init__(path, synchronous="NORMAL")
        self._activity = activity

    def environments(self) -> list[EnvironmentRecord]:
        number = self._activity.load_begins()
        try:
            return super().environments()
        finally:
            self._activity.load_done(number)


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it serves (or could not start)."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


class _ErrorLog(logging.Handler):
    """Collects the error lines of a failed start, for the exception's message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the collector extra installs it where it can
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ServerThread:
    """The endpoint serving ``settings.db`` on 127.0.0.1 (any free port) from a thread."""

    def __init__(self, settings: Settings, activity: Activity) -> None:
        self.settings = settings
        self.activity = activity
        self.host = "127.0.0.1"
        self.port = 0
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Serve; returns once requests are answered. :class:`EndpointNotStarted` otherwise."""
        limits = ConnectionLimits.from_settings(self.settings, open_files=open_files_limit())
        app = CollectorApp(
            self.settings, lambda settings: ObservedStorage(Path(str(settings.db)), self.activity)
        )
        config = _quiet_config(
            ActivityMiddleware(app, self.activity),
            http=protocol_class(FrontDoor(limits)),
            timeout_keep_alive=math.ceil(limits.keep_alive_timeout),
            timeout_graceful_shutdown=self.settings.shutdown_timeout_seconds,
        )
        self._server = _Server(config, self._ready)
        self._socket = bind(self.host, 0)
        self.port = self._socket.getsockname()[1]
        errors = _ErrorLog()
        watched = [logging.getLogger(name) for name in ("datacoral", "uvicorn.error")]
        for logger in watched:
            logger.addHandler(errors)
        try:
            self._thread = threading.Thread(
                target=self._serve, name=f"datacoral-endpoint-{self.port}", daemon=True
            )
            self._thread.start()
            self._ready.wait(timeout)
        finally:
            for logger in watched:
                logger.removeHandler(errors)
        if self._server.started and self._failure is None:
            return
        self.stop()
        if errors.lines:
            said = "; ".join(errors.lines)
        elif self._failure is not None:
            said = repr(self._failure)
        else:
            said = f"it did not serve within {timeout} s"
        raise EndpointNotStarted(f"the Datacoral endpoint did not start: {said}")

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            loop = _new_loop()
            try:
                loop.run_until_complete(self._server.serve(sockets=[self._socket]))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
        except BaseException as exc:  # SystemExit when the lifespan failed; or a bug
            self._failure = exc
        finally:
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish in-flight requests, close the storage and the socket; idempotent."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._thread = None


def _quiet_config(
    app: ASGIApp,
    *,
    http: type[asyncio.Protocol],
    timeout_keep_alive: int,
    timeout_graceful_shutdown: int,
) -> uvicorn.Config:
    """``datacoral serve``'s uvicorn settings, leaving the test process's logging as it was
    (uvicorn clears the ``uvicorn.access`` logger's handlers when its access log is off)."""
    access = logging.getLogger("uvicorn.access")
    handlers, propagate = list(access.handlers), access.propagate
    try:
        return uvicorn.Config(
            app,
            http=http,
            ws="none",
            lifespan="on",
            access_log=False,
            log_config=None,
            proxy_headers=False,
            server_header=False,
            backlog=BACKLOG,
            timeout_keep_alive=timeout_keep_alive,
            timeout_graceful_shutdown=timeout_graceful_shutdown,
        )
    finally:
        access.handlers[:] = handlers
        access.propagate = propagate
