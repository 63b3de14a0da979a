"""Every schema of the public Iglu Central registry, served on a loopback port as a real
static registry: each resolves over HTTP; each JSON Schema passes the self-describing
meta-schema and compiles; an independent implementation (the ``jsonschema`` package)
agrees on the meta-schema verdicts; and the meta-schema check is not vacuous.

Of the 679 files, 660 are JSON Schemas (format ``jsonschema``); Iglu also stores 16 Avro
schemas, 2 Thrift and 1 Protobuf IDL (formats ``avro``, ``thrift``, ``protobuf``). Those
19 resolve like the others, but they cannot validate JSON: the validator refuses them by
name, and the 16 Avro files have no ``self`` block, so they fail the meta-schema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema

from datacoral.schemas import Resolver, SchemaInvalid, Validator
from datacoral.schemas.compiler import META_SCHEMA_KEY, SchemaCompiler
from datacoral.schemas.registries import StaticRegistrySource
from datacoral.schemas.uri import SchemaKey
from tests.schemas.registries import IGLU_CENTRAL, IGLU_CENTRAL_SCHEMAS, iglu_central_keys

JSON_SCHEMAS = 660
NOT_JSON_SCHEMA = {"avro": 16, "thrift": 2, "protobuf": 1}


def _meta_validator() -> jsonschema.Draft4Validator:
    """The self-describing meta-schema in the ``jsonschema`` package, which ships the
    draft-04 meta-schema it references."""
    meta = json.loads((IGLU_CENTRAL / "schemas" / Path(*META_SCHEMA_KEY)).read_text())
    resource = referencing.Resource.from_contents(
        meta, default_specification=referencing.jsonschema.DRAFT4
    )
    registry: referencing.Registry[object] = referencing.Registry().with_resource(
        "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0",
        resource,
    )
    return jsonschema.Draft4Validator(
        meta, registry=registry, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


@pytest.mark.timeout(120)
def test_every_iglu_central_schema_resolves_over_http_and_compiles(iglu_central) -> None:
    keys = iglu_central_keys()
    assert len(keys) == IGLU_CENTRAL_SCHEMAS
    resolver = Resolver([StaticRegistrySource(iglu_central.url)])
    validator = Validator(resolver, max_message_chars=1024)
    compiled = 0
    refused: dict[str, int] = {}
    for path in keys:
        key = SchemaKey(*path.split("/"))
        if key.format == "jsonschema":
            validator.prepare(key.uri)  # raises SchemaUnresolved on any failure
            compiled += 1
        else:
            with pytest.raises(SchemaInvalid, match="only jsonschema schemas validate JSON"):
                validator.prepare(key.uri)
            refused[key.format] = refused.get(key.format, 0) + 1
        resolved = resolver.resolve(key, cached_only=True)
        assert resolved.source == f"static {iglu_central.url}"
        assert not resolved.stale
    assert compiled == JSON_SCHEMAS and refused == NOT_JSON_SCHEMA
    # One request per schema: each was fetched over HTTP, once ($refs came from the cache).
    fetched = {p.removeprefix("/schemas/") for p in iglu_central.requests}
    assert set(keys) <= fetched
    stats = resolver.stats()
    assert stats.found == IGLU_CENTRAL_SCHEMAS and stats.not_found == stats.unavailable == 0


def test_every_iglu_central_schema_passes_the_self_describing_meta_schema(
    iglu_central_folder,
) -> None:
    compiler = SchemaCompiler(lambda key: pytest.fail(f"no $ref expected here: {key}"))
    reference = _meta_validator()
    passed = 0
    not_self_describing = []
    for path in iglu_central_keys():
        schema = json.loads((IGLU_CENTRAL / "schemas" / path).read_text())
        problems = compiler.meta_problems(schema)
        assert (problems == "") == (not list(reference.iter_errors(schema))), path
        if SchemaKey(*path.split("/")).format == "jsonschema":
            assert problems == "", path
        if problems:
            assert "must contain ['self']" in problems, path
            not_self_describing.append(path)
        else:
            passed += 1
    # Every JSON Schema, and the Thrift and Protobuf IDL wrappers; not the bare Avro files.
    assert passed == JSON_SCHEMAS + 3
    assert len(not_self_describing) == NOT_JSON_SCHEMA["avro"]
    assert all("/avro/" in path for path in not_self_describing)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("self"), "self"),
        (lambda s: s["self"].update(version="1.0.0"), "self.version"),
        (lambda s: s["self"].update(vendor="com/acme"), "self.vendor"),
        (lambda s: s.update(type="strin"), "type"),
        (lambda s: s.update(required="targetUrl"), "required"),
        (lambda s: s["properties"]["targetUrl"].update(minLength=-1), "minLength"),
        (lambda s: s["properties"]["targetUrl"].update(pattern="(unclosed"), "pattern"),
    ],
    ids=["no self", "version", "vendor", "type", "required", "minLength", "pattern"],
)
def test_the_meta_schema_check_refuses_broken_schemas(
    iglu_central_folder, change, expected
) -> None:
    path = "com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1"
    schema = json.loads((IGLU_CENTRAL / "schemas" / path).read_text())
    broken = copy.deepcopy(schema)
    change(broken)
    compiler = SchemaCompiler(lambda key: pytest.fail("no $ref"))
    problems = compiler.meta_problems(broken)
    assert expected in problems
    assert list(_meta_validator().iter_errors(broken)), "jsonschema agrees it is broken"
    with pytest.raises(SchemaInvalid, match="meta-schema"):
        compiler.compile(SchemaKey(*path.split("/")), broken)
