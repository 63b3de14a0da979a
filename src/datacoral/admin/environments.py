"""Environment names, validation modes, and the environments every new database starts with."""

from __future__ import annotations

import enum
import re

ENVIRONMENT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
DEFAULT_ENVIRONMENTS = ("dev", "stage", "prod")


class ValidationMode(str, enum.Enum):
    """What an environment does with the Iglu schemas of its events' self-describing
    event and contexts (README, "Schemas (Iglu)"):

    - ``strict``: an entity that fails its schema, or whose schema cannot be used, makes
      the event a bad row; a registry outage answers 503 (trackers resend later);
    - ``lenient`` (the default): a failing entity makes a bad row; an event whose schema
      cannot be resolved is stored with ``schema_validated`` false;
    - ``off``: nothing is validated.
    """

    STRICT = "strict"
    LENIENT = "lenient"
    OFF = "off"

    def __str__(self) -> str:
        return self.value


DEFAULT_VALIDATION = ValidationMode.LENIENT
VALIDATION_MODES = tuple(mode.value for mode in ValidationMode)


def validate_environment_name(name: str) -> str:
    """Return ``name`` if it is a valid environment name, else raise ValueError."""
    if not isinstance(name, str) or ENVIRONMENT_NAME.fullmatch(name) is None:
        raise ValueError(
            f"invalid environment name {name!r}: use 1-32 lowercase letters, digits, '-' or '_'"
        )
    return name


def parse_validation_mode(value: object) -> ValidationMode:
    """``strict``, ``lenient`` or ``off`` as a :class:`ValidationMode`, else ValueError."""
    if isinstance(value, ValidationMode):
        return value
    try:
        return ValidationMode(value)
    except ValueError:
        raise ValueError(
            f"invalid validation mode {value!r}: use {', '.join(VALIDATION_MODES)}"
        ) from None
