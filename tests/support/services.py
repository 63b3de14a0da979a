"""Skip-or-fail handling for tests that need a service this project does not own."""

from __future__ import annotations

import os
import socket

import pytest


def services_required() -> bool:
    """True when a missing service must fail the run instead of skipping (CI)."""
    return os.environ.get("DATACORAL_REQUIRE_SERVICES", "") not in ("", "0")


def require(available: bool, reason: str) -> None:
    """Skip the calling test with ``reason`` unless services are required, then fail."""
    if available:
        return
    if services_required():
        pytest.fail(f"required service missing (DATACORAL_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
