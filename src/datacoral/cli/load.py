"""``datacoral load``: write the JetStream stream into PostgreSQL until stopped.

Run as many as you like, on any hosts: they share one durable consumer. Progress
and lag go to the log every ``DATACORAL_LOAD_REPORT_INTERVAL_SECONDS``; ``--once``
loads what is there and exits, printing the same line; ``--status`` prints the lag
and loads nothing.
"""

from __future__ import annotations

import asyncio
import logging.config
from typing import Any

import click

from datacoral.cli import output
from datacoral.cli.context import db_option
from datacoral.cli.errors import CLIError, StorageFailure
from datacoral.storage.base import StorageUnavailable, StorageUnusable
from datacoral.storage.jetstream_settings import parse_servers
from datacoral.storage.target import Target


def _log_config(level: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"datacoral": {"handlers": ["stderr"], "level": level.upper()}},
    }


NATS_HINT = "pip install 'datacoral-tracker-py[collector,postgres,nats]'"


def require_nats() -> None:
    """The stream needs nats-py and psycopg, extras of their own."""
    try:
        import nats  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"this needs {exc.name!r}: {NATS_HINT}") from exc


@click.command()
@db_option()
@click.option(
    "--stream",
    default=None,
    metavar="URLS",
    help="NATS servers of the stream, nats://h1:4222,nats://h2:4222 [env DATACORAL_STREAM].",
)
@click.option(
    "--batch-size",
    type=int,
    default=None,
    help="Most messages (requests) written in one transaction"
    " [env DATACORAL_LOAD_BATCH_SIZE; default 500].",
)
@click.option("--once", is_flag=True, help="Load what the stream holds now, then exit.")
@click.option("--status", "show_status", is_flag=True, help="Print the lag; load nothing.")
@click.pass_context
def load(
    ctx: click.Context,
    db: Target | None,
    stream: str | None,
    batch_size: int | None,
    once: bool,
    show_status: bool,
) -> None:
    """Write the events collectors published to JetStream (serve --stream) into
    PostgreSQL (--db), until stopped (SIGTERM / SIGINT)."""
    require_nats()
    from datacoral.loader import loader
    from datacoral.loader.settings import LoaderSettings

    root_db = ctx.find_root().params.get("db")
    try:
        settings = LoaderSettings.from_env(
            db=db or root_db,
            stream=parse_servers(stream) if stream is not None else None,
            load_batch_size=batch_size,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if not settings.stream:
        raise CLIError("stream must be given: --stream nats://host:4222 or DATACORAL_STREAM")
    logging.config.dictConfig(_log_config(settings.log_level))
    try:
        if show_status:
            lag = asyncio.run(loader.status(settings))
            if lag is None:
                raise StorageFailure("the stream's consumer does not answer")
            output.echo(
                f"stream {settings.stream_name}, consumer {settings.load_consumer}:"
                f" {lag.waiting} messages waiting, {lag.in_flight} being loaded"
            )
            return
        progress, lag = loader.run(settings, once=once)
    except StorageUnusable as exc:
        raise CLIError(str(exc)) from exc
    except StorageUnavailable as exc:
        raise StorageFailure(str(exc)) from exc
    output.echo(progress.line(lag))
