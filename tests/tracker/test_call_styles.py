"""Both constructor styles, and clear errors for calls that fit neither."""

from __future__ import annotations

import pytest

from snowplow_tracker import AsyncEmitter, Emitter, PageView, Subject, Tracker

URL = "http://127.0.0.1:9"


def emitter(**kwargs: object) -> Emitter:
    return Emitter(URL, **kwargs)  # type: ignore[arg-type]


def test_v1_positional_order() -> None:
    subject = Subject().set_user_id("u")
    tracker = Tracker("ns", emitter(), subject, "app", False)
    assert tracker.get_namespace() == "ns"
    assert tracker.standard_nv_pairs["aid"] == "app"
    assert tracker.subject is subject
    assert tracker.encode_base64 is False


def test_v1_list_of_emitters_and_keywords() -> None:
    e1, e2 = emitter(), emitter()
    tracker = Tracker(namespace="ns", emitters=[e1, e2], app_id="a")
    assert tracker.emitters == [e1, e2]


def test_datacoral_positional_order() -> None:
    e = emitter()
    tracker = Tracker(e, ["key-1"], "stage", None, "ns", "app", False)
    assert tracker.api_key == "key-1"
    assert tracker.datacoral_env == "stage"
    assert e.transport.headers["X-Api-Key"] == "key-1"
    assert e.transport.headers["X-Datacoral-Environment"] == "stage"
    assert tracker.get_namespace() == "ns"
    assert tracker.encode_base64 is False


def test_upstream_zero_x_order_with_subject_second() -> None:
    subject = Subject()
    tracker = Tracker(emitter(), subject, "ns", "app")
    assert tracker.subject is subject
    assert tracker.get_namespace() == "ns"
    assert tracker.api_key is None


def test_emitter_first_without_namespace() -> None:
    tracker = Tracker(emitter())
    assert tracker.get_namespace() is None
    # As upstream, the standard pairs name tna and aid even when absent; events leave
    # them out.
    assert tracker.standard_nv_pairs["tna"] is None
    fields = tracker.complete_payload(PageView("https://p/")).nv_pairs
    assert "tna" not in fields and "aid" not in fields


@pytest.mark.parametrize("first", [5, None, 3.2, {"a": 1}, [], [1, 2]])
def test_first_argument_fitting_neither_style_is_a_type_error(first: object) -> None:
    with pytest.raises(TypeError, match="namespace string or an emitter"):
        Tracker(first)  # type: ignore[call-overload]


def test_too_many_positionals_and_duplicates_are_type_errors() -> None:
    with pytest.raises(TypeError, match="multiple values"):
        Tracker("ns", emitter(), namespace="x")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="at most"):
        Tracker("ns", emitter(), None, "a", True, None, "extra")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="unexpected keyword"):
        Tracker("ns", emitter(), colour="red")  # type: ignore[call-overload]


@pytest.mark.parametrize("bad", ["", "   ", [], ["a", "b"]])
def test_bad_api_key_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="api_key"):
        Tracker(emitter(), api_key=bad, datacoral_env="dev")  # type: ignore[call-overload]


def test_non_string_api_key_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="api_key"):
        Tracker(emitter(), api_key=[42])  # type: ignore[call-overload]


@pytest.mark.parametrize("env", ["Dev", "prod!", "x" * 33, "", "qa env"])
def test_bad_environment_names_are_value_errors(env: str) -> None:
    with pytest.raises(ValueError, match="environment name"):
        Tracker(emitter(), api_key="k", datacoral_env=env)  # type: ignore[call-overload]


@pytest.mark.parametrize("env", ["dev", "stage", "prod", "qa-2", "a_b", "x" * 32])
def test_good_environment_names(env: str) -> None:
    Tracker(emitter(), api_key="k", datacoral_env=env)


def test_one_emitter_cannot_carry_two_keys() -> None:
    e = emitter()
    Tracker(e, api_key="k1", datacoral_env="dev")
    with pytest.raises(ValueError, match="one emitter per key"):
        Tracker(e, api_key="k2", datacoral_env="dev")


def test_buffer_size_is_the_zero_x_name_of_batch_size() -> None:
    assert Emitter(URL, buffer_size=1).batch_size == 1
    assert Emitter(URL).batch_size == 10
    assert Emitter(URL, method="get").batch_size == 1
    with pytest.raises(TypeError, match="not both"):
        Emitter(URL, batch_size=2, buffer_size=3)


@pytest.mark.parametrize(
    "kwargs",
    [{"batch_size": 0}, {"byte_limit": -1}, {"buffer_capacity": 0}, {"request_timeout": 0}],
)
def test_bad_emitter_numbers_are_value_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Emitter(URL, **kwargs)  # type: ignore[arg-type]


def test_bad_method_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="method"):
        Emitter(URL, method="put")


def test_async_emitter_positional_order_has_thread_count_eighth() -> None:
    e = AsyncEmitter(URL, "http", None, "post", 5, None, None, 3)
    assert e.thread_count == 3
    assert e.batch_size == 5


def test_custom_retry_codes_are_never_shared() -> None:
    codes = {500: False}
    e1 = Emitter(URL, custom_retry_codes=codes)
    e2 = Emitter(URL)
    codes[503] = False
    assert e1.retry_policy.custom_retry_codes == {500: False}
    assert e2.retry_policy.custom_retry_codes == {}


def test_track_returns_event_id_and_rejects_non_events() -> None:
    from snowplow_tracker import PageView

    tracker = Tracker("ns", emitter(batch_size=100))
    eid = tracker.track(PageView("https://x/"))
    assert isinstance(eid, str) and len(eid) == 36
    with pytest.raises(TypeError, match="Event"):
        tracker.track("not an event")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.track_page_view(""),
        lambda t: t.track_struct_event("", "a"),
        lambda t: t.track_form_change("f", "e", "BUTTON", "v"),
        lambda t: t.track_form_submit("f", elements=[{"name": "x"}]),
        lambda t: t.track_site_search([]),
    ],
)
def test_bad_track_arguments_are_value_errors(call) -> None:  # type: ignore[no-untyped-def]
    tracker = Tracker("ns", emitter(batch_size=100))
    with pytest.raises(ValueError):
        call(tracker)


def test_contracts_can_be_disabled() -> None:
    from snowplow_tracker import disable_contracts, enable_contracts

    tracker = Tracker("ns", emitter(batch_size=100))
    disable_contracts()
    try:
        tracker.track_struct_event("", "action")
    finally:
        enable_contracts()


def test_tracker_and_endpoint_agree_on_environment_names() -> None:
    # The tracker cannot import datacoral, so the rule is written twice; keep them equal.
    from datacoral.admin.environments import ENVIRONMENT_NAME as endpoint_rule
    from snowplow_tracker._call_styles import ENVIRONMENT_NAME as tracker_rule

    assert tracker_rule.pattern == endpoint_rule.pattern
