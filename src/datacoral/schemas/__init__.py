"""Iglu schema resolution and validation of self-describing events and contexts.

The pieces, each in its module::

    uri.py         iglu:vendor/name/format/M-R-A  <->  SchemaKey
    sources.py     the embedded set and local folders      } each fetch() answers
    registries.py  static repositories and Iglu Server     } Found / Missing / Failed
    resolver.py    sources in order, TTL caches, the outage policy (stale-while-error)
    compiler.py    meta-schema check, then fastjsonschema code, once per schema
    failures.py    errors as JSON pointers and rules, in bounded messages
    validator.py   Validator.check / check_event: the verdicts
    settings.py    --iglu / DATACORAL_IGLU as typed settings that build a resolver
    errors.py      the exception tree

Typical use::

    settings = IgluSettings.from_values(["./schemas", "https://iglu.example.com"])
    validator = Validator(settings.build_resolver())
    validator.check("event", "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                    {"targetUrl": ""})
    # 'event iglu:...link_click/jsonschema/1-0-1: /data/targetUrl: minLength 1'

**How a collector on an event loop should call it.** Validation of a cached schema
costs about a microsecond per entity and needs no I/O; fetching and compiling a new
schema may block on a registry for up to the timeout. So: call
``check_event(..., cached_only=True)`` on the loop; on :class:`SchemaNotCached`, run
``check_event(...)`` (the same call without ``cached_only``) in a worker thread and
use its answer. Warm the cache at start-up with :meth:`Validator.prepare` for the
schemas a site is known to send. A thread hop costs more than validating, so do not
send every event to a thread.

**What a mode should do with the answers** (:class:`EventCheck`):

- ``failures`` (a schema found, the data fails it): a bad row with
  ``reason(strict=...)``, in strict and lenient modes alike.
- ``unresolved`` of kind ``not_iglu`` or ``not_found`` or ``invalid_schema``:
  strict → a bad row (``reason(strict=True)`` names them); lenient → stored with
  ``schema_validated`` false, counted by kind.
- ``unavailable`` (a registry outage and no copy of that schema cached yet): this is
  not a verdict on the event. Lenient → stored with ``schema_validated`` false and
  counted as unavailable. Strict → answer 503 with ``Retry-After`` (the resolver
  retries that schema after ``failure_ttl``), so trackers resend and nothing becomes
  a bad row because a registry was down; events whose schemas are cached keep being
  validated through the outage (stale-while-error).
"""

from __future__ import annotations

from datacoral.schemas.errors import (
    InvalidIgluSource,
    InvalidSchemaUri,
    SchemaError,
    SchemaInvalid,
    SchemaNotCached,
    SchemaNotFound,
    SchemaUnavailable,
    SchemaUnresolved,
)
from datacoral.schemas.resolver import Resolved, Resolver, ResolverStats
from datacoral.schemas.settings import (
    IGLU_CENTRAL,
    IgluServer,
    IgluSettings,
    LocalFolder,
    StaticRepository,
    parse_iglu_source,
    split_iglu_variable,
)
from datacoral.schemas.uri import SchemaKey, parse_schema_uri
from datacoral.schemas.validator import (
    EVENT_LABEL,
    EventCheck,
    Unresolved,
    Validator,
    context_label,
)

__all__ = [
    "EVENT_LABEL",
    "IGLU_CENTRAL",
    "EventCheck",
    "IgluServer",
    "IgluSettings",
    "InvalidIgluSource",
    "InvalidSchemaUri",
    "LocalFolder",
    "Resolved",
    "Resolver",
    "ResolverStats",
    "SchemaError",
    "SchemaInvalid",
    "SchemaKey",
    "SchemaNotCached",
    "SchemaNotFound",
    "SchemaUnavailable",
    "SchemaUnresolved",
    "StaticRepository",
    "Unresolved",
    "Validator",
    "context_label",
    "parse_iglu_source",
    "parse_schema_uri",
    "split_iglu_variable",
]
