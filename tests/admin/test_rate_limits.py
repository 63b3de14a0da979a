"""Rate limits: how ``--rate-limit`` and ``--burst`` are read, and the token bucket's
arithmetic under a clock the test moves (datacoral/admin/rate_limits.py,
datacoral/collector/rate_limits.py)."""

from __future__ import annotations

import pytest

from datacoral.admin.rate_limits import (
    RateLimit,
    describe,
    from_columns,
    limit_json,
    parse_burst,
    parse_rate_limit,
    to_columns,
    with_burst,
)
from datacoral.collector.errors import RateLimited
from datacoral.collector.rate_limits import RateLimiter
from datacoral.storage.base import KeyRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "burst", "expected"),
    [
        ("1000/s", None, RateLimit(1000, 1, 1000)),
        ("1000/s", "5000", RateLimit(1000, 1, 5000)),
        ("600/min", None, RateLimit(600, 60, 600)),
        (" 5/min ", 1, RateLimit(5, 60, 1)),
        ("none", None, None),
        ("NONE", None, None),
    ],
)
def test_parse(rate: str, burst: str | int | None, expected: RateLimit | None) -> None:
    assert parse_rate_limit(rate, burst) == expected


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [
        ("1000", None, "invalid --rate-limit '1000': use N/s or N/min"),
        ("1000/h", None, "invalid --rate-limit '1000/h': use N/s or N/min"),
        ("1.5/s", None, "invalid --rate-limit '1.5/s'"),
        ("-1/s", None, "invalid --rate-limit '-1/s'"),
        ("0/s", None, "invalid --rate-limit '0/s': use 1 to 1,000,000,000 events"),
        ("2000000000/s", None, "invalid --rate-limit '2000000000/s'"),
        ("", None, "invalid --rate-limit ''"),
        ("10/s", "0", "invalid --burst 0"),
        ("10/s", "ten", "invalid --burst 'ten': use a whole number of events"),
        ("10/s", "-5", "invalid --burst '-5'"),
        ("none", "5", "--burst needs a rate limit"),
    ],
)
def test_parse_errors_name_the_option(rate: str, burst: str | None, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_rate_limit(rate, burst)
    assert str(raised.value).startswith(message)


def test_forms_and_columns() -> None:
    limit = RateLimit(600, 60, 50)
    assert (limit.rate, str(limit), limit.per_second) == ("600/min", "600/min burst 50", 10.0)
    assert describe(limit) == "600/min burst 50" and describe(None) == "none"
    assert limit_json(limit) == {"rate": "600/min", "burst": 50} and limit_json(None) is None
    assert from_columns(*to_columns(limit)) == limit
    assert to_columns(None) == (None, None, None) and from_columns(None, None, None) is None
    assert with_burst(limit, "7", "key k") == RateLimit(600, 60, 7)
    with pytest.raises(ValueError, match="environment 'dev' has no rate limit"):
        with_burst(None, "7", "environment 'dev'")
    assert parse_burst(" 12 ") == 12
    with pytest.raises(ValueError, match="period"):
        RateLimit(10, 3600, 10)


def _key(limit: RateLimit | None, key_id: str = "key_a") -> KeyRecord:
    return KeyRecord(key_id=key_id, environment="dev", revoked=False, rate_limit=limit)


def test_bucket_refuses_past_the_burst_and_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    key = _key(RateLimit(10, 1, 20))
    limiter.admit("dev", None, key, 15)
    limiter.admit("dev", None, key, 5)
    with pytest.raises(RateLimited) as refused:
        limiter.admit("dev", None, key, 3)
    # 3 tokens at 10 a second: 0.3 s, rounded up to Retry-After's whole seconds.
    assert (refused.value.status, refused.value.retry_after) == (429, 1)
    assert (refused.value.limit, refused.value.events) == ("key", 3)
    assert "the API key may send 10/s with bursts of up to 20 events" in refused.value.reason
    clock.now += 0.3
    limiter.admit("dev", None, key, 3)  # refilled exactly enough
    clock.now += 100
    limiter.admit("dev", None, key, 20)  # never more than the burst
    with pytest.raises(RateLimited):
        limiter.admit("dev", None, key, 1)


def test_a_batch_larger_than_the_burst_goes_from_a_full_bucket_into_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    key = _key(RateLimit(60, 60, 10))  # one a second
    limiter.admit("dev", None, key, 25)  # full bucket: admitted, 15 in debt
    with pytest.raises(RateLimited) as refused:
        limiter.admit("dev", None, key, 1)
    assert refused.value.retry_after == 16  # from -15 back to 1 token at 1/s
    clock.now += 16
    limiter.admit("dev", None, key, 1)


def test_key_and_environment_buckets_are_separate_and_a_refusal_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    environment = RateLimit(10, 60, 10)
    small, free = _key(RateLimit(3, 60, 3), "key_small"), _key(None, "key_free")
    limiter.admit("dev", environment, small, 3)
    with pytest.raises(RateLimited) as by_key:
        limiter.admit("dev", environment, small, 1)
    assert by_key.value.limit == "key"
    limiter.admit("dev", environment, free, 7)  # the key's refusal took nothing from dev
    with pytest.raises(RateLimited) as by_environment:
        limiter.admit("dev", environment, free, 1)
    assert by_environment.value.limit == "environment"
    assert "environment 'dev' may send 10/min" in by_environment.value.reason
    limiter.admit("stage", None, _key(None, "key_stage"), 1000)  # another environment


def test_changed_and_removed_limits_are_followed() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limiter.admit("dev", RateLimit(5, 60, 5), None, 5)
    with pytest.raises(RateLimited):
        limiter.admit("dev", RateLimit(5, 60, 5), None, 1)
    limiter.admit("dev", None, None, 1000)  # removed: no bucket
    limiter.admit("dev", RateLimit(5, 60, 5), None, 5)  # set again: a new, full bucket
    # A raised limit keeps what was earned (nothing here) and refills at the new rate.
    with pytest.raises(RateLimited) as refused:
        limiter.admit("dev", RateLimit(600, 60, 50), None, 1)
    assert refused.value.retry_after == 1
    clock.now += 1
    limiter.admit("dev", RateLimit(600, 60, 50), None, 10)


def test_each_of_n_processes_enforces_its_share() -> None:
    clock = Clock()
    limiter = RateLimiter(processes=4, clock=clock)
    key = _key(RateLimit(40, 60, 40))  # 10 a minute, burst 10, in this process
    for _ in range(10):
        limiter.admit("dev", None, key, 1)
    with pytest.raises(RateLimited) as refused:
        limiter.admit("dev", None, key, 1)
    assert refused.value.retry_after == 6
    assert "shared by 4 workers" in refused.value.reason
    with pytest.raises(ValueError):
        RateLimiter(processes=0)
