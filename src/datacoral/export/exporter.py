"""One export: an environment's events (or bad rows) of a time range, from the store
to a file or standard output, a page at a time."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from datacoral.export.output import open_output
from datacoral.export.parquet_writer import ROW_GROUP_ROWS
from datacoral.export.progress import Progress, progress_bar
from datacoral.export.records import BAD_ROWS, GOOD_EVENTS, Record, Table
from datacoral.export.window import Window
from datacoral.export.writer import Format, open_writer
from datacoral.storage.base import AdminStorage

#: Records read from the store at a time.
PAGE_SIZE = 2000


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExportRequest:
    """What to export and where: ``output`` None is standard output."""

    environment: str
    window: Window
    file_format: Format
    bad: bool = False
    output: Path | None = None
    page_size: int = PAGE_SIZE
    row_group_rows: int = ROW_GROUP_ROWS

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {self.page_size}")


@dataclasses.dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote, and where the next one starts."""

    records: int
    bytes_written: int
    seconds: float
    window: Window
    noun: str  # "events" or "bad rows"

    def line(self) -> str:
        """The line ``events export`` ends with on standard error."""
        return (
            f"exported {self.records:,} {self.noun} ({self.bytes_written:,} bytes)"
            f" in {self.seconds:.1f} s; resume with --since {self.window.resume_since}"
        )


def export(
    store: AdminStorage,
    request: ExportRequest,
    *,
    stdout: BinaryIO,
    bar_stream: TextIO | None = None,
) -> ExportSummary:
    """Run ``request`` against ``store``; ``stdout`` is where an export without an
    output file goes, and a progress bar is drawn on ``bar_stream`` when it is given
    (after counting the records to export, which may read them all once more)."""
    started = time.monotonic()
    environment, since, until = request.environment, request.window.since, request.window.until
    total = None
    if bar_stream is not None:
        total = store.count_in_range(environment, since=since, until=until, bad=request.bad)
    with progress_bar(
        bar_stream, total=total, label=f"exporting {_table(request).name}"
    ) as progress:
        if request.bad:
            bad_rows = store.iter_bad_rows(
                environment, since=since, until=until, page_size=request.page_size
            )
            records, size = _write(bad_rows, BAD_ROWS, request, stdout, progress)
        else:
            events = store.iter_events(
                environment, since=since, until=until, page_size=request.page_size
            )
            records, size = _write(events, GOOD_EVENTS, request, stdout, progress)
    return ExportSummary(
        records, size, time.monotonic() - started, request.window, _table(request).name
    )


def _table(request: ExportRequest) -> Table[Any]:
    return BAD_ROWS if request.bad else GOOD_EVENTS


def _write(
    pages: Generator[list[Record], None, None],
    table: Table[Record],
    request: ExportRequest,
    stdout: BinaryIO,
    progress: Progress,
) -> tuple[int, int]:
    """Records and bytes written, from ``pages`` (closed, however the export ends)."""
    records = 0
    with contextlib.closing(pages), open_output(request.output, stdout) as sink:
        writer = open_writer(
            request.file_format, sink, table, row_group_rows=request.row_group_rows
        )
        for page in pages:
            writer.write(page)
            records += len(page)
            progress.advance(len(page))
        writer.finish()
    return records, sink.bytes_written
