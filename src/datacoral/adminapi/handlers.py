"""What each admin API operation does: one function per operation, on a worker thread.

A handler gets a :class:`Call` (the store, the caller, the parameters and the decoded
body) and returns what to answer: a model, a list, None (204), or (an NDJSON
operation) a :class:`~datacoral.adminapi.streams.Stream` of rows. It makes the same
storage calls the CLI makes with ``--db``, so an answer says what the local command
would; the caller's scope is checked first (:class:`~datacoral.adminapi.auth.Caller`).
Storage's errors are left to the dispatcher (:mod:`datacoral.adminapi.api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datacoral.admin.rate_limits import RateLimit
from datacoral.adminapi.auth import Caller
from datacoral.adminapi.errors import NotFound
from datacoral.adminapi.models import (
    Counts,
    CreatedKey,
    CreatedToken,
    Environment,
    EnvironmentCreate,
    Key,
    KeyCreate,
    KeyLookup,
    KeyMatch,
    OriginAdd,
    RangeCount,
    RateLimitBody,
    RateLimitChange,
    Token,
    TokenCreate,
    TokenLookup,
    TokenMatch,
    ValidationChange,
)
from datacoral.adminapi.streams import Stream, bad_row_line, event_line
from datacoral.export.records import bad_row_json, event_json
from datacoral.storage.base import AdminStorage, StoredBadRow, StoredEvent


@dataclass(frozen=True, slots=True)
class Call:
    """One request, as a handler sees it."""

    storage: AdminStorage
    caller: Caller
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any = None


# --- environments ----------------------------------------------------------------------


def list_environments(call: Call) -> list[Environment]:
    only = call.caller.only
    if only is None:
        records = call.storage.environments()
    else:
        found = call.storage.get_environment(only)
        records = [] if found is None else [found]
    return [Environment.of(record) for record in records]


def create_environment(call: Call) -> Environment:
    call.caller.require_server_wide("creating an environment")
    body: EnvironmentCreate = call.body
    return Environment.of(call.storage.create_environment(body.name, body.origins, body.mode))


def get_environment(call: Call) -> Environment:
    name = _environment(call)
    found = call.storage.get_environment(name)
    if found is None:
        raise NotFound(f"no environment {name!r}")
    return Environment.of(found)


def delete_environment(call: Call) -> None:
    call.caller.require_server_wide("deleting an environment")
    call.storage.delete_environment(call.path["name"], force=bool(call.query["force"]))


def set_validation(call: Call) -> Environment:
    body: ValidationChange = call.body
    return Environment.of(call.storage.set_validation(_environment(call), body.mode))


def set_environment_rate_limit(call: Call) -> Environment:
    body: RateLimitChange = call.body
    name = _environment(call)
    return Environment.of(call.storage.set_environment_rate_limit(name, _limit(body.rate_limit)))


def add_origin(call: Call) -> Environment:
    body: OriginAdd = call.body
    return Environment.of(call.storage.add_origin(_environment(call), body.origin))


def remove_origin(call: Call) -> Environment:
    return Environment.of(call.storage.remove_origin(_environment(call), call.query["origin"]))


# --- API keys --------------------------------------------------------------------------


def list_keys(call: Call) -> list[Key]:
    return [Key.of(info) for info in call.storage.list_keys(_listed(call))]


def create_key(call: Call) -> CreatedKey:
    body: KeyCreate = call.body
    call.caller.require(body.environment)
    limit = _limit(body.rate_limit)
    info, key = call.storage.create_key(body.environment, body.label, rate_limit=limit)
    return CreatedKey.new(info, key)


def lookup_key(call: Call) -> KeyMatch:
    body: KeyLookup = call.body
    found = call.storage.lookup_key(bytes.fromhex(body.key_sha256))
    if found is None or not call.caller.covers(found.environment):
        raise NotFound("no key has this digest")
    return KeyMatch.of(found)


def revoke_key(call: Call) -> Key:
    key_id = _key(call)
    return Key.of(call.storage.revoke_key(key_id))


def set_key_rate_limit(call: Call) -> Key:
    body: RateLimitChange = call.body
    return Key.of(call.storage.set_key_rate_limit(_key(call), _limit(body.rate_limit)))


# --- admin tokens (server-wide tokens only) ----------------------------------------------


def list_tokens(call: Call) -> list[Token]:
    call.caller.require_server_wide("listing admin tokens")
    environment = call.query.get("environment")
    return [Token.of(info) for info in call.storage.list_admin_tokens(environment)]


def create_token(call: Call) -> CreatedToken:
    call.caller.require_server_wide("creating an admin token")
    body: TokenCreate = call.body
    info, token = call.storage.create_admin_token(body.environment, body.label)
    return CreatedToken.new(info, token)


def lookup_token(call: Call) -> TokenMatch:
    call.caller.require_server_wide("looking up an admin token")
    body: TokenLookup = call.body
    found = call.storage.lookup_admin_token(bytes.fromhex(body.token_sha256))
    if found is None:
        raise NotFound("no admin token has this digest")
    return TokenMatch.of(found)


def revoke_token(call: Call) -> Token:
    call.caller.require_server_wide("revoking an admin token")
    return Token.of(call.storage.revoke_admin_token(call.path["token_id"]))


# --- stored events ---------------------------------------------------------------------


def count_events(call: Call) -> list[Counts]:
    return [Counts.of(counts) for counts in call.storage.count_events(_listed(call))]


def list_events(call: Call) -> list[dict[str, Any]]:
    name, limit, after = _environment(call), call.query["limit"], call.query.get("after")
    if after is None:
        found = call.storage.latest_events(name, limit)
    else:
        found = call.storage.events_after(name, after, limit)
    return [event_json(stored) for stored in found]


def list_bad_rows(call: Call) -> list[dict[str, Any]]:
    name, limit, after = _environment(call), call.query["limit"], call.query.get("after")
    if after is None:
        found = call.storage.latest_bad_rows(name, limit)
    else:
        found = call.storage.bad_rows_after(name, after, limit)
    return [bad_row_json(stored) for stored in found]


def export_events(call: Call) -> Stream[StoredEvent]:
    name, since, until = _range(call)
    pages = call.storage.iter_events(
        name, since=since, until=until, page_size=call.query["page_size"]
    )
    return Stream(pages, event_line)


def export_bad_rows(call: Call) -> Stream[StoredBadRow]:
    name, since, until = _range(call)
    pages = call.storage.iter_bad_rows(
        name, since=since, until=until, page_size=call.query["page_size"]
    )
    return Stream(pages, bad_row_line)


def count_events_in_range(call: Call) -> RangeCount:
    name, since, until = _range(call)
    return RangeCount(call.storage.count_in_range(name, since=since, until=until))


def count_bad_rows_in_range(call: Call) -> RangeCount:
    name, since, until = _range(call)
    return RangeCount(call.storage.count_in_range(name, since=since, until=until, bad=True))


def find_event(call: Call) -> list[dict[str, Any]]:
    found = call.storage.find_events(call.path["event_id"])
    return [event_json(s) for s in found if call.caller.covers(s.event.environment)]


# --- shared ----------------------------------------------------------------------------


def _environment(call: Call) -> str:
    """The environment of the path, once the caller is known to cover it."""
    name = call.path["name"]
    call.caller.require(name)
    return name


def _range(call: Call) -> tuple[str, int | None, int | None]:
    """The environment of the path (covered by the caller), ``since`` and ``until``."""
    return _environment(call), call.query.get("since"), call.query.get("until")


def _listed(call: Call) -> str | None:
    """The environment a listing is limited to: the ``environment`` parameter (covered by
    the caller), else the caller's own (None: every environment)."""
    environment: str | None = call.query.get("environment")
    if environment is None:
        return call.caller.only
    call.caller.require(environment)
    return environment


def _key(call: Call) -> str:
    """The key of the path, once the caller is known to cover its environment (a key that
    does not exist is left to storage, which says so)."""
    key_id = call.path["key_id"]
    if not call.caller.server_wide:
        found = next((i for i in call.storage.list_keys() if i.key_id == key_id), None)
        if found is not None:
            call.caller.require(found.environment)
    return key_id


def _limit(body: RateLimitBody | None) -> RateLimit | None:
    return None if body is None else body.limit()
