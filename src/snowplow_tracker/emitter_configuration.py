"""Emitter options for :meth:`Snowplow.create_tracker`."""

from __future__ import annotations

from typing import Any

import requests

from snowplow_tracker.emitter_options import positive_int
from snowplow_tracker.event_store import EventStore
from snowplow_tracker.typing import FailureCallback, SuccessCallback


class EmitterConfiguration:
    """Upstream's emitter settings object; every instance has its own retry-code map.

    ``max_retry_delay_seconds``, ``api_key``, ``datacoral_env`` and the other
    keyword-only Emitter options may be given as extra keyword arguments.
    """

    def __init__(
        self,
        batch_size: int | None = None,
        on_success: SuccessCallback | None = None,
        on_failure: FailureCallback | None = None,
        byte_limit: int | None = None,
        request_timeout: float | tuple[float, float] | None = None,
        buffer_capacity: int | None = None,
        custom_retry_codes: dict[int, bool] | None = None,
        event_store: EventStore | None = None,
        session: requests.Session | None = None,
        **emitter_options: Any,
    ) -> None:
        self.batch_size = positive_int("batch_size", batch_size)
        self.on_success = on_success
        self.on_failure = on_failure
        self.byte_limit = positive_int("byte_limit", byte_limit)
        self.request_timeout = request_timeout
        self.buffer_capacity = positive_int("buffer_capacity", buffer_capacity)
        self.custom_retry_codes: dict[int, bool] = dict(custom_retry_codes or {})
        self.event_store = event_store
        self.session = session
        self.emitter_options = dict(emitter_options)

    def set_retry_code(self, status_code: int, retry: bool = True) -> bool:
        """Retry (or never retry) answers with ``status_code``; False for a 2xx code."""
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise TypeError("status_code must be an int")
        if 200 <= status_code < 300:
            return False
        self.custom_retry_codes[status_code] = bool(retry)
        return True

    def emitter_kwargs(self) -> dict[str, Any]:
        """The keyword arguments an :class:`~snowplow_tracker.Emitter` takes from this object."""
        return {
            "batch_size": self.batch_size,
            "on_success": self.on_success,
            "on_failure": self.on_failure,
            "byte_limit": self.byte_limit,
            "request_timeout": self.request_timeout,
            "buffer_capacity": self.buffer_capacity,
            "custom_retry_codes": self.custom_retry_codes,
            "event_store": self.event_store,
            "session": self.session,
            **self.emitter_options,
        }
