"""Errors of the admin API, as one tree; each is answered as JSON
``{"error": kind, "detail": text}`` with its status.

::

    APIError                      root; ``status``, ``kind`` and a one-line ``detail``
    ├── InvalidRequest            400 invalid_request: a parameter or body the operation refuses
    ├── Unauthorized              401 unauthorized: no admin token, or unknown or revoked
    ├── Forbidden                 403 forbidden: the token's scope does not cover the request
    ├── NotFound                  404 not_found: no such route, environment, key or token
    ├── MethodNotAllowed          405 method_not_allowed: the path takes other methods
    ├── Conflict                  409 conflict: the store's state refuses it (exists already,
    │                             still has keys or events)
    ├── PayloadTooLarge           413 payload_too_large: the body is over the limit
    └── Unavailable               503 storage_unavailable: storage failed; retry later

The API turns storage's errors into answers in one place (:mod:`datacoral.adminapi.api`):
a ``ValueError`` is bad input (400), an :class:`~datacoral.storage.base.AdminError` 404
or 409 (:func:`from_admin_error`), and a storage failure 503 ``storage_unavailable``
with ``Retry-After``.
"""

from __future__ import annotations

from datacoral.storage.base import AdminError


class APIError(Exception):
    """An answer other than success: ``status``, a short ``kind`` and the ``detail``."""

    status = 400
    kind = "invalid_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(APIError):
    """A parameter or body that the operation refuses."""


class Unauthorized(APIError):
    """No admin token, or one that is unknown or revoked."""

    status = 401
    kind = "unauthorized"


class Forbidden(APIError):
    """The admin token is valid, but its scope does not cover what was asked."""

    status = 403
    kind = "forbidden"


class NotFound(APIError):
    """No such route, or no such environment, key or token."""

    status = 404
    kind = "not_found"


class MethodNotAllowed(APIError):
    """The path exists, with other methods (``allow``)."""

    status = 405
    kind = "method_not_allowed"

    def __init__(self, detail: str, allow: str) -> None:
        super().__init__(detail)
        self.allow = allow


class Conflict(APIError):
    """The store's state refuses the request as asked."""

    status = 409
    kind = "conflict"


class PayloadTooLarge(APIError):
    """The request body is over the admin API's limit."""

    status = 413
    kind = "payload_too_large"


class Unavailable(APIError):
    """Storage cannot answer now; the answer carries ``Retry-After``."""

    status = 503
    kind = "storage_unavailable"


def from_admin_error(exc: AdminError) -> APIError:
    """404 for a thing that does not exist (storage words those ``no environment 'x'``,
    ``no key 'k'``, ``no admin token 't'``), else 409; the detail is storage's message."""
    detail = str(exc)
    if detail.startswith("no "):
        return NotFound(detail)
    return Conflict(detail)
