"""A 200 means stored: events acknowledged before a SIGKILL are there after a restart."""

from __future__ import annotations

import threading
import time
import uuid

import requests

from datacoral.storage import open_storage
from datacoral.storage.target import Target
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.conftest import create_keys
from tests.support.server import running_server

BATCH = 20
CLIENTS = 4


def test_acknowledged_events_survive_sigkill_exactly_once(db_path: Target) -> None:
    keys = create_keys(db_path)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(url: str) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                batch = [event(aid="durable") for _ in range(BATCH)]
                try:
                    response = session.post(
                        url + TP2, json=envelope(*batch), headers=headers(keys["dev"]), timeout=10
                    )
                except requests.RequestException:
                    return  # the server is gone
                if response.status_code == 200:
                    with lock:
                        acknowledged.extend(e["eid"] for e in batch)

    with running_server(db_path) as server:
        threads = [threading.Thread(target=client, args=(server.url,)) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while True:
            with lock:
                if len(acknowledged) >= 200 * BATCH:
                    break
            assert time.monotonic() < deadline, "clients were not acknowledged in time"
            time.sleep(0.01)
        server.kill()  # mid-traffic: requests are in flight now
        stop.set()
        for thread in threads:
            thread.join(15)
    with lock:
        answered = list(acknowledged)

    # A new server over the same database (a SQLite file recovers from its WAL) keeps serving.
    with running_server(db_path) as server:
        extra = event(aid="after-restart")
        response = requests.post(
            server.url + TP2, json=envelope(extra), headers=headers(keys["dev"]), timeout=10
        )
        assert response.status_code == 200
    storage = open_storage(db_path)
    try:
        for event_id in answered:
            found = storage.find_events(event_id)
            assert len(found) == 1, f"acknowledged event {event_id} stored {len(found)} times"
        assert len(storage.find_events(extra["eid"])) == 1
        assert not storage.find_events(str(uuid.uuid4()))
    finally:
        storage.close()
