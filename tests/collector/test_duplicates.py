"""Retries do not double-count; a reused event id with other content is a bad row."""

from __future__ import annotations

import json

from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import Endpoint


def counts(endpoint: Endpoint) -> tuple[int, int, int]:
    storage = endpoint.storage()
    try:
        (dev,) = storage.count_events("dev")
        return dev.good, dev.bad, dev.duplicates
    finally:
        storage.close()


def test_resent_batch_is_counted_as_duplicates(endpoint: Endpoint) -> None:
    batch = [event(dtm="1700000000000", stm="1700000000100") for _ in range(10)]
    url, sent = endpoint.url + TP2, headers(endpoint.keys["dev"])
    assert endpoint.session.post(url, json=envelope(*batch), headers=sent).status_code == 200
    assert counts(endpoint) == (10, 0, 0)

    # A retry: same events, only the send time differs.
    retry = [{**e, "stm": "1700000009999"} for e in batch]
    assert endpoint.session.post(url, json=envelope(*retry), headers=sent).text == "ok"
    assert counts(endpoint) == (10, 0, 10)

    # The same id with other content is kept as a bad row, never silently dropped.
    changed = {**batch[0], "aid": "something else"}
    assert endpoint.session.post(url, json=envelope(changed), headers=sent).status_code == 200
    assert counts(endpoint) == (10, 1, 10)
    storage = endpoint.storage()
    try:
        (bad,) = storage.latest_bad_rows("dev", 1)
        (stored,) = storage.find_events(batch[0]["eid"])
    finally:
        storage.close()
    assert bad.row.kind == "duplicate_conflict"
    assert batch[0]["eid"] in bad.row.reason
    assert stored.event.app_id is None  # the first version stays


def test_same_event_in_another_environment_is_its_own_event(endpoint: Endpoint) -> None:
    shared = event()
    for env in ("dev", "prod"):
        response = endpoint.session.post(
            endpoint.url + TP2, json=envelope(shared), headers=headers(endpoint.keys[env])
        )
        assert response.status_code == 200
    storage = endpoint.storage()
    try:
        found = storage.find_events(shared["eid"])
    finally:
        storage.close()
    assert sorted(f.event.environment for f in found) == ["dev", "prod"]
    assert json.loads(json.dumps(shared))["eid"] == found[0].event.event_id
