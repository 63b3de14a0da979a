"""The ``Snowplow`` facade: create trackers by namespace and find them again.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from snowplow_tracker.emitter_configuration import EmitterConfiguration
from snowplow_tracker.emitters import Emitter
from snowplow_tracker.subject import Subject
from snowplow_tracker.tracker import Tracker
from snowplow_tracker.tracker_configuration import TrackerConfiguration
from snowplow_tracker.typing import Method as Method

#: The package's logger (upstream's ``snowplow.logger``); it has a NullHandler only.
logger = logging.getLogger("snowplow_tracker")


class Snowplow:
    """A process-wide registry of trackers, keyed by namespace (thread-safe)."""

    _trackers: ClassVar[dict[str, Tracker]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @staticmethod
    def create_tracker(
        namespace: str,
        endpoint: str,
        method: str = "post",
        app_id: str | None = None,
        subject: Subject | None = None,
        tracker_config: TrackerConfiguration | None = None,
        emitter_config: EmitterConfiguration | None = None,
    ) -> Tracker:
        """Make a tracker with a sync Emitter for ``endpoint`` and register it."""
        if endpoint is None:
            raise TypeError("create_tracker needs an endpoint")
        tracker_config = tracker_config or TrackerConfiguration()
        emitter_config = emitter_config or EmitterConfiguration()
        emitter = Emitter(endpoint, method=method, **emitter_config.emitter_kwargs())
        tracker = Tracker(
            namespace,
            emitter,
            subject=subject,
            app_id=app_id,
            encode_base64=tracker_config.encode_base64,
            json_encoder=tracker_config.json_encoder,
        )
        return Snowplow.add_tracker(tracker)

    @classmethod
    def add_tracker(cls, tracker: Tracker) -> Tracker:
        """Register ``tracker``; TypeError if its namespace is taken."""
        namespace = tracker.get_namespace()
        if namespace is None:
            raise TypeError("only trackers with a namespace can be registered")
        with cls._lock:
            if namespace in cls._trackers:
                raise TypeError(f"a tracker with namespace {namespace!r} already exists")
            cls._trackers[namespace] = tracker
        return tracker

    @classmethod
    def remove_tracker(cls, tracker: Tracker) -> None:
        namespace = tracker.get_namespace()
        if namespace is not None:
            cls.remove_tracker_by_namespace(namespace)

    @classmethod
    def remove_tracker_by_namespace(cls, namespace: str) -> None:
        with cls._lock:
            if cls._trackers.pop(namespace, None) is None:
                raise TypeError(f"no tracker with namespace {namespace!r}")

    @classmethod
    def reset(cls) -> None:
        """Forget every registered tracker."""
        with cls._lock:
            cls._trackers = {}

    @classmethod
    def get_tracker(cls, namespace: str) -> Tracker | None:
        with cls._lock:
            return cls._trackers.get(namespace)
