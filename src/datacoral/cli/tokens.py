"""``datacoral token ...``: admin tokens, which read one environment's events.

A token is shown once at creation and stored hashed, like an API key; it goes in
``Authorization: Bearer <token>`` to the endpoint's inspection API (``serve
--inspect``). API keys write events, admin tokens read them.
"""

from __future__ import annotations

import click

from datacoral.admin.keys import KEY_PREFIX
from datacoral.admin.tokens import ALL_ENVIRONMENTS, TOKEN_PREFIX, hash_token, visible_prefix
from datacoral.cli.context import db_option, json_option, open_store
from datacoral.cli.errors import CLIError
from datacoral.cli.output import echo, echo_json, echo_table, timestamp
from datacoral.storage.base import AdminStorage, AdminTokenInfo
from datacoral.storage.target import Target


@click.group()
def token() -> None:
    """Create, list and revoke admin tokens (they read an environment's events)."""


@token.command("create")
@click.option("--env", "environment", default=None, help="The environment the token reads.")
@click.option(
    "--all",
    "server_wide",
    is_flag=True,
    help="A server-wide token instead: every environment, and the admin API's environment"
    " and token management (`serve --admin`).",
)
@click.option("--label", default=None, help="What the token is for, shown in listings.")
@json_option
@db_option()
def create(
    environment: str | None,
    server_wide: bool,
    label: str | None,
    as_json: bool,
    db: Target | None,
) -> None:
    """Create an admin token for an environment (or, --all, a server-wide one) and print
    it, once.

    The token alone goes to stdout (so `TOKEN=$(datacoral token create --env dev)`
    works); the notes go to stderr.
    """
    if environment is None and not server_wide:
        raise click.MissingParameter(
            "Give --env NAME, or --all for a server-wide token.",
            param_hint="'--env'",
            param_type="option",
        )
    if environment is not None and server_wide:
        raise click.UsageError("give --env NAME or --all, not both")
    environment = ALL_ENVIRONMENTS if server_wide else environment
    assert environment is not None
    with open_store(db, create=True) as store:
        info, secret = store.create_admin_token(environment, label)
    if as_json:
        echo_json({**token_json(info), "token": secret})
    else:
        echo(secret)
    scope = "every environment" if server_wide else f"environment {environment!r}"
    echo(
        f"created admin token {info.token_id} for {scope}."
        " It is shown only now and will not be shown again: store it somewhere safe.",
        err=True,
    )


@token.command("list")
@click.option("--env", "environment", default=None, help="Only this environment's tokens.")
@json_option
@db_option()
def list_(environment: str | None, as_json: bool, db: Target | None) -> None:
    """List admin tokens: id, label, environment, first characters, created, revoked."""
    with open_store(db) as store:
        if environment is not None and store.get_environment(environment) is None:
            raise CLIError(f"no environment {environment!r}")
        infos = store.list_admin_tokens(environment)
    if as_json:
        echo_json([token_json(info) for info in infos])
        return
    echo_table(
        ("ID", "LABEL", "ENVIRONMENT", "TOKEN", "CREATED", "REVOKED"),
        (
            (
                info.token_id,
                info.label,
                info.environment,
                f"{info.prefix}...",
                timestamp(info.created_at),
                timestamp(info.revoked_at),
            )
            for info in infos
        ),
    )


@token.command("revoke")
@click.argument("token_id")
@json_option
@db_option()
def revoke(token_id: str, as_json: bool, db: Target | None) -> None:
    """Revoke admin token TOKEN_ID (tok_..., as `token list` shows); the endpoint refuses
    it within a second."""
    with open_store(db) as store:
        if token_id.startswith((TOKEN_PREFIX, KEY_PREFIX)):
            raise CLIError(_secret_instead_of_id(store, token_id))
        before = next((i for i in store.list_admin_tokens() if i.token_id == token_id), None)
        info = store.revoke_admin_token(token_id)
    if as_json:
        echo_json(token_json(info))
    elif before is not None and before.revoked:
        echo(
            f"admin token {info.token_id} of environment {info.environment!r} was already"
            f" revoked at {timestamp(info.revoked_at)}; nothing changed"
        )
    else:
        echo(f"revoked admin token {info.token_id} of environment {info.environment!r}")


def _secret_instead_of_id(store: AdminStorage, secret: str) -> str:
    """The message for ``token revoke dcat_...``: point to the id, never echo the secret."""
    if secret.startswith(KEY_PREFIX):
        return (
            f"{secret[:8]}... looks like an API key; `datacoral key revoke` revokes keys,"
            " `datacoral token revoke tok_...` admin tokens"
        )
    shown = f"{visible_prefix(secret)}..."
    record = store.lookup_admin_token(hash_token(secret))
    if record is None:
        return (
            f"{shown} looks like an admin token, not a token id, and no token of this"
            " database matches it; `datacoral token list` shows the ids (tok_...)"
        )
    if record.revoked:
        return (
            f"{shown} is an admin token, not its id; its id is {record.token_id}, already revoked"
        )
    return (
        f"{shown} is an admin token, not its id; revoke it by its id:"
        f" datacoral token revoke {record.token_id}"
    )


def token_json(info: AdminTokenInfo) -> dict[str, object]:
    return {
        "token_id": info.token_id,
        "environment": info.environment,
        "label": info.label,
        "prefix": info.prefix,
        "created_at": timestamp(info.created_at),
        "revoked_at": timestamp(info.revoked_at),
    }
