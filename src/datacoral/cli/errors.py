"""The command line's errors, each carrying the exit code the process ends with.

    CLIError                exit 1   a request that cannot be done as asked
    ├── MissingExtra        exit 2   the collector extra (click, uvicorn, ...) is not installed
    ├── StorageFailure      exit 3   the database cannot be used right now
    └── QuickstartFailed    exit 4   the quickstart's endpoint or events did not come

Click's own usage errors keep click's exit code 2. Every error prints one line,
``error: ...``, on stderr, and no traceback.
"""

from __future__ import annotations

from typing import IO, Any

import click

from datacoral.cli.entry import INSTALL_HINT


class CLIError(click.ClickException):
    """A user-facing failure: one line on stderr and a non-zero exit code."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=file is None)


class MissingExtra(CLIError):
    exit_code = 2

    def __init__(self, module: str) -> None:
        super().__init__(f"this needs {module!r}, part of the collector extra: {INSTALL_HINT}")


class StorageFailure(CLIError):
    exit_code = 3


class QuickstartFailed(CLIError):
    exit_code = 4
