"""What the ``test_upstream_compat_*`` files share: constants, callbacks, an emitter.

Those files pass against this package and against upstream snowplow-tracker 1.1.0
installed on its own (run with ``--noconftest``), so this module imports only
``snowplow_tracker``'s public names, the standard library and test libraries: never this
package's internals, nor a conftest.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import snowplow_tracker
from snowplow_tracker import Emitter

OURS = hasattr(snowplow_tracker, "DeliveryReport")

POST_URL = "https://collector.test/com.snowplowanalytics.snowplow/tp2"
GET_URL = "https://collector.test/i"
POST_CONTENT_TYPE = "application/json; charset=utf-8"
PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
THING_SCHEMA = "iglu:com.example/thing/jsonschema/1-0-0"
USER_SCHEMA = "iglu:com.example/user/jsonschema/1-0-0"
TRACKER_VERSION = "py-" + snowplow_tracker.__version__

FROZEN_AT = "2024-01-02 03:04:05.500"
FROZEN_MS = 1704164645500
# Documented difference: our stm keeps the milliseconds, upstream's is whole seconds * 1000.
FROZEN_STM = "1704164645500" if OURS else "1704164645000"
WAIT_SECONDS = 10.0


@contextmanager
def quiet() -> Iterator[None]:
    """Upstream's track_* methods warn that they are deprecated; ours do not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class Callbacks:
    """on_success / on_failure that keep copies of what they were given, in order.

    Copies, because upstream hands over the very dicts it later retries (and stamps
    with a new stm). A test can wait for a call with a deadline.
    """

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._changed = threading.Condition()

    def on_success(self, *args: Any, **kwargs: Any) -> None:
        with self._changed:
            self.log.append(("success", copy.deepcopy(args), dict(kwargs)))
            self._changed.notify_all()

    def on_failure(self, *args: Any, **kwargs: Any) -> None:
        with self._changed:
            self.log.append(("failure", copy.deepcopy(args), dict(kwargs)))
            self._changed.notify_all()

    @property
    def successes(self) -> list[list[dict[str, Any]]]:
        return [args[0] for kind, args, _ in self.log if kind == "success"]

    @property
    def failures(self) -> list[tuple[int, list[dict[str, Any]]]]:
        return [(args[0], args[1]) for kind, args, _ in self.log if kind == "failure"]

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.log]

    def all_positional(self) -> bool:
        expected = {"success": 1, "failure": 2}
        return all(len(args) == expected[kind] and not kw for kind, args, kw in self.log)

    def succeeded_ids(self) -> set[str]:
        return {event["eid"] for batch in self.successes for event in batch}

    def wait_for_success_of(self, ids: set[str]) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: ids <= self.succeeded_ids(), WAIT_SECONDS)


def new_emitter(
    callbacks: Callbacks, emitter_class: type[Emitter] = Emitter, **options: Any
) -> Any:
    """An emitter for collector.test reporting to ``callbacks`` (``options`` may override)."""
    reporting = {"on_success": callbacks.on_success, "on_failure": callbacks.on_failure}
    return emitter_class("collector.test", **{**reporting, **options})


def settle(emitter: Any) -> None:
    """Ours only: deliver or give up what is still queued while the mocks (or server) last."""
    if OURS:
        emitter.close(timeout=2.0)


def decode_b64(value: str) -> Any:
    """The JSON in a URL-safe base64 field (``ue_px``, ``cx``), read as strict UTF-8."""
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8"))
