"""Turning an Iglu schema into validation functions, once, after checking it.

Compilation is by fastjsonschema (generated Python code: ~1 µs per small entity,
against ~20-30 µs for the ``jsonschema`` package's validators; benchmarks/README.md).
Before that, each schema must pass the self-describing meta-schema
(``com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0``, which includes the
draft-04 meta-schema) and its ``self`` must name the key it was fetched by.

Choices that keep compiled code safe on data and schemas from outside:

- draft-04 always (Iglu schemas are draft-04; their ``$schema`` names the Iglu
  meta-schema, which fastjsonschema would otherwise read as "the latest draft");
- ``use_default=False``: fastjsonschema would otherwise write ``default`` values into
  the validated event;
- every ``$ref`` outside the schema goes through the resolver as an Iglu key (an
  ``iglu:`` URI or a ``.../schemas/vendor/name/format/version`` URL, whatever its host)
  or is the draft-04 meta-schema shipped in the package; any other reference is refused
  (fastjsonschema would fetch it with urllib: a schema could make the endpoint request
  any URL or read a local file);
- ``format: email`` is checked by a linear function: the library's regular expression
  takes quadratic time on strings like ``"a..a..a.."`` (1 s at 90 KB).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import fastjsonschema

from datacoral.schemas.errors import SchemaInvalid, SchemaNotFound, SchemaUnavailable
from datacoral.schemas.sources import embedded_document
from datacoral.schemas.uri import SchemaKey, key_from_reference, key_from_self

DRAFT_04 = "http://json-schema.org/draft-04/schema#"
_DRAFT_04_URLS = frozenset(
    (DRAFT_04, DRAFT_04.rstrip("#"), "https://json-schema.org/draft-04/schema#")
)
META_SCHEMA_KEY = SchemaKey("com.snowplowanalytics.self-desc", "schema", "jsonschema", "1-0-0")

Check = Callable[[Any], Any]
ResolveReference = Callable[[SchemaKey], Mapping[str, Any]]


def is_email(value: str) -> bool:
    """fastjsonschema's ``email`` rule, in linear time: no ``..`` before the ``@``, the local
    part neither starts nor ends with a dot, one ``@``, a dot inside the domain."""
    local, at, domain = value.partition("@")
    return bool(
        at
        and local
        and local[0] != "."
        and local[-1] != "."
        and ".." not in local
        and "@" not in domain
        and "." in domain[1:-1]
    )


FORMATS: dict[str, Callable[[str], bool]] = {"email": is_email}


class CompiledSchema(NamedTuple):
    """The validation functions of one schema document (``schema``, kept to tell when the
    resolver has a new copy). ``decide`` stops at the first failure (the hot path);
    ``explain`` collects every failure (only for data that failed). For a schema that
    cannot be used, both raise :class:`SchemaInvalid` and ``problem`` says why."""

    schema: Mapping[str, Any]
    decide: Check
    explain: Check
    problem: str | None = None


class _EveryScheme(Mapping[str, Callable[[str], Any]]):
    """fastjsonschema's ``handlers``: one function for every URI scheme, so that no
    reference falls through to its urllib fetch."""

    def __init__(self, handler: Callable[[str], Any]) -> None:
        self._handler = handler

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        return self._handler

    def __contains__(self, scheme: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _ReferenceRefused(Exception):
    """A ``$ref`` that names neither an Iglu schema nor the draft-04 meta-schema, or an
    Iglu schema that no source has."""


def _as_draft_04(schema: Mapping[str, Any]) -> dict[str, Any]:
    document = dict(schema)
    document["$schema"] = DRAFT_04
    return document


class SchemaCompiler:
    """Checks and compiles schemas; ``resolve_reference`` fetches the schemas that a
    ``$ref`` names (the validator passes its resolver)."""

    def __init__(self, resolve_reference: ResolveReference) -> None:
        self._resolve_reference = resolve_reference
        self._draft_04 = embedded_document("draft-04-schema.json")
        meta = _as_draft_04(embedded_document("schemas", *META_SCHEMA_KEY))
        self._meta_check = self._build(meta, fast_fail=False)

    def compile(self, key: SchemaKey, schema: Mapping[str, Any]) -> CompiledSchema:
        """The validation functions of ``schema``, fetched as ``key``.

        Raises :class:`SchemaInvalid` when it is not of format ``jsonschema`` (Iglu also
        stores Avro, Thrift and Protobuf definitions), fails the meta-schema, names another
        key or does not compile, and the resolver's errors when a schema it references
        cannot be had.
        """
        if key.format != "jsonschema":
            raise SchemaInvalid(
                key.uri, f"format {key.format!r}: only jsonschema schemas validate JSON data"
            )
        problems = self.meta_problems(schema)
        if problems:
            raise SchemaInvalid(key.uri, "fails the self-describing meta-schema: " + problems)
        declared = key_from_self(schema)
        if declared != key:
            raise SchemaInvalid(key.uri, f"its self names {declared}")
        document = _as_draft_04(schema)
        try:
            decide = self._build(document, fast_fail=True)
            explain = self._build(document, fast_fail=False)
        except SchemaUnavailable as exc:  # a referenced schema, during an outage
            raise SchemaUnavailable(key.uri, f"its $ref {exc.uri}: {exc.reason}") from None
        except _ReferenceRefused as exc:
            raise SchemaInvalid(key.uri, str(exc)) from None
        except Exception as exc:  # what a schema from outside makes the code generator do
            raise SchemaInvalid(key.uri, f"does not compile: {_short(exc)}") from None
        return CompiledSchema(schema, decide, explain)

    def meta_problems(self, schema: Mapping[str, Any]) -> str:
        """Why ``schema`` fails the self-describing meta-schema, or "" when it passes."""
        try:
            self._meta_check(schema)
        except fastjsonschema.JsonSchemaValuesException as exc:
            return "; ".join(_short(e) for e in exc.errors[:5])
        except fastjsonschema.JsonSchemaValueException as exc:
            return _short(exc)
        except RecursionError:
            return "nested too deeply to check"
        return ""

    def _build(self, document: dict[str, Any], *, fast_fail: bool) -> Check:
        check: Check = fastjsonschema.compile(
            document,
            handlers=_EveryScheme(self._reference),
            formats=FORMATS,
            use_default=False,
            fast_fail=fast_fail,
        )
        return check

    def _reference(self, uri: str) -> Any:
        if uri in _DRAFT_04_URLS:
            return self._draft_04
        key = key_from_reference(uri)
        if key is None:
            raise _ReferenceRefused(
                f"$ref {uri[:120]!r}: only Iglu schemas and the draft-04 meta-schema"
            )
        try:
            return _as_draft_04(self._resolve_reference(key))
        except SchemaNotFound as exc:
            raise _ReferenceRefused(f"its $ref {key.uri} is not found: {exc.reason}") from None


_SPACES = re.compile(r"\s+")


def _short(error: BaseException, limit: int = 160) -> str:
    text = _SPACES.sub(" ", str(error)).strip() or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
