"""The pytest plugin, registered as ``datacoral`` through the ``pytest11`` entry point.

One endpoint per test session (per pytest-xdist worker: each has its own, over its own
file), emptied before every test that asks for ``datacoral_endpoint``. This module imports
nothing but pytest: the endpoint (uvicorn, the collector) is loaded by the first fixture
used, and a run that uses none starts nothing.

Settings, in ``pytest.ini`` / ``[tool.pytest.ini_options]`` (or ``-o NAME=VALUE``):

- ``datacoral_iglu``: Iglu sources to validate self-describing events and contexts
  against, one per line: a folder in the static Iglu layout (relative to the ini file)
  or a registry URL;
- ``datacoral_validation``: what every environment does with those schemas: ``strict``
  (an event whose schema is missing is a bad row too), ``lenient`` (the default) or
  ``off``. A test changes it for itself with ``datacoral_endpoint.set_validation()``.
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
    parser.addini(
        "datacoral_validation",
        "What the datacoral endpoint fixture's environments do with Iglu schemas:"
        " strict, lenient (the default) or off",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Checked here so that a typo stops the run at once, not in the first test using it.
    for source in _iglu_sources(config):
        if "://" not in source and not Path(source).is_dir():
            raise pytest.UsageError(f"datacoral_iglu: no such folder: {source}")
    mode = _validation_mode(config)
    if mode is not None:
        from datacoral.admin.environments import parse_validation_mode

        try:
            parse_validation_mode(mode)
        except ValueError as exc:
            raise pytest.UsageError(f"datacoral_validation: {exc}") from None


def _iglu_sources(config: pytest.Config) -> list[str]:
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    values: list[str] = config.getini("datacoral_iglu")
    return [value if "://" in value else str(base / Path(value).expanduser()) for value in values]


def _validation_mode(config: pytest.Config) -> str | None:
    value = str(config.getini("datacoral_validation")).strip()
    return value or None


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
    try:
        endpoint = start_endpoint(
            directory,
            iglu=_iglu_sources(pytestconfig),
            validation=_validation_mode(pytestconfig),
        )
    except ValueError as exc:  # a datacoral_iglu value that names no folder, ...
        pytest.fail(f"the datacoral endpoint fixture: {exc}", pytrace=False)
    with endpoint:
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
