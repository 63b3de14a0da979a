"""The inspection API (``serve --inspect``): Snowplow Micro's REST API over one environment.

==============================================  =======================================
route                                           answer
==============================================  =======================================
``GET|POST /micro/all``                         ``{"total", "good", "bad"}``
``GET /micro/good``, ``POST`` with filters      good events, newest first (micro_views.py,
                                                micro_filters.py)
``GET /micro/bad``, ``POST`` with filters       bad rows, newest first
``GET|POST /micro/reset``                       deletes the environment's good events and
                                                bad rows; ``{"total": 0, ...}``
``GET /micro/iglu/{vendor}/{name}/{format}/``   the schema, through the endpoint's Iglu
``{version}``                                   resolver; 404 with the resolution error
other ``/micro/...``                            404 naming the paths
==============================================  =======================================

Every call needs ``Authorization: Bearer <admin token>`` (admin_auth.py) and sees only
the token's environment; an API key is refused. Events are committed before their
request is answered, so an event is here as soon as its 200 left: no polling. Storage
calls, and turning their rows into JSON, run on worker threads: the event loop never
waits for a query, however many events it returns (at most ``MAX_QUERY_LIMIT``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from datacoral.collector.admin_auth import CHALLENGE, TokenResolver
from datacoral.collector.asgi import Receive, Send
from datacoral.collector.errors import ClientDisconnected, Rejected, Unauthorized
from datacoral.collector.limits import read_body
from datacoral.collector.micro_filters import MAX_BODY_BYTES, bad_filters, good_filters
from datacoral.collector.micro_views import bad_row_json, good_event_json, json_bytes
from datacoral.collector.request import Request
from datacoral.collector.responses import send_rejection
from datacoral.config import Settings
from datacoral.schemas import (
    InvalidSchemaUri,
    Resolver,
    SchemaUnavailable,
    SchemaUnresolved,
    parse_schema_uri,
)
from datacoral.storage.base import (
    AdminError,
    EventQuery,
    InspectionStorage,
    Storage,
    StorageError,
)

logger = logging.getLogger("datacoral.collector")

PREFIX = "/micro"
IGLU_PREFIX = "/micro/iglu/"
NOT_FOUND = (
    "path for the inspection API has to be one of: /micro/all /micro/good /micro/bad"
    " /micro/reset /micro/iglu/{vendor}/{name}/{format}/{version}"
)
_JSON = (b"content-type", b"application/json")
_EMPTY = json_bytes({"total": 0, "good": 0, "bad": 0})

_Handler = Callable[[str, Request, Receive, Send], Awaitable[None]]


def is_inspection_path(path: str) -> bool:
    """Whether ``path`` belongs to the inspection API."""
    return path == PREFIX or path.startswith(PREFIX + "/")


async def send_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """``status`` with a JSON body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def inspection_api(
    settings: Settings,
    storage: Storage,
    resolver: Resolver,
    on_storage_error: Callable[[StorageError], None],
) -> InspectionAPI | None:
    """The inspection API over ``storage`` when ``settings.inspect`` asks for it, else None;
    StorageError when ``storage`` cannot serve it."""
    if not settings.inspect:
        return None
    if not isinstance(storage, InspectionStorage):
        raise StorageError(f"{storage!r} cannot serve the inspection API (inspect)")
    return InspectionAPI(
        storage,
        resolver,
        retry_after_seconds=settings.retry_after_seconds,
        on_storage_error=on_storage_error,
    )


class InspectionAPI:
    """Answers ``/micro/*`` requests for the environment of each request's admin token."""

    def __init__(
        self,
        storage: InspectionStorage,
        resolver: Resolver,
        *,
        retry_after_seconds: int,
        on_storage_error: Callable[[StorageError], None],
        tokens: TokenResolver | None = None,
    ) -> None:
        self._storage = storage
        self._resolver = resolver
        self._tokens = tokens or TokenResolver(storage.lookup_admin_token)
        self._retry_after = [(b"retry-after", str(retry_after_seconds).encode())]
        self._on_storage_error = on_storage_error
        self._routes: dict[str, tuple[frozenset[str], _Handler]] = {
            "/micro/all": (frozenset(("GET", "POST")), self._all),
            "/micro/good": (frozenset(("GET", "POST")), self._good),
            "/micro/bad": (frozenset(("GET", "POST")), self._bad),
            "/micro/reset": (frozenset(("GET", "POST")), self._reset),
            IGLU_PREFIX: (frozenset(("GET",)), self._iglu),
        }

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        try:
            environment = await self._tokens.environment_of(request)
            await self._dispatch(environment, request, receive, send)
        except Unauthorized as exc:
            await send_rejection(send, exc.status, exc.reason, [CHALLENGE])
        except Rejected as exc:
            await send_rejection(send, exc.status, exc.reason)
        except AdminError:  # the token's environment was deleted a moment ago
            await send_rejection(send, 401, "unknown admin token", [CHALLENGE])
        except StorageError as exc:
            self._on_storage_error(exc)
            await send_rejection(send, 503, "storage unavailable; retry later", self._retry_after)
        except ClientDisconnected:
            return

    async def _dispatch(
        self, environment: str, request: Request, receive: Receive, send: Send
    ) -> None:
        path = IGLU_PREFIX if request.path.startswith(IGLU_PREFIX) else request.path
        route = self._routes.get(path)
        if route is None:
            await send_rejection(send, 404, NOT_FOUND)
            return
        methods, handler = route
        if request.method not in methods:
            allow = ", ".join(sorted(methods))
            await send_rejection(
                send, 405, f"method not allowed: use {allow}", [(b"allow", allow.encode())]
            )
            return
        await handler(environment, request, receive, send)

    async def _body(self, request: Request, receive: Receive) -> bytes:
        if request.method != "POST":
            return b""
        return await read_body(receive, limit=MAX_BODY_BYTES, declared=request.content_length)

    async def _all(self, environment: str, request: Request, receive: Receive, send: Send) -> None:
        await self._body(request, receive)
        counts = await asyncio.to_thread(self._storage.environment_counts, environment)
        summary = {"total": counts.good + counts.bad, "good": counts.good, "bad": counts.bad}
        await send_json(send, 200, json_bytes(summary))

    async def _good(self, environment: str, request: Request, receive: Receive, send: Send) -> None:
        query = (
            good_filters(await self._body(request, receive))
            if request.method == "POST"
            else EventQuery()
        )
        if query is None:
            await send_json(send, 200, b"[]")
            return
        await send_json(send, 200, await asyncio.to_thread(self._good_json, environment, query))

    def _good_json(self, environment: str, query: EventQuery) -> bytes:
        """On a worker thread: the events, and the JSON of them."""
        events = self._storage.query_events(environment, query)
        return json_bytes([good_event_json(stored) for stored in events])

    async def _bad(self, environment: str, request: Request, receive: Receive, send: Send) -> None:
        wanted = bad_filters(await self._body(request, receive))
        if wanted.none:
            await send_json(send, 200, b"[]")
            return
        await send_json(
            send, 200, await asyncio.to_thread(self._bad_json, environment, wanted.limit)
        )

    def _bad_json(self, environment: str, limit: int) -> bytes:
        """On a worker thread: the bad rows, and the JSON of them."""
        rows = self._storage.recent_bad_rows(environment, limit)
        return json_bytes([bad_row_json(stored) for stored in rows])

    async def _reset(
        self, environment: str, request: Request, receive: Receive, send: Send
    ) -> None:
        await self._body(request, receive)
        await asyncio.to_thread(self._storage.delete_events, environment)
        logger.info("inspection API: deleted the events of environment %r", environment)
        await send_json(send, 200, _EMPTY)

    async def _iglu(self, environment: str, request: Request, receive: Receive, send: Send) -> None:
        path = request.path[len(IGLU_PREFIX) :]
        try:
            if path.count("/") != 3:
                raise InvalidSchemaUri(
                    path, "the path must be /micro/iglu/{vendor}/{name}/{format}/{version}"
                )
            key = parse_schema_uri("iglu:" + path)
            resolved = await asyncio.to_thread(self._resolver.resolve, key)
        except SchemaUnresolved as exc:
            status = 503 if isinstance(exc, SchemaUnavailable) else 404
            headers = self._retry_after if status == 503 else ()
            answer: dict[str, Any] = {"uri": exc.uri, "error": exc.kind, "reason": exc.reason}
            await send_json(send, status, json_bytes(answer), headers)
            return
        await send_json(send, 200, json_bytes(resolved.schema))
