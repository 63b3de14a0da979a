"""Argument checks that raise ValueError, switchable as in upstream 1.x.

``disable_contracts()`` turns the checks off process-wide (they cost a little
per call); ``enable_contracts()`` turns them back on. Unlike upstream, a
disabled check really does nothing, and the error names the parameter without
inspecting the call stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from typing import Any

from snowplow_tracker.typing import FORM_NODE_NAMES, FORM_TYPES

_enabled = True


def enable_contracts() -> None:
    """Turn argument checks on (the default)."""
    global _enabled
    _enabled = True


def disable_contracts() -> None:
    """Turn argument checks off."""
    global _enabled
    _enabled = False


def contracts_enabled() -> bool:
    """True while argument checks run."""
    return _enabled


def greater_than(value: float, compared_to: float, name: str = "value") -> None:
    if _enabled and not value > compared_to:
        raise ValueError(f"{name} must be greater than {compared_to}, got {value!r}")


def non_empty(seq: Sized, name: str = "value") -> None:
    if _enabled and len(seq) == 0:
        raise ValueError(f"{name} is empty")


def non_empty_string(s: object, name: str = "value") -> None:
    if _enabled and (not isinstance(s, str) or not s):
        raise ValueError(f"{name} must be a non-empty string, got {s!r}")


def one_of(value: Any, supported: Iterable[Any], name: str = "value") -> None:
    if _enabled and value not in supported:
        raise ValueError(f"{name} {value!r} is not supported; expected one of {sorted(supported)}")


def satisfies(value: Any, check: Callable[[Any], bool], name: str = "value") -> None:
    if _enabled and not check(value):
        raise ValueError(f"{name} {value!r} is not allowed")


def form_element(element: dict[str, Any]) -> None:
    """Check one element of ``track_form_submit``'s ``elements``."""
    if not _enabled:
        return
    if not isinstance(element, dict):
        raise ValueError(f"form element must be a dict, got {element!r}")
    for key in ("name", "value", "nodeName"):
        if key not in element:
            raise ValueError(f"form element {element!r} lacks {key!r}")
    if element["nodeName"] not in FORM_NODE_NAMES:
        raise ValueError(
            f"form element nodeName {element['nodeName']!r} must be one of "
            f"{sorted(FORM_NODE_NAMES)}"
        )
    if "type" in element and element["type"] is not None and element["type"] not in FORM_TYPES:
        raise ValueError(f"form element type {element['type']!r} is not an HTML input type")
