"""The tracker's exceptions, in one tree.

::

    SnowplowTrackerError
    ├── TrackerConfigurationError (also TypeError / ValueError: bad arguments at the call)
    └── DeliveryError              a send failed (only ever reported, never raised by track())
        ├── RetryableDeliveryError   network error, timeout, 5xx, 429, ...: sent again later
        └── PermanentDeliveryError   400/401/403/410/422 or an event over the size limit

``track()`` and ``input()`` never raise delivery errors; they reach the caller
through ``on_failure`` / ``on_drop`` callbacks, ``emitter.stats()`` and the
reports of ``flush()`` / ``close()``.
"""

from __future__ import annotations


class SnowplowTrackerError(Exception):
    """Root of every error this package defines."""


class DeliveryError(SnowplowTrackerError):
    """A batch could not be delivered; ``status`` is the HTTP status or -1."""

    def __init__(self, message: str, status: int = -1) -> None:
        super().__init__(message)
        self.status = status


class RetryableDeliveryError(DeliveryError):
    """The endpoint may accept the batch later."""


class PermanentDeliveryError(DeliveryError):
    """The endpoint refused the batch for good; it is dropped and reported."""
