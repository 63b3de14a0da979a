"""``datacoral key ...``: API keys, shown once at creation and stored hashed, and their
rate limits."""

from __future__ import annotations

import click

from datacoral.admin.keys import KEY_PREFIX, hash_key, visible_prefix
from datacoral.admin.rate_limits import (
    describe,
    limit_json,
    parse_burst,
    parse_rate_limit,
    with_burst,
)
from datacoral.cli.context import db_option, json_option, open_store
from datacoral.cli.environments import rate_limit_options
from datacoral.cli.errors import CLIError
from datacoral.cli.output import echo, echo_json, echo_table, timestamp
from datacoral.storage.base import AdminStorage, KeyInfo
from datacoral.storage.target import Target


@click.group()
def key() -> None:
    """Create, list, limit and revoke API keys."""


@key.command("create")
@click.option("--env", "environment", required=True, help="The key's environment.")
@click.option("--label", default=None, help="What the key is for, shown in listings.")
@rate_limit_options
@json_option
@db_option()
def create(
    environment: str,
    label: str | None,
    rate_limit: str | None,
    burst: str | None,
    as_json: bool,
    db: Target | None,
) -> None:
    """Create a key for an environment and print it, once.

    The key alone goes to stdout (so `KEY=$(datacoral key create --env dev)`
    works); the notes go to stderr. --rate-limit limits this key alone, within
    its environment's limit.
    """
    if burst is not None and rate_limit is None:
        raise click.UsageError("--burst needs --rate-limit N/s or N/min")
    limit = None if rate_limit is None else parse_rate_limit(rate_limit, burst)
    with open_store(db, create=True) as store:
        info, secret = store.create_key(environment, label, rate_limit=limit)
    if as_json:
        echo_json({**key_json(info), "key": secret})
    else:
        echo(secret)
    limited = "" if limit is None else f" (rate limit {limit})"
    echo(
        f"created key {info.key_id} for environment {environment!r}{limited}."
        " It is shown only now and will not be shown again: store it somewhere safe.",
        err=True,
    )


@key.command("set")
@click.argument("key_id")
@rate_limit_options
@db_option()
def set_(key_id: str, rate_limit: str | None, burst: str | None, db: Target | None) -> None:
    """Change key KEY_ID (key_..., as `key list` shows); running servers follow within a
    second. --burst alone changes the burst of the limit the key has."""
    if rate_limit is None and burst is None:
        raise click.UsageError("nothing to change: give --rate-limit N/s|N/min|none or --burst N")
    burst_events = None if burst is None else parse_burst(burst)
    limit = None if rate_limit is None else parse_rate_limit(rate_limit, burst_events)
    with open_store(db) as store:
        if key_id.startswith(KEY_PREFIX):
            raise CLIError(_secret_instead_of_id(store, key_id, "set"))
        if rate_limit is None and burst_events is not None:
            found = next((info for info in store.list_keys() if info.key_id == key_id), None)
            if found is None:
                raise CLIError(f"no key {key_id!r}")
            limit = with_burst(found.rate_limit, burst_events, f"key {key_id}")
        info = store.set_key_rate_limit(key_id, limit)
    echo(
        f"key {info.key_id} of environment {info.environment!r}:"
        f" rate limit {describe(info.rate_limit)}"
    )


@key.command("list")
@click.option("--env", "environment", default=None, help="Only this environment's keys.")
@json_option
@db_option()
def list_(environment: str | None, as_json: bool, db: Target | None) -> None:
    """List keys: id, label, environment, first characters, created, last used, revoked,
    rate limit."""
    with open_store(db) as store:
        if environment is not None and store.get_environment(environment) is None:
            raise CLIError(f"no environment {environment!r}")
        infos = store.list_keys(environment)
    if as_json:
        echo_json([key_json(info) for info in infos])
        return
    echo_table(
        ("ID", "LABEL", "ENVIRONMENT", "KEY", "CREATED", "LAST USED", "REVOKED", "RATE LIMIT"),
        (
            (
                info.key_id,
                info.label,
                info.environment,
                f"{info.prefix}...",
                timestamp(info.created_at),
                timestamp(info.last_used_at),
                timestamp(info.revoked_at),
                None if info.rate_limit is None else str(info.rate_limit),
            )
            for info in infos
        ),
    )


@key.command("revoke")
@click.argument("key_id")
@db_option()
def revoke(key_id: str, db: Target | None) -> None:
    """Revoke key KEY_ID (key_..., as `key list` shows); the endpoint refuses it within a second."""
    with open_store(db) as store:
        if key_id.startswith(KEY_PREFIX):
            raise CLIError(_secret_instead_of_id(store, key_id, "revoke"))
        before = next((info for info in store.list_keys() if info.key_id == key_id), None)
        if before is not None and before.revoked:
            echo(
                f"key {before.key_id} of environment {before.environment!r} was already revoked"
                f" at {timestamp(before.revoked_at)}; nothing changed"
            )
            return
        info = store.revoke_key(key_id)
    echo(f"revoked key {info.key_id} of environment {info.environment!r}")


def _secret_instead_of_id(store: AdminStorage, secret: str, command: str) -> str:
    """The message for ``key revoke dck_...`` (or ``set``): point to the key's id, never
    echo the key."""
    shown = f"{visible_prefix(secret)}..."
    record = store.lookup_key(hash_key(secret))
    if record is None:
        return (
            f"{shown} looks like an API key, not a key id, and no key of this database"
            " matches it; `datacoral key list` shows the ids (key_...)"
        )
    if record.revoked and command == "revoke":
        return f"{shown} is an API key, not its id; its id is {record.key_id}, already revoked"
    return (
        f"{shown} is an API key, not its id; {command} it by its id:"
        f" datacoral key {command} {record.key_id}"
    )


def key_json(info: KeyInfo) -> dict[str, object]:
    return {
        "key_id": info.key_id,
        "environment": info.environment,
        "label": info.label,
        "prefix": info.prefix,
        "created_at": timestamp(info.created_at),
        "last_used_at": timestamp(info.last_used_at),
        "revoked_at": timestamp(info.revoked_at),
        "rate_limit": limit_json(info.rate_limit),
    }
