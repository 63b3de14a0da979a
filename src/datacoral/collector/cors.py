"""Where browsers are let in: CORS preflights and allowed origins.

This is the place for per-environment CORS (PROTOCOL.md §2 "CORS"): a later
issue makes :class:`CORSMiddleware` answer preflights for allowed origins only,
refuse actual requests from other origins with 403, and add the CORS headers to
every answer for an allowed origin. Until then it answers every ``OPTIONS`` with
204 and no CORS headers, and passes all other requests (with or without an
``Origin`` header) through unchanged.
"""

from __future__ import annotations

from datacoral.collector.asgi import ASGIApp, Receive, Scope, Send
from datacoral.collector.responses import send_empty


class CORSMiddleware:
    """Answers preflights; the per-environment origin rules will live here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "OPTIONS":
            # A preflight never needs a key and never reaches the routes.
            await send_empty(send, 204)
            return
        await self.app(scope, receive, send)
