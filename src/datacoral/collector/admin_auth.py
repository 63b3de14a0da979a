"""Who is reading: the admin token of a request, and the environment it opens.

API keys write events and are public in web pages; reading events takes an admin
token (``datacoral token create``), sent as ``Authorization: Bearer <token>``. Tokens
are hashed at once: only digests are looked up and cached, and no answer or log line
ever repeats a token. A look-up runs on a worker thread (it may wait for the
database); its answer, a miss too, is reused for :data:`TOKEN_CACHE_SECONDS`, so a
revoked token is refused within a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from datacoral.admin.keys import KEY_PREFIX
from datacoral.admin.tokens import ALL_ENVIRONMENTS, hash_token
from datacoral.collector.errors import Forbidden, Unauthorized
from datacoral.collector.request import Request
from datacoral.storage.base import AdminTokenRecord

#: How long a look-up's answer is reused: a revoked token stops working within a second.
TOKEN_CACHE_SECONDS = 0.5
#: A flood of random tokens must not grow the cache without bound.
TOKEN_CACHE_ENTRIES = 10_000
#: The ``WWW-Authenticate`` header of every 401 the inspection API gives.
CHALLENGE = (b"www-authenticate", b'Bearer realm="datacoral"')

MISSING_TOKEN = "missing admin token: send Authorization: Bearer <token> (`datacoral token create`)"
API_KEY_REFUSED = (
    "an API key cannot read events (API keys write them): send an admin token as"
    " Authorization: Bearer <token> (`datacoral token create`)"
)


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; 401 without one."""
    header = request.header(b"authorization")
    if header is None:
        raise Unauthorized(API_KEY_REFUSED if request.header(b"x-api-key") else MISSING_TOKEN)
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be: Bearer <admin token>")
    if token.startswith(KEY_PREFIX):
        raise Unauthorized(API_KEY_REFUSED)
    return token


class TokenResolver:
    """Authenticates admin tokens against storage through a short-lived cache of digests."""

    def __init__(
        self,
        lookup: Callable[[bytes], AdminTokenRecord | None],
        *,
        ttl: float = TOKEN_CACHE_SECONDS,
        max_entries: int = TOKEN_CACHE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._cache: dict[bytes, tuple[float, AdminTokenRecord | None]] = {}

    async def record(self, token: str) -> AdminTokenRecord | None:
        """The stored record of ``token``, at most ``ttl`` seconds old."""
        digest = hash_token(token)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        found = await asyncio.to_thread(self._lookup, digest)
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[digest] = (self._clock() + self._ttl, found)
        return found

    async def environment_of(self, request: Request) -> str:
        """The environment the request's admin token reads; 401 as documented."""
        found = await self.record(bearer_token(request))
        if found is None:
            raise Unauthorized("unknown admin token")
        if found.revoked:
            raise Unauthorized("revoked admin token")
        if found.environment == ALL_ENVIRONMENTS:
            # The inspection API reads one environment; which one, a server-wide token
            # does not say.
            raise Forbidden(
                "a server-wide admin token names no environment: use a token of the"
                " environment to read (`datacoral token create --env NAME`)"
            )
        return found.environment
