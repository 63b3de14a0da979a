"""The admin HTTP API (``serve --admin``): what the ``datacoral`` commands do, over HTTP.

==========================================  ===============================================
module                                      what it holds
==========================================  ===============================================
``operations``                              the table: every operation's method, path,
                                            parameters, body, answer and handler
``models``, ``schema``                      bodies as dataclasses; their JSON Schema and
                                            the checked reading of a request body
``handlers``                                one function per operation (storage calls)
``auth``                                    admin tokens and their scope (one environment,
                                            or all)
``router``, ``api``                         the ASGI side: route, read, run, answer
``streams``                                 answers sent as they are read (an export's
                                            rows as NDJSON, a page at a time)
``openapi``                                 the OpenAPI 3.1 document, from the same table
==========================================  ===============================================

The endpoint mounts it under ``/admin/v1`` when ``Settings.admin`` is on (off by
default: an endpoint's port is usually public, and a second way in is opened only
when asked for). ``datacoral --server URL --token TOKEN ...`` is its client
(:mod:`datacoral.cli.remote`).
"""

from __future__ import annotations

from collections.abc import Callable

from datacoral.adminapi.api import AdminAPI, is_admin_path
from datacoral.adminapi.operations import PREFIX
from datacoral.config import Settings
from datacoral.storage.base import Storage, StorageError

__all__ = ["PREFIX", "AdminAPI", "admin_api", "is_admin_path"]


def admin_api(
    settings: Settings, storage: Storage, on_storage_error: Callable[[StorageError], None]
) -> AdminAPI | None:
    """The admin API over ``storage`` when ``settings.admin`` asks for it, else None;
    StorageError when ``storage`` cannot serve it."""
    if not settings.admin:
        return None
    if not _administrable(storage):
        raise StorageError(f"{storage!r} cannot serve the admin API (admin)")
    return AdminAPI(
        storage,  # type: ignore[arg-type]  # checked just above
        retry_after_seconds=settings.retry_after_seconds,
        on_storage_error=on_storage_error,
    )


def _administrable(storage: Storage) -> bool:
    """Whether ``storage`` has the administrative side (AdminStorage is not a runtime
    protocol: it is too large to check member by member at each call)."""
    needed = ("create_environment", "create_key", "create_admin_token", "lookup_admin_token")
    return all(callable(getattr(storage, name, None)) for name in needed)
