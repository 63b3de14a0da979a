"""``datacoral serve``: run the Events endpoint in the foreground.

Everything that can be checked before the server starts is checked here, so a
wrong setting or an unusable database file is one ``error:`` line and an exit
code, not a server that starts and logs its failure.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import click

from datacoral.cli.context import db_option, open_store, resolve_db
from datacoral.cli.database import read_only
from datacoral.cli.errors import CLIError, StorageFailure
from datacoral.config import Settings
from datacoral.storage.jetstream_settings import parse_servers
from datacoral.storage.target import Target

#: The settings that have an option, and its name.
OPTIONS = {
    "host": "--host",
    "port": "--port",
    "db": "--db",
    "max_body_bytes": "--max-body-bytes",
    "max_json_depth": "--max-json-depth",
    "max_request_line_bytes": "--max-request-line-bytes",
    "max_header_bytes": "--max-header-bytes",
    "header_timeout_seconds": "--header-timeout-seconds",
    "body_timeout_seconds": "--body-timeout-seconds",
    "keep_alive_timeout_seconds": "--keep-alive-timeout-seconds",
    "max_connections": "--max-connections",
    "trusted_proxies": "--trusted-proxy",
    "cookie_domain": "--cookie-domain",
    "workers": "--workers",
    "stream": "--stream",
    "stream_replicas": "--stream-replicas",
    "iglu": "--iglu",
}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def env_var(setting: str) -> str:
    """The environment variable a setting is read from (see :meth:`Settings.from_env`)."""
    return f"DATACORAL_{setting.upper()}"


def _without_option() -> list[str]:
    return [
        env_var(f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in OPTIONS and f.name != "extra"
    ]


_EPILOG = (
    "Options win over environment variables. The settings without an option come only"
    f" from the environment: {', '.join(_without_option())} (see the README)."
)


@click.command(epilog=_EPILOG)
@click.option(
    "--host", default=None, help="Interface to listen on [env DATACORAL_HOST; default 127.0.0.1]."
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="TCP port; 0 picks a free one [env DATACORAL_PORT; default 8080].",
)
@db_option()
@click.option(
    "--max-body-bytes",
    type=int,
    default=None,
    help="Larger bodies get 413 [env DATACORAL_MAX_BODY_BYTES; default 1 MiB, at least 1024].",
)
@click.option(
    "--max-json-depth",
    type=int,
    default=None,
    help="Deeper self-describing events and contexts become bad rows"
    " [env DATACORAL_MAX_JSON_DEPTH; default 254, the most; 2-254].",
)
@click.option(
    "--max-request-line-bytes",
    type=int,
    default=None,
    help="Longer request lines (URLs) get 414"
    " [env DATACORAL_MAX_REQUEST_LINE_BYTES; default 8 KiB, at least 1024].",
)
@click.option(
    "--max-header-bytes",
    type=int,
    default=None,
    help="Larger request heads (request line and headers) get 431"
    " [env DATACORAL_MAX_HEADER_BYTES; default 64 KiB].",
)
@click.option(
    "--header-timeout-seconds",
    type=float,
    default=None,
    help="A request head must arrive within this, from its first byte, or gets 408"
    " [env DATACORAL_HEADER_TIMEOUT_SECONDS; default 10].",
)
@click.option(
    "--body-timeout-seconds",
    type=float,
    default=None,
    help="A request body must arrive within this, from the end of its head, or gets 408"
    " [env DATACORAL_BODY_TIMEOUT_SECONDS; default 30].",
)
@click.option(
    "--keep-alive-timeout-seconds",
    type=float,
    default=None,
    help="A connection waiting this long for its next request is closed"
    " [env DATACORAL_KEEP_ALIVE_TIMEOUT_SECONDS; default 15].",
)
@click.option(
    "--max-connections",
    type=int,
    default=None,
    help="Past this many open connections an idle one is closed, or the new one gets 503"
    " [env DATACORAL_MAX_CONNECTIONS; default 1000, fewer when ulimit -n is low].",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="CIDR",
    help="A proxy whose X-Forwarded-For / X-Forwarded-Proto is believed (repeatable)"
    " [env DATACORAL_TRUSTED_PROXIES, comma-separated].",
)
@click.option(
    "--cookie-domain",
    default=None,
    help="Domain of the `sp` network user id cookie"
    " [env DATACORAL_COOKIE_DOMAIN; default: the endpoint's host].",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Processes serving the port, under a supervisor that replaces any that dies;"
    " the limits above apply to each [env DATACORAL_WORKERS; default 1, at most 64].",
)
@click.option(
    "--stream",
    default=None,
    metavar="URLS",
    help="Publish each request to NATS JetStream at these servers (nats://h1:4222,nats://h2:4222)"
    " and answer once the stream acknowledged it; `datacoral load` writes it into --db, which"
    " must be PostgreSQL [env DATACORAL_STREAM; default: commit to --db].",
)
@click.option(
    "--stream-replicas",
    type=int,
    default=None,
    help="Servers holding each message: 1, or 3 in a cluster"
    " [env DATACORAL_STREAM_REPLICAS; default 1].",
)
@click.option(
    "--iglu",
    "iglu",
    multiple=True,
    metavar="URL_OR_DIR",
    help="Where Iglu schemas come from, after the embedded ones (repeatable, asked in order):"
    " a folder in the static layout, a static registry http(s)://host[/prefix], or an Iglu"
    " Server iglu-server+https://host (its key in DATACORAL_IGLU_APIKEY)"
    " [env DATACORAL_IGLU, separated by commas or spaces].",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: Target | None,
    max_body_bytes: int | None,
    max_json_depth: int | None,
    max_request_line_bytes: int | None,
    max_header_bytes: int | None,
    header_timeout_seconds: float | None,
    body_timeout_seconds: float | None,
    keep_alive_timeout_seconds: float | None,
    max_connections: int | None,
    trusted_proxies: tuple[str, ...],
    cookie_domain: str | None,
    workers: int | None,
    stream: str | None,
    stream_replicas: int | None,
    iglu: tuple[str, ...],
) -> None:
    """Run the Events endpoint until stopped (SIGINT / SIGTERM)."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "max_body_bytes": max_body_bytes,
        "max_json_depth": max_json_depth,
        "max_request_line_bytes": max_request_line_bytes,
        "max_header_bytes": max_header_bytes,
        "header_timeout_seconds": header_timeout_seconds,
        "body_timeout_seconds": body_timeout_seconds,
        "keep_alive_timeout_seconds": keep_alive_timeout_seconds,
        "max_connections": max_connections,
        "trusted_proxies": trusted_proxies or None,
        "cookie_domain": cookie_domain,
        "workers": workers,
        "stream": stream,
        "stream_replicas": stream_replicas,
        "iglu": iglu or None,
    }
    if stream is not None:
        try:
            options["stream"] = parse_servers(stream)
        except ValueError as exc:
            raise CLIError(f"--stream: {exc}") from exc
    settings = _settings(options, db=resolve_db(db))
    if settings.stream:
        from datacoral.cli.load import require_nats

        require_nats()
    _prepare_database(settings.db)
    # Imported here: the server pulls in uvicorn, which the other commands do not need.
    from datacoral.collector.server import serve as run_server

    ctx.exit(run_server(settings))


def _settings(options: dict[str, Any], *, db: Target) -> Settings:
    try:
        settings = Settings.from_env(**options, db=db)
    except ValueError as exc:
        raise CLIError(_in_user_terms(str(exc), options)) from exc
    if not isinstance(logging.getLevelName(settings.log_level.upper()), int):
        raise CLIError(
            f"{env_var('log_level')} must be one of {', '.join(LOG_LEVELS)},"
            f" got {settings.log_level!r}"
        )
    return settings


def _in_user_terms(message: str, options: dict[str, Any]) -> str:
    """A settings error names a field; say it with the option or variable the user set."""
    if message.startswith("--iglu "):  # datacoral.schemas names the value it refused
        if options.get("iglu") is None:
            return env_var("iglu") + message.removeprefix("--iglu")  # it came from there
        return message
    for f in dataclasses.fields(Settings):
        if message.startswith(f"{f.name} "):
            message = _source(f.name, options) + message[len(f.name) :]
            given = _given(f.name, options)
            if len(given) == 1 and "got" not in message:
                message += f", got {given[0]}"
            return message
    # A message that quotes the bad value without naming the setting (a malformed CIDR).
    for name in OPTIONS:
        if any(repr(text) in message for text in _given(name, options)):
            return f"{_source(name, options)}: {message}"
    return message


def _given(setting: str, options: dict[str, Any]) -> list[str]:
    """The texts the user gave for a setting: the option's values, else the variable's."""
    value = options.get(setting)
    if isinstance(value, tuple):
        return [str(item) for item in value]
    if value is not None:
        return [str(value)]
    raw = os.environ.get(env_var(setting), "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def _source(setting: str, options: dict[str, Any]) -> str:
    if setting in OPTIONS and options.get(setting) is not None:
        return OPTIONS[setting]
    return env_var(setting)


def _prepare_database(target: Target) -> None:
    """Create or migrate the database, and make sure the endpoint will be able to write it."""
    with open_store(target, create=True) as store:
        store.environments()
    if isinstance(target, Path) and not os.access(target, os.W_OK):
        raise StorageFailure(read_only(target))
