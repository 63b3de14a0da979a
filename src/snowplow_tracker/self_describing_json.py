"""A schema URI with its data: the unit of self-describing events and contexts.

Imports written ``X as X`` keep names upstream's module has, for code that imports
them from here.
"""

from __future__ import annotations

from typing import Any

from snowplow_tracker.contracts import non_empty_string as non_empty_string
from snowplow_tracker.json_text import dumps_text
from snowplow_tracker.typing import JsonEncoderFunction, PayloadDict
from snowplow_tracker.typing import PayloadDictList as PayloadDictList


class SelfDescribingJson:
    """``{"schema": schema, "data": data}``; the schema must be a non-empty string."""

    __slots__ = ("data", "schema")

    def __init__(self, schema: str, data: Any) -> None:
        if not isinstance(schema, str) or not schema:
            raise ValueError("SelfDescribingJson schema must be a non-empty string")
        self.schema = schema
        self.data = data

    def to_json(self) -> PayloadDict:
        return {"schema": self.schema, "data": self.data}

    def to_string(self, json_encoder: JsonEncoderFunction | None = None) -> str:
        return dumps_text(self.to_json(), json_encoder)

    def __repr__(self) -> str:
        return f"SelfDescribingJson(schema={self.schema!r}, data={self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SelfDescribingJson):
            return NotImplemented
        return self.schema == other.schema and self.data == other.data

    __hash__ = None  # type: ignore[assignment]
