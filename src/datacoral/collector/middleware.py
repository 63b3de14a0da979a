"""The middleware around the collector's routes, composed once at start.

Each middleware is ``cls(app, **options)``, as in Starlette; the stack, from the
outside in: metrics (only when enabled), error guard, access log (only when
enabled), CORS, then the routes.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datacoral.adminapi import is_admin_path
from datacoral.collector.asgi import ASGIApp, Message, Receive, Scope, Send
from datacoral.collector.micro import is_inspection_path
from datacoral.collector.request import ENVIRONMENT_KEY
from datacoral.collector.responses import send_rejection
from datacoral.collector.routes import match, redact

if TYPE_CHECKING:
    from datacoral.collector.metrics import CollectorMetrics

logger = logging.getLogger("datacoral.collector")
access_logger = logging.getLogger("datacoral.access")

#: Where the front door leaves the status it answered a request with in the routes'
#: stead (its body too slow, or not parsable): what the client got, whatever the
#: routes then tried to send.
FRONT_DOOR_STATUS = "datacoral.front_door_status"


@dataclass(frozen=True)
class Middleware:
    """One layer of the stack: a factory and its keyword options."""

    cls: Callable[..., ASGIApp]
    options: dict[str, Any] = field(default_factory=dict)


def build_middleware_stack(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """Wrap ``app`` so that the first entry of ``middleware`` is the outermost."""
    for layer in reversed(middleware):
        app = layer.cls(app, **layer.options)
    return app


class ErrorGuardMiddleware:
    """The last resort: no exception reaches the server, which would answer 500.

    Errors the routes know (refusals, storage failures) are answered where they
    happen; anything else is a bug of ours, logged (path redacted) and answered
    503 with ``Retry-After`` so that trackers keep the events and retry.
    """

    def __init__(self, app: ASGIApp, *, retry_after_seconds: int) -> None:
        self.app = app
        self._retry_after = [(b"retry-after", str(retry_after_seconds).encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            logger.exception(
                "internal error while answering %s %s", scope.get("method"), redact(scope["path"])
            )
            if not started:
                await send_rejection(send, 503, "internal error; retry later", self._retry_after)


#: A request id a client (or its proxy) sent in ``X-Request-Id`` is logged when it looks
#: like one; anything else is replaced by one of ours.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


def request_id(scope: Scope) -> str:
    """The ``X-Request-Id`` the request came with, when it is plain, else a new random one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return str(value, "ascii")
            break
    return secrets.token_hex(8)


class AccessLogMiddleware:
    """One log line per request, with any key in the path hidden and no query string.

    The line carries the request id, the environment (once the key named one), the
    status and the duration, also as fields of the record for ``--log-format json``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        start = time.perf_counter()

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            milliseconds = round((time.perf_counter() - start) * 1000, 1)
            path = redact(scope["path"])
            environment = scope.get(ENVIRONMENT_KEY)
            identifier = request_id(scope)
            access_logger.info(
                "%s %s %d %.1fms env=%s id=%s",
                scope["method"],
                path,
                status,
                milliseconds,
                environment or "-",
                identifier,
                extra={
                    "request_id": identifier,
                    "environment": environment,
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": milliseconds,
                },
            )


class MetricsMiddleware:
    """Counts every request in ``metrics``: its route, status, duration and body size.

    ``admin`` and ``inspect`` say whether the admin API (``/admin/v1``) and the
    inspection API (``/micro``) are served: their requests are counted as routes
    ``admin`` and ``micro`` then, and as ``unmatched`` (they get 404) otherwise.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: CollectorMetrics,
        admin: bool = False,
        inspect: bool = False,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._admin = admin
        self._inspect = inspect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 0
        received = 0

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        method = scope["method"]
        has_body = method == "POST" or method == "PUT" or method == "PATCH"
        try:
            await self.app(scope, counted_receive if has_body else receive, watched_send)
        finally:
            self._metrics.request(
                self._route_label(method, scope["path"]),
                scope.get(FRONT_DOOR_STATUS) or status,
                time.perf_counter() - start,
                received if has_body else None,
            )

    def _route_label(self, method: str, path: str) -> str:
        """The ``route`` label: the endpoint's name, ``preflight``, ``admin``, ``micro``
        or ``unmatched``."""
        if method == "OPTIONS":
            return "preflight"
        found = match(path)
        if found is not None:
            return found[0].endpoint.value
        if self._admin and is_admin_path(path):
            return "admin"
        if self._inspect and is_inspection_path(path):
            return "micro"
        return "unmatched"
