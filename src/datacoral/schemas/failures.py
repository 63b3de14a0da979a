"""What failed, said briefly: fastjsonschema's errors as JSON pointers and rules.

A bad-row message reads::

    context[0] iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0: /data/id: required
    event iglu:com.acme/cart/jsonschema/1-0-0: /data/items/2/sku: type "string"; /data/x: required

Each failure is the RFC 6901 pointer of the failing value inside the entity
(``{"schema": ..., "data": ...}``, hence ``/data``) and the keyword it broke, with the
schema's value of that keyword when short. Data values are never echoed (the bad row
keeps the event itself). ``required`` points at the missing member, and
``additionalProperties`` at each member not allowed.

fastjsonschema names a failing value with a dotted path (``data.items[2].sku``), which
is ambiguous when keys hold dots or brackets; :func:`locate` reads it against the data
itself to find the real path. Every size is bounded: pointers, rule texts, the number of
failures listed and the whole message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from itertools import islice
from typing import Any, NamedTuple

from fastjsonschema import JsonSchemaValueException

#: Longest pointer, rule text and label kept in a message.
MAX_POINTER = 160
MAX_RULE = 80
MAX_LABEL = 40
#: Most members one ``required`` or ``additionalProperties`` failure lists.
MAX_LISTED = 20
#: Steps :func:`locate` may take through the data before it falls back to a plain split.
_LOCATE_BUDGET = 2000
_INDEX = re.compile(r"\[(\d+)\]")
_PLAIN_KEY = re.compile(r"[^.\[]*")
#: Keywords whose schema value says nothing short (sub-schemas, lists of names).
_BARE_RULES = frozenset(
    "required additionalProperties additionalItems dependencies not anyOf oneOf allOf"
    " items properties patternProperties".split()
)


class Failure(NamedTuple):
    """One broken rule: where (a JSON pointer) and which (keyword and schema value)."""

    pointer: str
    rule: str


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pointer(segments: Iterable[str | int]) -> str:
    """The RFC 6901 pointer of ``segments`` under the entity's ``/data``; a long one keeps
    its start and its end (where the failing value is) around an ellipsis."""
    escaped = (str(s).replace("~", "~0").replace("/", "~1") for s in segments)
    text = "/data" + "".join("/" + s for s in escaped)
    if len(text) <= MAX_POINTER:
        return text
    head = MAX_POINTER // 3
    return text[:head] + "…" + text[len(text) - (MAX_POINTER - head - 1) :]


def locate(data: Any, name: str, target: Any) -> list[str | int]:
    """The path (keys and indexes) of fastjsonschema's dotted ``name`` in ``data``.

    Walks the data, trying at each object every member whose key the name continues
    with (keys may hold ``.`` and ``[``), and prefers the path that ends at ``target``
    (the failing value itself). Without a match within the budget, the name split at
    its dots and brackets.
    """
    rest = whole = name[4:] if name.startswith("data") else name
    fallback: list[str | int] | None = None
    budget = _LOCATE_BUDGET
    stack: list[tuple[Any, str, list[str | int]]] = [(data, rest, [])]
    while stack and budget > 0:
        node, rest, path = stack.pop()
        budget -= 1
        if not rest:
            if node is target:
                return path
            if fallback is None:
                fallback = path
            continue
        if rest[0] == "[" and isinstance(node, list):
            match = _INDEX.match(rest)
            if match and int(match.group(1)) < len(node):
                index = int(match.group(1))
                stack.append((node[index], rest[match.end() :], [*path, index]))
            continue
        if rest[0] != "." or not isinstance(node, dict):
            continue
        tail = rest[1:]
        plain = _PLAIN_KEY.match(tail)
        candidates = []
        if plain is not None and plain.group() in node:
            candidates.append(plain.group())
        if "." in tail or "[" in tail:  # a key holding them: try every key that fits
            for key in node:
                budget -= 1
                if budget <= 0:
                    break
                if (
                    isinstance(key, str)
                    and key not in candidates
                    and tail.startswith(key)
                    and tail[len(key) : len(key) + 1] in ("", ".", "[")
                ):
                    candidates.append(key)
        for key in reversed(candidates):  # the plain key is tried first
            stack.append((node[key], tail[len(key) :], [*path, key]))
    if fallback is not None:
        return fallback
    return [int(s) if s.isdigit() else s for s in re.split(r"[.\[\]]+", whole) if s]


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = type(value).__name__
    return cut(text, MAX_RULE)


def failures_of(error: JsonSchemaValueException, data: Any) -> list[Failure]:
    """The failures one fastjsonschema error stands for (a ``required`` error names every
    missing member, an ``additionalProperties`` one every member not allowed)."""
    rule = error.rule or "invalid"
    path = locate(data, error.name or "data", error.value)
    definition = error.definition if isinstance(error.definition, dict) else {}
    value = error.value
    if rule == "required" and isinstance(value, dict):
        required = definition.get("required", ())
        missing = islice((m for m in required if m not in value), MAX_LISTED)
        return [Failure(pointer([*path, m]), rule) for m in missing]
    if rule == "additionalProperties" and isinstance(value, dict):
        allowed = definition.get("properties", {})
        patterns = list(definition.get("patternProperties", {}))
        extra = list(
            islice(
                (
                    key
                    for key in value
                    if key not in allowed and not any(re.search(p, key) for p in patterns)
                ),
                MAX_LISTED,
            )
        )
        if extra:
            return [Failure(pointer([*path, key]), rule) for key in extra]
    if rule in _BARE_RULES:
        return [Failure(pointer(path), rule)]
    text = f"{rule} {_shown(error.rule_definition)}"
    if rule in ("minimum", "maximum") and definition.get(f"exclusive{rule.title()}") is True:
        text += " (exclusive)"
    return [Failure(pointer(path), text)]


def message(label: str, uri: str, failures: list[Failure], more: bool, max_chars: int) -> str:
    """``{label} {uri}: {pointer}: {rule}; ...``, at most ``max_chars`` characters; a cut
    list ends with ``; …`` (as does one with more failures than were listed)."""
    head = f"{cut(label, MAX_LABEL)} {uri}: "
    text = head
    for index, failure in enumerate(failures):
        item = f"{failure.pointer}: {failure.rule}"
        if index:
            item = "; " + item
        if len(text) + len(item) > max_chars - 3:
            return text + "; …" if text != head else cut(text + item, max_chars)
        text += item
    return text + "; …" if more else text
