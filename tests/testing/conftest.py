"""The plugin's own tests use its fixtures as a user's tests do.

pytest loads the plugin through the ``pytest11`` entry point of an install made from
this pyproject (``scripts/test`` reinstalls). A virtual environment installed before the
entry point existed lacks it: the plugin is then loaded here, so these tests still run.
"""

from __future__ import annotations

import pytest

from tests.testing.user_project import plugin_installed


def pytest_configure(config: pytest.Config) -> None:
    if not plugin_installed() and not config.pluginmanager.has_plugin("datacoral.testing.plugin"):
        config.pluginmanager.import_plugin("datacoral.testing.plugin")
