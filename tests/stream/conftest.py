"""Collectors publishing to JetStream and loaders writing it into PostgreSQL, as processes.

Each test gets its own JetStream server (tests/support/nats.py) on free loopback
ports, and a fresh schema of the run's PostgreSQL database with a key per default
environment. Without nats-server 2.10+ or PostgreSQL the tests skip with the reason
(or fail under DATACORAL_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from datacoral.storage import open_storage
from datacoral.storage.target import DatabaseURL
from tests.collector.conftest import create_keys
from tests.support import nats_servers as nats
from tests.support.postgres import RunDatabase


@pytest.fixture
def jetstream(tmp_path: Path) -> Iterator[nats.JetStream]:
    """One JetStream server (``sync_interval: always``) of this test's own."""
    nats.require_nats_server()
    with nats.running(nats.single(tmp_path / "nats")) as server:
        yield server


@dataclass
class Store:
    """A fresh PostgreSQL schema and a key for each default environment."""

    url: DatabaseURL
    keys: dict[str, str]

    def counts(self, environment: str = "dev") -> tuple[int, int, int]:
        """(good, bad, duplicates) stored in ``environment``."""
        store = open_storage(self.url)
        try:
            for counts in store.count_events(environment):
                return counts.good, counts.bad, counts.duplicates
            return 0, 0, 0
        finally:
            store.close()


@pytest.fixture
def store(postgres_database: RunDatabase) -> Store:
    url = postgres_database.new_schema()
    return Store(url, create_keys(url))
