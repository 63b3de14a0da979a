"""The admin API as the endpoint mounts it: authenticate, route, read, run, answer.

Everything below ``/admin/v1/`` but the OpenAPI document needs an admin token, which
is checked before anything else: without a valid one every path, known or not,
answers 401. A request's body is read within :data:`MAX_BODY_BYTES`; its handler, the
storage calls and the JSON of the answer run on a worker thread, so the event loop
(which also takes events) never waits for the database. An export is streamed a page
at a time, each read on a worker thread too (:mod:`datacoral.adminapi.streams`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import orjson

from datacoral.adminapi.auth import Authenticator, Caller
from datacoral.adminapi.errors import (
    APIError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    from_admin_error,
)
from datacoral.adminapi.handlers import Call
from datacoral.adminapi.openapi import DOCUMENT_PATH, document_bytes
from datacoral.adminapi.operations import OPERATIONS, PREFIX, Operation
from datacoral.adminapi.router import NOT_FOUND, Router, query_values
from datacoral.adminapi.schema import decode
from datacoral.adminapi.streams import Stream, send_stream
from datacoral.collector import errors as collector_errors
from datacoral.collector.admin_auth import CHALLENGE, TokenResolver
from datacoral.collector.asgi import Receive, Send
from datacoral.collector.limits import read_body
from datacoral.collector.micro_views import json_bytes
from datacoral.collector.request import Request
from datacoral.storage.base import AdminError, AdminStorage, StorageError

logger = logging.getLogger("datacoral.collector")

#: The largest request body the admin API reads.
MAX_BODY_BYTES = 64 * 1024
_JSON = (b"content-type", b"application/json")

Headers = list[tuple[bytes, bytes]]
#: What a request is answered with: a status and JSON (None: no body), or a stream.
Answer = tuple[int, bytes | None] | Stream[Any]


def is_admin_path(path: str) -> bool:
    """Whether ``path`` belongs to the admin API."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class AdminAPI:
    """Answers ``/admin/v1/...`` requests over ``storage``."""

    def __init__(
        self,
        storage: AdminStorage,
        *,
        retry_after_seconds: int,
        on_storage_error: Callable[[StorageError], None],
        tokens: TokenResolver | None = None,
        operations: Iterable[Operation] = OPERATIONS,
    ) -> None:
        self._storage = storage
        self._auth = Authenticator(tokens or TokenResolver(storage.lookup_admin_token))
        self._router = Router(operations)
        self._retry_after: Headers = [(b"retry-after", str(retry_after_seconds).encode())]
        self._on_storage_error = on_storage_error

    async def __call__(self, request: Request, receive: Receive, send: Send) -> None:
        if request.path == DOCUMENT_PATH and request.method == "GET":
            await send_json(send, 200, document_bytes())
            return
        try:
            caller = await self._auth.caller(request)
            answer = await self._answer(caller, request, receive)
        except Unauthorized as exc:
            await send_error(send, exc, [CHALLENGE])
        except MethodNotAllowed as exc:
            await send_error(send, exc, [(b"allow", exc.allow.encode())])
        except APIError as exc:
            await send_error(send, exc)
        except StorageError as exc:
            self._on_storage_error(exc)
            await send_error(send, Unavailable("retry later"), self._retry_after)
        except collector_errors.ClientDisconnected:
            return
        else:
            if isinstance(answer, Stream):
                await send_stream(answer, receive, send, f"admin API {request.path}")
            else:
                await send_json(send, *answer)

    async def _answer(self, caller: Caller, request: Request, receive: Receive) -> Answer:
        found = self._router.match(request.method, _below_prefix(request))
        operation = found.operation
        query = query_values(operation, request.query_string)
        body = None
        if operation.body is not None:
            body = decode(operation.body, await _read_json(request, receive))
        call = Call(self._storage, caller, found.path, query, body)
        return await asyncio.to_thread(_run, operation, call)


def _run(operation: Operation, call: Call) -> Answer:
    """On a worker thread: the handler, and the JSON of its answer (or, for a stream, its
    first page)."""
    try:
        answer = operation.handler(call)
        if isinstance(answer, Stream):
            answer.begin()
            return answer
    except AdminError as exc:
        raise from_admin_error(exc) from exc
    except ValueError as exc:  # storage's word for bad input (a name, an origin)
        raise InvalidRequest(str(exc)) from exc
    if operation.response is None:
        return operation.status, None
    return operation.status, json_bytes(_plain(answer))


def _plain(value: Any) -> Any:
    """Models as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


async def _read_json(request: Request, receive: Receive) -> object:
    try:
        raw = await read_body(receive, limit=MAX_BODY_BYTES, declared=request.content_length)
    except collector_errors.PayloadTooLarge:
        raise PayloadTooLarge(f"body: larger than {MAX_BODY_BYTES} bytes") from None
    if not raw.strip():
        raise InvalidRequest("body: a JSON object is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None


def _below_prefix(request: Request) -> str:
    """The path after :data:`PREFIX` as sent (percent-encoded), so that ``%2F`` stays
    inside its segment."""
    raw = request.scope.get("raw_path")
    path = raw.decode("utf-8", "replace") if isinstance(raw, bytes) and raw else quote(request.path)
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        raise NotFound(NOT_FOUND)
    return path[len(PREFIX) :]


async def send_json(
    send: Send, status: int, body: bytes | None, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """``status`` with a JSON body (None: no body, as for 204)."""
    sent: Headers = [*headers]
    if body is not None:
        sent = [_JSON, (b"content-length", str(len(body)).encode()), *sent]
    await send({"type": "http.response.start", "status": status, "headers": sent})
    await send({"type": "http.response.body", "body": body or b""})


async def send_error(
    send: Send, error: APIError, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """``{"error": kind, "detail": text}`` with the error's status."""
    body = json_bytes({"error": error.kind, "detail": error.detail})
    await send_json(send, error.status, body, headers)
