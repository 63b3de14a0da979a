"""Several collectors on one database: a revocation or an origin change made with the
CLI reaches every one of them within one second.

Three ``datacoral serve`` processes share the store (a SQLite file, or one
PostgreSQL database); the CLI changes it in this process; each collector is then
asked again and again (no sleeps) until it answers the new way, and the time from
the command's return to the last collector's change is measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import requests
from click.testing import CliRunner

from datacoral.cli.app import cli
from datacoral.storage import open_storage
from datacoral.storage.target import Target, target_argument
from tests.collector.browser_requests import preflight_headers
from tests.collector.builders import event
from tests.support.server import RunningServer, running_server

COLLECTORS = 3
WITHIN = 1.0  # seconds: the promise
GIVE_UP = 10.0  # seconds: only so that a broken build fails instead of hanging
ORIGIN = "https://three.example.org"


@pytest.fixture
def collectors(db_path: Target) -> Iterator[list[RunningServer]]:
    open_storage(db_path).close()
    with ExitStack() as stack:
        yield [stack.enter_context(running_server(db_path)) for _ in range(COLLECTORS)]


def cli_ok(db: Target, *args: str) -> str:
    result = CliRunner(env={"DATACORAL_DB": None}).invoke(
        cli, [*args, "--db", target_argument(db)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def until_all(servers: list[RunningServer], answers: Callable[[RunningServer], bool]) -> float:
    """Seconds until ``answers`` holds for every server (each asked until it does)."""
    started = time.monotonic()
    pending = list(servers)
    while pending:
        pending = [server for server in pending if not answers(server)]
        assert time.monotonic() - started < GIVE_UP, f"{len(pending)} collector(s) never changed"
    return time.monotonic() - started


def test_a_revoked_key_is_refused_by_every_collector_within_a_second(
    db_path: Target, collectors: list[RunningServer]
) -> None:
    store = open_storage(db_path)
    try:
        info, key = store.create_key("dev", "shared")
    finally:
        store.close()
    with requests.Session() as session:

        def status(server: RunningServer) -> int:
            sent = event(p="web")
            return session.get(
                server.url + "/i", params=sent, headers={"X-Api-Key": key}
            ).status_code

        assert until_all(collectors, lambda server: status(server) == 200) < GIVE_UP
        cli_ok(db_path, "key", "revoke", info.key_id)
        elapsed = until_all(collectors, lambda server: status(server) == 401)
    print(f"revocation reached all {COLLECTORS} collectors in {elapsed:.3f} s")
    assert elapsed < WITHIN, f"the last collector refused the key after {elapsed:.3f} s"


def test_an_origin_change_reaches_every_collector_within_a_second(
    db_path: Target, collectors: list[RunningServer]
) -> None:
    with requests.Session() as session:

        def preflight(server: RunningServer) -> int:
            answer = session.options(server.url + "/i", headers=preflight_headers(ORIGIN, "GET"))
            return answer.status_code

        assert all(preflight(server) == 403 for server in collectors)
        cli_ok(db_path, "env", "add-origin", "prod", ORIGIN)
        added = until_all(collectors, lambda server: preflight(server) == 204)
        cli_ok(db_path, "env", "remove-origin", "prod", ORIGIN)
        removed = until_all(collectors, lambda server: preflight(server) == 403)
    print(f"origin added in {added:.3f} s, removed in {removed:.3f} s, on all {COLLECTORS}")
    assert added < WITHIN, f"the last collector allowed the origin after {added:.3f} s"
    assert removed < WITHIN, f"the last collector still allowed the origin after {removed:.3f} s"
