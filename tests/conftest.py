"""Shared test configuration.

Tests that need an external service (PostgreSQL, Redis, NATS, Chromium) call
``require`` from ``tests.support.services``: they skip with a reason when the
service is absent, unless ``DATACORAL_REQUIRE_SERVICES=1`` (as in CI), which
turns that skip into a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import postgres
from tests.support.services import require


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


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[postgres.RunDatabase]:
    """This run's own PostgreSQL database (tests/support/postgres.py), dropped at the end."""
    reason = postgres.unavailable_reason()
    require(reason is None, reason or "")
    database = postgres.RunDatabase()
    yield database
    database.drop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL copies of tests marked ``sqlite_only``, and the SQLite copies
    of tests marked ``postgres_only`` (support/backends.py)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        backends = (params.get("backend"), params.get("module_backend"))
        on_postgres, on_sqlite = "postgres" in backends, "sqlite" in backends
        if (on_postgres and item.get_closest_marker("sqlite_only") is not None) or (
            on_sqlite and item.get_closest_marker("postgres_only") is not None
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
