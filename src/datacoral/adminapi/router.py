"""Finding a request's operation in the table, and reading its parameters.

Paths are matched on the raw path, one ``/``-separated segment at a time, and each
segment is then percent-decoded: an environment, key or event id holding ``/`` (as
``%2F``) is one parameter, not a different route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from datacoral.adminapi.errors import InvalidRequest, MethodNotAllowed, NotFound
from datacoral.adminapi.operations import PREFIX, Operation, Param
from datacoral.adminapi.schema import check_bounds, check_text

NOT_FOUND = f"no such admin API path; the operations are listed in {PREFIX}/openapi.json"
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


@dataclass(frozen=True, slots=True)
class Match:
    """The operation a request asks for, and its path parameters (decoded)."""

    operation: Operation
    path: dict[str, str]


class Router:
    """Matches requests to the operations of one table."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self._routes = [(op, _segments(op.path)) for op in operations]

    def match(self, method: str, raw_path: str) -> Match:
        """The operation for ``method`` and ``raw_path`` (below :data:`PREFIX`, not yet
        percent-decoded); :class:`NotFound` or :class:`MethodNotAllowed` otherwise."""
        segments = _segments(raw_path)
        allowed: list[str] = []
        for operation, template in self._routes:
            bound = _bind(template, segments)
            if bound is None:
                continue
            if operation.method == method:
                return Match(operation, bound)
            allowed.append(operation.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise MethodNotAllowed(f"method not allowed: use {allow}", allow)
        raise NotFound(NOT_FOUND)


def _segments(path: str) -> list[str]:
    """``/a/b/`` as ``["a", "b", ""]``: a trailing slash is a segment, left empty."""
    return path[1:].split("/") if path.startswith("/") else [path]


def _bind(template: Sequence[str], segments: Sequence[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    bound: dict[str, str] = {}
    for expected, given in zip(template, segments, strict=True):
        if expected.startswith("{"):
            if not given:
                return None
            name = expected[1:-1]
            bound[name] = check_text(unquote(given), f"path parameter {name}", {})
        elif unquote(given) != expected:
            return None
    return bound


def query_values(operation: Operation, query_string: bytes) -> dict[str, Any]:
    """The operation's query parameters, parsed and checked (defaults for those not
    given); parameters it does not take are ignored."""
    given: dict[str, str] = {}
    text = query_string.decode("latin-1")
    for name, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8"):
        given.setdefault(name, value)
    values: dict[str, Any] = {}
    for param in operation.params:
        if param.where != "query":
            continue
        raw = given.get(param.name)
        if raw is None:
            if param.required:
                raise InvalidRequest(f"query parameter {param.name}: required")
            values[param.name] = param.default
        else:
            values[param.name] = _parse(param, raw)
    return values


def _parse(param: Param, raw: str) -> Any:
    where = f"query parameter {param.name}"
    if param.kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise InvalidRequest(f"{where}: must be true or false")
    if param.kind is int:
        if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 19:
            raise InvalidRequest(f"{where}: must be a whole number")
        return check_bounds(int(raw), where, _bounds(param))
    return check_text(raw, where, {})


def _bounds(param: Param) -> Mapping[str, Any]:
    return {"minimum": param.minimum, "maximum": param.maximum}
