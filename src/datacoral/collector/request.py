"""A thin read-only view of an ASGI HTTP scope: the few things the collector reads."""

from __future__ import annotations

from datacoral.collector.asgi import Scope
from datacoral.collector.origins import RequestOrigin, request_origin
from datacoral.collector.protocol import parse_query

#: Where :meth:`Request.of` keeps the view, so the middleware and the routes share one.
_SCOPE_KEY = "datacoral.request"
#: Where the routes leave the environment a request's key named, for the access log.
ENVIRONMENT_KEY = "datacoral.environment"


class Request:
    """Method, path, headers and query of one request; headers are indexed once."""

    __slots__ = (
        "_headers",
        "_origin",
        "_origin_read",
        "_query",
        "method",
        "path",
        "query_string",
        "scope",
    )

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self._headers: dict[bytes, bytes] = dict(scope["headers"])
        self._query: dict[str, str] | None = None
        self._origin: RequestOrigin | None = None
        self._origin_read = False

    @classmethod
    def of(cls, scope: Scope) -> Request:
        """The view of ``scope``, made once per request whoever asks first."""
        found = scope.get(_SCOPE_KEY)
        if isinstance(found, Request):
            return found
        made = scope[_SCOPE_KEY] = cls(scope)
        return made

    def header(self, name: bytes) -> str | None:
        """A header's value (``name`` in lowercase), or None; empty counts as absent."""
        value = self._headers.get(name)
        if not value:
            return None
        return value.decode("latin-1")

    def has_header(self, name: bytes) -> bool:
        """Whether the header was sent at all, even empty (``SP-Anonymous`` needs no value)."""
        return name in self._headers

    @property
    def content_length(self) -> int | None:
        """The declared body size, when the client declared one."""
        value = self._headers.get(b"content-length")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    @property
    def peer(self) -> str | None:
        """The address of the TCP peer (a proxy when there is one)."""
        client = self.scope.get("client")
        return None if client is None else str(client[0])

    @property
    def origin(self) -> RequestOrigin | None:
        """Where a browser request comes from (``Origin``, else ``Referer``); None when
        the request carries neither, as from servers and non-browser trackers."""
        if not self._origin_read:
            self._origin = request_origin(self.header(b"origin"), self.header(b"referer"))
            self._origin_read = True
        return self._origin

    def query(self) -> dict[str, str]:
        """The query parameters, parsed on first use."""
        if self._query is None:
            self._query = parse_query(self.query_string)
        return self._query
