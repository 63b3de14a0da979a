from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.recorder import Recorder, recording_server


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as server:
        yield server
