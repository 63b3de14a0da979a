"""``datacoral serve``: run the Events endpoint in the foreground.

Everything that can be checked before the server starts is checked here, so a
wrong setting or an unusable database file is one ``error:`` line and an exit
code, not a server that starts and logs its failure.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from datacoral.cli.config_option import config_option, flag_values, read_config
from datacoral.cli.context import db_option, open_store
from datacoral.cli.database import read_only
from datacoral.cli.errors import CLIError, StorageFailure
from datacoral.config import Settings
from datacoral.config_sources import Resolved, env_var, in_user_terms, resolve
from datacoral.storage.jetstream_settings import parse_servers
from datacoral.storage.target import Target

#: The settings that have an option, and its name.
OPTIONS = {
    "host": "--host",
    "port": "--port",
    "certfile": "--certfile",
    "keyfile": "--keyfile",
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
    "inspect": "--inspect",
    "admin": "--admin",
    "metrics_port": "--metrics-port",
    "metrics_host": "--metrics-host",
    "log_format": "--log-format",
}
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _without_option() -> list[str]:
    return [
        env_var(f.name)
        for f in dataclasses.fields(Settings)
        if f.name not in OPTIONS and f.name != "extra"
    ]


_EPILOG = (
    "Options win over environment variables, which win over the config file's [serve] table"
    " (each setting under its variable's name in lower case without DATACORAL_: port,"
    " max_body_bytes; `datacoral config show` prints where each value comes from). The"
    f" settings without an option: {', '.join(_without_option())} (see the README)."
)


@click.command(epilog=_EPILOG)
@config_option()
@click.option(
    "--host", default=None, help="Interface to listen on [env DATACORAL_HOST; default 127.0.0.1]."
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="TCP port; 0 picks a free one [env DATACORAL_PORT; default 8080].",
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Serve https with this PEM certificate (and chain)"
    " [env DATACORAL_CERTFILE; default: plain http].",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The certificate's private key, PEM, not encrypted"
    " [env DATACORAL_KEYFILE; default: in the certfile].",
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
@click.option(
    "--inspect",
    is_flag=True,
    default=None,
    help="Serve the inspection API (/micro/all, /micro/good, /micro/bad, /micro/reset,"
    " /micro/iglu, shaped like Snowplow Micro's) to admin tokens (`datacoral token create`)"
    " [env DATACORAL_INSPECT; default off].",
)
@click.option(
    "--admin",
    is_flag=True,
    default=None,
    help="Serve the admin API (/admin/v1/..., described at /admin/v1/openapi.json) to admin"
    " tokens on this port, for `datacoral --server URL --token TOKEN ...`"
    " [env DATACORAL_ADMIN; default off].",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Answer Prometheus scrapes (GET /metrics) on this port, apart from the public one;"
    " 0 picks a free one [env DATACORAL_METRICS_PORT; default: no metrics].",
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
@click.pass_context
def serve(ctx: click.Context, /, **params: Any) -> None:
    """Run the Events endpoint until stopped (SIGINT / SIGTERM)."""
    resolved = serve_settings(params)
    settings = resolved.settings
    if settings.stream:
        from datacoral.cli.load import require_nats

        require_nats()
    if settings.certfile is not None:
        _check_certificate(resolved)
    _prepare_database(settings.db)
    # Imported here: the server pulls in uvicorn, which the other commands do not need.
    from datacoral.collector.server import serve as run_server

    ctx.exit(run_server(settings))


def serve_settings(params: Mapping[str, Any]) -> Resolved[Settings]:
    """What ``serve`` runs with, given its parsed options (``params``, ``config`` among
    them): options, then ``DATACORAL_*`` variables, then the config file's ``[serve]``
    table, then the defaults. CLIError naming the source of a value that is refused."""
    flags = flag_values(params, OPTIONS)
    if flags["stream"] is not None:
        try:
            flags["stream"] = parse_servers(flags["stream"])
        except ValueError as exc:
            raise CLIError(f"--stream: {exc}") from exc
    config = read_config(params.get("config"))
    try:
        resolved = resolve(
            Settings,
            table="serve",
            options=OPTIONS,
            flags=flags,
            env_values=Settings.env_values(os.environ),
            environ=os.environ,
            config=config,
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    level = resolved.settings.log_level
    if not isinstance(logging.getLevelName(level.upper()), int):
        message = f"log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        raise CLIError(in_user_terms(message, resolved.sources))
    return resolved


def _check_certificate(resolved: Resolved[Settings]) -> None:
    """Load the certificate and key as the server will, so that a wrong file is an error
    line before it listens, naming the option, variable or file line that gave it."""
    settings, sources = resolved.settings, resolved.sources
    files = {"certfile": settings.certfile, "keyfile": settings.keyfile}
    for name, path in files.items():
        if path is None:
            continue
        try:
            path.read_bytes()
        except OSError as exc:
            raise CLIError(f"{sources[name].label} {path}: {exc.strerror}") from exc
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            str(settings.certfile), None if settings.keyfile is None else str(settings.keyfile)
        )
    except ssl.SSLError as exc:
        which = sources["certfile"].label
        if settings.keyfile is not None:
            which += f" and {sources['keyfile'].label}"
        # OpenSSL's reason (KEY_VALUES_MISMATCH), else its text without the source line.
        reason = exc.reason or re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc))
        raise CLIError(f"{which}: not a PEM certificate and its private key ({reason})") from exc


def _prepare_database(target: Target) -> None:
    """Create or migrate the database, and make sure the endpoint will be able to write it."""
    with open_store(target, create=True) as store:
        store.environments()
    if isinstance(target, Path) and not os.access(target, os.W_OK):
        raise StorageFailure(read_only(target))
