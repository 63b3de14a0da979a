"""``datacoral serve``: run the Events endpoint in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

from datacoral.cli.context import db_option, resolve_db
from datacoral.config import Settings


@click.command()
@click.option("--host", default=None, help="Interface to listen on [default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="TCP port; 0 picks a free one [default 8080].")
@db_option()
@click.option(
    "--max-body-bytes", type=int, default=None, help="Larger bodies get 413 [default 1 MiB]."
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="CIDR",
    help="A proxy whose X-Forwarded-For / X-Forwarded-Proto is believed (repeatable).",
)
@click.option(
    "--cookie-domain",
    default=None,
    help="Domain of the `sp` network user id cookie [default: the endpoint's host].",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: Path | None,
    max_body_bytes: int | None,
    trusted_proxies: tuple[str, ...],
    cookie_domain: str | None,
) -> None:
    """Run the Events endpoint until stopped (SIGINT / SIGTERM).

    Every option can also come from a DATACORAL_<OPTION> environment variable.
    """
    settings = Settings.from_env(
        host=host,
        port=port,
        db=resolve_db(db),
        max_body_bytes=max_body_bytes,
        trusted_proxies=trusted_proxies or None,
        cookie_domain=cookie_domain,
    )
    # Imported here: the server pulls in uvicorn, which the other commands do not need.
    from datacoral.collector.server import serve as run_server

    ctx.exit(run_server(settings))
