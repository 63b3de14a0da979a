"""Where browsers are let in: CORS preflights and the headers of answers to allowed origins.

PROTOCOL.md §2 "CORS" is the contract and reference/browser.md §0 the measured
facts behind it. Every real browser tracker sends credentialed requests, so an
allowed origin is always echoed exactly, with ``Access-Control-Allow-Credentials:
true`` (``*`` does not work with credentials), on the preflight **and** on every
answer, errors included: a tracker that cannot read a 401 or 403 takes it for a
network failure and resends forever.

=================================================  ==========================================
request                                            answer
=================================================  ==========================================
``OPTIONS`` without ``Origin``                     204, no CORS headers (not a preflight)
``OPTIONS``, a valid key in the URL                204 + CORS headers if the key's environment
(``/k/{key}/`` or ``api_key=``)                    allows the Origin, else 403 without them
``OPTIONS``, no key in the URL (or one that is     204 + CORS headers if any environment
unknown or revoked: the request then gets a        allows the Origin, else 403 without them
readable 401)
other methods, ``Origin`` allowed by some          the routes' answer (200, 401, 403, 404, ...)
environment                                        + CORS headers
other methods, ``Origin`` allowed nowhere,         the routes' answer, no CORS headers
``null``, malformed; or only a ``Referer``
=================================================  ==========================================

Refusing the *write* (403, nothing stored) when the key's environment does not
allow the origin is the routes' part (:mod:`datacoral.collector.ingest`): the key
may travel in the body, which only they read. A preflight never needs a key and
never reaches the routes.
"""

from __future__ import annotations

from collections.abc import Callable

from datacoral.admin.origins import Origin, parse_origin
from datacoral.collector.asgi import ASGIApp, Message, Receive, Scope, Send
from datacoral.collector.auth import KeyResolver
from datacoral.collector.environments import EnvironmentCache
from datacoral.collector.errors import MalformedRequest
from datacoral.collector.request import Request
from datacoral.collector.responses import Headers, send_empty, send_rejection
from datacoral.collector.routes import path_key
from datacoral.storage.base import StorageError

#: The request headers a browser may send us (lower case): everything trackers set.
ACCEPTED_HEADERS = frozenset(
    {"content-type", "x-api-key", "x-datacoral-environment", "sp-anonymous"}
)
#: Seconds a browser may reuse a preflight (Chrome caps it at 7200; without it, ~5 s).
DEFAULT_MAX_AGE = 600


def cors_headers(origin_header: str) -> Headers:
    """The headers every answer to an allowed origin carries."""
    return [
        (b"access-control-allow-origin", origin_header.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


def accepted_request_headers(requested: str | None) -> str | None:
    """The names of ``Access-Control-Request-Headers`` we accept, in the order asked."""
    if requested is None:
        return None
    names: list[str] = []
    for name in requested.split(","):
        name = name.strip().lower()
        if name in ACCEPTED_HEADERS and name not in names:
            names.append(name)
    return ", ".join(names) or None


class CORSMiddleware:
    """Answers preflights and adds the CORS headers to answers for allowed origins."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: EnvironmentCache,
        keys: KeyResolver,
        retry_after_seconds: int,
        on_storage_error: Callable[[StorageError], None],
        max_age: int = DEFAULT_MAX_AGE,
    ) -> None:
        self.app = app
        self._origins = origins
        self._keys = keys
        self._retry_after = [(b"retry-after", str(retry_after_seconds).encode())]
        self._on_storage_error = on_storage_error
        self._max_age = str(max_age).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request.of(scope)
        if request.method == "OPTIONS":
            await self._preflight(request, send)
            return
        source = request.origin
        if source is None or source.header is None:
            # No Origin header: not a CORS request (a server, or a no-cors pixel),
            # so there is nothing for a browser to read the answer with.
            await self.app(scope, receive, send)
            return
        try:
            allowed = self._origins.allowed_anywhere(source.origin)
        except StorageError as exc:
            await self._unavailable(send, exc)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        headers = cors_headers(source.header)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, request: Request, send: Send) -> None:
        origin_header = request.header(b"origin")
        if origin_header is None:
            await send_empty(send, 204)
            return
        origin = parse_origin(origin_header)
        try:
            allowed = origin is not None and self._preflight_allows(request, origin)
        except StorageError as exc:
            await self._unavailable(send, exc)
            return
        if not allowed:
            await send_rejection(send, 403, "origin not allowed")
            return
        headers = cors_headers(origin_header)
        names = accepted_request_headers(request.header(b"access-control-request-headers"))
        if names is not None:
            headers.append((b"access-control-allow-headers", names.encode()))
        headers.append((b"access-control-max-age", self._max_age))
        await send_empty(send, 204, headers)

    def _preflight_allows(self, request: Request, origin: Origin) -> bool:
        """The key's environment decides when the URL shows a valid key; else any."""
        key = path_key(request.path)
        if key is None:
            try:
                key = request.query().get("api_key") or None
            except MalformedRequest:
                key = None
        if key is not None:
            record = self._keys.record(key)
            if record is not None and not record.revoked:
                return self._origins.allows(record.environment, origin)
        return self._origins.allowed_anywhere(origin)

    async def _unavailable(self, send: Send, exc: StorageError) -> None:
        self._on_storage_error(exc)
        await send_rejection(send, 503, "storage unavailable; retry later", self._retry_after)
