"""Why an export cannot be done as asked.

    ExportError             root of export errors
    ├── PyArrowMissing      Parquet was asked for, and pyarrow (the export extra) is absent
    └── OutputUnwritable    the output file (or standard output) cannot be written

A time range that cannot be read (``--since`` not a time, or after ``--until``) is a
ValueError, as bad input is elsewhere; storage failures stay storage errors.
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'datacoral-tracker-py[export]'"


class ExportError(Exception):
    """Root of export errors; the message is one line meant for a person."""


class PyArrowMissing(ExportError):
    """Parquet was asked for without pyarrow installed."""

    def __init__(self) -> None:
        super().__init__(f"Parquet needs pyarrow, part of the export extra: {INSTALL_HINT}")


class OutputUnwritable(ExportError):
    """The output cannot be written: no such directory, no permission, disk full, or
    standard output closed by the reader. A partly written file is removed."""
