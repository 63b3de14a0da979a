"""``datacoral events export``: an environment's events or bad rows to a file."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from datacoral.cli.context import db_option, open_store
from datacoral.cli.errors import CLIError, MissingExtra
from datacoral.cli.output import echo
from datacoral.export import ExportError, ExportRequest, Format, export, window
from datacoral.export.errors import PyArrowMissing
from datacoral.export.parquet_writer import require_pyarrow
from datacoral.export.progress import wants_bar
from datacoral.export.window import SETTLE_SECONDS
from datacoral.storage.target import Target

_STDOUT = Path("-")


@click.command("export")
@click.option("--env", "environment", required=True, help="The environment to export.")
@click.option(
    "--since",
    metavar="TIME",
    default=None,
    help="Only rows stamped at TIME or later (inclusive): ISO 8601, UTC unless it names an"
    " offset, e.g. 2026-05-01 or 2026-05-01T12:00:00.000Z.",
)
@click.option(
    "--until",
    metavar="TIME",
    default=None,
    help="Only rows stamped before TIME (exclusive); `now` for the present"
    f" [default: {SETTLE_SECONDS} seconds ago].",
)
@click.option("--bad", is_flag=True, help="Bad rows instead of good events.")
@click.option(
    "--format",
    "file_format",
    required=True,
    type=click.Choice([f.value for f in Format]),
    help="ndjson (as `events tail --json`), csv (with a header) or parquet (typed columns).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    default=None,
    help="Write FILE (in place once complete) instead of standard output.",
)
@db_option()
def export_command(
    environment: str,
    since: str | None,
    until: str | None,
    bad: bool,
    file_format: str,
    output: Path | None,
    db: Target | None,
) -> None:
    """Every event (or, with --bad, bad row) of an environment stamped in [--since,
    --until), in storage order, read and written in constant memory. A progress bar
    is drawn when both outputs are terminals and -o names a file; a summary line on
    stderr ends every export, with the --since that resumes it: exports that share a
    boundary take every row once."""
    chosen = Format(file_format)
    to_stdout = output is None or output == _STDOUT
    if chosen is Format.PARQUET and to_stdout and sys.stdout.isatty():
        raise CLIError("Parquet is binary: write it to a file with -o FILE, or redirect")
    try:
        span = window(since, until)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since/--until") from None
    request = ExportRequest(
        environment=environment,
        window=span,
        file_format=chosen,
        bad=bad,
        output=None if to_stdout else output,
    )
    show_bar = wants_bar(to_file=not to_stdout, stdout=sys.stdout, stderr=sys.stderr)
    with open_store(db) as store, _export_errors():
        if chosen is Format.PARQUET:
            require_pyarrow()
        summary = export(
            store,
            request,
            stdout=sys.stdout.buffer,
            bar_stream=sys.stderr if show_bar else None,
        )
    echo(summary.line(), err=True)


@contextlib.contextmanager
def _export_errors() -> Iterator[None]:
    try:
        yield
    except PyArrowMissing as exc:
        raise MissingExtra("pyarrow", "export") from exc
    except ExportError as exc:
        raise CLIError(str(exc)) from exc
