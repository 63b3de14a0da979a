"""The resolver's order, caches and outage policy, with an injected clock; then a real
outage of a real registry on a loopback port."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from datacoral.schemas import (
    IgluSettings,
    Resolver,
    SchemaNotCached,
    SchemaNotFound,
    SchemaUnavailable,
    StaticRepository,
    Validator,
)
from datacoral.schemas.sources import Failed, Found, Lookup, Missing
from datacoral.schemas.uri import SchemaKey, parse_schema_uri
from tests.schemas.registries import FakeClock, static_registry

KEY = parse_schema_uri("iglu:com.acme/order/jsonschema/1-0-0")
SCHEMA = {"self": {"vendor": "com.acme", "name": "order", "format": "jsonschema"}}


class Scripted:
    """A source whose answer the test sets, counting the questions."""

    def __init__(self, name: str, answer: Lookup | None = None, delay: float = 0.0) -> None:
        self.name = name
        self.answer: Lookup = answer if answer is not None else Missing(f"{name}: no")
        self.delay = delay
        self.asked: list[SchemaKey] = []

    def fetch(self, key: SchemaKey) -> Lookup:
        self.asked.append(key)
        if self.delay:
            time.sleep(self.delay)
        return self.answer


def _resolver(*sources: Any, clock: FakeClock | None = None, **options: Any) -> Resolver:
    return Resolver(sources, clock=clock or FakeClock(), **options)


def test_the_first_source_that_has_it_wins_and_later_ones_are_not_asked() -> None:
    first, second, third = Scripted("a"), Scripted("b", Found(SCHEMA)), Scripted("c", Found({}))
    resolved = _resolver(first, second, third).resolve(KEY)
    assert resolved.schema is SCHEMA and resolved.source == "b" and not resolved.stale
    assert (len(first.asked), len(second.asked), len(third.asked)) == (1, 1, 0)


def test_a_failing_source_does_not_hide_a_later_one_that_has_it() -> None:
    resolved = _resolver(Scripted("down", Failed("down: HTTP 503")), Scripted("up", Found(SCHEMA)))
    assert resolved.resolve(KEY).source == "up"


def test_all_no_is_not_found_and_any_failure_is_unavailable() -> None:
    with pytest.raises(SchemaNotFound) as missing:
        _resolver(Scripted("a"), Scripted("b")).resolve(KEY)
    assert missing.value.reason == "a: no; b: no"
    assert missing.value.kind == "not_found"
    with pytest.raises(SchemaUnavailable) as unavailable:
        _resolver(Scripted("a"), Scripted("b", Failed("b: ConnectTimeout"))).resolve(KEY)
    assert unavailable.value.reason == "registry unavailable: b: ConnectTimeout; a: no"
    assert unavailable.value.kind == "unavailable"


def test_a_source_that_raises_is_a_failure_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        name = "broken"

        def fetch(self, key: SchemaKey) -> Lookup:
            raise RuntimeError("a bug")

    with pytest.raises(SchemaUnavailable, match="internal error"):
        _resolver(Broken()).resolve(KEY)
    assert "broken raised" in caplog.text


def test_a_hit_is_cached_for_the_ttl_then_asked_again() -> None:
    clock, source = FakeClock(), Scripted("a", Found(SCHEMA))
    resolver = _resolver(source, clock=clock, ttl=600)
    for _ in range(100):
        resolver.resolve(KEY)
    clock.advance(599)
    assert resolver.resolve(KEY, cached_only=True).schema is SCHEMA
    assert len(source.asked) == 1
    clock.advance(2)
    with pytest.raises(SchemaNotCached):
        resolver.resolve(KEY, cached_only=True)
    source.answer = Found(dict(SCHEMA))  # an equal copy: the cached object stays in use
    assert resolver.resolve(KEY).schema is SCHEMA
    assert len(source.asked) == 2


def test_a_miss_is_cached_for_miss_ttl_so_a_new_schema_is_seen_soon() -> None:
    clock, source = FakeClock(), Scripted("a")
    resolver = _resolver(source, clock=clock, miss_ttl=30)
    for _ in range(10):
        with pytest.raises(SchemaNotFound):
            resolver.resolve(KEY)
    assert len(source.asked) == 1
    source.answer = Found(SCHEMA)  # published meanwhile
    clock.advance(31)
    assert resolver.resolve(KEY).schema is SCHEMA


def test_a_failure_is_cached_briefly_so_an_outage_costs_one_attempt_per_failure_ttl() -> None:
    clock, source = FakeClock(), Scripted("a", Failed("a: HTTP 503"))
    resolver = _resolver(source, clock=clock, failure_ttl=10)
    for _ in range(1000):  # 1000 events in the same second
        with pytest.raises(SchemaUnavailable):
            resolver.resolve(KEY)
    assert len(source.asked) == 1
    clock.advance(11)
    with pytest.raises(SchemaUnavailable):
        resolver.resolve(KEY)
    assert len(source.asked) == 2
    source.answer = Found(SCHEMA)  # the registry is back
    clock.advance(11)
    assert resolver.resolve(KEY).schema is SCHEMA


def test_stale_while_error_the_last_good_copy_stays_in_use_through_an_outage() -> None:
    clock, source = FakeClock(), Scripted("a", Found(SCHEMA))
    resolver = _resolver(source, clock=clock, ttl=600, failure_ttl=10)
    resolver.resolve(KEY)
    source.answer = Failed("a: ConnectionError")
    clock.advance(601)
    stale = resolver.resolve(KEY)
    assert stale.schema is SCHEMA and stale.stale
    for _ in range(100):
        assert resolver.resolve(KEY).stale
    assert len(source.asked) == 2  # retried once per failure_ttl, not per event
    clock.advance(11)
    assert resolver.resolve(KEY).stale
    assert len(source.asked) == 3
    source.answer = Found(SCHEMA)
    clock.advance(11)
    assert not resolver.resolve(KEY).stale
    stats = resolver.stats()
    assert (stats.found, stats.unavailable, stats.stale_kept) == (2, 2, 2)


def test_a_registry_that_answers_no_after_yes_is_believed() -> None:
    clock, source = FakeClock(), Scripted("a", Found(SCHEMA))
    resolver = _resolver(source, clock=clock, ttl=1)
    resolver.resolve(KEY)
    source.answer = Missing("a: HTTP 404")
    clock.advance(2)
    with pytest.raises(SchemaNotFound):
        resolver.resolve(KEY)


def test_concurrent_look_ups_of_one_key_ask_the_sources_once() -> None:
    source = Scripted("slow", Found(SCHEMA), delay=0.2)
    resolver = Resolver([source])
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(resolver.resolve(KEY))) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(source.asked) == 1 and len(results) == 20


def test_while_one_thread_refreshes_the_others_use_the_cached_copy_without_waiting() -> None:
    clock, source = FakeClock(), Scripted("a", Found(SCHEMA))
    resolver = _resolver(source, clock=clock, ttl=1)
    resolver.resolve(KEY)
    clock.advance(2)
    source.delay = 1.0
    refresher = threading.Thread(target=resolver.resolve, args=(KEY,))
    refresher.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert resolver.resolve(KEY).schema is SCHEMA
    assert time.monotonic() - started < 0.5
    refresher.join()
    assert len(source.asked) == 2


def test_the_cache_is_bounded_against_random_schema_uris() -> None:
    resolver = _resolver(Scripted("a"), max_entries=100)
    for i in range(1000):
        with pytest.raises(SchemaNotFound):
            resolver.resolve(parse_schema_uri(f"iglu:com.evil/e{i}/jsonschema/1-0-0"))
    assert resolver.stats().entries <= 100


def test_a_real_outage_of_a_static_registry(iglu_central_folder: str) -> None:
    """Stale-while-error over HTTP: link_click keeps validating while the registry is down
    (503, then gone); a schema never fetched is unavailable, not invalid; it is back after
    failure_ttl once the registry is."""
    link_click = "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
    web_page = "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0"
    clock = FakeClock()
    with static_registry() as registry:
        settings = IgluSettings(sources=(StaticRepository(registry.url),), timeout=1)
        validator = Validator(settings.build_resolver(clock=clock))
        assert validator.check("event", link_click, {"targetUrl": "https://a.example"}) is None

        registry.down = True  # 503 to everything
        clock.advance(settings.ttl + 1)
        assert validator.check("event", link_click, {"targetUrl": "https://a.example"}) is None
        assert "/data/targetUrl: required" in (validator.check("event", link_click, {}) or "")
        with pytest.raises(SchemaUnavailable) as unavailable:
            validator.check("context[0]", web_page, {"id": "not checked"})
        assert "HTTP 503" in unavailable.value.reason
        verdict = validator.check_event(
            {"schema": link_click, "data": {"targetUrl": "x"}},
            [{"schema": web_page, "data": {"id": "x"}}],
        )
        assert verdict.failures == () and verdict.unavailable
        assert verdict.reason(strict=False) is None
        assert "registry unavailable" in (verdict.reason(strict=True) or "")
        asked = len(registry.requests)
    clock.advance(settings.failure_ttl + 1)  # the server is gone now: connection refused
    assert validator.check("event", link_click, {"targetUrl": "https://b.example"}) is None
    with pytest.raises(SchemaUnavailable, match="ConnectionError"):
        validator.check("context[0]", web_page, {"id": "x"})

    with static_registry() as registry:  # back, on a new port: a new resolver
        settings = IgluSettings(sources=(StaticRepository(registry.url),))
        validator = Validator(settings.build_resolver(clock=clock))
        assert "pattern" in (validator.check("context[0]", web_page, {"id": "x"}) or "")
    assert asked == 3  # link_click twice (found, then 503) and web_page once


def test_an_outage_is_logged_once_per_interval_whatever_schemas_clients_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Schema URIs come from clients: a thousand made-up schemas during an outage give one
    warning line per interval, counting the rest, not a thousand lines."""
    clock = FakeClock()
    resolver = _resolver(Scripted("r", Failed("r: HTTP 503")), clock=clock)
    with caplog.at_level("WARNING", logger="datacoral.schemas"):
        for i in range(1000):
            with pytest.raises(SchemaUnavailable):
                resolver.resolve(parse_schema_uri(f"iglu:com.acme/made_up_{i}/jsonschema/1-0-0"))
        assert len(caplog.records) == 1
        assert "made_up_0" in caplog.text and "sources unavailable: r: HTTP 503" in caplog.text
        clock.advance(5)
        with pytest.raises(SchemaUnavailable):
            resolver.resolve(parse_schema_uri("iglu:com.acme/later/jsonschema/1-0-0"))
    assert len(caplog.records) == 2
    assert "(999 more look-ups failed since the last such line)" in caplog.records[1].getMessage()
