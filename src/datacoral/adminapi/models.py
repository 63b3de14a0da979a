"""What the admin API takes and gives: request and response bodies as dataclasses.

Their type hints and :func:`~datacoral.adminapi.schema.rule` metadata are the JSON
Schemas of the OpenAPI document and the checks of request bodies. Timestamps are ISO
8601 in UTC with milliseconds (``2026-11-26T12:00:00.123Z``), as the CLI's ``--json``
prints them; rate limits are ``{"rate": "1000/s", "burst": 5000}`` likewise. A good
event is the object ``events tail --json`` prints (:data:`EVENT_SCHEMA`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from datacoral.admin.environments import DEFAULT_VALIDATION, ValidationMode
from datacoral.admin.rate_limits import RateLimit, parse_rate_limit
from datacoral.adminapi.schema import JSONSchema, rule, schema_of
from datacoral.export.records import JSON_TEXT_FIELDS, iso_timestamp
from datacoral.storage.base import (
    AdminTokenInfo,
    AdminTokenRecord,
    EnvironmentRecord,
    EventCounts,
    GoodEvent,
    KeyInfo,
    KeyRecord,
)

_TIME = rule(fmt="date-time", description="ISO 8601, UTC, milliseconds")
_SHA256 = "^[0-9a-f]{64}$"
Validation = Literal["strict", "lenient", "off"]


@dataclass(frozen=True)
class RateLimitBody:
    """A token bucket: ``rate`` events on average (per second or minute), at most
    ``burst`` at once."""

    rate: str = field(metadata=rule(pattern="^[0-9]{1,10}/(s|min)$", description="N/s or N/min"))
    burst: int = field(metadata=rule(minimum=1, maximum=1_000_000_000))

    def limit(self) -> RateLimit:
        """The limit; ValueError when out of range (``0/s``)."""
        found = parse_rate_limit(self.rate, self.burst)
        assert found is not None  # the pattern excludes "none"
        return found

    @classmethod
    def of(cls, limit: RateLimit | None) -> RateLimitBody | None:
        return None if limit is None else cls(rate=limit.rate, burst=limit.burst)


@dataclass(frozen=True)
class Environment:
    """An environment: its validation mode, allowed browser origins and rate limit."""

    name: str
    validation: Validation
    origins: list[str]
    rate_limit: RateLimitBody | None

    @classmethod
    def of(cls, record: EnvironmentRecord) -> Environment:
        return cls(
            name=record.name,
            validation=record.validation.value,
            origins=list(record.origins),
            rate_limit=RateLimitBody.of(record.rate_limit),
        )


@dataclass(frozen=True)
class EnvironmentCreate:
    """A new environment."""

    # Checked by storage, whose message the CLI shows as it would with --db.
    name: str = field(metadata=rule(description="1-32 lowercase letters, digits, '-' or '_'"))
    origins: list[str] = field(default_factory=list)
    validation: Validation = DEFAULT_VALIDATION.value

    @property
    def mode(self) -> ValidationMode:
        return ValidationMode(self.validation)


@dataclass(frozen=True)
class ValidationChange:
    """What an environment does with Iglu schemas from now on."""

    validation: Validation

    @property
    def mode(self) -> ValidationMode:
        return ValidationMode(self.validation)


@dataclass(frozen=True)
class RateLimitChange:
    """A new rate limit, or null to remove it."""

    rate_limit: RateLimitBody | None


@dataclass(frozen=True)
class OriginAdd:
    """A browser origin to allow, e.g. ``https://app.example.com`` or
    ``https://*.example.com``."""

    origin: str


@dataclass(frozen=True)
class Key:
    """An API key as it may be shown: never the key, only its first characters."""

    key_id: str
    environment: str
    label: str | None
    prefix: str
    created_at: str = field(metadata=_TIME)
    last_used_at: str | None = field(metadata=_TIME)
    revoked_at: str | None = field(metadata=_TIME)
    rate_limit: RateLimitBody | None

    @classmethod
    def of(cls, info: KeyInfo) -> Key:
        return cls(
            key_id=info.key_id,
            environment=info.environment,
            label=info.label,
            prefix=info.prefix,
            created_at=iso_timestamp(info.created_at),
            last_used_at=_time(info.last_used_at),
            revoked_at=_time(info.revoked_at),
            rate_limit=RateLimitBody.of(info.rate_limit),
        )


@dataclass(frozen=True)
class CreatedKey(Key):
    """A new API key, with the key itself: this answer is the only place it appears."""

    key: str

    @classmethod
    def new(cls, info: KeyInfo, key: str) -> CreatedKey:
        return cls(**_fields(Key.of(info)), key=key)


@dataclass(frozen=True)
class KeyCreate:
    """A new API key for ``environment``."""

    environment: str
    label: str | None = None
    rate_limit: RateLimitBody | None = None


@dataclass(frozen=True)
class KeyLookup:
    """The SHA-256 of an API key, in hex: which key it is, without sending the key."""

    key_sha256: str = field(metadata=rule(pattern=_SHA256))


@dataclass(frozen=True)
class KeyMatch:
    """The key a digest belongs to."""

    key_id: str
    environment: str
    revoked: bool

    @classmethod
    def of(cls, record: KeyRecord) -> KeyMatch:
        return cls(key_id=record.key_id, environment=record.environment, revoked=record.revoked)


@dataclass(frozen=True)
class Token:
    """An admin token as it may be shown; ``environment`` is ``*`` for a server-wide one."""

    token_id: str
    environment: str
    label: str | None
    prefix: str
    created_at: str = field(metadata=_TIME)
    revoked_at: str | None = field(metadata=_TIME)

    @classmethod
    def of(cls, info: AdminTokenInfo) -> Token:
        return cls(
            token_id=info.token_id,
            environment=info.environment,
            label=info.label,
            prefix=info.prefix,
            created_at=iso_timestamp(info.created_at),
            revoked_at=_time(info.revoked_at),
        )


@dataclass(frozen=True)
class CreatedToken(Token):
    """A new admin token, with the token itself: this answer is the only place it appears."""

    token: str

    @classmethod
    def new(cls, info: AdminTokenInfo, token: str) -> CreatedToken:
        return cls(**_fields(Token.of(info)), token=token)


@dataclass(frozen=True)
class TokenCreate:
    """A new admin token for ``environment``, or (``*``) for every environment."""

    environment: str
    label: str | None = None


@dataclass(frozen=True)
class TokenLookup:
    """The SHA-256 of an admin token, in hex."""

    token_sha256: str = field(metadata=rule(pattern=_SHA256))


@dataclass(frozen=True)
class TokenMatch:
    """The admin token a digest belongs to."""

    token_id: str
    environment: str
    revoked: bool

    @classmethod
    def of(cls, record: AdminTokenRecord) -> TokenMatch:
        return cls(token_id=record.token_id, environment=record.environment, revoked=record.revoked)


@dataclass(frozen=True)
class Counts:
    """Events of one environment (null: bad rows of requests without one)."""

    environment: str | None
    good: int
    bad: int
    duplicates: int
    unvalidated: int

    @classmethod
    def of(cls, counts: EventCounts) -> Counts:
        return cls(**dataclasses.asdict(counts))


@dataclass(frozen=True)
class BadRowEntry:
    """A bad row: why the input could not be an event, and the input."""

    position: int
    reason: str
    payload: str
    received_tstamp: int = field(metadata=rule(description="milliseconds since the epoch"))
    environment: str | None
    event_id: str | None
    kind: str


@dataclass(frozen=True)
class Error:
    """Why a request was refused: a short ``error`` kind and a ``detail`` for a person."""

    error: str
    detail: str


class Event:
    """A stored good event (only its schema: handlers answer with
    :func:`datacoral.export.records.event_json`'s objects)."""

    @staticmethod
    def json_schema(components: dict[str, JSONSchema]) -> JSONSchema:
        return event_schema(components)


class EventRow:
    """A stored good event as an export stream sends it (only its schema: the stream's
    lines are :func:`datacoral.adminapi.streams.event_row`'s objects)."""

    @staticmethod
    def json_schema(components: dict[str, JSONSchema]) -> JSONSchema:
        return event_schema(components, as_stored=True)


@dataclass(frozen=True)
class RangeCount:
    """How many rows an export of the same time range would read now."""

    count: int


def event_schema(components: dict[str, JSONSchema], *, as_stored: bool = False) -> JSONSchema:
    """The schema of a good event as :func:`datacoral.export.records.event_json` writes it:
    ``position``, then every :class:`GoodEvent` field, the fingerprint in hex and the
    self-describing JSON decoded; ``as_stored``, the self-describing JSON as the text the
    store holds instead (an export stream's row)."""
    properties: JSONSchema = {"position": {"type": "integer"}}
    for name, hint in typing.get_type_hints(GoodEvent).items():
        if name == "fingerprint":
            properties[name] = {"type": "string", "pattern": "^[0-9a-f]*$"}
        elif name in JSON_TEXT_FIELDS:
            properties[name] = {"type": ["string", "null"]} if as_stored else {}
        else:
            properties[name] = schema_of(hint, components)
    if as_stored:
        description = (
            "A stored good event as the store holds it: the fingerprint in hex, the"
            " self-describing event and the contexts as their stored JSON text."
        )
    else:
        description = "A stored good event, as `datacoral events tail --json` prints it."
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _time(ms: int | None) -> str | None:
    return None if ms is None else iso_timestamp(ms)


def _fields(model: object) -> dict[str, Any]:
    """A dataclass's fields, not copied deeply (unlike ``dataclasses.asdict``)."""
    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}  # type: ignore[arg-type]
