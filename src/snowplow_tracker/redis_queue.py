"""A Redis list between the tracking process and the sender (``redis`` extra).

:class:`RedisEmitter` pushes each event onto a Redis list and returns; a
:class:`RedisWorker`, usually in another process, moves them to the endpoint
with the same batching, retry and reporting as every emitter. The worker uses a
reliable-queue pattern: a batch is moved atomically into the worker's own
processing list and removed from it only after a 2xx (or a permanent refusal),
and a worker that starts again first puts back what it held when it died. A
worker killed mid-batch therefore loses nothing; the endpoint's de-duplication
by event id absorbs the rare resend. Give each concurrent worker its own
``name``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from snowplow_tracker.base_emitter import stringify
from snowplow_tracker.delivery import Delivery, RoundOutcome
from snowplow_tracker.json_text import dumps
from snowplow_tracker.reports import Counters
from snowplow_tracker.typing import DropCallback, PayloadDict, PayloadDictList

if TYPE_CHECKING:
    import redis

    from snowplow_tracker.emitters import Emitter

logger = logging.getLogger("snowplow_tracker")

_CLAIM = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local value = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not value then break end
  out[#out + 1] = value
end
return out
"""
_GIVE_BACK = """
for i = #ARGV, 1, -1 do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
  redis.call('LPUSH', KEYS[1], ARGV[i])
end
return #ARGV
"""
_RECOVER = """
local n = 0
while redis.call('RPOPLPUSH', KEYS[2], KEYS[1]) do n = n + 1 end
return n
"""


def _client(rdb: redis.Redis | None) -> redis.Redis:
    if rdb is not None:
        return rdb
    import redis as redis_module

    return redis_module.Redis()


class RedisEmitter:
    """Queues events on the Redis list ``key``; a :class:`RedisWorker` sends them.

    ``input()`` never raises: if Redis cannot take the event, it is reported
    through ``on_drop("redis_unavailable", [event])`` and ``stats``.
    """

    def __init__(
        self,
        rdb: redis.Redis | None = None,
        key: str = "snowplow",
        *,
        on_drop: DropCallback | None = None,
    ) -> None:
        self.rdb = _client(rdb)
        self.key = key
        self.counters = Counters(on_drop=on_drop)
        self.queued = 0

    def input(self, payload: PayloadDict) -> bool:
        event = stringify(payload)
        try:
            self.rdb.rpush(self.key, dumps(event))
        except Exception as exc:
            self.counters.drop("redis_unavailable", [event], f"{type(exc).__name__}: {exc}")
            return False
        self.queued += 1
        return True

    def flush(self) -> None:
        """Nothing to do: events are on Redis as soon as ``input`` returns."""

    def sync_flush(self) -> None:
        """Nothing to do: events are on Redis as soon as ``input`` returns."""

    def async_flush(self) -> None:
        """Nothing to do: events are on Redis as soon as ``input`` returns."""


class RedisEventStore:
    """The EventStore protocol over a Redis list and this worker's processing list."""

    supports_batch_limit = True

    def __init__(self, rdb: redis.Redis, key: str, name: str) -> None:
        self.rdb = rdb
        self.key = key
        self.processing_key = f"{key}:processing:{name}"
        self._claim = rdb.register_script(_CLAIM)
        self._give_back = rdb.register_script(_GIVE_BACK)
        self._recover = rdb.register_script(_RECOVER)
        self._raw: dict[int, bytes] = {}

    def recover(self) -> int:
        """Put back what this worker held when it last stopped; returns how many."""
        return int(self._recover(keys=[self.key, self.processing_key]))

    def add_event(self, payload: PayloadDict) -> bool:
        self.rdb.rpush(self.key, dumps(payload))
        return True

    def get_events_batch(self, max_events: int | None = None) -> PayloadDictList:
        raw_values = self._claim(keys=[self.key, self.processing_key], args=[max_events or 1000])
        batch: PayloadDictList = []
        for raw in raw_values:
            try:
                event: dict[str, Any] = json.loads(raw)
            except ValueError:
                logger.error("dropping a non-JSON entry from Redis list %s", self.key)
                self.rdb.lrem(self.processing_key, 1, raw)
                continue
            self._raw[id(event)] = raw
            batch.append(event)
        return batch

    def cleanup(self, batch: PayloadDictList, need_retry: bool) -> None:
        raws = [self._raw.pop(id(event)) for event in batch if id(event) in self._raw]
        if not raws:
            return
        if need_retry:
            self._give_back(keys=[self.key, self.processing_key], args=raws)
            return
        pipe = self.rdb.pipeline()
        for raw in raws:
            pipe.lrem(self.processing_key, 1, raw)  # type: ignore[arg-type]
        pipe.execute()

    def size(self) -> int:
        return int(self.rdb.llen(self.key))

    def reset_after_fork(self) -> None:
        self._raw = {}


class RedisWorker:
    """Moves events from the Redis list ``key`` to the endpoint of ``emitter``.

    ``emitter`` (an :class:`~snowplow_tracker.Emitter`) supplies the endpoint,
    headers, key, batch size, timeouts, retry policy and callbacks; its own queue
    is not used. ``run()`` loops until :meth:`stop` is called.
    """

    def __init__(
        self,
        emitter: Emitter,
        rdb: redis.Redis | None = None,
        key: str = "snowplow",
        *,
        name: str | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.rdb = _client(rdb)
        self.name = name or socket.gethostname()
        self.store = RedisEventStore(self.rdb, key, self.name)
        self.counters: Counters = emitter.counters
        self.delivery = Delivery(
            sender=emitter,
            store=self.store,
            method=emitter.method,
            limits=emitter.delivery.limits,
            policy=emitter.retry_policy,
            counters=emitter.counters,
            max_event_age=emitter.max_event_age,
        )
        self.poll_interval = poll_interval
        self._stop = threading.Event()

    def run_once(self) -> RoundOutcome:
        """Send one claim of events; for tests and custom loops."""
        return self.delivery.send_round()

    def run(self) -> None:
        """Recover this worker's unfinished batch, then send until :meth:`stop`."""
        recovered = self.store.recover()
        if recovered:
            logger.info("worker %s put back %d unfinished event(s)", self.name, recovered)
        while not self._stop.is_set():
            try:
                outcome = self.delivery.send_round()
            except Exception as exc:  # Redis down, or a bug: wait and go on
                logger.error("redis worker %s: %r", self.name, exc)
                self._stop.wait(1.0)
                continue
            if outcome is RoundOutcome.BACKOFF:
                self._stop.wait(max(self.delivery.backoff_remaining(), 0.01))
            elif outcome is RoundOutcome.EMPTY:
                self._stop.wait(self.poll_interval)

    def stop(self) -> None:
        """Ask ``run()`` to return after the batch in hand."""
        self._stop.set()

    def wait_until_empty(self, timeout: float) -> bool:
        """True once the list and this worker's processing list are empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.store.size() == 0 and self.rdb.llen(self.store.processing_key) == 0:
                return True
            time.sleep(0.05)
        return False
