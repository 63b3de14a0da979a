"""The admin API, described once: every operation's method, path, parameters, body,
answer and handler. The router (:mod:`datacoral.adminapi.router`) dispatches from this
table and the OpenAPI document (:mod:`datacoral.adminapi.openapi`) is written from it;
neither has a list of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from datacoral.adminapi import handlers
from datacoral.adminapi.models import (
    BadRowEntry,
    Counts,
    CreatedKey,
    CreatedToken,
    Environment,
    EnvironmentCreate,
    Event,
    EventRow,
    Key,
    KeyCreate,
    KeyLookup,
    KeyMatch,
    OriginAdd,
    RangeCount,
    RateLimitChange,
    Token,
    TokenCreate,
    TokenLookup,
    TokenMatch,
    ValidationChange,
)
from datacoral.storage.base import MAX_QUERY_LIMIT

#: Where the admin API lives on the endpoint.
PREFIX = "/admin/v1"
#: The media type of an answer that is one JSON value.
JSON = "application/json"
#: The media type of an answer streamed as it is read: one JSON object per line.
NDJSON = "application/x-ndjson"
#: The times an export may be bounded by, in milliseconds since the epoch: the years 1 to
#: 9999, which ``events export --since/--until`` can name (and both stores can compare).
EARLIEST_MS = -62_135_596_800_000
LATEST_MS = 253_402_300_800_000
#: The most rows an export stream reads from the store at a time.
MAX_EXPORT_PAGE = 10_000

Handler = Callable[[handlers.Call], object]


@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter: a string, a whole number or a boolean."""

    name: str
    where: Literal["path", "query"]
    kind: type[str] | type[int] | type[bool]
    description: str
    required: bool = False
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: ``path`` is relative to :data:`PREFIX`, with ``{name}`` parameters;
    ``response`` is the answer's type hint (None: 204 without a body): of the whole
    answer with :data:`JSON`, of each line with :data:`NDJSON` (a handler then returns
    a :class:`~datacoral.adminapi.streams.Stream`)."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Handler
    params: tuple[Param, ...] = ()
    body: type[Any] | None = None
    response: Any = None
    status: int = 200
    media_type: str = JSON
    description: str | None = None  # more than the summary, when it needs saying


def _path(name: str, description: str) -> Param:
    return Param(name, "path", str, description, required=True)


def _environment_query(description: str) -> Param:
    return Param("environment", "query", str, description)


_NAME = _path("name", "The environment's name.")
_KEY_ID = _path("key_id", "The key's id (key_...), as the key listing shows it.")
_TOKEN_ID = _path("token_id", "The admin token's id (tok_...).")
_LIMIT = Param(
    "limit", "query", int, "How many rows at most.", default=10, minimum=0, maximum=MAX_QUERY_LIMIT
)
_AFTER = Param(
    "after",
    "query",
    int,
    "Only rows after this position, oldest first (to follow new rows); without it, the"
    " latest rows, oldest first.",
    minimum=0,
)
_SINCE = Param(
    "since",
    "query",
    int,
    "Only rows stamped at this time or later (milliseconds since the epoch, inclusive).",
    minimum=EARLIEST_MS,
    maximum=LATEST_MS,
)
_UNTIL = Param(
    "until",
    "query",
    int,
    "Only rows stamped before this time (milliseconds since the epoch, exclusive).",
    minimum=EARLIEST_MS,
    maximum=LATEST_MS,
)
_PAGE_SIZE = Param(
    "page_size",
    "query",
    int,
    "Rows read from the store at a time (the server's memory, not the answer's shape).",
    default=1000,
    minimum=1,
    maximum=MAX_EXPORT_PAGE,
)
_EXPORT_NOTE = (
    "In storage order, read from one snapshot of the store a page at a time and sent as"
    " it is read (`datacoral --server URL events export` reads it). Rows are sent as"
    " stored (a good event's JSON texts as text), so that a client rebuilds them exactly."
    " An answer cut short (the connection closes before the last chunk) is incomplete:"
    " discard it."
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/environments",
        "listEnvironments",
        "The environments the token covers.",
        "environments",
        handlers.list_environments,
        response=list[Environment],
    ),
    Operation(
        "POST",
        "/environments",
        "createEnvironment",
        "Create an environment (server-wide token).",
        "environments",
        handlers.create_environment,
        body=EnvironmentCreate,
        response=Environment,
        status=201,
    ),
    Operation(
        "GET",
        "/environments/{name}",
        "getEnvironment",
        "One environment.",
        "environments",
        handlers.get_environment,
        params=(_NAME,),
        response=Environment,
    ),
    Operation(
        "DELETE",
        "/environments/{name}",
        "deleteEnvironment",
        "Delete an environment (server-wide token); refused while it has keys or events"
        " unless force.",
        "environments",
        handlers.delete_environment,
        params=(
            _NAME,
            Param(
                "force", "query", bool, "Delete its keys, events and bad rows too.", default=False
            ),
        ),
        status=204,
    ),
    Operation(
        "PUT",
        "/environments/{name}/validation",
        "setValidation",
        "Set what the environment does with Iglu schemas.",
        "environments",
        handlers.set_validation,
        params=(_NAME,),
        body=ValidationChange,
        response=Environment,
    ),
    Operation(
        "PUT",
        "/environments/{name}/rate_limit",
        "setEnvironmentRateLimit",
        "Set (null: remove) the rate limit of all the environment's keys together.",
        "environments",
        handlers.set_environment_rate_limit,
        params=(_NAME,),
        body=RateLimitChange,
        response=Environment,
    ),
    Operation(
        "POST",
        "/environments/{name}/origins",
        "addOrigin",
        "Allow a browser origin.",
        "environments",
        handlers.add_origin,
        params=(_NAME,),
        body=OriginAdd,
        response=Environment,
    ),
    Operation(
        "DELETE",
        "/environments/{name}/origins",
        "removeOrigin",
        "Stop allowing a browser origin.",
        "environments",
        handlers.remove_origin,
        params=(_NAME, Param("origin", "query", str, "The origin to remove.", required=True)),
        response=Environment,
    ),
    Operation(
        "GET",
        "/environments/{name}/events",
        "listEvents",
        "The latest good events (or those after a position), oldest first.",
        "events",
        handlers.list_events,
        params=(_NAME, _LIMIT, _AFTER),
        response=list[Event],
    ),
    Operation(
        "GET",
        "/environments/{name}/bad_rows",
        "listBadRows",
        "The latest bad rows (or those after a position), oldest first.",
        "events",
        handlers.list_bad_rows,
        params=(_NAME, _LIMIT, _AFTER),
        response=list[BadRowEntry],
    ),
    Operation(
        "GET",
        "/environments/{name}/events/export",
        "exportEvents",
        "Every good event whose collector_tstamp is in [since, until), as NDJSON.",
        "events",
        handlers.export_events,
        params=(_NAME, _SINCE, _UNTIL, _PAGE_SIZE),
        response=EventRow,
        media_type=NDJSON,
        description=_EXPORT_NOTE,
    ),
    Operation(
        "GET",
        "/environments/{name}/bad_rows/export",
        "exportBadRows",
        "Every bad row whose received_tstamp is in [since, until), as NDJSON.",
        "events",
        handlers.export_bad_rows,
        params=(_NAME, _SINCE, _UNTIL, _PAGE_SIZE),
        response=BadRowEntry,
        media_type=NDJSON,
        description=_EXPORT_NOTE,
    ),
    Operation(
        "GET",
        "/environments/{name}/events/count",
        "countEventsInRange",
        "How many good events an export of [since, until) would read now.",
        "events",
        handlers.count_events_in_range,
        params=(_NAME, _SINCE, _UNTIL),
        response=RangeCount,
    ),
    Operation(
        "GET",
        "/environments/{name}/bad_rows/count",
        "countBadRowsInRange",
        "How many bad rows an export of [since, until) would read now.",
        "events",
        handlers.count_bad_rows_in_range,
        params=(_NAME, _SINCE, _UNTIL),
        response=RangeCount,
    ),
    Operation(
        "GET",
        "/events/{event_id}",
        "findEvent",
        "Every stored event with this id, in the environments the token covers.",
        "events",
        handlers.find_event,
        params=(_path("event_id", "The event id (a UUID)."),),
        response=list[Event],
    ),
    Operation(
        "GET",
        "/counts",
        "countEvents",
        "Good events, bad rows, duplicates and unvalidated events per environment.",
        "events",
        handlers.count_events,
        params=(_environment_query("Only this environment."),),
        response=list[Counts],
    ),
    Operation(
        "GET",
        "/keys",
        "listKeys",
        "API keys (never the keys themselves).",
        "keys",
        handlers.list_keys,
        params=(_environment_query("Only this environment's keys."),),
        response=list[Key],
    ),
    Operation(
        "POST",
        "/keys",
        "createKey",
        "Create an API key; the answer is the only place the key appears.",
        "keys",
        handlers.create_key,
        body=KeyCreate,
        response=CreatedKey,
        status=201,
    ),
    Operation(
        "POST",
        "/keys/lookup",
        "lookupKey",
        "Which key has this SHA-256 digest (the key itself is never sent).",
        "keys",
        handlers.lookup_key,
        body=KeyLookup,
        response=KeyMatch,
    ),
    Operation(
        "POST",
        "/keys/{key_id}/revoke",
        "revokeKey",
        "Revoke a key at once; revoking twice keeps the first time.",
        "keys",
        handlers.revoke_key,
        params=(_KEY_ID,),
        response=Key,
    ),
    Operation(
        "PUT",
        "/keys/{key_id}/rate_limit",
        "setKeyRateLimit",
        "Set (null: remove) a key's own rate limit.",
        "keys",
        handlers.set_key_rate_limit,
        params=(_KEY_ID,),
        body=RateLimitChange,
        response=Key,
    ),
    Operation(
        "GET",
        "/tokens",
        "listTokens",
        "Admin tokens (server-wide token).",
        "tokens",
        handlers.list_tokens,
        params=(_environment_query("Only this environment's tokens."),),
        response=list[Token],
    ),
    Operation(
        "POST",
        "/tokens",
        "createToken",
        "Create an admin token for one environment, or * for all (server-wide token); the"
        " answer is the only place the token appears.",
        "tokens",
        handlers.create_token,
        body=TokenCreate,
        response=CreatedToken,
        status=201,
    ),
    Operation(
        "POST",
        "/tokens/lookup",
        "lookupToken",
        "Which admin token has this SHA-256 digest (server-wide token).",
        "tokens",
        handlers.lookup_token,
        body=TokenLookup,
        response=TokenMatch,
    ),
    Operation(
        "POST",
        "/tokens/{token_id}/revoke",
        "revokeToken",
        "Revoke an admin token (server-wide token); endpoints refuse it within a second.",
        "tokens",
        handlers.revoke_token,
        params=(_TOKEN_ID,),
        response=Token,
    ),
)
