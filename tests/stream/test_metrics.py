"""Metrics of the stream path: ``serve --stream --metrics-port`` and ``load --metrics-port``.

The collector's commits are publications (``target="stream"``): their latency, and
their failures while the stream is down. The loader reports what it wrote (its bad
rows by kind: only the loader sees an id's conflict) and its lag. Real processes (an
endpoint, a JetStream server, ``datacoral load``), the real tracker, and scrapes
polled with a deadline.
"""

from __future__ import annotations

import json
import re
import uuid

import requests

from snowplow_tracker import Emitter, Tracker
from tests.collector.builders import TP2, envelope, event, headers
from tests.collector.workers import wait_until
from tests.stream.conftest import Store
from tests.support.nats_servers import JetStream
from tests.support.scrape import metrics_url, scrape, value, wait_for_scrape
from tests.support.server import running_server
from tests.support.stream import running_loader

LOADER_METRICS = re.compile(r"^datacoral load: metrics on (http://\S+/metrics)$", re.M)


def test_publications_and_the_loader_are_measured(store: Store, jetstream: JetStream) -> None:
    key = store.keys["dev"]
    (nats_server,) = jetstream.servers
    with (
        running_server(
            store.url, stream=jetstream.urls, metrics_port=0, publish_timeout_seconds=0.5
        ) as server,
        requests.Session() as session,
    ):
        url = metrics_url(server)
        emitter = Emitter(server.url, batch_size=1, session=session)
        tracker = Tracker(emitter, api_key=key, datacoral_env="dev", namespace="stream")
        for number in range(5):
            tracker.track_struct_event("stream", "metrics", str(number))
        emitter.input({"e": "pv", "p": "pc", "tv": "py-test", "eid": "not-a-uuid"})
        original = {"e": "pv", "p": "pc", "tv": "py-test", "eid": str(uuid.uuid4())}
        emitter.input(dict(original))
        emitter.input({**original, "aid": "other content"})  # a conflict, seen when loaded
        assert emitter.flush(timeout=30).pending == 0
        published = scrape(url)
        assert value(published, "datacoral_commit_seconds_count", target="stream") == 8
        assert value(published, "datacoral_events_total", environment="dev", outcome="good") == 7
        assert value(published, "datacoral_events_total", environment="dev", outcome="bad") == 1

        with running_loader(
            store.url, jetstream.urls, "--metrics-port", "0", log_format="json"
        ) as loader:

            def loader_url() -> str | None:
                found = LOADER_METRICS.search(loader.log())
                return found.group(1) if found else None

            scraped = wait_until(loader_url, 30, "the loader's metrics line", server)

            def all_loaded(series: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> bool:
                return (
                    value(series, "datacoral_loader_events_total", outcome="good") == 6
                    and value(series, "datacoral_loader_events_total", outcome="bad") == 2
                    and value(series, "datacoral_loader_lag_messages", state="waiting") == 0
                    and value(series, "datacoral_loader_lag_messages", state="in_flight") == 0
                )

            series = wait_for_scrape(scraped, all_loaded, server, "the loader's progress")
            assert value(series, "datacoral_loader_messages_total") == 8
            assert value(series, "datacoral_loader_failed_commits_total") == 0
            kinds = {
                dict(labels)["kind"]: count
                for (name, labels), count in series.items()
                if name == "datacoral_loader_bad_rows_total"
            }
            assert kinds == {"tracker_protocol_violation": 1, "duplicate_conflict": 1}
        assert store.counts() == (6, 2, 0)
        for line in loader.log().splitlines():
            if not LOADER_METRICS.match(line) and not line.startswith("loaded "):
                assert json.loads(line)["logger"].startswith("datacoral"), line

        nats_server.stop()
        refused = session.post(
            server.url + TP2, json=envelope(event(eid=str(uuid.uuid4()))), headers=headers(key)
        )
        assert refused.status_code == 503
        down = scrape(url)
        assert (
            value(down, "datacoral_storage_failures_total", target="stream", operation="commit")
            == 1
        )
        assert value(down, "datacoral_requests_total", route="events", status="503") == 1
        nats_server.start()
        nats_server.wait_listening()
