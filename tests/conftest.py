"""Shared test configuration.

Tests that need an external service (PostgreSQL, Redis, NATS, Chromium) call
``require`` from ``tests.support.services``: they skip with a reason when the
service is absent, unless ``DATACORAL_REQUIRE_SERVICES=1`` (as in CI), which
turns that skip into a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _tracker_hygiene() -> Iterator[None]:
    """Fail a test after which the tracker swallowed an internal error, and close
    every emitter the test left open (so the exit hook has nothing to wait for)."""
    from snowplow_tracker import _internal, lifecycle

    errors: list[BaseException] = []
    _internal.collect(errors)
    yield
    _internal.collect(None)
    for emitter in list(lifecycle._emitters):
        if not getattr(emitter, "_closed", True):
            emitter.close(timeout=0.5)
    assert not errors, f"the tracker swallowed internal errors: {errors!r}"
