"""Upstream 1.1.0 compatibility under the HTTP mocking libraries users' suites use.

``responses`` (RequestsMock), ``requests-mock`` (Mocker) and ``httmock`` (HTTMock with a
handler) each replace requests' sending layer. With any of them, an emitter must send what
upstream snowplow-tracker 1.1.0 sends: a full POST batch as one request the moment it is
full (every time, not most of the time), one GET per event with upstream's query fields,
and one on_failure report for a failed flush. Every test passes against upstream
itself, run from an environment where upstream 1.1.0 is installed::

    python -m pytest --noconftest -p no:cacheprovider \\
        tests/tracker/test_upstream_compat_libraries.py

Documented differences asserted per side (``OURS``): ``stm`` in milliseconds here (whole
seconds * 1000 upstream); JSON inside events is compact here (compared parsed); track
calls here emit no DeprecationWarning.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests_mock
import responses
from freezegun import freeze_time
from httmock import HTTMock, urlmatch

from snowplow_tracker import Tracker
from tests.tracker.upstream_compat import (
    FROZEN_AT,
    FROZEN_MS,
    FROZEN_STM,
    GET_URL,
    PAYLOAD_DATA_SCHEMA,
    POST_CONTENT_TYPE,
    POST_URL,
    TRACKER_VERSION,
    Callbacks,
    new_emitter,
    quiet,
    settle,
)

LIBRARIES = ["responses", "requests-mock", "httmock"]
# The headers requests itself adds; upstream adds only Content-Type (POST), and so do we
# when no api key, environment or custom headers are configured.
GET_HEADER_NAMES = {"user-agent", "accept-encoding", "accept", "connection"}
POST_HEADER_NAMES = GET_HEADER_NAMES | {"content-type", "content-length"}


@contextmanager
def mocked_collector(
    library: str, method: str, statuses: list[int]
) -> Iterator[Callable[[], list[Any]]]:
    """The collector mocked the way each library's users write it.

    Answers with ``statuses`` in order, the last one repeating; yields a function
    returning the requests seen so far (objects with method, url, headers and body).
    """
    url = POST_URL if method == "post" else GET_URL
    verb = method.upper()
    if library == "responses":
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            for status in statuses:
                rsps.add(verb, url, status=status)
            yield lambda: [call.request for call in rsps.calls]
    elif library == "requests-mock":
        with requests_mock.Mocker() as mocker:
            mocker.register_uri(verb, url, [{"status_code": s} for s in statuses])
            yield lambda: list(mocker.request_history)
    else:
        seen: list[Any] = []
        remaining = list(statuses)
        lock = threading.Lock()

        @urlmatch(netloc="collector.test")
        def collector(url_parts: Any, request: Any) -> dict[str, Any]:
            with lock:
                seen.append(request)
                status = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            return {"status_code": status, "content": ""}

        with HTTMock(collector):
            yield lambda: list(seen)


def post_events(request: Any) -> list[dict[str, Any]]:
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    parsed = json.loads(body)
    assert parsed["schema"] == PAYLOAD_DATA_SCHEMA
    return list(parsed["data"])


def get_fields(request: Any) -> dict[str, str]:
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GET_URL
    return dict(parse_qsl(parts.query, keep_blank_values=True))


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_full_batch_of_three_is_one_post_every_time(library: str) -> None:
    callbacks = Callbacks()
    with mocked_collector(library, "post", [200]) as seen:
        emitter = new_emitter(callbacks, batch_size=3)
        tracker = Tracker("ns", emitter, app_id="app")
        for round_number in range(20):
            with quiet():
                for i in range(3):
                    tracker.track_struct_event("round", f"{round_number}-{i}")
            # The third event sent the batch, as one request of three, before returning.
            requests_seen = seen()
            assert len(requests_seen) == round_number + 1, f"round {round_number}"
            last = requests_seen[-1]
            assert last.method == "POST"
            assert last.url == POST_URL
            assert last.headers["Content-Type"] == POST_CONTENT_TYPE
            assert {name.lower() for name in last.headers} == POST_HEADER_NAMES
            events = post_events(last)
            assert [e["se_ac"] for e in events] == [f"{round_number}-{i}" for i in range(3)]
            for event in events:
                assert all(isinstance(value, str) for value in event.values()), event
        emitter.flush()  # nothing left over
        assert len(seen()) == 20

    assert callbacks.kinds() == ["success"] * 20
    assert [len(batch) for batch in callbacks.successes] == [3] * 20


@pytest.mark.parametrize("library", LIBRARIES)
def test_get_sends_one_request_per_event_with_upstream_fields(library: str) -> None:
    callbacks = Callbacks()
    with freeze_time(FROZEN_AT), mocked_collector(library, "get", [200]) as seen:
        emitter = new_emitter(callbacks, method="get")
        tracker = Tracker("ns", emitter, app_id="app")
        with quiet():
            for action in ("one", "two", "three"):
                tracker.track_struct_event("shop", action, value=3)
                assert len(seen()) == {"one": 1, "two": 2, "three": 3}[action]
        requests_seen = seen()

    assert [r.method for r in requests_seen] == ["GET"] * 3
    for request in requests_seen:
        assert {name.lower() for name in request.headers} == GET_HEADER_NAMES
        assert not request.body
    fields = [get_fields(r) for r in requests_seen]
    for action, query in zip(("one", "two", "three"), fields, strict=True):
        assert set(query) == {
            "e",
            "se_ca",
            "se_ac",
            "se_va",
            "p",
            "eid",
            "dtm",
            "tv",
            "tna",
            "aid",
            "stm",
        }
        assert {k: v for k, v in query.items() if k != "eid"} == {
            "e": "se",
            "se_ca": "shop",
            "se_ac": action,
            "se_va": "3",
            "p": "pc",
            "dtm": str(FROZEN_MS),
            "tv": TRACKER_VERSION,
            "tna": "ns",
            "aid": "app",
            "stm": FROZEN_STM,
        }
    assert len({query["eid"] for query in fields}) == 3
    assert callbacks.kinds() == ["success"] * 3
    assert [[e["eid"] for e in batch] for batch in callbacks.successes] == [
        [query["eid"]] for query in fields
    ]


ACTIONS = ["one", "two", "three"]


def track_actions(tracker: Tracker) -> None:
    with quiet():
        for action in ACTIONS:
            tracker.track_struct_event("shop", action)


def check_reported_then_retried(
    callbacks: Callbacks, emitter: Any, report: tuple[int, list[dict[str, Any]]]
) -> None:
    """The failure report of the first flush names all three; their retry succeeds."""
    sent_count, failed = report
    assert sent_count == 0
    assert [e["se_ac"] for e in failed] == ACTIONS
    assert all("stm" in e for e in failed)
    assert callbacks.wait_for_success_of({e["eid"] for e in failed}), callbacks.log
    settle(emitter)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_500_on_post_is_reported_once_then_retried(library: str) -> None:
    callbacks = Callbacks()
    with mocked_collector(library, "post", [500, 200]) as seen:
        emitter = new_emitter(callbacks, batch_size=3)
        track_actions(Tracker("ns", emitter))
        [report] = callbacks.failures
        check_reported_then_retried(callbacks, emitter, report)
        requests_seen = seen()

    assert callbacks.kinds() == ["failure", "success"]
    assert len(requests_seen) == 2
    first, retry = (post_events(r) for r in requests_seen)
    assert [e["eid"] for e in retry] == [e["eid"] for e in first]


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_500_on_get_is_reported_once_per_flush_with_the_totals(library: str) -> None:
    callbacks = Callbacks()
    with mocked_collector(library, "get", [500, 500, 500, 200]) as seen:
        emitter = new_emitter(callbacks, method="get", batch_size=3)
        track_actions(Tracker("ns", emitter))
        assert callbacks.kinds()[0] == "failure"
        check_reported_then_retried(callbacks, emitter, callbacks.failures[0])
        requests_seen = seen()

    assert callbacks.kinds() == ["failure", "success"]
    assert [get_fields(r)["se_ac"] for r in requests_seen[:3]] == ACTIONS
    assert len(requests_seen) == 6
