"""The progress bar an export draws on a terminal (rich), or none.

The bar goes to standard error and is drawn only when both standard output and
standard error are terminals and the export goes to a file: piped, redirected or
written to standard output, an export prints nothing but its summary line. It needs
rich, part of the export extra; without it there is no bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class Progress(Protocol):
    """Told how many records were written since it was last told."""

    def advance(self, records: int) -> None: ...


class _NoProgress:
    def advance(self, records: int) -> None:
        pass


def wants_bar(*, to_file: bool, stdout: TextIO, stderr: TextIO) -> bool:
    """Whether an export should draw a bar (see the module's docstring)."""
    return to_file and stdout.isatty() and stderr.isatty()


@contextlib.contextmanager
def progress_bar(stream: TextIO | None, *, total: int | None, label: str) -> Iterator[Progress]:
    """A bar of ``total`` records (None: unknown) on ``stream`` while the block runs,
    removed when it ends; or, without a stream, a progress that draws nothing."""
    try:
        # Imported here: an export that draws no bar does not pay for rich's import.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress
    except ImportError:  # rich comes with the export extra; without it, no bar
        stream = None
    if stream is None:
        yield _NoProgress()
        return

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield _RichProgress(bar, task)


class _RichProgress:
    def __init__(self, bar: RichProgress, task: TaskID) -> None:
        self._bar = bar
        self._task = task

    def advance(self, records: int) -> None:
        self._bar.advance(self._task, records)
