"""Validating self-describing entities (``{"schema": "iglu:...", "data": ...}``).

:meth:`Validator.check` answers for one entity: None when its data validates, the
bounded bad-row message (failures.py) when it does not, and :class:`SchemaUnresolved`
when there is no verdict because the schema cannot be used. :meth:`Validator.check_event`
does it for an event's self-describing event and each of its contexts.

Each schema is compiled once (compiler.py) and kept while the resolver keeps the same
document; a schema that cannot be compiled is remembered as such for as long.
Validation itself holds no lock; compiling takes one. Safe from any number of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException

from datacoral.schemas.compiler import CompiledSchema, SchemaCompiler
from datacoral.schemas.errors import (
    SchemaInvalid,
    SchemaNotCached,
    SchemaUnavailable,
    SchemaUnresolved,
)
from datacoral.schemas.failures import Failure, cut, failures_of, message
from datacoral.schemas.resolver import Resolver
from datacoral.schemas.uri import SchemaKey, cached_schema_key

DEFAULT_MAX_MESSAGE = 1024
DEFAULT_MAX_FAILURES = 10
#: Data larger than this (values counted) is explained by its first failure only: listing
#: every failure of a huge entity would cost memory in proportion to it.
DEFAULT_MAX_EXPLAINED_VALUES = 10_000
EVENT_LABEL = "event"


def context_label(index: int) -> str:
    """How messages name the ``index``-th (from 0) context of an event."""
    return f"context[{index}]"


class Unresolved(NamedTuple):
    """An entity without a verdict: its label, the error's ``kind``, the URI and why."""

    label: str
    kind: str
    uri: str
    reason: str

    def __str__(self) -> str:
        return f"{self.label} {self.uri}: {self.reason}"


class EventCheck(NamedTuple):
    """What :meth:`Validator.check_event` found: one message per failing entity, and the
    entities whose schema could not be used. The collector's mode decides what follows."""

    failures: tuple[str, ...] = ()
    unresolved: tuple[Unresolved, ...] = ()

    @property
    def valid(self) -> bool:
        """Every entity validated against its schema."""
        return not self.failures and not self.unresolved

    @property
    def unavailable(self) -> bool:
        """Some schema could not be had because of an outage (no verdict on the data)."""
        return any(u.kind == SchemaUnavailable.kind for u in self.unresolved)

    def reason(self, *, strict: bool, max_chars: int = 2 * DEFAULT_MAX_MESSAGE) -> str | None:
        """The bad-row reason: the failures, and in strict mode the unresolved entities
        too; None when there is nothing to refuse."""
        parts = [*self.failures, *(str(u) for u in self.unresolved)] if strict else self.failures
        return cut("; ".join(parts), max_chars) if parts else None


_VALID = EventCheck()


def _label(index: int, first_context: int) -> str:
    return EVENT_LABEL if index < first_context else context_label(index - first_context)


def _invalid(key: SchemaKey, reason: str) -> Any:
    def refuse(data: Any) -> Any:
        raise SchemaInvalid(key.uri, reason)

    return refuse


def _values_within(data: Any, limit: int) -> bool:
    """Whether ``data`` holds at most ``limit`` values (counting containers), without
    walking further than that."""
    pending = [data]
    seen = 0
    while pending:
        node = pending.pop()
        seen += 1
        if seen > limit:
            return False
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return True


class Validator:
    """Validates entities against the schemas ``resolver`` finds.

    Messages are at most ``max_message_chars`` characters and list at most
    ``max_failures`` failures.
    """

    def __init__(
        self,
        resolver: Resolver,
        *,
        max_message_chars: int = DEFAULT_MAX_MESSAGE,
        max_failures: int = DEFAULT_MAX_FAILURES,
        max_explained_values: int = DEFAULT_MAX_EXPLAINED_VALUES,
    ) -> None:
        if max_message_chars < 80 or max_failures < 1:
            raise ValueError("max_message_chars must be >= 80 and max_failures >= 1")
        self.resolver = resolver
        self.max_message_chars = max_message_chars
        self.max_failures = max_failures
        self.max_explained_values = max_explained_values
        self._compiler = SchemaCompiler(lambda key: resolver.resolve(key).schema)
        self._compiled: dict[SchemaKey, CompiledSchema] = {}
        self._lock = threading.Lock()

    def check(
        self, label: str, schema_uri: object, data: Any, *, cached_only: bool = False
    ) -> str | None:
        """None when ``data`` validates against ``schema_uri``; else the bad-row message,
        e.g. ``event iglu:.../link_click/jsonschema/1-0-1: /data/targetUrl: required``.

        Raises :class:`SchemaUnresolved` (its ``kind`` says which case) when the schema
        cannot be used, and with ``cached_only`` :class:`SchemaNotCached` rather than
        fetch or compile anything (for callers on an event loop).
        """
        failed = self._decide(schema_uri, data, cached_only)
        return None if failed is None else self._explain(label, data, *failed)

    def check_event(
        self,
        unstruct: Mapping[str, Any] | None,
        contexts: Sequence[Any] | None,
        *,
        cached_only: bool = False,
    ) -> EventCheck:
        """:meth:`check` for the self-describing event (labelled ``event``) and each context
        (``context[0]``, ...). :class:`SchemaNotCached` (``cached_only``) propagates."""
        failures: list[str] = []
        unresolved: list[Unresolved] = []
        entities = [] if unstruct is None else [unstruct]
        if contexts:
            entities.extend(contexts)
        first_context = 0 if unstruct is None else 1
        for index, entity in enumerate(entities):
            # type() first: an ABC isinstance() costs as much as validating a small entity
            if type(entity) is dict or isinstance(entity, Mapping):
                schema, data = entity.get("schema"), entity.get("data")
            else:
                schema, data = None, None
            try:
                failed = self._decide(schema, data, cached_only)
            except SchemaUnresolved as exc:
                label = _label(index, first_context)
                unresolved.append(Unresolved(label, exc.kind, exc.uri, exc.reason))
                continue
            if failed is not None:
                failures.append(self._explain(_label(index, first_context), data, *failed))
        if not failures and not unresolved:
            return _VALID
        return EventCheck(tuple(failures), tuple(unresolved))

    def prepare(self, schema_uri: str) -> None:
        """Resolve and compile ``schema_uri`` now (to warm the caches before traffic, or to
        test a registry); raises :class:`SchemaUnresolved` when it cannot be used."""
        key = cached_schema_key(schema_uri)
        resolved = self.resolver.resolve(key)
        compiled = self._compiled.get(key)
        if compiled is None or compiled.schema is not resolved.schema:
            compiled = self._compile(key, resolved.schema)
        if compiled.problem is not None:
            raise SchemaInvalid(key.uri, compiled.problem)

    def _decide(
        self, schema_uri: object, data: Any, cached_only: bool
    ) -> tuple[SchemaKey, CompiledSchema, JsonSchemaValueException | None] | None:
        """None when ``data`` validates (the hot path); else what :meth:`_explain` needs (no
        first error: the data is nested too deeply for Python to walk it)."""
        key = cached_schema_key(schema_uri)
        resolved = self.resolver.resolve(key, cached_only=cached_only)
        compiled = self._compiled.get(key)
        if compiled is None or compiled.schema is not resolved.schema:
            if cached_only:
                raise SchemaNotCached(key.uri)
            compiled = self._compile(key, resolved.schema)
        try:
            compiled.decide(data)
        except JsonSchemaValueException as first:
            return key, compiled, first
        except RecursionError:
            return key, compiled, None
        return None

    def _compile(self, key: SchemaKey, schema: Mapping[str, Any]) -> CompiledSchema:
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is not None and compiled.schema is schema:
                return compiled  # another thread compiled it meanwhile
            try:
                compiled = self._compiler.compile(key, schema)
            except SchemaInvalid as exc:
                refuse = _invalid(key, exc.reason)
                compiled = CompiledSchema(schema, refuse, refuse, exc.reason)
            # SchemaUnavailable (a $ref during an outage) propagates and is not remembered.
            if len(self._compiled) >= self.resolver.max_entries:
                for old in list(self._compiled)[: max(1, len(self._compiled) // 10)]:
                    del self._compiled[old]
            self._compiled[key] = compiled
            return compiled

    def _explain(
        self,
        label: str,
        data: Any,
        key: SchemaKey,
        compiled: CompiledSchema,
        first: JsonSchemaValueException | None,
    ) -> str:
        if first is None:
            failure = Failure("/data", "nested too deeply to validate")
            return message(label, key.uri, [failure], False, self.max_message_chars)
        errors: list[JsonSchemaValueException] = [first]
        more = False
        if _values_within(data, self.max_explained_values):
            try:
                compiled.explain(data)
            except JsonSchemaValuesException as every:
                errors = every.errors or errors
            except JsonSchemaValueException as one:
                errors = [one]
            except RecursionError:
                pass
        else:
            more = True
        listed: list[Failure] = []
        for error in errors:
            listed.extend(failures_of(error, data))
            if len(listed) > self.max_failures:
                break
        if len(listed) > self.max_failures:
            listed, more = listed[: self.max_failures], True
        return message(label, key.uri, listed, more, self.max_message_chars)
