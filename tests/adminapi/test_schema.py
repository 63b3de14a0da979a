"""One set of type hints, two uses: the JSON Schema of a model and the checked reading of
a request body. What the schema allows, the reader takes; what it refuses, it names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema
import pytest

from datacoral.adminapi.errors import InvalidRequest
from datacoral.adminapi.models import (
    BadRowEntry,
    EnvironmentCreate,
    KeyCreate,
    RateLimitBody,
)
from datacoral.adminapi.operations import OPERATIONS
from datacoral.adminapi.schema import decode, rule, schema_of
from datacoral.config import Settings
from datacoral.storage.base import BadRow
from datacoral.storage.target import parse_target


@dataclass(frozen=True)
class Inner:
    count: int = field(metadata=rule(minimum=1, maximum=9))


@dataclass(frozen=True)
class Sample:
    """A sample model."""

    name: str = field(metadata=rule(pattern="^[a-z]+$"))
    mode: Literal["a", "b"]
    inner: Inner | None
    tags: list[str] = field(default_factory=list)
    flag: bool = False


def _schema(model: type[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    components: dict[str, Any] = {}
    reference = schema_of(model, components)
    return reference, components


def _validator(model: type[Any]) -> jsonschema.Draft202012Validator:
    """A validator of ``model``'s schema (the document's references moved to $defs)."""
    reference, components = _schema(model)
    return jsonschema.Draft202012Validator({**_rewrite(reference), "$defs": _rewrite(components)})


def _rewrite(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rewrite(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewrite(item) for item in value]
    return value


def test_a_model_schema_names_required_fields_and_refuses_others() -> None:
    reference, components = _schema(Sample)
    assert reference == {"$ref": "#/components/schemas/Sample"}
    sample = components["Sample"]
    assert sample["required"] == ["name", "mode", "inner"]
    assert sample["additionalProperties"] is False
    assert sample["description"] == "A sample model."
    assert sample["properties"]["name"] == {"type": "string", "pattern": "^[a-z]+$"}
    assert sample["properties"]["inner"] == {
        "anyOf": [{"$ref": "#/components/schemas/Inner"}, {"type": "null"}]
    }
    assert components["Inner"]["properties"]["count"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 9,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"name": "abc", "mode": "a", "inner": None},
        {"name": "z", "mode": "b", "inner": {"count": 9}, "tags": ["x"], "flag": True},
    ],
)
def test_what_the_schema_allows_the_reader_takes(body: dict[str, Any]) -> None:
    _validator(Sample).validate(body)
    decoded = decode(Sample, body)
    assert dataclasses.asdict(decoded) == {"tags": [], "flag": False, **body}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "body: must be a JSON object"),
        ({"mode": "a", "inner": None}, "body.name: required"),
        ({"name": "ABC", "mode": "a", "inner": None}, "body.name: must match ^[a-z]+$"),
        ({"name": "a", "mode": "c", "inner": None}, "body.mode: must be one of a, b"),
        ({"name": "a", "mode": "a", "inner": {"count": 0}}, "body.inner.count: must be at least"),
        ({"name": "a", "mode": "a", "inner": {"count": True}}, "body.inner.count: must be an"),
        ({"name": "a", "mode": "a", "inner": None, "tags": [1]}, "body.tags[0]: must be a string"),
        ({"name": "a", "mode": "a", "inner": None, "flag": "yes"}, "body.flag: must be true"),
        ({"name": "a", "mode": "a", "inner": None, "x": 1}, "body.x: unknown field"),
    ],
)
def test_what_the_schema_refuses_the_reader_refuses_by_name(body: Any, reason: str) -> None:
    assert not _validator(Sample).is_valid(body)
    with pytest.raises(InvalidRequest) as refused:
        decode(Sample, body)
    assert refused.value.detail.startswith(reason)


def test_text_storage_cannot_keep_is_refused() -> None:
    for text in ("a\x00b", "\ud800"):
        with pytest.raises(InvalidRequest):
            decode(KeyCreate, {"environment": text})


def test_request_models_read_what_the_cli_sends() -> None:
    created = decode(EnvironmentCreate, {"name": "qa", "origins": ["https://a.example.com"]})
    assert (created.name, created.origins, created.mode.value) == (
        "qa",
        ["https://a.example.com"],
        "lenient",
    )
    limit = decode(RateLimitBody, {"rate": "600/min", "burst": 50}).limit()
    assert (limit.events, limit.per_seconds, limit.burst) == (600, 60, 50)
    with pytest.raises(ValueError, match="invalid --rate-limit"):
        decode(RateLimitBody, {"rate": "0/s", "burst": 1}).limit()


def test_the_bad_row_model_has_the_stored_fields() -> None:
    names = [f.name for f in dataclasses.fields(BadRowEntry)]
    assert names == ["position", *(f.name for f in dataclasses.fields(BadRow))]


def test_operation_ids_and_routes_are_unique() -> None:
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)
    assert len({(op.method, op.path) for op in OPERATIONS}) == len(OPERATIONS)
    for op in OPERATIONS:
        in_path = {part[1:-1] for part in op.path.split("/") if part.startswith("{")}
        assert in_path == {p.name for p in op.params if p.where == "path"}, op.operation_id


def test_the_admin_api_is_off_unless_asked_and_never_with_a_stream() -> None:
    assert Settings().admin is False
    assert Settings.from_env({"DATACORAL_ADMIN": "1"}).admin is True
    with pytest.raises(ValueError, match="admin cannot be used with stream"):
        Settings(
            db=parse_target("postgresql://u@localhost/db"),
            stream=("nats://127.0.0.1:4222",),
            admin=True,
        )
