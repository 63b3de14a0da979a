"""Telling the two Tracker call styles apart.

1.x: ``Tracker(namespace, emitters, subject=None, app_id=None, encode_base64=True,
json_encoder=None)``. 0.x / Datacoral: ``Tracker(emitters, api_key=None,
datacoral_env=None, subject=None, namespace=None, app_id=None, encode_base64=True)``
(upstream 0.x had ``subject`` second; a Subject in that place is read that way).
The first argument decides: a string is a namespace, an emitter (or a list of
them) starts the 0.x form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from snowplow_tracker.subject import Subject
from snowplow_tracker.typing import JsonEncoderFunction

ENVIRONMENT_NAME = re.compile(r"[a-z0-9_-]{1,32}")

_V1_ORDER = ("namespace", "emitters", "subject", "app_id", "encode_base64", "json_encoder")
_DATACORAL_ORDER = (
    "emitters",
    "api_key",
    "datacoral_env",
    "subject",
    "namespace",
    "app_id",
    "encode_base64",
)
_V0_ORDER = ("emitters", "subject", "namespace", "app_id", "encode_base64")
_KNOWN = set(_V1_ORDER) | set(_DATACORAL_ORDER)

_EXPECTED = (
    "Tracker expects either Tracker(namespace: str, emitters, subject=None, app_id=None, ...) "
    "or Tracker(emitter, datacoral_env=..., api_key=..., namespace=..., app_id=...)"
)


@dataclass(frozen=True)
class TrackerArguments:
    """The constructor's arguments, whichever style they came in."""

    namespace: str | None
    emitters: list[Any]
    subject: Subject | None
    app_id: str | None
    encode_base64: bool
    json_encoder: JsonEncoderFunction | None
    api_key: str | None
    datacoral_env: str | None


def is_emitter(value: object) -> bool:
    """True for anything with an ``input`` method (upstream's duck type for emitters)."""
    return callable(getattr(value, "input", None))


def parse_tracker_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> TrackerArguments:
    """Bind ``args``/``kwargs`` to the style the first argument names, or raise TypeError."""
    unknown = set(kwargs) - _KNOWN
    if unknown:
        raise TypeError(
            f"Tracker got unexpected keyword argument(s) {sorted(unknown)}; {_EXPECTED}"
        )
    order: tuple[str, ...]
    if args:
        first = args[0]
        if isinstance(first, str):
            order = _V1_ORDER
        elif _looks_like_emitters(first):
            second = args[1] if len(args) > 1 else None
            order = _V0_ORDER if isinstance(second, Subject) else _DATACORAL_ORDER
        else:
            raise TypeError(
                f"Tracker's first argument must be a namespace string or an emitter, "
                f"got {type(first).__name__}; {_EXPECTED}"
            )
        if len(args) > len(order):
            raise TypeError(f"Tracker takes at most {len(order)} positional arguments; {_EXPECTED}")
        bound = dict(zip(order, args, strict=False))
        for name in kwargs:
            if name in bound:
                raise TypeError(f"Tracker got multiple values for argument {name!r}")
        bound.update(kwargs)
    else:
        bound = dict(kwargs)
    if "emitters" not in bound:
        raise TypeError(f"Tracker needs emitters; {_EXPECTED}")
    return _validate(bound)


def _looks_like_emitters(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(is_emitter(e) for e in value)
    return is_emitter(value)


def _validate(bound: dict[str, Any]) -> TrackerArguments:
    emitters_arg = bound["emitters"]
    emitters = list(emitters_arg) if isinstance(emitters_arg, (list, tuple)) else [emitters_arg]
    if not emitters:
        raise ValueError("Tracker needs at least one emitter, got an empty list")
    for emitter in emitters:
        if not is_emitter(emitter):
            raise TypeError(
                f"emitters must be emitters (objects with an input() method), "
                f"got {type(emitter).__name__}"
            )
    namespace = bound.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"namespace must be a string, got {type(namespace).__name__}")
    subject = bound.get("subject")
    if subject is not None and not isinstance(subject, Subject):
        raise TypeError(f"subject must be a Subject, got {type(subject).__name__}")
    app_id = bound.get("app_id")
    if app_id is not None and not isinstance(app_id, str):
        raise TypeError(f"app_id must be a string, got {type(app_id).__name__}")
    encode_base64 = bound.get("encode_base64", True)
    if not isinstance(encode_base64, bool):
        raise TypeError(f"encode_base64 must be a bool, got {type(encode_base64).__name__}")
    return TrackerArguments(
        namespace=namespace,
        emitters=emitters,
        subject=subject,
        app_id=app_id,
        encode_base64=encode_base64,
        json_encoder=bound.get("json_encoder"),
        api_key=normalize_api_key(bound.get("api_key")),
        datacoral_env=validate_datacoral_env(bound.get("datacoral_env")),
    )


def normalize_api_key(api_key: object) -> str | None:
    """The key from a string or a one-element list of strings; ValueError otherwise."""
    if api_key is None:
        return None
    if isinstance(api_key, (list, tuple)):
        if len(api_key) != 1:
            raise ValueError(
                f"api_key must be a string or a list of exactly one string, "
                f"got a list of {len(api_key)}"
            )
        api_key = api_key[0]
    if not isinstance(api_key, str):
        raise TypeError(f"api_key must be a string, got {type(api_key).__name__}")
    if not api_key.strip():
        raise ValueError("api_key must not be empty")
    if any(c in api_key for c in "\r\n\x00") or api_key != api_key.strip():
        raise ValueError("api_key contains whitespace or control characters")
    return api_key


def validate_datacoral_env(env: object) -> str | None:
    """The environment name if it follows the rule (lowercase, digits, - and _, <= 32)."""
    if env is None:
        return None
    if not isinstance(env, str):
        raise TypeError(f"datacoral_env must be a string, got {type(env).__name__}")
    if ENVIRONMENT_NAME.fullmatch(env) is None:
        raise ValueError(
            f"datacoral_env {env!r} is not a valid environment name: "
            "use 1-32 lowercase letters, digits, '-' or '_'"
        )
    return env
