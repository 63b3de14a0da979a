"""snowplow_tracker: Snowplow-protocol event tracking, drop-in for upstream snowplow-tracker 1.x.

Also accepts the older Datacoral-style call::

    Tracker(emitter, datacoral_env="dev", api_key=["..."], namespace="ns", app_id="app")

The library configures no logging: its logger ``snowplow_tracker`` has a
NullHandler only.
"""

import logging

from snowplow_tracker._version import __version__
from snowplow_tracker.contracts import disable_contracts, enable_contracts
from snowplow_tracker.emitter_configuration import EmitterConfiguration
from snowplow_tracker.emitters import AsyncEmitter, AsyncioEmitter, Emitter
from snowplow_tracker.event_store import EventStore, InMemoryEventStore
from snowplow_tracker.events import (
    Event,
    PagePing,
    PageView,
    ScreenView,
    SelfDescribing,
    StructuredEvent,
)
from snowplow_tracker.payload import Payload
from snowplow_tracker.reports import DeliveryReport, EmitterStats
from snowplow_tracker.self_describing_json import SelfDescribingJson
from snowplow_tracker.snowplow import Snowplow
from snowplow_tracker.subject import Subject
from snowplow_tracker.tracker import Tracker
from snowplow_tracker.tracker_configuration import TrackerConfiguration

logger = logging.getLogger("snowplow_tracker")
logger.addHandler(logging.NullHandler())

# Imported on first use, so that ``import snowplow_tracker`` loads no sqlite3 or redis.
_LAZY = {
    "SQLiteEventStore": "snowplow_tracker.sqlite_event_store",
    "RedisEmitter": "snowplow_tracker.redis_queue",
    "RedisEventStore": "snowplow_tracker.redis_queue",
    "RedisWorker": "snowplow_tracker.redis_queue",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snowplow_tracker' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AsyncEmitter",
    "AsyncioEmitter",
    "DeliveryReport",
    "Emitter",
    "EmitterConfiguration",
    "EmitterStats",
    "Event",
    "EventStore",
    "InMemoryEventStore",
    "PagePing",
    "PageView",
    "Payload",
    "ScreenView",
    "SelfDescribing",
    "SelfDescribingJson",
    "Snowplow",
    "StructuredEvent",
    "Subject",
    "Tracker",
    "TrackerConfiguration",
    "__version__",
    "disable_contracts",
    "enable_contracts",
    "logger",
]
