"""The command line's errors, each carrying the exit code the process ends with.

    CLIError                exit 1   a request that cannot be done as asked (bad input,
    │                                a --db that is not a database or has no directory)
    ├── MissingExtra        exit 2   an extra is not installed: the collector extra (click,
    │                                uvicorn, ...), or the export extra for Parquet (pyarrow)
    ├── StorageFailure      exit 3   the database cannot be used: locked, read-only, full
    └── QuickstartFailed    exit 4   the quickstart's endpoint or events did not come

Click's own usage errors keep click's exit code 2. Every error prints one line,
``error: ...``, on stderr, and no traceback; control characters in it (from a
name or value the user gave) are shown as escapes.
"""

from __future__ import annotations

from typing import IO, Any

import click

from datacoral.cli.entry import INSTALL_HINT
from datacoral.cli.output import printable


class CLIError(click.ClickException):
    """A user-facing failure: one line on stderr and a non-zero exit code."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        message = printable(self.format_message(), keep_newlines=True)
        click.echo(f"error: {message}", file=file, err=file is None)


class MissingExtra(CLIError):
    exit_code = 2

    def __init__(self, module: str, extra: str = "collector") -> None:
        hint = INSTALL_HINT.replace("[collector]", f"[{extra}]")
        super().__init__(f"this needs {module!r}, part of the {extra} extra: {hint}")


class StorageFailure(CLIError):
    exit_code = 3


class QuickstartFailed(CLIError):
    exit_code = 4
