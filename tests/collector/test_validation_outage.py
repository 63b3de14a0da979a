"""A schema registry outage, seen from a running ``datacoral serve`` (README, "Schemas
(Iglu)"; the table in datacoral/collector/validation.py).

The Iglu Central copy is served as a static registry on a loopback port, behind a TCP
proxy: ``registry.down = True`` makes it answer 503, cutting the proxy makes it refuse
connections. The server resolves with ``ttl`` 0, so every look-up of a schema it has
seen asks the registry again and, during the outage, falls back on the copy it holds
(stale-while-error), and with a short ``failure_ttl``, so a schema it could not fetch
is asked for again soon after the registry is back.

- strict: an event whose schema was never fetched gets 503 + Retry-After for its whole
  request and nothing of it is stored; the real tracker resends it and it is stored
  once, validated, when the registry is back;
- lenient: the same event is stored with ``schema_validated`` false and counted, and is
  validated again once the registry is back;
- both: events whose schemas were fetched before the outage go on being validated, a
  failing one still becomes a bad row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest
import requests

from datacoral.admin.environments import ValidationMode
from datacoral.storage import open_storage
from datacoral.storage.target import Target
from snowplow_tracker import Emitter, SelfDescribingJson, Tracker
from tests.collector import schema_events as se
from tests.collector.builders import TP2, envelope, headers
from tests.collector.conftest import create_keys
from tests.schemas.registries import IGLU_CENTRAL, LoopbackServer, static_registry
from tests.support.server import RunningServer, running_server
from tests.support.services import require
from tests.support.tcp_proxy import TCPProxy

#: Seconds before a schema the registry could not give is asked for again.
FAILURE_TTL = 0.5
FORM = {"formId": "checkout", "elements": [{"name": "email", "value": "", "nodeName": "INPUT"}]}
LINK_CLICK_PATH = "/schemas/com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
SUBMIT_FORM_PATH = "/schemas/com.snowplowanalytics.snowplow/submit_form/jsonschema/1-0-0"


@dataclass
class Registry:
    """The static registry and the proxy the server reaches it through."""

    server: LoopbackServer
    proxy: TCPProxy

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def fail(self, how: str) -> None:
        """Start the outage: ``503`` answers, or ``refused`` connections."""
        if how == "503":
            self.server.down = True
        else:
            self.proxy.cut()

    def recover(self, how: str) -> None:
        if how == "503":
            self.server.down = False
        else:
            self.proxy.restore()


@pytest.fixture
def registry() -> Iterator[Registry]:
    require((IGLU_CENTRAL / "schemas").is_dir(), f"{IGLU_CENTRAL} is missing")
    with static_registry() as server:
        proxy = TCPProxy(server.server_address[1])
        try:
            yield Registry(server, proxy)
        finally:
            proxy.close()


def _serve(db: Target, registry: Registry) -> AbstractContextManager[RunningServer]:
    return running_server(
        db,
        iglu=registry.url,
        iglu_ttl_seconds=0,
        iglu_failure_ttl_seconds=FAILURE_TTL,
        iglu_timeout_seconds=2,
        retry_after_seconds=1,
    )


def _keys(db: Target, environment: str, mode: ValidationMode) -> dict[str, str]:
    storage = open_storage(db)
    try:
        storage.set_validation(environment, mode)
    finally:
        storage.close()
    return create_keys(db)


def _post(server: RunningServer, key: str, *events: dict[str, str]) -> requests.Response:
    return requests.post(server.url + TP2, json=envelope(*events), headers=headers(key), timeout=30)


def submit_form(data: object = None) -> dict[str, str]:
    """An event of a schema the server has not fetched before the outage."""
    return se.self_describing(se.SUBMIT_FORM, FORM if data is None else data)


@pytest.mark.parametrize(
    "how",
    # what the store does is the same for both kinds of outage: the second on SQLite only
    ["503", pytest.param("refused", marks=pytest.mark.sqlite_only)],
)
def test_strict_answers_503_and_the_tracker_delivers_once_the_registry_is_back(
    db_path: Target, registry: Registry, how: str
) -> None:
    keys = _keys(db_path, "prod", ValidationMode.STRICT)
    with _serve(db_path, registry) as server:
        before = se.valid()
        assert _post(server, keys["prod"], before).status_code == 200

        registry.fail(how)
        asked = len(registry.server.requests)
        # Schemas fetched before the outage stay in use: a verdict for each event.
        cached_valid, cached_failing = se.valid(), se.failing()
        assert _post(server, keys["prod"], cached_valid, cached_failing).status_code == 200
        if how == "503":  # the server did ask (ttl 0), was refused, and kept its copy
            assert LINK_CLICK_PATH in registry.server.requests[asked:]

        # A schema never fetched: no verdict, so the whole request waits for the registry.
        refused = _post(server, keys["prod"], submit_form(), se.failing(), se.valid())
        assert (refused.status_code, refused.headers.get("retry-after")) == (503, "1")
        assert "schema registry unavailable" in refused.text

        failures: list[int] = []
        successes: list[int] = []
        emitter = Emitter(
            server.url,
            batch_size=1,
            max_retry_delay_seconds=2,
            on_failure=lambda sent, events: failures.append(len(events)),
            on_success=lambda events: successes.append(len(events)),
        )
        tracker = Tracker(emitter, api_key=keys["prod"], datacoral_env="prod")
        tracker.track_self_describing_event(
            SelfDescribingJson(se.SUBMIT_FORM, FORM),
            context=[SelfDescribingJson(se.WEB_PAGE, {"id": se.PAGE_ID})],
        )
        assert (failures, successes) == ([1], [])
        assert (emitter.stats().last_error or "").startswith("HTTP 503")

        registry.recover(how)
        report = emitter.flush(timeout=15)
        assert (report.pending, report.sent, report.dropped_total) == (0, 1, 0)
        assert successes == [1]
        emitter.close()

    strict = se.stored(db_path, "prod")
    assert len(strict.validated) == 3 and all(strict.validated.values())
    assert {before["eid"], cached_valid["eid"]} < set(strict.validated)
    assert [(row.event_id, row.reason) for row in strict.bad] == [
        (cached_failing["eid"], se.FAILING_REASON)
    ]  # nothing of the refused request, no bad row for the outage
    assert (strict.counts.good, strict.counts.bad, strict.counts.unvalidated) == (3, 1, 0)


def test_lenient_stores_unvalidated_during_an_outage_and_validates_after(
    db_path: Target, registry: Registry
) -> None:
    keys = _keys(db_path, "dev", ValidationMode.LENIENT)
    with _serve(db_path, registry) as server:
        before = se.valid()
        assert _post(server, keys["dev"], before).status_code == 200

        registry.fail("503")
        cached_valid, cached_failing = se.valid(), se.failing()
        new_valid, new_failing = submit_form(), submit_form({"formId": 5})
        answer = _post(server, keys["dev"], cached_valid, cached_failing, new_valid, new_failing)
        assert (answer.status_code, answer.text) == (200, "ok")
        during = se.stored(db_path, "dev")
        assert during.validated == {
            before["eid"]: True,
            cached_valid["eid"]: True,
            new_valid["eid"]: False,
            new_failing["eid"]: False,  # no schema, no verdict: not a bad row
        }
        assert [(row.event_id, row.reason) for row in during.bad] == [
            (cached_failing["eid"], se.FAILING_REASON)
        ]
        assert (during.counts.good, during.counts.unvalidated) == (4, 2)

        registry.recover("503")
        # Asked for again once failure_ttl has passed: poll until a new one validates.
        deadline = time.monotonic() + 10
        after = submit_form()
        while True:
            assert _post(server, keys["dev"], after).status_code == 200
            if se.stored(db_path, "dev").validated[after["eid"]]:
                break
            assert time.monotonic() < deadline, "submit_form not validated after the outage"
            after = submit_form()
        failing_after = submit_form({"formId": 5})
        assert _post(server, keys["dev"], failing_after).status_code == 200
        assert SUBMIT_FORM_PATH in registry.server.requests

    final = se.stored(db_path, "dev")
    assert final.bad[-1].event_id == failing_after["eid"]
    assert final.bad[-1].reason == f'event {se.SUBMIT_FORM}: /data/formId: type "string"'
    assert final.counts.unvalidated == final.counts.good - 3  # all but the three validated
