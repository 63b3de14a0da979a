"""Checking and normalising the constructor arguments shared by every emitter."""

from __future__ import annotations

from typing import Any

from snowplow_tracker.transport import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT


def positive_int(name: str, value: Any, *, allow_none: bool = True) -> int | None:
    """``value`` if it is a positive int (or None when allowed); TypeError/ValueError otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def positive_float(name: str, value: Any, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


def resolve_batch_size(method: str, batch_size: Any, buffer_size: Any) -> int:
    """``batch_size`` or its 0.x name ``buffer_size`` (not both); 10 for POST, 1 for GET."""
    if batch_size is not None and buffer_size is not None:
        raise TypeError("give batch_size or its 0.x name buffer_size, not both")
    chosen = batch_size if batch_size is not None else buffer_size
    size = positive_int("batch_size", chosen)
    if size is None:
        return 10 if method == "post" else 1
    return size


def resolve_method(method: Any) -> str:
    if not isinstance(method, str) or method.lower() not in ("get", "post"):
        raise ValueError(f"method must be 'get' or 'post', got {method!r}")
    return method.lower()


def resolve_timeout(request_timeout: Any) -> float | tuple[float, float]:
    """A (connect, read) timeout: the given float or pair, or the defaults (5 s, 15 s)."""
    if request_timeout is None:
        return (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    if isinstance(request_timeout, (tuple, list)):
        if len(request_timeout) != 2:
            raise ValueError("request_timeout must be seconds or a (connect, read) pair")
        connect = positive_float("request_timeout[0]", request_timeout[0], allow_none=False)
        read = positive_float("request_timeout[1]", request_timeout[1], allow_none=False)
        assert connect is not None and read is not None
        return (connect, read)
    value = positive_float("request_timeout", request_timeout, allow_none=False)
    assert value is not None
    return value


def resolve_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise TypeError(f"headers must be a dict of str to str, got {type(headers).__name__}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("headers must map str to str")
        if any(c in name + value for c in "\r\n"):
            raise ValueError(f"header {name!r} contains a line break")
    return dict(headers)
