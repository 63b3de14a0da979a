"""Models as dataclasses, and the two things the admin API makes of one set of type hints:
the JSON Schema the OpenAPI document shows (:func:`schema_of`) and the checked reading
of a request body (:func:`decode`). What the document says a body may hold is what the
handlers accept, because both read the same hints and the same :func:`rule`.

The types understood: ``str``, ``int``, ``bool``, ``float``, ``X | None``, ``list[X]``,
``dict[str, X]``, ``Literal[...]``, a ``str`` enum, ``Any`` and nested dataclasses
(shown as ``$ref`` to ``#/components/schemas/<class name>``), or a class whose static
``json_schema(components)`` writes its schema itself. A dataclass field without
a default is required; a body naming a field the model lacks is refused.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from datacoral.adminapi.errors import InvalidRequest

Model = TypeVar("Model")
JSONSchema = dict[str, Any]

_METADATA_KEY = "datacoral.schema"
_PRIMITIVES: dict[type, str] = {str: "string", int: "integer", bool: "boolean", float: "number"}


def rule(
    *,
    description: str | None = None,
    pattern: str | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
    max_length: int | None = None,
    fmt: str | None = None,
) -> dict[str, object]:
    """A field's ``metadata``: its description and the constraints both the document
    shows and :func:`decode` enforces (``pattern`` is a regular expression the whole
    string must match, written as JSON Schema's ``pattern`` searches it: anchored)."""
    keywords: JSONSchema = {
        "description": description,
        "pattern": pattern,
        "minimum": minimum,
        "maximum": maximum,
        "maxLength": max_length,
        "format": fmt,
    }
    return {_METADATA_KEY: {k: v for k, v in keywords.items() if v is not None}}


def keywords_of(field: dataclasses.Field[Any]) -> JSONSchema:
    """The schema keywords :func:`rule` put on ``field``."""
    found = field.metadata.get(_METADATA_KEY, {})
    return dict(found)


# --- JSON Schema -----------------------------------------------------------------------


def schema_of(hint: Any, components: dict[str, JSONSchema]) -> JSONSchema:
    """The JSON Schema of ``hint``; dataclasses are added to ``components`` by name and
    referred to."""
    if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or hasattr(hint, "json_schema")):
        name = hint.__name__
        if name not in components:
            components[name] = {}  # placeholder: a model may refer to itself
            build = getattr(hint, "json_schema", None)
            made = object_schema(hint, components) if build is None else build(components)
            components[name] = made
        return {"$ref": f"#/components/schemas/{name}"}
    if hint is Any:
        return {}
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unions other than X | None are not modelled: {hint!r}")
        inner = schema_of(options[0], components)
        if len(options) == len(args):
            return inner
        if isinstance(inner.get("type"), str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], components)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], components)}
    raise TypeError(f"no JSON Schema for {hint!r}")


def object_schema(model: type[Any], components: dict[str, JSONSchema]) -> JSONSchema:
    """The object schema of dataclass ``model`` (not a reference to it)."""
    hints = _hints(model)
    properties: JSONSchema = {}
    required: list[str] = []
    for field in dataclasses.fields(model):
        schema = schema_of(hints[field.name], components)
        extra = keywords_of(field)
        # Keywords beside a $ref are allowed in 3.1, but kept apart for older tools.
        both = {"allOf": [schema], **extra} if "$ref" in schema and extra else {**schema, **extra}
        properties[field.name] = both
        if _required(field):
            required.append(field.name)
    found: JSONSchema = {"type": "object", "properties": properties}
    if required:
        found["required"] = required
    found["additionalProperties"] = False
    doc = (model.__doc__ or "").strip()
    if doc:
        found["description"] = " ".join(doc.split())
    return found


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(model: type[Any]) -> dict[str, Any]:
    """The evaluated type hints of ``model``, read once per class."""
    found = _HINTS.get(model)
    if found is None:
        found = _HINTS[model] = typing.get_type_hints(model)
    return found


# --- reading request bodies ------------------------------------------------------------


def decode(model: type[Model], value: object, where: str = "body") -> Model:
    """``value`` (parsed JSON) as an instance of dataclass ``model``, checked against its
    hints and rules; :class:`InvalidRequest` naming the first field that is wrong."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: must be a JSON object")
    fields = {field.name: field for field in dataclasses.fields(model)}  # type: ignore[arg-type]
    for name in value:
        if name not in fields:
            raise InvalidRequest(f"{where}.{name}: unknown field; the fields are {_names(fields)}")
    hints = _hints(model)
    given: dict[str, Any] = {}
    for name, field in fields.items():
        if name in value:
            given[name] = convert(hints[name], value[name], f"{where}.{name}", keywords_of(field))
        elif _required(field):
            raise InvalidRequest(f"{where}.{name}: required")
    return model(**given)


def convert(hint: Any, value: object, where: str, keywords: Mapping[str, Any]) -> Any:
    """``value`` checked against ``hint`` and the :func:`rule` ``keywords``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        [inner] = [arg for arg in args if arg is not type(None)]
        return convert(inner, value, where, keywords)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return decode(hint, value, where)
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise InvalidRequest(f"{where}: must be an array")
        return [convert(args[0], item, f"{where}[{i}]", {}) for i, item in enumerate(value)]
    if origin is Literal or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        allowed = list(args) if origin is Literal else [member.value for member in hint]
        if value not in allowed or isinstance(value, bool):
            raise InvalidRequest(f"{where}: must be one of {', '.join(map(str, allowed))}")
        return value if origin is Literal else hint(value)
    if hint is str:
        return check_text(value, where, keywords)
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidRequest(f"{where}: must be true or false")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest(f"{where}: must be an integer")
        return check_bounds(value, where, keywords)
    raise TypeError(f"cannot read {hint!r} from a request")


def check_text(value: object, where: str, keywords: Mapping[str, Any]) -> str:
    """A string that storage can keep: valid Unicode without NUL, within the rules."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{where}: must be valid Unicode (a lone surrogate is not)") from None
    if "\x00" in value:
        raise InvalidRequest(f"{where}: must not contain NUL characters")
    limit = keywords.get("maxLength")
    if limit is not None and len(value) > limit:
        raise InvalidRequest(f"{where}: at most {limit} characters")
    pattern = keywords.get("pattern")
    if pattern is not None and _compiled(pattern).search(value) is None:
        raise InvalidRequest(f"{where}: must match {pattern}")
    return value


def check_bounds(value: int, where: str, keywords: Mapping[str, Any]) -> int:
    """``value`` within the rules' ``minimum`` and ``maximum``."""
    low, high = keywords.get("minimum"), keywords.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        shown_low = "" if low is None else f"at least {low}"
        shown_high = "" if high is None else f"at most {high}"
        both = " and ".join(part for part in (shown_low, shown_high) if part)
        raise InvalidRequest(f"{where}: must be {both}")
    return value


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _names(fields: Mapping[str, object]) -> str:
    return ", ".join(fields)
