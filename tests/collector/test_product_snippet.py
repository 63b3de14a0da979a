"""The request the PRODUCT.md snippet makes is stored once, in its environment, keyless."""

from __future__ import annotations

import base64
import json
import time
import uuid

import requests

from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.collector.builders import PAYLOAD_DATA, TP2, UNSTRUCT
from tests.collector.conftest import create_keys
from tests.support.backends import everything_stored
from tests.support.server import running_server

SNIPPET_EVENT = {"schema": "test", "data": {"foo": "bar", "metadata": {"sub": "data"}}}


def snippet_request_body(event_id: str, now_ms: int) -> bytes:
    """The body the snippet's tracker sends: payload_data 1-0-4, e=ue, base64 ue_px."""
    wrapper = {"schema": UNSTRUCT, "data": SNIPPET_EVENT}
    event = {
        "e": "ue",
        "ue_px": base64.urlsafe_b64encode(json.dumps(wrapper).encode()).decode(),
        "eid": event_id,
        "dtm": str(now_ms - 5),
        "stm": str(now_ms),
        "tv": "py-1.2.0",
        "p": "pc",
        "tna": "your-namespace-here",
        "aid": "app-id-here",
    }
    return json.dumps({"schema": PAYLOAD_DATA, "data": [event]}).encode()


def test_snippet_event_is_stored_in_dev_only_and_without_the_key(db_path: Target) -> None:
    keys = create_keys(db_path)
    key = keys["dev"]
    event_id = str(uuid.uuid4())
    before = int(time.time() * 1000)
    with running_server(db_path) as server:
        response = requests.post(
            server.url + TP2,
            data=snippet_request_body(event_id, before),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Api-Key": key,
                "X-Datacoral-Environment": "dev",
            },
            timeout=10,
        )
        after = int(time.time() * 1000)
        assert (response.status_code, response.text) == (200, "ok")
        assert response.headers["Content-Type"].startswith("text/plain")
    log = server.log()  # after the stop: every line has been read

    storage = open_storage(db_path)
    try:
        counts = {c.environment: (c.good, c.bad) for c in storage.count_events()}
        assert counts["dev"] == (1, 0)
        assert all(counts[env] == (0, 0) for env in counts if env != "dev")
        (stored,) = storage.latest_events("dev")
        row = stored.event
    finally:
        storage.close()
    assert row.event_id == event_id
    assert row.environment == "dev"
    assert row.app_id == "app-id-here"
    assert row.name_tracker == "your-namespace-here"
    assert row.event == "unstruct"
    assert json.loads(row.unstruct_event or "") == SNIPPET_EVENT
    assert (row.event_vendor, row.event_name) == (None, None)  # "test" is not an Iglu URI
    assert row.schema_validated is False
    assert before <= row.collector_tstamp <= after
    assert row.derived_tstamp == row.collector_tstamp - 5
    assert "x_api_key" not in row.extra and key not in json.dumps(row.extra)

    assert key.encode() not in everything_stored(db_path)
    assert key not in log
