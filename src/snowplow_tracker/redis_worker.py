"""Where the 0.x tracker had ``RedisWorker``: ``from snowplow_tracker.redis_worker import
RedisWorker`` keeps working (it needs the ``redis`` extra).

``RedisWorker(emitter, rdb=None, key="snowplow")`` moves events that ``RedisEmitter``
put on a Redis list to the endpoint of ``emitter``; see :mod:`snowplow_tracker.redis_queue`.
"""

from __future__ import annotations

from snowplow_tracker.redis_queue import RedisEmitter, RedisWorker

__all__ = ["RedisEmitter", "RedisWorker"]
