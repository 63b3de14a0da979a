"""Collector tests run against a real ``datacoral serve`` over a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from datacoral.storage.sqlite import SQLiteStorage
from tests.support.server import RunningServer, running_server


@dataclass
class Endpoint:
    """A running server, its database and a key for each default environment."""

    server: RunningServer
    db: Path
    keys: dict[str, str]
    session: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    def storage(self) -> SQLiteStorage:
        """A second, independent handle on the server's database (for reading)."""
        return SQLiteStorage(self.db)


def create_keys(db: Path) -> dict[str, str]:
    """One fresh key per default environment, created through the storage API."""
    storage = SQLiteStorage(db)
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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "events.sqlite"


@pytest.fixture
def endpoint(db_path: Path) -> Iterator[Endpoint]:
    """A fresh server and database for one test."""
    keys = create_keys(db_path)
    with running_server(db_path) as server, requests.Session() as session:
        yield Endpoint(server, db_path, keys, session)
    assert_no_keys_in(server.log(), keys)


@pytest.fixture(scope="module")
def shared_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """One server for a whole module, for tests that only add events under fresh ids."""
    db = tmp_path_factory.mktemp("collector") / "events.sqlite"
    keys = create_keys(db)
    with running_server(db) as server, requests.Session() as session:
        yield Endpoint(server, db, keys, session)
    assert_no_keys_in(server.log(), keys)
