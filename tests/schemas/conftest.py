"""Fixtures of the schema tests: the Iglu Central copy, served on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.schemas.registries import IGLU_CENTRAL, LoopbackServer, static_registry
from tests.support.services import require


@pytest.fixture(scope="session")
def iglu_central_folder() -> str:
    """The path of ``shared/iglu-central`` (skips, or fails in CI, when it is absent)."""
    require((IGLU_CENTRAL / "schemas").is_dir(), f"{IGLU_CENTRAL} is missing")
    return str(IGLU_CENTRAL)


@pytest.fixture(scope="session")
def iglu_central(iglu_central_folder: str) -> Iterator[LoopbackServer]:
    """Iglu Central's schemas as a real static registry on 127.0.0.1 (shared: read only)."""
    with static_registry() as server:
        yield server
