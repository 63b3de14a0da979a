"""Environment names and the environments every new database starts with."""

from __future__ import annotations

import re

ENVIRONMENT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
DEFAULT_ENVIRONMENTS = ("dev", "stage", "prod")


def validate_environment_name(name: str) -> str:
    """Return ``name`` if it is a valid environment name, else raise ValueError."""
    if not isinstance(name, str) or ENVIRONMENT_NAME.fullmatch(name) is None:
        raise ValueError(
            f"invalid environment name {name!r}: use 1-32 lowercase letters, digits, '-' or '_'"
        )
    return name
