"""Fixtures of the browser tests: Chromium, the Node tools, the page site, endpoints.

The tests need Node.js, the npm packages of tests/browser/package.json, the
tracker bundle and Debian's /usr/bin/chromium; ``./scripts/browser-deps``
installs them (``scripts/test`` runs it). When something is missing the tests
skip with the reason, or fail under DATACORAL_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.browser.support import (
    INSTALL_HINT,
    Browser,
    Collector,
    StartCollector,
    StaticSite,
    collector,
    missing_browser_tools,
    missing_node_tools,
)
from tests.support.services import require


@pytest.fixture(scope="session")
def browser_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """The session's driver (started on first use, ended at the end of the session)."""
    driver = Browser(tmp_path_factory.mktemp("driver") / "stderr.log")
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture
def browser(browser_session: Browser) -> Browser:
    """Chromium through driver.mjs; skips (or fails in CI) when something is not installed."""
    missing = missing_browser_tools()
    require(not missing, f"browser tests need: {'; '.join(missing)} ({INSTALL_HINT})")
    return browser_session


@pytest.fixture
def node_tools() -> None:
    """Skip (or fail in CI) unless Node and the npm packages are installed."""
    missing = missing_node_tools()
    require(not missing, f"Node tracker tests need: {'; '.join(missing)} ({INSTALL_HINT})")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticSite]:
    """The pages' origin for the whole session: http://127.0.0.1:PORT_A."""
    served = StaticSite(tmp_path_factory.mktemp("site"))
    try:
        yield served
    finally:
        served.close()


@pytest.fixture
def start_collector(tmp_path: Path) -> Iterator[StartCollector]:
    """Start a fresh endpoint: ``start_collector(origins={"dev": [origin]})``."""
    with ExitStack() as stack:

        def start(origins: Mapping[str, Sequence[str]] | None = None) -> Collector:
            db = tmp_path / "events.sqlite"
            assert not db.exists(), "one endpoint per test"
            return stack.enter_context(collector(db, origins or {}))

        yield start
