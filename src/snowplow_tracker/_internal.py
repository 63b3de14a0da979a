"""Errors in the tracker's own code: logged in production, collected in tests.

Our sender threads must never die of our own bugs, so they catch everything and
report it here. The test suite installs a list (``collect``) and fails any test
after which it is not empty, so swallowed bugs still turn tests red.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("snowplow_tracker")

_collected: list[BaseException] | None = None


def collect(errors: list[BaseException] | None) -> None:
    """Record internal errors into ``errors`` from now on (None stops recording)."""
    global _collected
    _collected = errors


def report_internal_error(what: str, exc: BaseException) -> None:
    """Log an unexpected exception from our own code, and record it for tests."""
    logger.error("internal error while %s: %r", what, exc, exc_info=exc)
    if _collected is not None:
        _collected.append(exc)
