"""Errors of the collector, as one tree.

::

    CollectorError                 root of every collector error
    ├── Rejected                   answered with a 4xx or 503; ``status`` and ``reason`` say how
    │   ├── Unauthorized           401: no key, unknown key, revoked key (nothing stored)
    │   ├── Forbidden              403: the request names another environment, or comes from
    │   │                          an origin the key's environment does not allow (nothing stored)
    │   ├── MalformedRequest       400: the request cannot be split into events (one bad row)
    │   ├── PayloadTooLarge        413: the body, as sent or decoded, is over the limit
    │   │                          (one size-violation bad row)
    │   ├── UnsupportedEncoding    415: a Content-Encoding we do not decode (nothing stored)
    │   ├── RateLimited            429 with Retry-After: the key's or environment's rate
    │   │                          limit has no room for the request's events (nothing stored)
    │   └── SchemasUnavailable     503 with Retry-After: a strict environment's event needs a
    │                              schema no registry can give now (nothing stored)
    ├── EventRejected              one event broke a protocol rule: it becomes a bad row and
    │                              the rest of the request goes on
    └── ClientDisconnected         the client left before its body was read: no answer

Storage failures are :class:`datacoral.storage.base.StorageError` and become 503.
Every ``reason`` is short plain text naming the field and the rule, and never
contains an API key.
"""

from __future__ import annotations

import orjson


def shown(value: object, limit: int = 60) -> str:
    """A short printable form of a value for a bad-row reason."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CollectorError(Exception):
    """Root of the collector's errors."""


class Rejected(CollectorError):
    """The request is answered with ``status`` and the plain-text ``reason``."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(Rejected):
    """No API key, or one that is unknown or revoked."""

    status = 401


class Forbidden(Rejected):
    """The key is valid but the request names another environment or comes from an origin
    that environment does not allow."""

    status = 403


class MalformedRequest(Rejected):
    """The request cannot be split into events (bad JSON, wrong envelope, empty body)."""

    status = 400


class PayloadTooLarge(Rejected):
    """The body, as sent or once decoded, is over ``Settings.max_body_bytes``; ``head`` is
    its first KiB (of the decoded bytes for a compressed body)."""

    status = 413

    def __init__(self, reason: str, *, size: int, head: bytes) -> None:
        super().__init__(reason)
        self.size = size
        self.head = head


class UnsupportedEncoding(Rejected):
    """The body declares a ``Content-Encoding`` other than gzip, deflate or identity."""

    status = 415


class RateLimited(Rejected):
    """The rate limit of the request's API key or environment (``limit``: ``key`` or
    ``environment``) has no room for its ``events`` now: nothing is stored, and the
    tracker is told to resend after ``retry_after`` seconds, when there will be."""

    status = 429

    def __init__(
        self, reason: str, *, retry_after: int, environment: str, limit: str, events: int
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.environment = environment
        self.limit = limit
        self.events = events


class SchemasUnavailable(Rejected):
    """A strict environment's event names a schema that cannot be had now (a registry
    outage, no copy cached): no verdict, so nothing is stored and the tracker is told to
    resend after ``retry_after`` seconds."""

    status = 503

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class EventRejected(CollectorError):
    """One event broke a protocol rule; ``reason`` reads e.g. ``eid: not a UUID: 'abc'``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClientDisconnected(CollectorError):
    """The client went away before its request was read; nothing is answered."""
