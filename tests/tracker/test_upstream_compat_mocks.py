"""Upstream 1.1.0 compatibility: what users' mocks of the HTTP layer and of the tracker see.

Users' test suites patch ``requests.post`` / ``requests.get``, hand the emitter a mocked
``session``, patch ``Emitter.http_post`` / ``Emitter.http_get``, subclass the emitter, or
patch ``Tracker.track`` / ``Tracker.track_self_describing_event`` / ``Tracker.get_uuid``.
Each test below pins what upstream snowplow-tracker 1.1.0 does in that situation, and
every one of them passes against upstream itself, run from an environment where upstream
1.1.0 is installed::

    python -m pytest --noconftest -p no:cacheprovider \\
        tests/tracker/test_upstream_compat_mocks.py

Where this package deliberately differs, the test branches on ``OURS`` and asserts each
side's documented value: ``stm`` is in milliseconds here (upstream: whole seconds times
1000), the default request timeout is (5.0, 15.0) here (upstream passes ``timeout=None``),
JSON inside events is compact here (so JSON fields are compared parsed) and track calls
here emit no DeprecationWarning. Upstream raises where a mocked response has no integer
``status_code``; this package must not.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock
from unittest.mock import Mock

import pytest
from freezegun import freeze_time

import snowplow_tracker
from snowplow_tracker import (
    Emitter,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)
from tests.tracker.upstream_compat import (
    FROZEN_AT,
    FROZEN_MS,
    FROZEN_STM,
    GET_URL,
    OURS,
    PAYLOAD_DATA_SCHEMA,
    POST_CONTENT_TYPE,
    POST_URL,
    THING_SCHEMA,
    TRACKER_VERSION,
    USER_SCHEMA,
    Callbacks,
    decode_b64,
    new_emitter,
    quiet,
    settle,
)

POST_HEADERS = {"Content-Type": POST_CONTENT_TYPE}
UNSTRUCT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
# Documented difference: our requests are bounded by default, upstream's are not.
EXPECTED_TIMEOUT = (5.0, 15.0) if OURS else None
DIGITS = re.compile(r"^[0-9]{13}$")
TSTAMP = 1700000000000


def answers(first: Any, times: int, then: Any) -> Callable[..., Any]:
    """A side effect answering ``first`` for the first ``times`` calls, ``then`` after."""
    calls = {"n": 0}
    lock = threading.Lock()

    def answer(*args: Any, **kwargs: Any) -> Any:
        with lock:
            calls["n"] += 1
            return first if calls["n"] <= times else then

    return answer


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event with its embedded JSON parsed (ours writes it compact, upstream spaced)."""
    out = dict(event)
    for key in ("co", "ue_pr"):
        if key in out:
            out[key] = json.loads(out[key])
    for key in ("cx", "ue_px"):
        if key in out:
            out[key] = decode_b64(out[key])
    return out


def without_stm(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "stm"}


def body_events(post_call: Any) -> list[dict[str, Any]]:
    return list(json.loads(post_call.kwargs["data"])["data"])


def assert_upstream_post_call(post_call: Any) -> None:
    """How upstream calls requests.post / session.post: URL positional, three keywords."""
    assert post_call.args == (POST_URL,)
    assert set(post_call.kwargs) == {"data", "headers", "timeout"}
    assert post_call.kwargs["headers"] == POST_HEADERS
    assert post_call.kwargs["timeout"] == EXPECTED_TIMEOUT
    data = post_call.kwargs["data"]
    assert isinstance(data, str)
    body = json.loads(data)
    assert set(body) == {"schema", "data"}
    assert body["schema"] == PAYLOAD_DATA_SCHEMA
    for event in body["data"]:
        assert all(isinstance(value, str) for value in event.values()), event
        assert DIGITS.match(event["stm"])


def track_three(tracker: Tracker) -> None:
    """A page view, a structured event and a self-describing event with a context."""
    with quiet():
        tracker.track_page_view("https://shop.example/cart", "Cart")
        tracker.track_struct_event("shop", "add", value=3)
        tracker.track_self_describing_event(
            SelfDescribingJson(THING_SCHEMA, {"n": 1, "label": "é"}),
            context=[SelfDescribingJson(USER_SCHEMA, {"id": 7})],
        )


def assert_the_three(events: list[dict[str, Any]]) -> None:
    """What upstream's POST carries for :func:`track_three` (values all strings)."""
    assert [event["e"] for event in events] == ["pv", "se", "ue"]
    common = {"p", "eid", "dtm", "tv", "tna", "aid", "stm"}
    page_view, struct, self_describing = (comparable(event) for event in events)
    assert set(page_view) == common | {"e", "url", "page"}
    assert (page_view["url"], page_view["page"]) == ("https://shop.example/cart", "Cart")
    assert set(struct) == common | {"e", "se_ca", "se_ac", "se_va"}
    assert (struct["se_ca"], struct["se_ac"], struct["se_va"]) == ("shop", "add", "3")
    assert set(self_describing) == common | {"e", "ue_pr", "co"}
    assert self_describing["ue_pr"] == {
        "schema": UNSTRUCT_SCHEMA,
        "data": {"schema": THING_SCHEMA, "data": {"n": 1, "label": "é"}},
    }
    assert self_describing["co"] == {
        "schema": CONTEXTS_SCHEMA,
        "data": [{"schema": USER_SCHEMA, "data": {"id": 7}}],
    }
    for event in (page_view, struct, self_describing):
        assert (event["p"], event["tna"], event["aid"], event["tv"]) == (
            "pc",
            "ns",
            "app",
            TRACKER_VERSION,
        )
        assert DIGITS.match(event["dtm"])
    assert len({event["eid"] for event in events}) == 3


def new_tracker(emitter: Any) -> Tracker:
    return Tracker("ns", emitter, app_id="app", encode_base64=False)


# -- requests.post patched ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "request_sizes"),
    [(1, [1, 1, 1]), (2, [2, 1]), (10, [3])],
    ids=["batch_size=1", "batch_size=2", "batch_size=10"],
)
def test_requests_post_mock_200_sends_upstream_requests_and_reports_success(
    batch_size: int, request_sizes: list[int]
) -> None:
    callbacks = Callbacks()
    with mock.patch("requests.post", return_value=Mock(status_code=200)) as post:
        emitter = new_emitter(callbacks, batch_size=batch_size)
        track_three(new_tracker(emitter))
        emitter.flush()

    assert [len(body_events(c)) for c in post.call_args_list] == request_sizes
    for post_call in post.call_args_list:
        assert_upstream_post_call(post_call)
    sent = [event for c in post.call_args_list for event in body_events(c)]
    assert_the_three(sent)

    assert callbacks.kinds() == ["success"] * len(request_sizes)
    assert callbacks.all_positional()
    reported = [event for batch in callbacks.successes for event in batch]
    # Upstream queues POST events as strings: the callbacks see strings, stm included.
    for event in reported:
        assert all(isinstance(value, str) for value in event.values()), event
    assert [comparable(event) for event in reported] == [comparable(event) for event in sent]


@pytest.mark.parametrize("status", [400, 422])
def test_requests_post_mock_permanent_error_reports_failure_and_does_not_retry(
    status: int,
) -> None:
    callbacks = Callbacks()
    with mock.patch("requests.post", return_value=Mock(status_code=status)) as post:
        emitter = new_emitter(callbacks, batch_size=3)
        track_three(new_tracker(emitter))  # the third event sends the batch
        assert post.call_count == 1
        emitter.flush()  # nothing is left to send
        assert post.call_count == 1

    assert_upstream_post_call(post.call_args)
    assert callbacks.kinds() == ["failure"]
    assert callbacks.all_positional()
    [(sent_count, failed)] = callbacks.failures
    assert sent_count == 0
    assert [comparable(e) for e in failed] == [comparable(e) for e in body_events(post.call_args)]
    assert_the_three(failed)


def test_requests_post_mock_500_reports_failure_then_retries_the_same_events() -> None:
    callbacks = Callbacks()
    side_effect = answers(Mock(status_code=500), 1, Mock(status_code=200))
    with mock.patch("requests.post", side_effect=side_effect) as post:
        emitter = new_emitter(callbacks, batch_size=10)
        track_three(new_tracker(emitter))
        emitter.flush()  # must not raise on the 500 (nor on reading its Mock headers)
        ids = {event["eid"] for event in body_events(post.call_args_list[0])}
        # Retried after a short backoff, with no further call from the test.
        assert callbacks.wait_for_success_of(ids), callbacks.log
        settle(emitter)

    assert post.call_count == 2
    for post_call in post.call_args_list:
        assert_upstream_post_call(post_call)
    first, retry = (body_events(c) for c in post.call_args_list)
    assert [without_stm(comparable(e)) for e in retry] == [
        without_stm(comparable(e)) for e in first
    ]
    assert callbacks.kinds() == ["failure", "success"]
    assert callbacks.all_positional()
    [(sent_count, failed)] = callbacks.failures
    assert sent_count == 0
    assert_the_three(failed)
    [succeeded] = callbacks.successes
    assert [e["eid"] for e in succeeded] == [e["eid"] for e in failed]


# -- requests.get patched -----------------------------------------------------------------


def expected_get_params(eid: str) -> dict[str, Any]:
    """Upstream's GET params for the structured event of the GET tests, at FROZEN_AT."""
    return {
        "e": "se",
        "se_ca": "shop",
        "se_ac": "add",
        "se_va": 3,
        "ttm": TSTAMP,
        "p": "pc",
        "eid": eid,
        "dtm": FROZEN_MS,
        "tv": TRACKER_VERSION,
        "tna": "ns",
        "aid": "app",
        "stm": FROZEN_STM,
    }


@contextmanager
def frozen_ids(eid: str) -> Iterator[Mock]:
    """Time frozen at FROZEN_AT and every event id ``eid``; yields the patched get_uuid."""
    with (
        freeze_time(FROZEN_AT),
        mock.patch("snowplow_tracker.Tracker.get_uuid", return_value=eid) as get_uuid,
    ):
        yield get_uuid


def track_the_get_event(emitter: Any) -> None:
    """The structured event of :func:`expected_get_params`."""
    with quiet():
        new_tracker(emitter).track_struct_event("shop", "add", value=3, tstamp=TSTAMP)


def test_requests_get_mock_200_gets_the_event_dict_with_upstream_types() -> None:
    callbacks = Callbacks()
    with (
        frozen_ids("eid-get-1"),
        mock.patch("requests.get", return_value=Mock(status_code=200)) as get,
    ):
        track_the_get_event(new_emitter(callbacks, method="get"))

    expected = expected_get_params("eid-get-1")
    # One request; no headers keyword at all, as upstream.
    assert get.call_args_list == [mock.call(GET_URL, params=expected, timeout=EXPECTED_TIMEOUT)]
    params = get.call_args.kwargs["params"]
    assert type(params["dtm"]) is int
    assert type(params["ttm"]) is int
    assert type(params["se_va"]) is int
    assert type(params["stm"]) is str
    assert callbacks.kinds() == ["success"]
    assert callbacks.all_positional()
    assert callbacks.successes == [[expected]]
    assert type(callbacks.successes[0][0]["dtm"]) is int


def test_requests_get_mock_400_reports_the_event_and_does_not_retry() -> None:
    callbacks = Callbacks()
    with (
        frozen_ids("eid-get-2"),
        mock.patch("requests.get", return_value=Mock(status_code=400)) as get,
    ):
        emitter = new_emitter(callbacks, method="get")
        track_the_get_event(emitter)
        emitter.flush()

    expected = expected_get_params("eid-get-2")
    assert get.call_args_list == [mock.call(GET_URL, params=expected, timeout=EXPECTED_TIMEOUT)]
    assert callbacks.kinds() == ["failure"]
    assert callbacks.all_positional()
    assert callbacks.failures == [(0, [expected])]


@pytest.mark.parametrize("method", ["post", "get"])
def test_mocked_response_with_mock_headers_does_not_crash(method: str) -> None:
    """``Mock(status_code=...)`` has a Mock for ``.headers`` (and everything else)."""
    callbacks = Callbacks()
    response = Mock(status_code=503)
    side_effect = answers(response, 1, Mock(status_code=200))
    with mock.patch(f"requests.{method}", side_effect=side_effect) as patched:
        emitter = new_emitter(callbacks, method=method, batch_size=1)
        with quiet():
            new_tracker(emitter).track_struct_event("shop", "add")
        eid = callbacks.failures[0][1][0]["eid"]
        assert callbacks.wait_for_success_of({eid}), callbacks.log
        settle(emitter)

    assert callbacks.kinds() == ["failure", "success"]
    assert patched.call_count == 2


@pytest.mark.parametrize("method", ["post", "get"])
def test_mocked_response_without_status_code(method: str) -> None:
    """A bare ``Mock()`` response: upstream raises TypeError comparing its status code; a
    track call in this package must not raise because of what the HTTP layer returned."""
    with mock.patch(f"requests.{method}", return_value=Mock()) as patched:
        emitter = Emitter("collector.test", method=method, batch_size=1)
        tracker = new_tracker(emitter)
        with quiet():
            if OURS:
                tracker.track_struct_event("shop", "add")
            else:
                with pytest.raises(TypeError):
                    tracker.track_struct_event("shop", "add")
        first_call = patched.call_args_list[0]
        patched.return_value = Mock(status_code=200)
        settle(emitter)

    assert first_call.args == ((POST_URL,) if method == "post" else (GET_URL,))
    if method == "post":
        assert_upstream_post_call(first_call)
    else:
        assert set(first_call.kwargs) == {"params", "timeout"}
        assert first_call.kwargs["params"]["se_ca"] == "shop"


# -- a mocked session ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400])
def test_session_mock_post_is_called_as_upstream_calls_it(status: int) -> None:
    callbacks = Callbacks()
    session = Mock()
    session.post.return_value = Mock(status_code=status)
    with mock.patch("requests.post") as module_post:
        emitter = new_emitter(callbacks, batch_size=3, session=session)
        track_three(new_tracker(emitter))
        emitter.flush()

    module_post.assert_not_called()
    session.get.assert_not_called()
    assert session.post.call_count == 1
    assert_upstream_post_call(session.post.call_args)
    sent = body_events(session.post.call_args)
    assert_the_three(sent)
    assert callbacks.all_positional()
    if status == 200:
        assert callbacks.kinds() == ["success"]
        reported = callbacks.successes[0]
    else:
        assert callbacks.kinds() == ["failure"]
        assert callbacks.failures[0][0] == 0
        reported = callbacks.failures[0][1]
    assert [comparable(e) for e in reported] == [comparable(e) for e in sent]


def test_session_mock_get_is_called_as_upstream_calls_it() -> None:
    callbacks = Callbacks()
    session = Mock()
    session.get.return_value = Mock(status_code=200)
    with frozen_ids("eid-session"), mock.patch("requests.get") as module_get:
        track_the_get_event(new_emitter(callbacks, method="get", session=session))

    module_get.assert_not_called()
    session.post.assert_not_called()
    expected = expected_get_params("eid-session")
    assert session.get.call_args_list == [
        mock.call(GET_URL, params=expected, timeout=EXPECTED_TIMEOUT)
    ]
    assert callbacks.successes == [[expected]]


# -- Emitter.http_post / Emitter.http_get patched -----------------------------------------


def test_patched_http_post_gets_the_body_text_once_per_batch() -> None:
    callbacks = Callbacks()
    with mock.patch.object(Emitter, "http_post", return_value=200) as http_post:
        emitter = new_emitter(callbacks, batch_size=3)
        track_three(new_tracker(emitter))  # the third event sends the batch
        assert http_post.call_count == 1
        emitter.flush()  # nothing left
        assert http_post.call_count == 1

    [data] = http_post.call_args.args
    assert http_post.call_args.kwargs == {}
    assert isinstance(data, str)
    body = json.loads(data)
    assert body["schema"] == PAYLOAD_DATA_SCHEMA
    for event in body["data"]:
        assert all(isinstance(value, str) for value in event.values()), event
    assert_the_three(body["data"])
    assert callbacks.kinds() == ["success"]
    assert callbacks.all_positional()
    [reported] = callbacks.successes
    assert all("stm" in event for event in reported)
    assert [comparable(e) for e in reported] == [comparable(e) for e in body["data"]]


def test_patched_http_post_500_reports_failure_then_retries() -> None:
    callbacks = Callbacks()
    with mock.patch.object(Emitter, "http_post", side_effect=answers(500, 1, 200)) as http_post:
        emitter = new_emitter(callbacks, batch_size=3)
        track_three(new_tracker(emitter))
        [(sent_count, failed)] = callbacks.failures
        assert sent_count == 0
        assert_the_three(failed)
        assert callbacks.wait_for_success_of({e["eid"] for e in failed}), callbacks.log
        settle(emitter)

    assert http_post.call_count == 2
    assert callbacks.kinds() == ["failure", "success"]


@pytest.mark.parametrize("how", ["patched http_get", "patched requests.get"])
def test_get_mode_failure_is_reported_once_per_flush_with_the_totals(how: str) -> None:
    """Three GET requests that all fail: one on_failure(0, [the three events])."""
    callbacks = Callbacks()
    failing = {"on": True}
    seen_at_failure: list[tuple[int, int]] = []

    if how == "patched http_get":
        target = mock.patch.object(Emitter, "http_get")

        def answer(*args: Any, **kwargs: Any) -> Any:
            return 500 if failing["on"] else 200

    else:
        target = mock.patch("requests.get")

        def answer(*args: Any, **kwargs: Any) -> Any:
            return Mock(status_code=500 if failing["on"] else 200)

    def on_failure(*args: Any) -> None:
        # How many GETs and successes there were when the failure was reported.
        seen_at_failure.append((patched.call_count, len(callbacks.successes)))
        callbacks.on_failure(*args)

    with target as patched:
        patched.side_effect = answer
        emitter = new_emitter(callbacks, method="get", batch_size=3, on_failure=on_failure)
        tracker = new_tracker(emitter)
        with quiet():
            for action in ("one", "two", "three"):
                tracker.track_struct_event("shop", action, value=1)
        # The third event sent the batch: three GETs, then one report with the totals.
        assert seen_at_failure[0] == (3, 0)
        failed_count, failed = callbacks.failures[0]
        assert failed_count == 0
        assert [e["se_ac"] for e in failed] == ["one", "two", "three"]
        for event in failed:
            assert type(event["dtm"]) is int
            assert type(event["se_va"]) is int
            assert type(event["stm"]) is str
        failing["on"] = False
        assert callbacks.wait_for_success_of({e["eid"] for e in failed}), callbacks.log
        settle(emitter)

    first_three = patched.call_args_list[:3]
    if how == "patched http_get":
        assert [c.args[0]["se_ac"] for c in first_three] == ["one", "two", "three"]
    else:
        assert [c.kwargs["params"]["se_ac"] for c in first_three] == ["one", "two", "three"]
    assert callbacks.all_positional()


@pytest.mark.parametrize("status", [200, 400])
def test_patched_http_get_gets_each_event_dict(status: int) -> None:
    callbacks = Callbacks()
    with (
        frozen_ids("eid-http-get"),
        mock.patch.object(Emitter, "http_get", return_value=status) as http_get,
    ):
        track_the_get_event(new_emitter(callbacks, method="get"))

    expected = expected_get_params("eid-http-get")
    assert http_get.call_args_list == [mock.call(expected)]
    assert type(http_get.call_args.args[0]["dtm"]) is int
    if status == 200:
        assert callbacks.successes == [[expected]]
        assert callbacks.failures == []
    else:
        assert callbacks.failures == [(0, [expected])]
        assert callbacks.successes == []


# -- subclasses overriding http_post / http_get -------------------------------------------


class BodyKeepingEmitter(Emitter):
    """What users write to capture requests: answers from a list, keeps what it was given."""

    def __init__(self, *args: Any, statuses: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statuses = list(statuses or [])
        self.posted: list[str] = []
        self.got: list[dict[str, Any]] = []
        self.statuses_lock = threading.Lock()

    def _next_status(self) -> int:
        with self.statuses_lock:
            return self.statuses.pop(0) if self.statuses else 200

    def http_post(self, data: str) -> int:
        self.posted.append(data)
        return self._next_status()

    def http_get(self, payload: dict[str, Any]) -> int:
        self.got.append(copy.deepcopy(payload))
        return self._next_status()


def test_subclass_overriding_http_post_sees_every_batch() -> None:
    callbacks = Callbacks()
    with mock.patch("requests.post") as module_post:
        emitter = new_emitter(callbacks, BodyKeepingEmitter, batch_size=10)
        track_three(new_tracker(emitter))
        emitter.flush()
    module_post.assert_not_called()
    [data] = emitter.posted
    assert isinstance(data, str)
    body = json.loads(data)
    assert body["schema"] == PAYLOAD_DATA_SCHEMA
    assert_the_three(body["data"])
    assert callbacks.kinds() == ["success"]
    assert [comparable(e) for e in callbacks.successes[0]] == [comparable(e) for e in body["data"]]


def test_subclass_overriding_http_post_is_retried_after_a_500() -> None:
    callbacks = Callbacks()
    with mock.patch("requests.post") as module_post:
        emitter = new_emitter(callbacks, BodyKeepingEmitter, batch_size=10, statuses=[500])
        track_three(new_tracker(emitter))
        emitter.flush()
        [(sent_count, failed)] = callbacks.failures
        assert sent_count == 0
        assert callbacks.wait_for_success_of({e["eid"] for e in failed}), callbacks.log
        settle(emitter)
    module_post.assert_not_called()
    assert len(emitter.posted) == 2
    first, retry = (json.loads(data)["data"] for data in emitter.posted)
    assert [e["eid"] for e in retry] == [e["eid"] for e in first]


def test_subclass_overriding_http_get_sees_each_event_dict() -> None:
    callbacks = Callbacks()
    with frozen_ids("eid-subclass"), mock.patch("requests.get") as module_get:
        emitter = new_emitter(callbacks, BodyKeepingEmitter, method="get")
        track_the_get_event(emitter)
    module_get.assert_not_called()
    expected = expected_get_params("eid-subclass")
    assert emitter.got == [expected]
    assert callbacks.successes == [[expected]]


# -- Tracker.track patched ----------------------------------------------------------------

CONTEXT = [SelfDescribingJson(USER_SCHEMA, {"id": 7})]


def the_tracked_event(track: Mock) -> Any:
    """What the one call of the patched track() was given: an event, by keyword."""
    [track_call] = track.call_args_list
    assert track_call.args == ()
    assert list(track_call.kwargs) == ["event"]
    return track_call.kwargs["event"]


def assert_carries(event: Any, subject: Subject) -> None:
    """The event keeps the context, timestamp and subject that the track_* call was given."""
    assert event.context == CONTEXT
    assert event.true_timestamp == TSTAMP
    assert event.event_subject is subject


def call_page_view(tracker: Tracker, subject: Subject) -> Any:
    return tracker.track_page_view(
        "https://shop.example/a", "A", "https://ref.example/", CONTEXT, TSTAMP, subject
    )


def call_page_ping(tracker: Tracker, subject: Subject) -> Any:
    return tracker.track_page_ping(
        "https://shop.example/a",
        "A",
        "https://ref.example/",
        min_x=1,
        max_x=2,
        min_y=3,
        max_y=4,
        context=CONTEXT,
        tstamp=TSTAMP,
        event_subject=subject,
    )


def call_struct_event(tracker: Tracker, subject: Subject) -> Any:
    return tracker.track_struct_event(
        "shop", "add", "label", "prop", 3, context=CONTEXT, tstamp=TSTAMP, event_subject=subject
    )


def call_transaction_item(tracker: Tracker, subject: Subject) -> Any:
    return tracker.track_ecommerce_transaction_item(
        "order-1",
        "sku-1",
        9.5,
        2,
        name="Socks",
        category="clothes",
        currency="EUR",
        context=CONTEXT,
        tstamp=TSTAMP,
        event_subject=subject,
    )


TRACK_CASES = {
    "track_page_view": (
        call_page_view,
        PageView,
        {"e": "pv", "url": "https://shop.example/a", "page": "A", "refr": "https://ref.example/"},
    ),
    "track_page_ping": (
        call_page_ping,
        PagePing,
        {
            "e": "pp",
            "url": "https://shop.example/a",
            "page": "A",
            "refr": "https://ref.example/",
            "pp_mix": 1,
            "pp_max": 2,
            "pp_miy": 3,
            "pp_may": 4,
        },
    ),
    "track_struct_event": (
        call_struct_event,
        StructuredEvent,
        {
            "e": "se",
            "se_ca": "shop",
            "se_ac": "add",
            "se_la": "label",
            "se_pr": "prop",
            "se_va": 3,
        },
    ),
    "track_ecommerce_transaction_item": (
        call_transaction_item,
        snowplow_tracker.Event,
        {
            "e": "ti",
            "ti_id": "order-1",
            "ti_sk": "sku-1",
            "ti_nm": "Socks",
            "ti_ca": "clothes",
            "ti_pr": 9.5,
            "ti_qu": 2,
            "ti_cu": "EUR",
        },
    ),
}


@pytest.mark.parametrize("name", list(TRACK_CASES))
def test_patched_track_sees_the_event_keyword(name: str) -> None:
    call_method, event_class, pairs = TRACK_CASES[name]
    subject = Subject().set_user_id("user-1")
    with mock.patch("snowplow_tracker.Tracker.track") as track:
        tracker = Tracker("ns", Mock(), app_id="app")
        with quiet():
            returned = call_method(tracker, subject)

    assert returned is tracker
    event = the_tracked_event(track)
    assert isinstance(event, event_class)
    assert event.payload.nv_pairs == pairs
    assert_carries(event, subject)


def test_patched_track_sees_a_transaction_and_its_items() -> None:
    subject = Subject().set_user_id("user-1")
    items = [
        {"sku": "sku-1", "price": 9.5, "quantity": 2, "name": "Socks"},
        {"sku": "sku-2", "price": 1, "quantity": 1},
    ]
    with mock.patch("snowplow_tracker.Tracker.track") as track:
        tracker = Tracker("ns", Mock())
        with quiet():
            returned = tracker.track_ecommerce_transaction(
                "order-1",
                20.5,
                affiliation="web",
                tax_value=1.5,
                shipping=2,
                city="Lyon",
                state="ARA",
                country="FR",
                currency="EUR",
                items=items,
                context=CONTEXT,
                tstamp=TSTAMP,
                event_subject=subject,
            )

    assert returned is tracker
    assert [c.args for c in track.call_args_list] == [(), (), ()]
    assert [list(c.kwargs) for c in track.call_args_list] == [["event"]] * 3
    transaction, first, second = (c.kwargs["event"] for c in track.call_args_list)
    assert transaction.payload.nv_pairs == {
        "e": "tr",
        "tr_id": "order-1",
        "tr_tt": 20.5,
        "tr_af": "web",
        "tr_tx": 1.5,
        "tr_sh": 2,
        "tr_ci": "Lyon",
        "tr_st": "ARA",
        "tr_co": "FR",
        "tr_cu": "EUR",
    }
    assert first.payload.nv_pairs == {
        "e": "ti",
        "ti_id": "order-1",
        "ti_sk": "sku-1",
        "ti_nm": "Socks",
        "ti_pr": 9.5,
        "ti_qu": 2,
        "ti_cu": "EUR",
    }
    assert second.payload.nv_pairs == {
        "e": "ti",
        "ti_id": "order-1",
        "ti_sk": "sku-2",
        "ti_pr": 1,
        "ti_qu": 1,
        "ti_cu": "EUR",
    }
    for event in (transaction, first, second):
        assert isinstance(event, snowplow_tracker.Event)
        assert_carries(event, subject)


@pytest.mark.parametrize("name", ["track_self_describing_event", "track_unstruct_event"])
def test_patched_track_sees_a_self_describing_event(name: str) -> None:
    subject = Subject().set_user_id("user-1")
    event_json = SelfDescribingJson(THING_SCHEMA, {"n": 1})
    with mock.patch("snowplow_tracker.Tracker.track") as track:
        tracker = Tracker("ns", Mock())
        with quiet():
            returned = getattr(tracker, name)(event_json, CONTEXT, TSTAMP, subject)

    assert returned is tracker
    event = the_tracked_event(track)
    assert isinstance(event, SelfDescribing)
    assert event.payload.nv_pairs == {"e": "ue"}
    assert event.event_json is event_json
    assert_carries(event, subject)


def test_patched_track_sees_a_mobile_screen_view() -> None:
    with mock.patch("snowplow_tracker.Tracker.track") as track:
        tracker = Tracker("ns", Mock())
        with quiet():
            tracker.track_mobile_screen_view(
                "Home", id_="4b2a1c6e-0000-4000-8000-000000000001", type="feed", context=CONTEXT
            )
    event = the_tracked_event(track)
    assert isinstance(event, ScreenView)
    assert (event.name, event.id_, event.type) == (
        "Home",
        "4b2a1c6e-0000-4000-8000-000000000001",
        "feed",
    )
    assert event.context == CONTEXT


# -- Tracker.track_self_describing_event patched ------------------------------------------

SD_BASE = "iglu:com.snowplowanalytics.snowplow"

SELF_DESCRIBING_CASES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "track_link_click": (
        lambda t, **kw: t.track_link_click(
            "https://shop.example/b", "link-1", ["a", "b"], "_blank", "Go", **kw
        ),
        {
            "schema": f"{SD_BASE}/link_click/jsonschema/1-0-1",
            "data": {
                "targetUrl": "https://shop.example/b",
                "elementId": "link-1",
                "elementClasses": ["a", "b"],
                "elementTarget": "_blank",
                "elementContent": "Go",
            },
        },
    ),
    "track_add_to_cart": (
        lambda t, **kw: t.track_add_to_cart("sku-1", 2, "Socks", "clothes", 9.5, "EUR", **kw),
        {
            "schema": f"{SD_BASE}/add_to_cart/jsonschema/1-0-0",
            "data": {
                "sku": "sku-1",
                "quantity": 2,
                "name": "Socks",
                "category": "clothes",
                "unitPrice": 9.5,
                "currency": "EUR",
            },
        },
    ),
    "track_remove_from_cart": (
        lambda t, **kw: t.track_remove_from_cart("sku-1", 1, **kw),
        {
            "schema": f"{SD_BASE}/remove_from_cart/jsonschema/1-0-0",
            "data": {"sku": "sku-1", "quantity": 1},
        },
    ),
    "track_form_change": (
        lambda t, **kw: t.track_form_change(
            "form-1", "field-1", "INPUT", "hello", type_="text", element_classes=["x"], **kw
        ),
        {
            "schema": f"{SD_BASE}/change_form/jsonschema/1-0-0",
            "data": {
                "formId": "form-1",
                "elementId": "field-1",
                "nodeName": "INPUT",
                "value": "hello",
                "type": "text",
                "elementClasses": ["x"],
            },
        },
    ),
    "track_form_submit": (
        lambda t, **kw: t.track_form_submit(
            "form-1",
            ["f"],
            [{"name": "q", "value": "socks", "nodeName": "INPUT", "type": "text"}],
            **kw,
        ),
        {
            "schema": f"{SD_BASE}/submit_form/jsonschema/1-0-0",
            "data": {
                "formId": "form-1",
                "formClasses": ["f"],
                "elements": [{"name": "q", "value": "socks", "nodeName": "INPUT", "type": "text"}],
            },
        },
    ),
    "track_site_search": (
        lambda t, **kw: t.track_site_search(["red", "socks"], {"in_stock": True}, 10, 5, **kw),
        {
            "schema": f"{SD_BASE}/site_search/jsonschema/1-0-0",
            "data": {
                "terms": ["red", "socks"],
                "filters": {"in_stock": True},
                "totalResults": 10,
                "pageResults": 5,
            },
        },
    ),
    "track_screen_view": (
        lambda t, **kw: t.track_screen_view("Home", "screen-1", **kw),
        {
            "schema": f"{SD_BASE}/screen_view/jsonschema/1-0-0",
            "data": {"name": "Home", "id": "screen-1"},
        },
    ),
    "track_unstruct_event": (
        lambda t, **kw: t.track_unstruct_event(SelfDescribingJson(THING_SCHEMA, {"n": 1}), **kw),
        {"schema": THING_SCHEMA, "data": {"n": 1}},
    ),
}


@pytest.mark.parametrize("name", list(SELF_DESCRIBING_CASES))
def test_patched_track_self_describing_event_sees_keyword_calls(name: str) -> None:
    call_method, expected_json = SELF_DESCRIBING_CASES[name]
    subject = Subject().set_user_id("user-1")
    with mock.patch("snowplow_tracker.Tracker.track_self_describing_event") as track_sd:
        tracker = Tracker("ns", Mock())
        with quiet():
            returned = call_method(tracker, context=CONTEXT, tstamp=TSTAMP, event_subject=subject)

    assert returned is tracker
    [sd_call] = track_sd.call_args_list
    assert sd_call.args == ()
    assert sorted(sd_call.kwargs) == ["context", "event_json", "event_subject", "tstamp"]
    assert sd_call.kwargs["context"] == CONTEXT
    assert sd_call.kwargs["tstamp"] == TSTAMP
    assert sd_call.kwargs["event_subject"] is subject
    event_json = sd_call.kwargs["event_json"]
    assert isinstance(event_json, SelfDescribingJson)
    assert event_json.to_json() == expected_json


def test_patched_track_self_describing_event_passes_none_for_what_was_not_given() -> None:
    with mock.patch("snowplow_tracker.Tracker.track_self_describing_event") as track_sd:
        tracker = Tracker("ns", Mock())
        with quiet():
            tracker.track_link_click("https://shop.example/b")
    [sd_call] = track_sd.call_args_list
    assert sd_call.kwargs["context"] is None
    assert sd_call.kwargs["tstamp"] is None
    assert sd_call.kwargs["event_subject"] is None
    assert sd_call.kwargs["event_json"].to_json() == {
        "schema": f"{SD_BASE}/link_click/jsonschema/1-0-1",
        "data": {"targetUrl": "https://shop.example/b"},
    }


# -- get_uuid / get_timestamp and custom emitters -----------------------------------------


class ListEmitter:
    """A custom emitter as users write them: any object with ``input(payload)``."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def input(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)


def test_get_uuid_and_frozen_time_decide_eid_and_dtm() -> None:
    custom = ListEmitter()
    with frozen_ids("fixed-eid") as get_uuid:
        tracker = Tracker("ns", [custom], app_id="app")
        with quiet():
            tracker.track_struct_event("shop", "add", value=3)
            tracker.track_page_view("https://shop.example/a")

    assert get_uuid.call_count == 2
    first, second = custom.payloads
    assert isinstance(first, dict)
    assert first == {
        "e": "se",
        "se_ca": "shop",
        "se_ac": "add",
        "se_va": 3,
        "p": "pc",
        "eid": "fixed-eid",
        "dtm": FROZEN_MS,
        "tv": TRACKER_VERSION,
        "tna": "ns",
        "aid": "app",
    }
    assert type(first["dtm"]) is int
    assert type(first["se_va"]) is int
    assert (second["eid"], second["dtm"], second["url"]) == (
        "fixed-eid",
        FROZEN_MS,
        "https://shop.example/a",
    )


def test_dtm_is_upstreams_milliseconds_of_the_frozen_time() -> None:
    """Upstream takes int(time.time() * 1000): at .678 s a frozen clock gives ...678 (a
    nanosecond clock read through freezegun's float would give ...677)."""
    custom = ListEmitter()
    with freeze_time("2024-01-02 03:04:05.678"):
        tracker = Tracker("ns", custom)
        with quiet():
            tracker.track_struct_event("shop", "add")
    [payload] = custom.payloads
    assert payload["dtm"] == 1704164645678


def test_patched_get_timestamp_decides_dtm() -> None:
    custom = ListEmitter()
    with mock.patch("snowplow_tracker.Tracker.get_timestamp", return_value=1234567890123):
        tracker = Tracker("ns", custom)
        with quiet():
            tracker.track_struct_event("shop", "add", tstamp=1111111111111)
    [payload] = custom.payloads
    assert payload["dtm"] == 1234567890123
    assert payload["ttm"] == 1111111111111
    assert type(payload["dtm"]) is int


def test_custom_emitter_gets_text_for_json_fields_and_survives_tracker_flush() -> None:
    """Base64 JSON fields are ready strings in the dict a custom emitter receives, and
    ``tracker.flush()`` skips an emitter that has no flush methods."""
    custom = ListEmitter()
    tracker = Tracker("ns", custom)  # encode_base64 defaults to True
    with quiet():
        tracker.track_self_describing_event(
            SelfDescribingJson(THING_SCHEMA, {"n": 1}),
            context=[SelfDescribingJson(USER_SCHEMA, {"id": 7})],
        )
    tracker.flush()
    [payload] = custom.payloads
    assert isinstance(payload["ue_px"], str)
    assert isinstance(payload["cx"], str)
    assert decode_b64(payload["ue_px"]) == {
        "schema": UNSTRUCT_SCHEMA,
        "data": {"schema": THING_SCHEMA, "data": {"n": 1}},
    }
    assert decode_b64(payload["cx"]) == {
        "schema": CONTEXTS_SCHEMA,
        "data": [{"schema": USER_SCHEMA, "data": {"id": 7}}],
    }
    assert "ue_pr" not in payload
    assert "co" not in payload
    json.dumps(payload)  # what custom emitters do with it


# -- send_events ---------------------------------------------------------------------------


def test_send_events_sends_only_the_given_events() -> None:
    callbacks = Callbacks()
    with mock.patch.object(Emitter, "http_post", return_value=200) as http_post:
        emitter = new_emitter(callbacks, batch_size=10)
        tracker = new_tracker(emitter)
        with quiet():
            tracker.track_struct_event("queued", "one")
            tracker.track_struct_event("queued", "two")
        assert http_post.call_count == 0

        now_ms = str(int(time.time() * 1000))
        given = [
            {"e": "se", "se_ca": "given", "se_ac": "a", "eid": "given-1", "dtm": now_ms},
            {"e": "se", "se_ca": "given", "se_ac": "b", "eid": "given-2", "dtm": now_ms},
        ]
        emitter.send_events(given)
        assert http_post.call_count == 1
        sent = json.loads(http_post.call_args.args[0])["data"]
        assert [without_stm(e) for e in sent] == [without_stm(e) for e in given]
        assert all(DIGITS.match(e["stm"]) for e in sent)
        assert callbacks.kinds() == ["success"]
        [reported] = callbacks.successes
        assert [e["eid"] for e in reported] == ["given-1", "given-2"]
        assert all(DIGITS.match(e["stm"]) for e in reported)

        # The tracked events are still queued, and go with the next flush.
        emitter.flush()
        assert http_post.call_count == 2
        later = json.loads(http_post.call_args.args[0])["data"]
        assert [(e["se_ca"], e["se_ac"]) for e in later] == [("queued", "one"), ("queued", "two")]
        assert callbacks.kinds() == ["success", "success"]
