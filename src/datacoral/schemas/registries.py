"""Remote Iglu registries over HTTP(S): static repositories and Iglu Server.

- :class:`StaticRegistrySource`: the static layout under a base URL,
  ``{base}/schemas/{vendor}/{name}/{format}/{version}`` (Iglu Central, a bucket, a web
  server). 404 and 410 are "no such schema"; so is 403, which is what S3 answers for an
  absent key when listing is not allowed.
- :class:`IgluServerSource`: ``{base}/api/schemas/{vendor}/{name}/{format}/{version}``
  with the ``apikey`` header (a base given with ``/api``, as Snowplow's resolver
  configurations write it, means the same server). 404 is "no such schema"; 401 and
  403 mean the key is refused, which is a failure to fix, not an absence. Redirects are
  not followed: the key would go along to wherever they point.

Every request has a timeout (``timeout`` seconds per connect and per read) and reads at
most :data:`MAX_SCHEMA_BYTES`. All other answers, and every network error, are
:class:`Failed`. Requests go through a ``requests.Session`` (pooled connections;
callers may pass their own, e.g. with adapters or proxies).
"""

from __future__ import annotations

import requests
import urllib3

from datacoral.schemas.sources import (
    MAX_SCHEMA_BYTES,
    Failed,
    Lookup,
    Missing,
    parse_schema_document,
)
from datacoral.schemas.uri import SchemaKey

DEFAULT_TIMEOUT = 5.0


class _HttpSource:
    kind = "http"
    #: Statuses that mean "this registry has no such schema".
    absent: frozenset[int] = frozenset((404, 410))
    follow_redirects = True

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session if session is not None else requests.Session()

    @property
    def name(self) -> str:
        return f"{self.kind} {self.base_url}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url} timeout={self.timeout}>"

    def url(self, key: SchemaKey) -> str:
        return f"{self.base_url}/schemas/{key.path}"

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    def fetch(self, key: SchemaKey) -> Lookup:
        where = f"{self.name}: {key.path}"
        try:
            with self._session.get(
                self.url(key),
                headers=self.headers(),
                timeout=self.timeout,
                stream=True,
                allow_redirects=self.follow_redirects,
            ) as response:
                status = response.status_code
                if status == 200:
                    body = response.raw.read(MAX_SCHEMA_BYTES + 1, decode_content=True)
                    return parse_schema_document(where, body)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # urllib3's and OSError: raised while the body streams (a reset, a read timeout)
            return Failed(f"{where}: {type(exc).__name__}")
        return self.status_lookup(where, status)

    def status_lookup(self, where: str, status: int) -> Lookup:
        if status in self.absent:
            return Missing(f"{where}: HTTP {status}")
        return Failed(f"{where}: HTTP {status}")


class StaticRegistrySource(_HttpSource):
    """A static Iglu repository: ``{base}/schemas/{vendor}/{name}/{format}/{version}``."""

    kind = "static"
    absent = frozenset((403, 404, 410))


class IgluServerSource(_HttpSource):
    """An Iglu Server: ``{base}/api/schemas/...`` with ``apikey`` (when given) as a header."""

    kind = "iglu-server"
    follow_redirects = False

    def __init__(
        self,
        base_url: str,
        apikey: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        # Snowplow's resolver configurations and Micro write the server's URL with /api:
        # either form works here.
        base_url = base_url.rstrip("/").removesuffix("/api")
        super().__init__(base_url, timeout=timeout, session=session)
        self._apikey = apikey

    def url(self, key: SchemaKey) -> str:
        return f"{self.base_url}/api/schemas/{key.path}"

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self._apikey:
            headers["apikey"] = self._apikey
        return headers

    def status_lookup(self, where: str, status: int) -> Lookup:
        if status in (401, 403):
            return Failed(f"{where}: HTTP {status}: the apikey is missing or refused")
        if 300 <= status < 400:
            return Failed(f"{where}: HTTP {status}: redirects are not followed (the apikey)")
        return super().status_lookup(where, status)
