"""Rate limits at the endpoint: a token bucket per limited API key and per environment.

Every tracking request is checked once its events are counted and before anything of
it is validated or stored: it needs room in its key's bucket and in its environment's
bucket, and takes its events from both, or from neither and is refused with 429,
``Retry-After`` saying when both will have room (:class:`~.errors.RateLimited`).

Events are counted, not requests: what a request costs the store is its events, and
trackers choose their batch size (1 to 500), so a limit on requests would let one
tracker send a hundred times what another may. A request of more events than the burst
goes when the bucket is full and leaves it in debt, paid back at the limit's rate; it
is never refused for ever, and the long-run rate holds all the same.

The check is a dictionary look-up and some arithmetic on the event loop's thread (no
lock, no storage call): limits come with the key's record and the environments, which
are cached and reloaded (auth.py, environments.py), so a change reaches a running
server within a second. A bucket exists only for a key or environment that has a
limit, and starts full. ``serve --workers N``: each worker keeps its own buckets, so
each enforces 1/N of the rate and burst (connections, not events, are what the workers
share out); the endpoint as a whole then allows the limit, give or take how evenly the
connections fall.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from datacoral.admin.rate_limits import RateLimit
from datacoral.collector.errors import RateLimited
from datacoral.storage.base import KeyRecord

#: Room to spare for the rounding of float arithmetic: a bucket refilled for exactly the
#: time it needed is not refused for a billionth of a token.
_ROUNDING = 1e-9


class TokenBucket:
    """At most ``burst`` tokens, refilled at ``rate`` per second from the moment given;
    a request takes one token per event. ``limit`` is the limit it was made for."""

    __slots__ = ("burst", "limit", "rate", "tokens", "updated")

    def __init__(
        self, rate: float, burst: float, now: float, limit: RateLimit | None = None
    ) -> None:
        self.limit = limit
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last refill, up to the burst."""
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, events: int, now: float) -> float:
        """Seconds until ``events`` may be taken (0: now). More events than the burst may
        be taken from a full bucket."""
        self.refill(now)
        needed = min(float(events), self.burst)
        missing = needed - self.tokens
        return 0.0 if missing <= _ROUNDING else missing / self.rate

    def take(self, events: int) -> None:
        """Take ``events`` tokens, going into debt if there are fewer."""
        self.tokens -= events

    def change(self, rate: float, burst: float, now: float, limit: RateLimit | None = None) -> None:
        """Follow a changed limit: what was earned so far is kept, up to the new burst."""
        self.refill(now)
        self.limit, self.rate, self.burst = limit, rate, burst
        self.tokens = min(self.tokens, burst)


class RateLimiter:
    """The buckets of one process. ``processes`` (``serve --workers N``) divides every
    limit: each process enforces its share."""

    def __init__(self, *, processes: int = 1, clock: Callable[[], float] = time.monotonic):
        if processes < 1:
            raise ValueError(f"processes must be 1 or more, got {processes}")
        self._processes = processes
        self._clock = clock
        self._keys: dict[str, TokenBucket] = {}
        self._environments: dict[str, TokenBucket] = {}

    def admit(
        self,
        environment: str,
        environment_limit: RateLimit | None,
        key: KeyRecord | None,
        events: int,
    ) -> None:
        """Take ``events`` from the key's and the environment's buckets, or raise
        :class:`RateLimited` (taking nothing) when either has no room for them."""
        key_limit = None if key is None else key.rate_limit
        if key_limit is None and environment_limit is None:
            if self._keys or self._environments:
                self._forget(environment, key)
            return
        now = self._clock()
        key_bucket = None
        if key is not None:
            key_bucket = self._bucket(self._keys, key.key_id, key_limit, now)
        environment_bucket = self._bucket(self._environments, environment, environment_limit, now)
        key_wait = 0.0 if key_bucket is None else key_bucket.wait(events, now)
        environment_wait = (
            0.0 if environment_bucket is None else environment_bucket.wait(events, now)
        )
        if key_wait > 0 or environment_wait > 0:
            if key_wait >= environment_wait:
                assert key_limit is not None
                raise self._refusal(environment, "key", key_limit, key_wait, events)
            assert environment_limit is not None
            raise self._refusal(
                environment, "environment", environment_limit, environment_wait, events
            )
        if key_bucket is not None:
            key_bucket.take(events)
        if environment_bucket is not None:
            environment_bucket.take(events)

    def _bucket(
        self, buckets: dict[str, TokenBucket], name: str, limit: RateLimit | None, now: float
    ) -> TokenBucket | None:
        """The bucket of ``name`` under ``limit``: made full when new, changed when the
        limit was, dropped when the limit was removed."""
        if limit is None:
            buckets.pop(name, None)
            return None
        bucket = buckets.get(name)
        if bucket is not None and (bucket.limit is limit or bucket.limit == limit):
            return bucket  # the usual case: the same record, reloaded or not
        rate = limit.per_second / self._processes
        burst = limit.burst / self._processes
        if bucket is None:
            bucket = buckets[name] = TokenBucket(rate, burst, now, limit)
        else:
            bucket.change(rate, burst, now, limit)
        return bucket

    def _forget(self, environment: str, key: KeyRecord | None) -> None:
        """Drop the buckets of limits that were removed."""
        self._environments.pop(environment, None)
        if key is not None:
            self._keys.pop(key.key_id, None)

    def _refusal(
        self, environment: str, limit: str, rate_limit: RateLimit, wait: float, events: int
    ) -> RateLimited:
        # Retry-After is whole seconds (RFC 9110); rounding up, the room is there then.
        retry_after = max(1, math.ceil(wait))
        owner = "the API key" if limit == "key" else f"environment {environment!r}"
        shared = f", shared by {self._processes} workers" if self._processes > 1 else ""
        return RateLimited(
            f"rate limit: {owner} may send {rate_limit.rate} with bursts of up to"
            f" {rate_limit.burst} events{shared}; no room now for {events} event(s),"
            f" retry after {retry_after} s",
            retry_after=retry_after,
            environment=environment,
            limit=limit,
            events=events,
        )
