"""The tracking endpoints: a request in, its events committed, then the answer.

``POST tp2`` carries a batch in a ``payload_data`` envelope; ``GET /i`` carries
one event in its query string. Both authenticate, split, validate and enrich,
check the events' Iglu schemas as the environment's mode says (validation.py),
commit good events and bad rows together, and answer only after the commit.
Refusals are raised as :class:`Rejected` (after storing their bad row, when the
request is attributable to an environment) and answered by the application. A
browser request (one with an ``Origin`` or ``Referer``) whose origin the key's
environment does not allow is refused with 403 as soon as the environment is
known, before anything of it is stored. A request whose key carriers (header,
path, query, events) name different keys is refused with 401 before anything
of it is stored. Once its events are counted (and before the bad row of a refused
request is stored), the rate limits of its key and environment are checked
(rate_limits.py): past them, 429 and nothing stored.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from datacoral.admin.environments import ValidationMode
from datacoral.collector.asgi import Receive, Send
from datacoral.collector.auth import MISSING_KEY, KeyResolver, check_claim, one_key
from datacoral.collector.cookie import Identity, NetworkCookie
from datacoral.collector.enrich import Arrival, IPNetwork, client_ip
from datacoral.collector.environments import EnvironmentCache
from datacoral.collector.errors import (
    ClientDisconnected,
    Forbidden,
    MalformedRequest,
    PayloadTooLarge,
    Rejected,
    Unauthorized,
)
from datacoral.collector.events import Decoded, sort_events
from datacoral.collector.fields import LEGACY_ENVIRONMENT, LEGACY_KEY, TRANSPORT_PARAMETERS
from datacoral.collector.json_rules import MAX_JSON_DEPTH
from datacoral.collector.limits import content_codings, decode_body, read_body
from datacoral.collector.protocol import check_content_type, split_body
from datacoral.collector.rate_limits import RateLimiter
from datacoral.collector.request import ENVIRONMENT_KEY, Request
from datacoral.collector.responses import send_ok, send_pixel
from datacoral.collector.validation import SchemaValidation
from datacoral.storage.base import BadRow, GoodEvent, KeyRecord, Storage, StorageError

logger = logging.getLogger("datacoral.collector")

_LEGACY_KEY_IN_JSON = re.compile(r'"x_api_key"\s*:\s*"[^"]*"')


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of every stored timestamp."""
    return time.time_ns() // 1_000_000


class _Attempt:
    """What is known so far about one request, kept for a last-resort bad row.

    ``raw`` is the body, or the event of a GET (serialised only if a bad row needs it);
    ``key`` is the key the transport carried and ``carrier`` where (header, path, query);
    ``record`` is the authenticated key's, set with ``environment``.
    """

    __slots__ = (
        "carrier",
        "committed",
        "environment",
        "key",
        "raw",
        "received",
        "record",
        "secrets",
    )

    def __init__(self, received: int) -> None:
        self.received = received
        self.environment: str | None = None
        self.record: KeyRecord | None = None
        self.key: str | None = None
        self.carrier = ""
        self.raw: bytes | dict[str, str] = b""
        self.secrets: tuple[str, ...] = ()
        self.committed = False

    def raw_bytes(self) -> bytes:
        raw = self.raw
        return raw if isinstance(raw, bytes) else orjson.dumps(raw)

    def bad_row(self, reason: str, raw: bytes, kind: str = "tracker_protocol_violation") -> BadRow:
        """A bad row for the whole request; the API key is scrubbed from its payload."""
        text = raw.decode("utf-8", "backslashreplace")
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _LEGACY_KEY_IN_JSON.sub('"x_api_key":"***"', text)
        return BadRow(
            reason=reason,
            payload=text,
            received_tstamp=self.received,
            environment=self.environment,
            kind=kind,
        )


_Handler = Callable[[_Attempt, Request, Receive, Send, str | None], Awaitable[None]]


def _strip_legacy(events: list[Any], keys: set[str], claims: set[str]) -> None:
    """Remove ``x_api_key`` / ``x_datacoral_environment`` from events, collecting them."""
    for event in events:
        if isinstance(event, dict):
            key = event.pop(LEGACY_KEY, None)
            claim = event.pop(LEGACY_ENVIRONMENT, None)
            if isinstance(key, str) and key:
                keys.add(key)
            if isinstance(claim, str) and claim:
                claims.add(claim)


class Ingest:
    """Turns tracking requests into committed good events and bad rows."""

    def __init__(
        self,
        storage: Storage,
        keys: KeyResolver,
        *,
        environments: EnvironmentCache,
        cookie: NetworkCookie,
        max_body_bytes: int,
        trusted_proxies: tuple[IPNetwork, ...],
        max_json_depth: int = MAX_JSON_DEPTH,
        schemas: SchemaValidation | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._storage = storage
        self._limiter = limiter
        self._keys = keys
        self._environments = environments
        self._schemas = schemas
        self._cookie = cookie
        self._max_body_bytes = max_body_bytes
        self._trusted_proxies = trusted_proxies
        self._max_json_depth = max_json_depth

    async def events(self, request: Request, receive: Receive, send: Send, key: str | None) -> None:
        """``POST tp2``: a batch of events; 200 ``ok`` once committed."""
        await self._guarded(self._events, request, receive, send, key)

    async def pixel(self, request: Request, receive: Receive, send: Send, key: str | None) -> None:
        """``GET /i``: one event from the query string; the pixel once committed."""
        await self._guarded(self._pixel, request, receive, send, key)

    async def _guarded(
        self, handler: _Handler, request: Request, receive: Receive, send: Send, key: str | None
    ) -> None:
        attempt = _Attempt(received=now_ms())
        try:
            await handler(attempt, request, receive, send, key)
        except (Rejected, StorageError, ClientDisconnected):
            raise
        except Exception as exc:
            # Our bug, not the client's: keep the input as a bad row (400, so the
            # tracker does not resend what is now stored) when it is attributable.
            logger.exception("internal error while ingesting a request")
            if attempt.environment is None or attempt.committed:
                raise
            reason = f"internal: the request could not be processed ({type(exc).__name__})"
            await self._storage.commit([], [attempt.bad_row(reason, attempt.raw_bytes())])
            raise MalformedRequest(reason) from None
        finally:
            request.scope[ENVIRONMENT_KEY] = attempt.environment  # for the access log

    async def _authenticate_transport(
        self, attempt: _Attempt, request: Request, path_key: str | None
    ) -> dict[str, str]:
        """Authenticate header/path/query keys; returns the parsed query string."""
        key = request.header(b"x-api-key")
        carrier = "X-Api-Key"
        if path_key and path_key != key:
            if key:
                raise one_key("X-Api-Key and the /k/ path")
            key, carrier = path_key, "the /k/ path"
        claimed = request.header(b"x-datacoral-environment")
        if key:
            attempt.key, attempt.carrier = key, carrier
            attempt.secrets += (key,)
            self._check_origin(self._authenticate(attempt, key, claimed), request)
        try:
            query = request.query()
        except MalformedRequest as exc:
            await self._refuse(attempt, exc, request.query_string)
            raise
        if not query:
            return query
        query_key = query.get("api_key")
        if query_key and query_key != key:
            if key:
                raise one_key(f"{carrier} and api_key")
            attempt.key, attempt.carrier = query_key, "api_key"
            attempt.secrets += (query_key,)
            self._check_origin(self._authenticate(attempt, query_key, claimed), request)
        if attempt.environment is not None:
            check_claim(attempt.environment, query.get("env") or None)
        return query

    def _authenticate_legacy(
        self,
        attempt: _Attempt,
        request: Request,
        keys: set[str],
        claims: set[str],
        query: dict[str, str],
    ) -> str:
        """The environment, from the legacy in-event key when no other key came."""
        environment = attempt.environment
        if keys and (len(keys) > 1 or (attempt.key is not None and attempt.key not in keys)):
            raise one_key(
                "x_api_key fields" if attempt.key is None else f"{attempt.carrier} and x_api_key"
            )
        if environment is None:
            key = next(iter(keys), None)
            if key is None:
                raise Unauthorized(MISSING_KEY)
            attempt.secrets += (key,)
            environment = self._authenticate(attempt, key, None)
            self._check_origin(environment, request)
            check_claim(environment, query.get("env") or None)
        for claim in claims:
            check_claim(environment, claim)
        return environment

    def _authenticate(self, attempt: _Attempt, key: str, claimed: str | None) -> str:
        """Authenticate ``key`` for ``attempt``; its environment."""
        record = self._keys.authenticate(key, claimed)
        attempt.record, attempt.environment = record, record.environment
        return record.environment

    def _admit(self, attempt: _Attempt, events: int) -> None:
        """Take ``events`` from the rate limits of the request's key and environment, or
        raise :class:`~datacoral.collector.errors.RateLimited`."""
        limiter, environment = self._limiter, attempt.environment
        if limiter is not None and environment is not None:
            limit = self._environments.rate_limit(environment)
            limiter.admit(environment, limit, attempt.record, events)

    def _check_origin(self, environment: str, request: Request) -> None:
        """Refuse (403) a browser request from an origin ``environment`` does not allow."""
        source = request.origin
        if source is not None and not self._environments.allows(environment, source.origin):
            raise Forbidden(
                f"origin not allowed: environment {environment!r} does not allow"
                f" {source.describe()}"
            )

    async def _refuse(self, attempt: _Attempt, exc: Rejected, raw: bytes) -> None:
        """Store the bad row of a request refused as a whole, when it is attributable."""
        if attempt.environment is None:
            # Nothing proves who sent it: storing would let anyone fill the database.
            if isinstance(exc, MalformedRequest):
                raise Unauthorized(MISSING_KEY) from None
            return
        self._admit(attempt, 1)  # the bad row is one event's worth
        if isinstance(exc, PayloadTooLarge):
            row = attempt.bad_row(exc.reason, exc.head, kind="size_violation")
        else:
            row = attempt.bad_row(exc.reason, raw)
        await self._storage.commit([], [row])
        attempt.committed = True

    async def _sort(
        self, raws: list[Any], arrival: Arrival, merged: dict[str, str]
    ) -> tuple[list[GoodEvent], list[BadRow]]:
        """Good events and bad rows: the protocol's rules, then the environment's schema
        validation (which may raise :class:`SchemasUnavailable`: nothing is stored)."""
        schemas = self._schemas
        if schemas is None:
            return sort_events(raws, arrival, merged, max_json_depth=self._max_json_depth)
        mode = self._environments.validation(arrival.environment)
        if mode is ValidationMode.OFF:
            return sort_events(raws, arrival, merged, max_json_depth=self._max_json_depth)
        decoded: list[Decoded] = []
        good, bad = sort_events(
            raws, arrival, merged, max_json_depth=self._max_json_depth, decoded=decoded
        )
        if not good:
            return good, bad
        good, refused = await schemas.apply(mode, good, decoded, arrival)
        bad.extend(refused)
        return good, bad

    def _arrival(
        self, environment: str, attempt: _Attempt, request: Request, identity: Identity
    ) -> Arrival:
        ip = None if identity.anonymous else request.peer
        if ip is not None and self._trusted_proxies:
            ip = client_ip(ip, request.header(b"x-forwarded-for"), self._trusted_proxies)
        return Arrival(
            environment,
            attempt.received,
            ip,
            request.header(b"user-agent"),
            identity.network_userid,
            identity.anonymous,
        )

    async def _events(
        self, attempt: _Attempt, request: Request, receive: Receive, send: Send, key: str | None
    ) -> None:
        query = await self._authenticate_transport(attempt, request, key)
        codings = content_codings(request.header(b"content-encoding"))
        body = b""
        try:
            body = await read_body(
                receive, limit=self._max_body_bytes, declared=request.content_length
            )
            attempt.raw = body
            if codings:
                body = attempt.raw = decode_body(body, codings, limit=self._max_body_bytes)
            check_content_type(request.header(b"content-type"))
            raws = split_body(body)
        except (MalformedRequest, PayloadTooLarge) as exc:
            await self._refuse(attempt, exc, body)
            raise
        merged = {k: v for k, v in query.items() if k not in TRANSPORT_PARAMETERS}
        keys: set[str] = set()
        claims: set[str] = set()
        _strip_legacy(raws, keys, claims)
        _strip_legacy([merged], keys, claims)
        environment = self._authenticate_legacy(attempt, request, keys, claims, query)
        self._admit(attempt, len(raws))
        identity = self._cookie.identify(request)
        arrival = self._arrival(environment, attempt, request, identity)
        good, bad = await self._sort(raws, arrival, merged)
        await self._storage.commit(good, bad)
        attempt.committed = True
        await send_ok(send, identity.headers)

    async def _pixel(
        self, attempt: _Attempt, request: Request, receive: Receive, send: Send, key: str | None
    ) -> None:
        query = await self._authenticate_transport(attempt, request, key)
        event = dict(query)
        for name in TRANSPORT_PARAMETERS:
            event.pop(name, None)
        keys: set[str] = set()
        claims: set[str] = set()
        if LEGACY_KEY in event or LEGACY_ENVIRONMENT in event:
            _strip_legacy([event], keys, claims)
        environment = self._authenticate_legacy(attempt, request, keys, claims, query)
        attempt.raw = event
        if not event:
            exc = MalformedRequest("query string: no event parameters")
            await self._refuse(attempt, exc, orjson.dumps(event))
            raise exc
        self._admit(attempt, 1)
        identity = self._cookie.identify(request)
        arrival = self._arrival(environment, attempt, request, identity)
        good, bad = await self._sort([event], arrival, {})
        await self._storage.commit(good, bad)
        attempt.committed = True
        await send_pixel(send, identity.headers)
