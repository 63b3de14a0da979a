"""The middleware around the collector's routes, composed once at start.

Each middleware is ``cls(app, **options)``, as in Starlette; the stack, from the
outside in: error guard, access log (only when enabled), CORS, then the routes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datacoral.collector.asgi import ASGIApp, Message, Receive, Scope, Send
from datacoral.collector.responses import send_rejection
from datacoral.collector.routes import redact

logger = logging.getLogger("datacoral.collector")
access_logger = logging.getLogger("datacoral.access")


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


class AccessLogMiddleware:
    """One log line per request, with any key in the path hidden and no query string."""

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
            access_logger.info(
                "%s %s %d %.1fms",
                scope["method"],
                redact(scope["path"]),
                status,
                (time.perf_counter() - start) * 1000,
            )
