"""``datacoral.testing``: a real Events endpoint for your tests, inside the test process.

With the ``testing`` extra (``pip install 'datacoral-tracker-py[testing]'``) pytest loads
:mod:`datacoral.testing.plugin` by itself (the ``pytest11`` entry point ``datacoral``),
which offers these fixtures:

- ``datacoral_endpoint``: an :class:`Endpoint` whose environments are emptied before the
  test: ``url``, ``host``, ``port``, ``env``, ``keys``, ``key``; ``good_events()``,
  ``bad_rows()``, ``wait_for_events()``, ``reset()``, ``allow_origin()``,
  ``set_validation()``, ...
- ``datacoral_tracker`` and ``datacoral_emitter``: a tracker and its emitter sending to
  the ``dev`` environment of that endpoint, one event per request;
- ``datacoral_server``: the same endpoint, session-scoped and never emptied by the
  plugin, for session-scoped fixtures of your own.

The ini settings ``datacoral_iglu`` (your schema folders or registries) and
``datacoral_validation`` (``strict``, ``lenient``, ``off``) configure its schema
validation; :mod:`datacoral.testing.plugin` describes them.

Without pytest, :func:`start_endpoint` starts one. Errors::

    EndpointNotStarted (a RuntimeError)   the endpoint could not start; the message says why
    EventsNotFound (an AssertionError)    a wait_for_* deadline passed; says what came instead

The names below are imported on first use, so that loading the plugin costs a test run
nothing until a fixture is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datacoral.testing.endpoint import Endpoint, start_endpoint
    from datacoral.testing.inspection import EventsNotFound
    from datacoral.testing.records import EVENT_TYPES
    from datacoral.testing.server import EndpointNotStarted, Refusal

_LAZY = {
    "Endpoint": "datacoral.testing.endpoint",
    "EventsNotFound": "datacoral.testing.inspection",
    "start_endpoint": "datacoral.testing.endpoint",
    "EVENT_TYPES": "datacoral.testing.records",
    "EndpointNotStarted": "datacoral.testing.server",
    "Refusal": "datacoral.testing.server",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'datacoral.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "EVENT_TYPES",
    "Endpoint",
    "EndpointNotStarted",
    "EventsNotFound",
    "Refusal",
    "start_endpoint",
]
