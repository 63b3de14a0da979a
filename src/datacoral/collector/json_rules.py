"""The JSON inside events: what orjson refuses, judged precisely, only once it has.

orjson reads and writes the JSON of every request (the hot path). It refuses two
things trackers do send, and each refusal is where the slower, precise work
starts, so a well-formed event pays nothing for these rules:

- **Lone surrogates.** ``JSON.stringify`` of text cut inside an emoji gives
  ``"cat\\ud83d"``: valid JSON, but not text a UTF-8 column can hold. The standard
  parser reads it (:func:`lenient_loads`), so one such event no longer loses its
  batch; it becomes a bad row naming its field (:func:`unencodable`,
  :func:`why_not_json`).
- **Nesting.** orjson writes at most 254 levels of arrays and objects and reads at
  most 1024. A stored self-describing event or list of contexts deeper than
  ``max_json_depth`` (at most 254, the default) is a bad row naming the field and
  the setting (:func:`stored_json`).

A bad row keeps its event as sent (:func:`event_json`): lone surrogates as ``\\u``
escapes, only nesting past 254 levels cut.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from datacoral.collector.errors import EventRejected, shown

#: The deepest JSON orjson writes (it refuses 255 levels): the most ``max_json_depth``
#: allows, and its default, so that the default costs no check of its own.
MAX_JSON_DEPTH = 254
#: The deepest JSON orjson reads.
_READABLE_JSON_DEPTH = 1024
#: The rule a lone surrogate breaks, as bad-row reasons name it.
LONE_SURROGATE = "lone surrogate (half of a UTF-16 pair, e.g. a cut emoji): not valid Unicode"

#: What decides JSON nesting in text: strings (skipped whole) and brackets.
_JSON_NESTING_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def lenient_loads(text: str | bytes) -> Any:
    """JSON as the standard parser reads it: what orjson reads, and lone surrogates too.

    Raises ValueError (RecursionError for very deep input) when it is not JSON.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogatepass")
    return json.loads(text, parse_constant=_refuse_constant)


def why_not_json(name: str, text: str | bytes, max_depth: int) -> str:
    """The reason orjson refused a field's JSON: too deep, a lone surrogate, or not JSON."""
    depth = text_nesting_depth(text)
    if depth > _READABLE_JSON_DEPTH:
        return too_deep(name, depth, max_depth)
    try:
        document = lenient_loads(text)
    except (ValueError, RecursionError):
        document = None
    else:
        found = lone_surrogate(document)
        if found is not None:
            return f"{name}: {found}"
    return f"{name}: decodes to non-JSON" if isinstance(text, bytes) else f"{name}: not valid JSON"


def too_deep(name: str, depth: int, max_depth: int) -> str:
    """The reason for JSON nested deeper than ``max_json_depth``."""
    return f"{name}: JSON nested {depth} levels deep, more than max_json_depth ({max_depth})"


def nesting_depth(document: Any) -> int:
    """Levels of arrays and objects in a decoded document (``{}`` is 1, a string 0)."""
    depth = 0
    level = [document]
    while level:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            break
        depth += 1
        level = [
            child
            for container in containers
            for child in (container.values() if isinstance(container, dict) else container)
        ]
    return depth


def text_nesting_depth(text: str | bytes) -> int:
    """Levels of arrays and objects in JSON text, read without parsing it (any text)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = deepest = 0
    for token in _JSON_NESTING_TOKENS.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def stored_json(name: str, document: Any, max_depth: int) -> str:
    """``document`` as compact JSON text, refused when nested deeper than ``max_depth``.

    At the default limit (what orjson writes) the encoder's own refusal is the only
    check; a lower limit counts brackets first and walks the document only when
    there are more of them than levels allowed.
    """
    try:
        text = orjson.dumps(document)
    except orjson.JSONEncodeError:
        depth = nesting_depth(document)
        if depth <= MAX_JSON_DEPTH:
            raise  # not the depth: a bug of ours
        raise EventRejected(too_deep(name, depth, max_depth)) from None
    if max_depth < MAX_JSON_DEPTH and text.count(b"[") + text.count(b"{") > max_depth:
        depth = nesting_depth(document)
        if depth > max_depth:
            raise EventRejected(too_deep(name, depth, max_depth))
    return text.decode()


def _surrogate_in(text: str) -> str | None:
    """The first lone surrogate in ``text``, or None (its UTF-8 encoding fails there)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start]
    return None


def lone_surrogate(document: Any) -> str | None:
    """Where a decoded JSON document holds a lone surrogate, as a reason's tail, or None."""
    level = [document]
    while level:
        following: list[Any] = []
        for value in level:
            if isinstance(value, str):
                if _surrogate_in(value) is not None:
                    return f"{LONE_SURROGATE}: {shown(value)}"
            elif isinstance(value, dict):
                for key, child in value.items():
                    if _surrogate_in(key) is not None:
                        return f"name {shown(key)}: {LONE_SURROGATE}"
                    following.append(child)
            elif isinstance(value, list):
                following.extend(value)
        level = following
    return None


def unencodable(event: dict[str, str]) -> str | None:
    """The reason an event with string values cannot be encoded: its first field whose
    name or value holds a lone surrogate; None when there is none."""
    for name, value in event.items():
        if _surrogate_in(name) is not None:
            return f"{shown(name)}: field name holds a {LONE_SURROGATE}"
        if isinstance(value, str) and _surrogate_in(value) is not None:
            return f"{name}: {LONE_SURROGATE}: {shown(value)}"
    return None


def event_json(event: object) -> str:
    """An event as JSON text for its bad row: as sent, lone surrogates kept as ``\\u``
    escapes; anything nested deeper than :data:`MAX_JSON_DEPTH` is cut."""
    try:
        return orjson.dumps(event).decode()
    except orjson.JSONEncodeError:
        return json.dumps(_cut(event, MAX_JSON_DEPTH))


def _cut(value: Any, levels: int) -> Any:
    if isinstance(value, dict):
        if not levels:
            return f"(cut: nested deeper than {MAX_JSON_DEPTH} levels)"
        return {key: _cut(child, levels - 1) for key, child in value.items()}
    if isinstance(value, list):
        if not levels:
            return f"(cut: nested deeper than {MAX_JSON_DEPTH} levels)"
        return [_cut(child, levels - 1) for child in value]
    return value
