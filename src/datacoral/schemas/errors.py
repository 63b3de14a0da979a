"""Errors of schema resolution and validation, as one tree.

::

    SchemaError                  root of every datacoral.schemas error
    ├── InvalidIgluSource        a ``--iglu`` / ``DATACORAL_IGLU`` value that names no folder or
    │                            registry (configuration: the CLI turns it into a usage error)
    ├── SchemaNotCached          ``cached_only=True`` and the answer needs a registry or a
    │                            compilation: call again off the event loop
    └── SchemaUnresolved         no verdict for an entity: its schema cannot be used.
        │                        ``uri``, ``reason`` and ``kind`` say why; the caller's mode
        │                        decides between a bad row and an unvalidated event
        ├── InvalidSchemaUri     ``kind = "not_iglu"``: not ``iglu:vendor/name/format/M-R-A``
        │                        (e.g. the seed snippet's ``schema="test"``)
        ├── SchemaNotFound       ``kind = "not_found"``: every source answered that it has no
        │                        such schema
        ├── SchemaUnavailable    ``kind = "unavailable"``: no source had it and at least one
        │                        could not answer (outage) while no earlier copy was cached;
        │                        the schema may well exist: this is not a verdict on the data
        └── SchemaInvalid        ``kind = "invalid_schema"``: found, but not a usable schema
                                 (fails the self-describing meta-schema, its ``self`` names
                                 another schema, or it does not compile)

A failing entity is not an error: :meth:`Validator.check` returns its bad-row message.
Every ``reason`` is short plain text, bounded in size.
"""

from __future__ import annotations


def shown(value: object, limit: int = 80) -> str:
    """``repr`` of a value from outside (an event, a registry), cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SchemaError(Exception):
    """Root of the errors of :mod:`datacoral.schemas`."""


class InvalidIgluSource(SchemaError, ValueError):
    """A configured Iglu source is neither an existing folder nor an http(s) registry URL."""


class SchemaNotCached(SchemaError):
    """The answer is not in the caches; it needs I/O or a compilation (``cached_only=True``)."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri}: not cached yet")
        self.uri = uri


class SchemaUnresolved(SchemaError):
    """The entity's schema cannot be used; ``kind`` names the case for counters."""

    kind = "unresolved"

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"{uri}: {reason}")
        self.uri = uri
        self.reason = reason


class InvalidSchemaUri(SchemaUnresolved):
    """Not an Iglu URI: ``iglu:vendor/name/format/MODEL-REVISION-ADDITION``."""

    kind = "not_iglu"


class SchemaNotFound(SchemaUnresolved):
    """Every source answered and none has the schema."""

    kind = "not_found"


class SchemaUnavailable(SchemaUnresolved):
    """No source had the schema and at least one could not answer: an outage, not a verdict."""

    kind = "unavailable"


class SchemaInvalid(SchemaUnresolved):
    """The schema was found but cannot validate anything (meta-schema, ``self``, compilation)."""

    kind = "invalid_schema"
