"""Shared test configuration.

Tests that need an external service (PostgreSQL, Redis, NATS, Chromium) call
:func:`require` from ``tests.support.services``: they skip with a reason when the
service is absent, unless ``DATACORAL_REQUIRE_SERVICES=1`` (as in CI), which
turns that skip into a failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
