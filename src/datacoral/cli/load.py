"""``datacoral load``: write the JetStream stream into PostgreSQL until stopped.

Run as many as you like, on any hosts: they share one durable consumer. Progress
and lag go to the log every ``DATACORAL_LOAD_REPORT_INTERVAL_SECONDS``; ``--once``
loads what is there and exits, printing the same line; ``--status`` prints the lag
and loads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging.config
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import click

from datacoral.cli import output
from datacoral.cli.config_option import config_option, flag_values, read_config
from datacoral.cli.context import db_option
from datacoral.cli.errors import CLIError, StorageFailure
from datacoral.config_sources import Resolved, resolve
from datacoral.loader.settings import LoaderSettings
from datacoral.logs import formatter
from datacoral.storage.base import StorageUnavailable, StorageUnusable
from datacoral.storage.jetstream_settings import parse_servers

if TYPE_CHECKING:
    from datacoral.loader.loader import Loader


def _log_config(level: str, log_format: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": formatter(log_format, with_pid=True)},
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
#: The settings that have an option, and its name.
OPTIONS = {
    "db": "--db",
    "stream": "--stream",
    "load_batch_size": "--batch-size",
    "metrics_port": "--metrics-port",
    "metrics_host": "--metrics-host",
    "log_format": "--log-format",
}


def require_nats() -> None:
    """The stream needs nats-py and psycopg, extras of their own."""
    try:
        import nats  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"this needs {exc.name!r}: {NATS_HINT}") from exc


@click.command()
@config_option()
@db_option()
@click.option(
    "--stream",
    default=None,
    metavar="URLS",
    help="NATS servers of the stream, nats://h1:4222,nats://h2:4222 [env DATACORAL_STREAM].",
)
@click.option(
    "--batch-size",
    "load_batch_size",
    type=int,
    default=None,
    help="Most messages (requests) written in one transaction"
    " [env DATACORAL_LOAD_BATCH_SIZE; default 500].",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Answer Prometheus scrapes (GET /metrics) on this port; 0 picks a free one"
    " [env DATACORAL_METRICS_PORT; default: no metrics].",
)
@click.option(
    "--metrics-host",
    default=None,
    help="Interface of the metrics port [env DATACORAL_METRICS_HOST; default 127.0.0.1].",
)
@click.option(
    "--log-format",
    type=click.Choice(("text", "json")),
    default=None,
    help="Log lines as text, or one JSON object per line [env DATACORAL_LOG_FORMAT; default text].",
)
@click.option("--once", is_flag=True, help="Load what the stream holds now, then exit.")
@click.option("--status", "show_status", is_flag=True, help="Print the lag; load nothing.")
@click.pass_context
def load(ctx: click.Context, /, once: bool, show_status: bool, **params: Any) -> None:
    """Write the events collectors published to JetStream (serve --stream) into
    PostgreSQL (--db), until stopped (SIGTERM / SIGINT)."""
    require_nats()
    from datacoral.loader import process

    settings = load_settings(params).settings
    logging.config.dictConfig(_log_config(settings.log_level, settings.log_format))
    try:
        if show_status:
            lag = asyncio.run(process.status(settings))
            if lag is None:
                raise StorageFailure("the stream's consumer does not answer")
            output.echo(
                f"stream {settings.stream_name}, consumer {settings.load_consumer}:"
                f" {lag.waiting} messages waiting, {lag.in_flight} being loaded"
            )
            return
        with _metrics(settings) as watch:
            progress, lag = process.run(settings, once=once, watch=watch)
    except StorageUnusable as exc:
        raise CLIError(str(exc)) from exc
    except StorageUnavailable as exc:
        raise StorageFailure(str(exc)) from exc
    output.echo(progress.line(lag))


@contextlib.contextmanager
def _metrics(settings: LoaderSettings) -> Iterator[Callable[[Loader], None] | None]:
    """With ``metrics_port``: the listener, printed, for the duration of the block, and
    the callback that shows it the loader; else None."""
    if settings.metrics_port is None:
        yield None
        return
    from datacoral.loader.metrics import LoaderMetrics
    from datacoral.metrics.listener import listen

    metrics = LoaderMetrics()
    try:
        listener = listen(settings.metrics_host, settings.metrics_port, metrics.registry())
    except OSError as exc:
        raise CLIError(
            f"cannot listen for metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}"
        ) from exc
    output.echo(f"datacoral load: metrics on {listener.url}")
    try:
        yield metrics.watch
    finally:
        listener.close()


def load_settings(params: Mapping[str, Any]) -> Resolved[LoaderSettings]:
    """What ``load`` runs with, given its parsed options (``params``, ``config`` among
    them): options, then ``DATACORAL_*`` variables, then the config file's ``[load]``
    table, then the defaults. CLIError naming the source of a value that is refused."""
    flags = flag_values(params, OPTIONS)
    try:
        if flags["stream"] is not None:
            flags["stream"] = parse_servers(flags["stream"])
        resolved = resolve(
            LoaderSettings,
            table="load",
            options=OPTIONS,
            flags=flags,
            env_values=LoaderSettings.env_values(os.environ),
            environ=os.environ,
            config=read_config(params.get("config")),
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if not resolved.settings.stream:
        raise CLIError(
            "stream must be given: --stream nats://host:4222, DATACORAL_STREAM,"
            " or stream in the [load] table of the config file"
        )
    return resolved
