"""The pytest plugin, registered as ``datacoral`` through the ``pytest11`` entry point.

One endpoint per test session (per pytest-xdist worker: each has its own, over its own
file), emptied before every test that asks for ``datacoral_endpoint``. This module imports
nothing but pytest: the endpoint (uvicorn, the collector) is loaded by the first fixture
used, and a run that uses none starts nothing.

Settings, in ``pytest.ini`` / ``[tool.pytest.ini_options]``:

- ``datacoral_iglu``: Iglu sources to validate self-describing events and contexts
  against, one per line: a folder in the static Iglu layout (relative to the ini file)
  or a registry URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from datacoral.testing.endpoint import Endpoint
    from snowplow_tracker import Emitter, Tracker

_NEEDS_EXTRA = (
    "the datacoral fixtures need the endpoint's dependencies:"
    " pip install 'datacoral-tracker-py[testing]'"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "datacoral_iglu",
        "Iglu sources for the datacoral endpoint fixture: folders (relative to the ini"
        " file) or registry URLs, one per line",
        type="linelist",
        default=[],
    )


def _iglu_sources(config: pytest.Config) -> list[str]:
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    values: list[str] = config.getini("datacoral_iglu")
    return [value if "://" in value else str(base / value) for value in values]


@pytest.fixture(scope="session")
def datacoral_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Endpoint]:
    """The session's endpoint, never emptied by the plugin: for session-scoped fixtures
    of your own. Tests want ``datacoral_endpoint``."""
    try:
        from datacoral.testing.endpoint import start_endpoint
    except ImportError as exc:
        pytest.fail(f"{_NEEDS_EXTRA} ({exc})", pytrace=False)
    directory: Path = tmp_path_factory.mktemp("datacoral")
    with start_endpoint(directory, iglu=_iglu_sources(pytestconfig)) as endpoint:
        yield endpoint


@pytest.fixture
def datacoral_endpoint(datacoral_server: Endpoint) -> Iterator[Endpoint]:
    """A real Events endpoint on 127.0.0.1, with no events in any environment, no
    origins and validation modes left over from other tests, and a key per environment."""
    datacoral_server.begin_test()
    yield datacoral_server
    datacoral_server.close_clients()


@pytest.fixture
def datacoral_emitter(datacoral_endpoint: Endpoint) -> Emitter:
    """An ``Emitter`` sending to the endpoint's ``dev`` environment, one event per request:
    an event is stored when ``track()`` returns."""
    return datacoral_endpoint.emitter()


@pytest.fixture
def datacoral_tracker(datacoral_emitter: Emitter) -> Tracker:
    """A ``Tracker`` (namespace and app id ``pytest``) over ``datacoral_emitter``."""
    from snowplow_tracker import Tracker

    return Tracker("pytest", datacoral_emitter, app_id="pytest")
