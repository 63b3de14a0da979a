"""``datacoral env ...``: environments, the browser origins each allows, their rate limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from datacoral.admin.environments import (
    DEFAULT_VALIDATION,
    VALIDATION_MODES,
    ValidationMode,
    parse_validation_mode,
)
from datacoral.admin.rate_limits import (
    describe,
    limit_json,
    parse_burst,
    parse_rate_limit,
    with_burst,
)
from datacoral.cli.context import db_option, json_option, open_store
from datacoral.cli.errors import CLIError
from datacoral.cli.output import echo, echo_json, echo_table
from datacoral.storage.base import AdminError
from datacoral.storage.target import Target

F = TypeVar("F", bound=Callable[..., Any])

_VALIDATION_HELP = (
    "What to do with the Iglu schemas of self-describing events and contexts: strict"
    " (a failing or unresolvable schema is a bad row), lenient (failing: bad row;"
    " unresolvable: stored unvalidated), off."
)


def validation_option(*, default: ValidationMode | None) -> Callable[[F], F]:
    """``--validation strict|lenient|off``."""
    shown = f" [default: {default}]" if default is not None else ""
    return click.option(
        "--validation",
        "validation",
        type=click.Choice(VALIDATION_MODES),
        default=None if default is None else default.value,
        help=_VALIDATION_HELP + shown,
    )


def rate_limit_options(function: F) -> F:
    """``--rate-limit N/s|N/min|none`` and ``--burst N``."""
    function = click.option(
        "--burst",
        default=None,
        metavar="N",
        help="The most events at once [default: one period's, N of N/s or N/min].",
    )(function)
    return click.option(
        "--rate-limit",
        "rate_limit",
        default=None,
        metavar="N/s|N/min|none",
        help="Events the endpoint takes on average (429 past it), or none to remove the limit.",
    )(function)


@click.group()
def env() -> None:
    """Create, list, show, change and delete environments; set their CORS origins."""


@env.command("create")
@click.argument("name")
@click.option("--origin", "origins", multiple=True, metavar="URL", help="Allowed browser origin.")
@validation_option(default=DEFAULT_VALIDATION)
@rate_limit_options
@db_option()
def create(
    name: str,
    origins: tuple[str, ...],
    validation: str,
    rate_limit: str | None,
    burst: str | None,
    db: Target | None,
) -> None:
    """Create environment NAME (lowercase letters, digits, '-', '_')."""
    mode = parse_validation_mode(validation)
    if burst is not None and rate_limit is None:
        raise click.UsageError("--burst needs --rate-limit when creating an environment")
    burst_events = None if burst is None else parse_burst(burst)
    limit = None if rate_limit is None else parse_rate_limit(rate_limit, burst_events)
    with open_store(db, create=True) as store:
        record = store.create_environment(name, origins, mode)
        if limit is not None:
            record = store.set_environment_rate_limit(name, limit)
    echo(f"created environment {record.name!r} (validation {record.validation})")
    for origin in record.origins:
        echo(f"  allows origin {origin}")
    if record.rate_limit is not None:
        echo(f"  rate limit {describe(record.rate_limit)}")


@env.command("set")
@click.argument("name")
@validation_option(default=None)
@rate_limit_options
@db_option()
def set_(
    name: str,
    validation: str | None,
    rate_limit: str | None,
    burst: str | None,
    db: Target | None,
) -> None:
    """Change environment NAME; running servers follow within a second.

    --rate-limit limits all of NAME's keys together (each key may have its own too,
    see `key set`); --burst alone changes the burst of the limit NAME has.
    """
    if validation is None and rate_limit is None and burst is None:
        raise click.UsageError(
            "nothing to change: give --validation strict|lenient|off,"
            " --rate-limit N/s|N/min|none or --burst N"
        )
    # Every value is checked before anything changes.
    mode = None if validation is None else parse_validation_mode(validation)
    burst_events = None if burst is None else parse_burst(burst)
    limit = None if rate_limit is None else parse_rate_limit(rate_limit, burst_events)
    with open_store(db) as store:
        if mode is not None:
            record = store.set_validation(name, mode)
            echo(f"environment {record.name!r}: validation {record.validation}")
        if rate_limit is None and burst_events is not None:
            found = store.get_environment(name)
            if found is None:
                raise CLIError(f"no environment {name!r}")
            limit = with_burst(found.rate_limit, burst_events, f"environment {name!r}")
        if rate_limit is not None or burst_events is not None:
            record = store.set_environment_rate_limit(name, limit)
            echo(f"environment {record.name!r}: rate limit {describe(record.rate_limit)}")


@env.command("list")
@json_option
@db_option()
def list_(as_json: bool, db: Target | None) -> None:
    """List environments with their validation mode, rate limit, active keys and origins."""
    with open_store(db) as store:
        records = store.environments()
        active: dict[str, int] = {}
        for info in store.list_keys():
            if not info.revoked:
                active[info.environment] = active.get(info.environment, 0) + 1
    if as_json:
        echo_json(
            [
                {
                    "name": r.name,
                    "validation": r.validation.value,
                    "origins": list(r.origins),
                    "active_keys": active.get(r.name, 0),
                    "rate_limit": limit_json(r.rate_limit),
                }
                for r in records
            ]
        )
        return
    echo_table(
        ("ENVIRONMENT", "VALIDATION", "RATE LIMIT", "ACTIVE KEYS", "ORIGINS"),
        (
            (
                r.name,
                r.validation.value,
                describe(r.rate_limit),
                active.get(r.name, 0),
                " ".join(r.origins) or None,
            )
            for r in records
        ),
    )


@env.command("show")
@click.argument("name")
@json_option
@db_option()
def show(name: str, as_json: bool, db: Target | None) -> None:
    """Show environment NAME: validation mode, origins, keys and event counts."""
    with open_store(db) as store:
        record = store.get_environment(name)
        if record is None:
            raise CLIError(f"no environment {name!r}")
        key_infos = store.list_keys(name)
        [counts] = store.count_events(name)
    if as_json:
        echo_json(
            {
                "name": record.name,
                "validation": record.validation.value,
                "rate_limit": limit_json(record.rate_limit),
                "origins": list(record.origins),
                "keys": [info.key_id for info in key_infos],
                "events": {
                    "good": counts.good,
                    "bad": counts.bad,
                    "duplicates": counts.duplicates,
                    "unvalidated": counts.unvalidated,
                },
            }
        )
        return
    active = sum(1 for info in key_infos if not info.revoked)
    echo_table(
        ("FIELD", "VALUE"),
        [
            ("environment", record.name),
            ("validation", record.validation.value),
            ("rate limit", describe(record.rate_limit)),
            ("origins", " ".join(record.origins) or None),
            ("keys", f"{active} active, {len(key_infos) - active} revoked"),
            ("good events", counts.good),
            ("bad rows", counts.bad),
            ("duplicates", counts.duplicates),
            ("unvalidated", counts.unvalidated),
        ],
    )


@env.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete its keys, events and bad rows.")
@db_option()
def delete(name: str, force: bool, db: Target | None) -> None:
    """Delete environment NAME (refused while it has keys or events, unless --force)."""
    with open_store(db) as store:
        try:
            store.delete_environment(name, force=force)
        except AdminError as exc:
            if "still has" in str(exc):
                raise CLIError(f"{exc}; pass --force to delete them too") from exc
            raise
    echo(f"deleted environment {name!r}")


@env.command("add-origin")
@click.argument("name")
@click.argument("origin")
@db_option()
def add_origin(name: str, origin: str, db: Target | None) -> None:
    """Allow browsers from ORIGIN (e.g. https://app.example.com) to send to NAME."""
    with open_store(db) as store:
        record = store.add_origin(name, origin)
    echo(f"environment {name!r} allows: {' '.join(record.origins)}")


@env.command("remove-origin")
@click.argument("name")
@click.argument("origin")
@db_option()
def remove_origin(name: str, origin: str, db: Target | None) -> None:
    """Stop allowing browsers from ORIGIN to send to NAME."""
    with open_store(db) as store:
        record = store.remove_origin(name, origin)
    echo(f"environment {name!r} allows: {' '.join(record.origins) or 'no origins'}")
