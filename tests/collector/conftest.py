"""Collector tests run against a real ``datacoral serve`` over each storage backend.

``db_path`` (and so ``endpoint``) is parametrised over tests/support/backends.py's
BACKENDS: a SQLite file, or a fresh schema of the run's PostgreSQL database. Every
test that uses them runs once per backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from datacoral.storage.target import Target
from tests.schemas.registries import IGLU_CENTRAL, LoopbackServer, static_registry
from tests.support.backends import BACKENDS, Targets, new_target, require_backend
from tests.support.server import RunningServer, running_server
from tests.support.services import require


@dataclass
class Endpoint:
    """A running server, its database and a key for each default environment."""

    server: RunningServer
    db: Target
    keys: dict[str, str]
    session: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    def storage(self) -> AdminStorage:
        """A second, independent handle on the server's database (for reading)."""
        return open_storage(self.db)


def create_keys(db: Target) -> dict[str, str]:
    """One fresh key per default environment, created through the storage API."""
    storage = open_storage(db)
    try:
        return {env: storage.create_key(env)[1] for env in ("dev", "stage", "prod")}
    finally:
        storage.close()


def assert_no_keys_in(log: str, keys: dict[str, str]) -> None:
    """Keys are secrets: the server must never print one."""
    leaked = [env for env, key in keys.items() if key in log]
    assert not leaked, f"the server log shows the key of {leaked}"


def totals(endpoint: Endpoint) -> dict[str | None, tuple[int, int]]:
    """(good, bad) per environment."""
    storage = endpoint.storage()
    try:
        return {c.environment: (c.good, c.bad) for c in storage.count_events()}
    finally:
        storage.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of this run of the test."""
    require_backend(request.param)
    return str(request.param)


@pytest.fixture
def db_path(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Target:
    """A new, empty store: a SQLite file, or a fresh PostgreSQL schema."""
    return new_target(request, backend, tmp_path, "events.sqlite")


@pytest.fixture
def endpoint(db_path: Target) -> Iterator[Endpoint]:
    """A fresh server and database for one test."""
    keys = create_keys(db_path)
    with running_server(db_path) as server, requests.Session() as session:
        yield Endpoint(server, db_path, keys, session)
    assert_no_keys_in(server.log(), keys)


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of a module's shared server."""
    require_backend(request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def module_targets(
    request: pytest.FixtureRequest, module_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Targets:
    """New stores of the module's backend, for module-scoped servers."""
    return Targets(request, module_backend, tmp_path_factory)


@pytest.fixture(scope="module")
def shared_endpoint(module_targets: Targets) -> Iterator[Endpoint]:
    """One server for a whole module, for tests that only add events under fresh ids."""
    db = module_targets.new("collector")
    keys = create_keys(db)
    with running_server(db) as server, requests.Session() as session:
        yield Endpoint(server, db, keys, session)
    assert_no_keys_in(server.log(), keys)


@pytest.fixture(scope="session")
def iglu_registry() -> Iterator[LoopbackServer]:
    """``shared/iglu-central`` served as a static Iglu registry on 127.0.0.1 (read only)."""
    require((IGLU_CENTRAL / "schemas").is_dir(), f"{IGLU_CENTRAL} is missing")
    with static_registry() as server:
        yield server
