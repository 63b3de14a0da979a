"""Rate limits against a real ``datacoral serve`` over each backend: past a key's or an
environment's limit, 429 with ``Retry-After`` and nothing stored; limits of keys and
environments independent; a change made with the command line followed within a
second; each worker of ``--workers N`` enforcing its share; refusals counted in the
metrics; and the real tracker, sending far over a limit, delivering every event once.

Limits per minute keep the bucket arithmetic exact while a test runs (a token every
few seconds), so counts and ``Retry-After`` values can be asserted exactly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner

from datacoral.admin.rate_limits import RateLimit
from datacoral.cli.app import cli
from datacoral.storage import open_storage
from datacoral.storage.base import AdminStorage
from datacoral.storage.target import Target, target_argument
from snowplow_tracker import AsyncEmitter, Emitter, Tracker
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.test_metrics import metrics_url, scrape, value, wait_for_scrape
from tests.support.server import RunningServer, running_server

#: The promise: a change made with the command line reaches a running server within this.
WITHIN = 1.0
POLL_INTERVAL = 0.02


@pytest.fixture
def store(db_path: Target) -> Iterator[AdminStorage]:
    storage = open_storage(db_path)
    try:
        storage.environments()  # creates the schema and the default environments
        yield storage
    finally:
        storage.close()


def _post(
    session: requests.Session,
    server: RunningServer,
    key: str,
    count: int,
    sent: list[str] | None = None,
) -> requests.Response:
    """One POST of ``count`` new page views (their ids added to ``sent``); the answer."""
    events = [event() for _ in range(count)]
    if sent is not None:
        sent.extend(e["eid"] for e in events)
    return session.post(server.url + TP2, json=envelope(*events), headers=headers(key), timeout=10)


def _good(store: AdminStorage, environment: str) -> int:
    return next(c.good for c in store.count_events(environment))


def test_past_the_burst_429_with_retry_after_and_nothing_stored(
    db_path: Target, store: AdminStorage
) -> None:
    _, key = store.create_key("dev", rate_limit=RateLimit(10, 60, 10))
    with running_server(db_path) as server, requests.Session() as session:
        assert _post(session, server, key, 6).status_code == 200
        assert _post(session, server, key, 4).status_code == 200
        refused_ids: list[str] = []
        refused = _post(session, server, key, 2, refused_ids)
        assert refused.status_code == 429
        # 2 tokens at one every 6 s; Retry-After in whole seconds, rounded up.
        assert refused.headers["Retry-After"] == "12"
        assert refused.text == (
            "429 rate limit: the API key may send 10/min with bursts of up to 10 events;"
            " no room now for 2 event(s), retry after 12 s\n"
        )
        pixel = session.get(
            server.url + "/i", params={"e": "pv", "eid": str(uuid.uuid4())}, headers=headers(key)
        )
        assert (pixel.status_code, pixel.headers["Retry-After"]) == (429, "6")
        malformed = session.post(
            server.url + TP2, data=b"{not json", headers=headers(key), timeout=10
        )
        assert malformed.status_code == 429  # its bad row is not stored either
    [counts] = store.count_events("dev")
    assert (counts.good, counts.bad, counts.duplicates) == (10, 0, 0)
    assert all(store.find_events(eid) == [] for eid in refused_ids)
    assert key not in server.log()


def test_key_and_environment_limits_are_independent(db_path: Target, store: AdminStorage) -> None:
    store.set_environment_rate_limit("dev", RateLimit(5, 60, 5))
    _, small = store.create_key("dev", rate_limit=RateLimit(2, 60, 2))
    _, unlimited = store.create_key("dev")
    _, other = store.create_key("stage")
    with running_server(db_path) as server, requests.Session() as session:
        assert _post(session, server, small, 2).status_code == 200
        by_key = _post(session, server, small, 1)
        assert by_key.status_code == 429
        assert by_key.text.startswith("429 rate limit: the API key may send 2/min")
        # The refusal by the key took nothing from dev: 3 of its 5 are left.
        assert _post(session, server, unlimited, 3).status_code == 200
        by_environment = _post(session, server, unlimited, 1)
        assert by_environment.status_code == 429
        assert by_environment.text.startswith("429 rate limit: environment 'dev' may send 5/min")
        assert by_environment.headers["Retry-After"] == "12"
        assert _post(session, server, other, 20).status_code == 200  # stage: no limit
    assert (_good(store, "dev"), _good(store, "stage")) == (5, 20)


def _invoke(db: Target, *args: str) -> float:
    """Run ``datacoral ARGS --db DB`` in process; the moment it returned."""
    result = CliRunner().invoke(cli, [*args, "--db", target_argument(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return time.monotonic()


def _seconds_until(
    session: requests.Session,
    server: RunningServer,
    key: str,
    status: int,
    since: float,
    *,
    earlier: int = 0,
) -> float:
    """Send one event at a time until one is answered ``status``; the seconds from
    ``since`` to the start of that probe, or of the one ``earlier`` probes before it (the
    first that met the change, when the change shows only later)."""
    started: list[float] = []
    while not started or started[-1] < since + 10:
        started.append(time.monotonic())
        answer = _post(session, server, key, 1)
        if answer.status_code == status:
            return max(0.0, started[max(0, len(started) - 1 - earlier)] - since)
        assert answer.status_code in (200, 429), answer.text
        time.sleep(POLL_INTERVAL)
    raise AssertionError(f"no {status} within 10 s\n{server.log()}")


def test_a_change_made_with_the_cli_reaches_a_running_server_within_a_second(
    db_path: Target, store: AdminStorage
) -> None:
    info, key = store.create_key("dev")
    _, neighbour = store.create_key("dev")
    with running_server(db_path) as server, requests.Session() as session:
        assert _post(session, server, key, 1).status_code == 200  # caches filled
        took: dict[str, float] = {}
        changed = _invoke(db_path, "key", "set", info.key_id, "--rate-limit", "1/min")
        # A new bucket starts full (one event): the probe before the first refusal is the
        # first that met the limit.
        took["key limited"] = _seconds_until(session, server, key, 429, changed, earlier=1)
        assert _post(session, server, neighbour, 1).status_code == 200  # that key only
        removed = _invoke(db_path, "key", "set", info.key_id, "--rate-limit", "none")
        took["key unlimited"] = _seconds_until(session, server, key, 200, removed)

        changed = _invoke(db_path, "env", "set", "dev", "--rate-limit", "1/min", "--burst", "1")
        took["dev limited"] = _seconds_until(session, server, neighbour, 429, changed, earlier=1)
        assert _post(session, server, key, 1).status_code == 429  # every key of dev
        removed = _invoke(db_path, "env", "set", "dev", "--rate-limit", "none")
        took["dev unlimited"] = _seconds_until(session, server, key, 200, removed)
    assert max(took.values()) < WITHIN, took


def test_each_worker_enforces_its_share(db_path: Target, store: AdminStorage) -> None:
    _, key = store.create_key("dev", rate_limit=RateLimit(10, 60, 10))
    with running_server(db_path, workers=2) as server, requests.Session() as session:
        # One keep-alive connection stays with one worker: it allows 10 / 2 events.
        answers = [_post(session, server, key, 1) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert "shared by 2 workers" in answers[-1].text
    assert answers[-1].headers["Retry-After"] == "12"  # 1 token at 5 a minute
    assert _good(store, "dev") == 5


def test_refusals_are_counted_in_the_metrics(db_path: Target, store: AdminStorage) -> None:
    _, key = store.create_key("dev", rate_limit=RateLimit(2, 60, 2))
    with running_server(db_path, metrics_port=0) as server, requests.Session() as session:
        assert _post(session, server, key, 2).status_code == 200
        assert _post(session, server, key, 3).status_code == 429
        assert _post(session, server, key, 1).status_code == 429
        url = metrics_url(server)
        series = wait_for_scrape(
            url,
            lambda s: value(s, "datacoral_requests_total", route="events", status="429") == 2,
            server,
            "two refusals counted",
        )
        assert (
            value(series, "datacoral_rate_limited_events_total", environment="dev", limit="key")
            == 4
        )
        assert value(series, "datacoral_events_total", environment="dev", outcome="good") == 2
        assert scrape(url)  # still answering


@pytest.mark.parametrize("emitter_class", [Emitter, AsyncEmitter])
def test_a_tracker_over_the_limit_delivers_every_event_exactly_once(
    db_path: Target, store: AdminStorage, emitter_class: type[Emitter]
) -> None:
    _, key = store.create_key("dev", rate_limit=RateLimit(50, 1, 50))
    refusals: list[int] = []
    with running_server(db_path) as server:
        emitter = emitter_class(
            server.url,
            batch_size=25,
            on_failure=lambda sent, events: refusals.append(len(events)),
        )
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev", namespace="limited")
        for i in range(200):  # four times the burst, at once
            tracker.track_struct_event("limited", "burst", str(i))
        report = emitter.flush(timeout=30)
        emitter.close()
    assert (report.pending, report.dropped) == (0, {}), report
    assert refusals, "the limit never refused anything"
    assert "HTTP 429" in (emitter.stats().last_error or "")
    stored = store.latest_events("dev", 500)
    labels = sorted(int(s.event.se_label or "-1") for s in stored)
    assert labels == list(range(200))
    [counts] = store.count_events("dev")
    assert (counts.good, counts.bad, counts.duplicates) == (200, 0, 0)
