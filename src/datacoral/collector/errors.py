"""Errors of the collector, as one tree.

::

    CollectorError                 root of every collector error
    ├── Rejected                   answered with a 4xx; ``status`` and ``reason`` say how
    │   ├── Unauthorized           401: no key, unknown key, revoked key (nothing stored)
    │   ├── Forbidden              403: the request names another environment, or comes from
    │   │                          an origin the key's environment does not allow (nothing stored)
    │   ├── MalformedRequest       400: the request cannot be split into events (one bad row)
    │   └── PayloadTooLarge        413: the body is over the limit (one size-violation bad row)
    ├── EventRejected              one event broke a protocol rule: it becomes a bad row and
    │                              the rest of the request goes on
    └── ClientDisconnected         the client left before its body was read: no answer

Storage failures are :class:`datacoral.storage.base.StorageError` and become 503.
Every ``reason`` is short plain text naming the field and the rule, and never
contains an API key.
"""

from __future__ import annotations


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
    """The body is over ``Settings.max_body_bytes``; ``head`` is its first KiB."""

    status = 413

    def __init__(self, reason: str, *, size: int, head: bytes) -> None:
        super().__init__(reason)
        self.size = size
        self.head = head


class EventRejected(CollectorError):
    """One event broke a protocol rule; ``reason`` reads e.g. ``eid: not a UUID: 'abc'``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClientDisconnected(CollectorError):
    """The client went away before its request was read; nothing is answered."""
